"""The `monitor` kind on SageMaker: Model Monitor checking an endpoint's captured traffic.

A monitor owns:
- a data or model quality job definition. Job definitions cannot be updated, so each is named
  from its content (`<monitor>-<8 hex>`, tagged with the resource's address); a change creates
  the new one, points the schedule at it and deletes the old, all inside one in-place update;
- the MonitoringSchedule, named after the monitor, which runs that job on the endpoint;
- with `baseline: {dataset: ...}`, the baselining processing job that computes the baseline:
  named from what its result depends on (`<monitor>-baseline-<8 hex>`, writing to
  `<output>/baseline/<8 hex>/`), so it runs when the dataset changes and only then, and the
  job definition waits for it. SageMaker never deletes a processing job or reuses its name: a
  failed one stays, and the next apply retries as `<name>-2`. Its output files are not read;
  the job definition points at where the job wrote them;
- with `alert:`, a CloudWatch alarm `<stack>-<monitor>` on the metric the job publishes and, when
  `notify` lists e-mail addresses, an SNS topic `<stack>-<monitor>-alerts` subscribing them.
  Topic ARNs in `notify` are used as they are and never modified.

Retraining schedules refer to the alarm through the `alarm_name` and `alarm_arn` attributes.

`model:` (the model a monitor is about) changes nothing here: a MonitoringSchedule watches the
traffic its endpoint captures as a whole, every variant's, with no per-variant input. It says
which model's retirement removes the monitor; `delete` takes the alarm (and the SNS topic it
made) with the schedule and its job definitions."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, ProviderError, StackError
from mlops_gitops.framework_images import ImageError
from mlops_gitops.handlers import Request
from mlops_gitops.ownership import TAGS
from mlops_gitops.provider import (
    UNKNOWN,
    ApplyContext,
    ResourceType,
    known,
)
from mlops_gitops.sdk import install_hint
from mlops_gitops.stack.schema import BaselineJob, MonitorSpec
from mlops_sagemaker import monitors_translate as mt
from mlops_sagemaker.client import NotFoundError, call, collect
from mlops_sagemaker.kind import KindHandler, already_exists
from mlops_sagemaker.translate import tag_changes, tag_dict, tag_list

MONITOR = ResourceType(
    "monitor",
    # SageMaker cannot turn a schedule of one monitoring type into another.
    force_new=("type",),
    # The baselining job's name is planned, but a retry of a failed job takes the next one.
    computed=("arn", "alarm_arn", "topic_arn", "baseline_job_name"),
    # Ownership tags are written with every change, but their absence is no reason for one: a
    # schedule made by hand and imported plans with no changes.
    not_drift=TAGS.not_drift,
    # The schedule, alarm and topic names are fixed by the monitor's name: the old ones must go
    # before the new ones can be made.
    create_before_destroy=False,
    supports={
        "type": ("data_quality", "model_quality", "bias", "explainability"),
        "every": ("hourly", "daily", "cron"),
    },
)
_PENDING = "Pending"
_JOB_ENDED = ("Completed", "Failed", "Stopped")  # a processing job's final statuses
_DELETE_POLLS = 20  # polls for a deleted schedule to disappear before giving up
# (list, tag, untag method, ARN parameter) of each service whose objects a monitor tags.
_TAGGING = {
    "sagemaker": ("list_tags", "add_tags", "delete_tags", "ResourceArn"),
    "cloudwatch": ("list_tags_for_resource", "tag_resource", "untag_resource", "ResourceARN"),
    "sns": ("list_tags_for_resource", "tag_resource", "untag_resource", "ResourceArn"),
}
# ECR's domain in the AWS partitions that have a Model Monitor image, by region prefix.
_ECR_DOMAINS = (("cn-", "amazonaws.com.cn"), ("us-isof-", "csp.hci.ic.gov"))


class MonitorHandler(KindHandler[MonitorSpec, mt.MonitorSettings]):
    rtype: ClassVar[ResourceType] = MONITOR
    settings_model: ClassVar[type[BaseModel] | None] = mt.MonitorSettings

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[MonitorSpec, mt.MonitorSettings]) -> list[Diagnostic]:
        resource = req.resource
        spec = req.spec
        if spec.type not in mt.MONITORING_TYPES:
            # The schema has no place yet for what these need (facets, labels, SHAP baselines).
            return [
                Diagnostic(f"monitor type {spec.type} is not supported by provider sagemaker yet", "type")
            ]
        s = req.settings
        diags = self.tag_problems(resource)
        diags += [Diagnostic(message, path) for path, message in mt.alert_problems(spec)]
        if len(resource.name) > mt.MAX_NAME - 9:
            diags.append(
                Diagnostic(
                    f"SageMaker names are at most {mt.MAX_NAME} characters and the monitor's job "
                    f"definitions are named <monitor>-<8 hex>: the monitor name can have at most "
                    f"{mt.MAX_NAME - 9} ({len(resource.name)} here)",
                    "",
                )
            )
        if not (s.role_arn or self.cfg.role_arn):
            diags.append(
                Diagnostic(
                    "SageMaker Model Monitor needs an execution role: set role_arn in the sagemaker "
                    "provider block, or role_arn here",
                    "sagemaker.role_arn",
                )
            )
        baseline = spec.baseline
        if isinstance(baseline, str) and (not baseline.startswith("s3://") or baseline.endswith(".json")):
            diags.append(
                Diagnostic(
                    "the baseline is the S3 prefix holding constraints.json and statistics.json "
                    "(what a SageMaker baselining job writes), e.g. s3://bucket/baselines/v7/",
                    "baseline",
                )
            )
        elif isinstance(baseline, BaselineJob) and spec.type != "data_quality":
            # A model quality baselining job needs the label and prediction columns named, which
            # the schema has no place for yet.
            diags.append(
                Diagnostic(
                    "SageMaker baselining jobs are run for data_quality monitors: give a "
                    "model_quality monitor the S3 prefix holding its constraints.json",
                    "baseline",
                )
            )
        dataset = baseline.dataset if isinstance(baseline, BaselineJob) else None
        for path, uri in (
            ("ground_truth", spec.ground_truth),
            ("sagemaker.output", s.output),
            ("baseline.dataset", dataset),
        ):
            if uri is not None and not uri.startswith("s3://"):
                diags.append(Diagnostic("SageMaker Model Monitor uses S3: use an s3:// URI", path))
        if spec.type == "model_quality" and spec.problem_type is None:
            diags.append(
                Diagnostic(
                    "a model_quality monitor needs problem_type: BinaryClassification, "
                    "MulticlassClassification or Regression",
                    "problem_type",
                )
            )
        if spec.type == "data_quality":
            diags += [
                Diagnostic("only model_quality monitors read the model's output", f"sagemaker.{key}")
                for key in ("inference_attribute", "probability_attribute", "probability_threshold_attribute")
                if getattr(s, key) is not None
            ]
        try:
            problem = mt.model_monitor_schedule_problem(mt.schedule_expression(spec.every))
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:
            diags.append(Diagnostic(f"{spec.every!r}: {problem}", "every"))
        return diags

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[MonitorSpec, mt.MonitorSettings]) -> dict[str, Any]:
        resource, refs, prior = req.resource, req.refs, req.prior
        spec = req.spec
        s = req.settings
        endpoint = refs.get(f"endpoint.{spec.endpoint}", {})
        capture = endpoint.get("data_capture")
        if s.output:
            output: Any = s.output
        elif isinstance(capture, Mapping) and isinstance(capture.get("destination"), str):
            output = mt.default_output(capture["destination"], resource.name)
        else:
            output = UNKNOWN
        try:
            image = s.image_uri or analyzer_image(self.cfg.region)
        except ImageError as exc:
            raise StackError.of(
                [Diagnostic(str(exc), f"monitors.{resource.name}.sagemaker.image_uri", resource.position)]
            ) from exc
        body = mt.monitor_attributes(
            spec,
            s,
            stack=self.provider.stack,
            name=resource.name,
            endpoint=endpoint.get("name", UNKNOWN),
            output=output,
            image=image,
            role_arn=s.role_arn or self.cfg.role_arn or "",
            tags=self.tags(resource),
        )
        prior = prior or {}
        # A baselining job retried under another name (see the module docstring) is the job.
        if mt.is_baseline_retry(prior.get("baseline_job_name"), body.get("baseline_job_name")):
            body["baseline_job_name"] = prior["baseline_job_name"]
        # Keep the current job definition while its content holds, so an imported monitor (whose
        # job definition someone else named) is not given a new one just to rename it.
        if prior.get("job_definition_name") and mt.job_basis(prior) == mt.job_basis(body):
            job_definition = prior["job_definition_name"]
        else:
            job_definition = mt.job_definition_name(self.provider.stack, resource.name, body)
        attrs = {"arn": prior.get("arn", UNKNOWN), **body, "job_definition_name": job_definition}
        if "alarm_name" in attrs:
            attrs["alarm_arn"] = prior.get("alarm_arn", UNKNOWN)
            if mt.emails(attrs["notify"]):
                attrs["topic_arn"] = prior.get("topic_arn", UNKNOWN)
        return attrs

    # ---- I/O: read ----------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        name = attributes["name"]
        desc = self._describe(name)
        if desc is None:
            return None
        kind = mt.schedule_type(desc)
        if kind is None:
            raise ProviderError(
                f"monitoring schedule {name} is a {desc.get('MonitoringType', 'custom')} schedule: the "
                "sagemaker provider manages data_quality and model_quality monitors",
                code="NotSupported",
            )
        attrs = mt.schedule_from_describe(desc, kind)
        job = self._describe_job(kind, attrs["job_definition_name"])
        if job is not None:
            attrs.update(mt.job_from_describe(kind, job))
        baseline_job = attributes.get("baseline_job_name")
        if isinstance(baseline_job, str):
            baselining = self._describe_processing_job(baseline_job)
            if baselining is not None:
                attrs.update(mt.baseline_job_from_describe(baselining))
        alarm = self._describe_alarm(attributes.get("alarm_name") or mt.alarm_name(self.provider.stack, name))
        if alarm is not None:
            topic = mt.topic_name(self.provider.stack, name)
            owned = next((a for a in alarm.get("AlarmActions", []) if a.rsplit(":", 1)[-1] == topic), None)
            attrs.update(mt.alert_from_alarm(alarm, topic, self._subscribed(owned) if owned else []))
        tags = self._tags("sagemaker", attrs["arn"])
        if tags:  # absent, not empty: `{}` would differ from desired tags that are all ownership tags
            attrs["tags"] = tags
        return attrs

    def _must_read(self, desired: Mapping[str, Any]) -> dict[str, Any]:
        attrs = self.read(desired)
        if attrs is None:
            raise ProviderError(
                f"SageMaker monitoring schedule {desired['name']!r} does not exist", code="NotFound"
            )
        return attrs

    def _describe(self, name: str) -> dict[str, Any] | None:
        try:
            return call(self.aws.sagemaker, "describe_monitoring_schedule", MonitoringScheduleName=name)
        except NotFoundError:
            return None

    def _describe_job(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return call(self.aws.sagemaker, f"describe_{kind}_job_definition", JobDefinitionName=name)
        except NotFoundError:
            return None

    def _describe_processing_job(self, name: str) -> dict[str, Any] | None:
        try:
            return call(self.aws.sagemaker, "describe_processing_job", ProcessingJobName=name)
        except NotFoundError:
            return None

    def _describe_alarm(self, name: str) -> dict[str, Any] | None:
        cw = self.aws.client("cloudwatch")
        found = call(cw, "describe_alarms", AlarmNames=[name], AlarmTypes=["MetricAlarm"])
        return next(iter(found.get("MetricAlarms", [])), None)

    def _subscribed(self, topic: str) -> list[str]:
        """The e-mail addresses subscribed to `topic`, confirmed or not."""
        try:
            subs = collect(
                self.aws.client("sns"), "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic
            )
        except ProviderError as exc:
            if not _absent(exc):
                raise
            return []
        return sorted(s["Endpoint"] for s in subs if s.get("Protocol") == "email")

    # ---- I/O: create / update / delete --------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        name = desired["name"]
        # Checked before anything is made or recorded, so a failed create never leaves state
        # naming someone else's schedule (the next plan would delete it).
        if self._describe(name) is not None:
            raise ProviderError(
                f"a SageMaker monitoring schedule named {name!r} already exists: import it "
                f"(mlops import {ctx.address} {name}) or rename the monitor",
                code="AlreadyExists",
            )
        # Nothing is recorded while the baseline is computed: a failed baselining job leaves nothing
        # to delete (SageMaker keeps processing jobs, and the next apply retries under a new name).
        attrs = self._baseline(ctx, desired)
        self._create_job_definition(attrs)
        ctx.checkpoint(known(attrs))
        attrs["arn"] = self._create_schedule(attrs, ctx.address)
        ctx.checkpoint(known(attrs))
        self._set_enabled(ctx, name, attrs["enabled"])
        self._sync_alert(ctx, {}, attrs)
        return self._must_read(attrs)

    def _create_schedule(self, attrs: Mapping[str, Any], address: str) -> str:
        """CreateMonitoringSchedule; its ARN. A schedule of that name carrying this address and
        running this job definition on this expression is this call's own (its reply lost and the
        call retried): create() made sure beforehand that no other schedule had the name."""
        name = attrs["name"]
        try:
            created = call(
                self.aws.sagemaker,
                "create_monitoring_schedule",
                MonitoringScheduleName=name,
                MonitoringScheduleConfig=mt.schedule_config(attrs),
                Tags=tag_list(attrs["tags"]),
            )
            return str(created["MonitoringScheduleArn"])
        except ProviderError as exc:
            if not already_exists(exc):
                raise
            found = self._describe(name)
            config = (found or {}).get("MonitoringScheduleConfig") or {}
            if (
                found is not None
                and TAGS.owner(self._tags("sagemaker", found["MonitoringScheduleArn"])) == address
                and config.get("MonitoringJobDefinitionName") == attrs["job_definition_name"]
                and (config.get("ScheduleConfig") or {}).get("ScheduleExpression")
                == attrs["schedule_expression"]
            ):
                return str(found["MonitoringScheduleArn"])
            raise ProviderError(
                f"a SageMaker monitoring schedule named {name!r} was created by someone else "
                f"meanwhile: import it (mlops import {address} {name}) or rename the monitor",
                code="AlreadyExists",
            ) from exc

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        name = desired["name"]
        desc = self._settled(ctx, name)
        if desc is None:
            raise ProviderError(f"SageMaker monitoring schedule {name!r} does not exist", code="NotFound")
        # First, as the new job definition needs its output; should it fail, the schedule keeps
        # running the current one.
        desired = self._baseline(ctx, desired)
        kind = desired["type"]
        config = desc.get("MonitoringScheduleConfig") or {}
        running = config.get("MonitoringJobDefinitionName", "")
        job_definition = desired["job_definition_name"]
        if job_definition != running or self._describe_job(kind, job_definition) is None:
            self._create_job_definition(desired)
            ctx.checkpoint({"job_definition_name": job_definition})
        expression = (config.get("ScheduleConfig") or {}).get("ScheduleExpression")
        if running != job_definition or expression != desired["schedule_expression"]:
            call(
                self.aws.sagemaker,
                "update_monitoring_schedule",
                MonitoringScheduleName=name,
                MonitoringScheduleConfig=mt.schedule_config(desired),
            )
            self._settled(ctx, name)  # the old job definition is in use until the update lands
        self._delete_job_definitions(
            kind,
            name,
            ctx.address,
            keep=job_definition,
            recorded={running, prior.get("job_definition_name", "")},
        )
        self._sync_tags("sagemaker", desc["MonitoringScheduleArn"], desired["tags"])
        job = self._describe_job(kind, job_definition)
        if job is not None:
            self._sync_tags("sagemaker", job["JobDefinitionArn"], desired["tags"])
        self._set_enabled(ctx, name, desired["enabled"])
        self._sync_alert(ctx, prior, desired)
        return self._must_read(desired)

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        name = prior["name"]
        stack = self.provider.stack
        with contextlib.suppress(NotFoundError):
            call(
                self.aws.client("cloudwatch"),
                "delete_alarms",
                AlarmNames=[prior.get("alarm_name") or mt.alarm_name(stack, name)],
            )
        desc = self._settled(ctx, name)
        schedule_arn = prior.get("arn") or (desc or {}).get("MonitoringScheduleArn")
        topic = prior.get("topic_arn") or (
            mt.topic_arn_beside(schedule_arn, mt.topic_name(stack, name)) if schedule_arn else None
        )
        if topic:
            self._delete_topic(topic)
        running = ((desc or {}).get("MonitoringScheduleConfig") or {}).get("MonitoringJobDefinitionName", "")
        if desc is not None:
            with contextlib.suppress(NotFoundError):
                call(self.aws.sagemaker, "delete_monitoring_schedule", MonitoringScheduleName=name)
            self._wait_gone(ctx, name)
        self._delete_job_definitions(
            prior["type"],
            name,
            ctx.address,
            keep=None,
            recorded={running, prior.get("job_definition_name", "")},
        )

    # ---- job definitions ----------------------------------------------------------------------
    def _create_job_definition(self, attrs: Mapping[str, Any]) -> None:
        method, request = mt.job_definition_request(attrs)
        try:
            call(self.aws.sagemaker, method, **request)
        except ProviderError as exc:
            if not already_exists(exc):
                raise
            # A retry after a lost reply or a failed apply: the name is derived from the content,
            # so the same name should mean the same job; check it, and that it is ours, before
            # adopting it.
            kind, name = attrs["type"], attrs["job_definition_name"]
            current = self._describe_job(kind, name)
            address = TAGS.owner(attrs["tags"])
            if (
                current is None
                or TAGS.owner(self._tags("sagemaker", current["JobDefinitionArn"])) != address
                or mt.job_basis({"type": kind, **mt.job_from_describe(kind, current)}) != mt.job_basis(attrs)
            ):
                raise ProviderError(
                    f"a different SageMaker job definition named {name!r} already exists", code=exc.code
                ) from exc

    def _delete_job_definitions(
        self, kind: str, monitor: str, address: str, *, keep: str | None, recorded: set[str]
    ) -> None:
        """Delete the job definitions this monitor owns but `keep`. Owned means named like ours
        (`<monitor>-<8 hex>`) and either recorded in state or tagged with this address; others are
        left alone, since another schedule may run them."""
        sm = self.aws.sagemaker
        prefix = mt.job_definition_prefix(monitor)
        listed = {
            j["MonitoringJobDefinitionName"]: j["MonitoringJobDefinitionArn"]
            for j in collect(
                sm, f"list_{kind}_job_definitions", "JobDefinitionSummaries", NameContains=prefix
            )
            if mt.is_generated_job_definition(j["MonitoringJobDefinitionName"], monitor)
        }
        for name in sorted((set(listed) | recorded) - {keep or "", ""}):
            if name not in recorded:
                try:
                    owner = TAGS.owner(self._tags("sagemaker", listed[name]))
                except NotFoundError:
                    continue
                if owner != address:
                    continue
            with contextlib.suppress(NotFoundError):
                call(sm, f"delete_{kind}_job_definition", JobDefinitionName=name)

    # ---- baselining job ------------------------------------------------------------------------
    def _baseline(self, ctx: ApplyContext, desired: Mapping[str, Any]) -> dict[str, Any]:
        """Run the baselining job `desired` asks for, unless it ran already, and wait for it to
        complete: `desired` with the name of the job that did. The job definition's baseline is
        where that job wrote (`baseline`), known before it starts."""
        attrs = dict(desired)
        planned = attrs.get("baseline_job_name")
        if planned is None:
            return attrs
        for name in mt.baseline_job_names(planned):
            found = self._describe_processing_job(name)
            if found is None:
                self._start_baseline(attrs, name)
                break
            if found["ProcessingJobStatus"] not in ("Failed", "Stopped"):
                break  # completed, or started by an apply that was interrupted
        attrs["baseline_job_name"] = name
        self._wait_baseline(ctx, name)
        return attrs

    def _start_baseline(self, attrs: Mapping[str, Any], name: str) -> None:
        try:
            call(self.aws.sagemaker, "create_processing_job", **mt.baseline_job_request(attrs, name))
        except ProviderError as exc:
            # A retry after a lost reply: the job is there, and is waited for like any other.
            if exc.code != "ResourceInUse" or self._describe_processing_job(name) is None:
                raise

    def _wait_baseline(self, ctx: ApplyContext, name: str) -> None:
        started = time.monotonic()
        for delay in self.aws.polling.delays():
            found = self._describe_processing_job(name)
            if found is None:
                raise ProviderError(f"baselining job {name} disappeared", code="NotFound")
            status = found["ProcessingJobStatus"]
            if status == "Completed":
                return
            if status in _JOB_ENDED:
                reason = found.get("FailureReason") or found.get("ExitMessage") or "no reason given"
                raise ProviderError(
                    f"baselining job {name} {status.lower()}: {reason}", code="BaselineFailed"
                )
            ctx.progress(f"baselining job {name} {status} ({time.monotonic() - started:.0f}s elapsed)")
            if ctx.cancel.wait(delay):
                raise ProviderError(
                    f"stopped waiting for baselining job {name}: the apply was cancelled (it runs on, "
                    "and the next apply waits for it)",
                    code="Cancelled",
                )
        raise AssertionError("unreachable: Polling.delays() never ends")

    # ---- the schedule's status ------------------------------------------------------------------
    def _settled(self, ctx: ApplyContext, name: str) -> dict[str, Any] | None:
        """The schedule's description once it has left Pending (SageMaker refuses changes until
        then), or None if it does not exist. Cancellation is honoured between polls."""
        started = time.monotonic()
        for delay in self.aws.polling.delays():
            desc = self._describe(name)
            if desc is None or desc.get("MonitoringScheduleStatus") != _PENDING:
                return desc
            ctx.progress(f"monitoring schedule {name} pending ({time.monotonic() - started:.0f}s elapsed)")
            if ctx.cancel.wait(delay):
                raise ProviderError(
                    f"stopped waiting for monitoring schedule {name}: the apply was cancelled",
                    code="Cancelled",
                )
        raise AssertionError("unreachable: Polling.delays() never ends")

    def _set_enabled(self, ctx: ApplyContext, name: str, enabled: bool) -> None:
        desc = self._settled(ctx, name)
        if desc is None:
            raise ProviderError(f"SageMaker monitoring schedule {name!r} disappeared", code="NotFound")
        status = desc.get("MonitoringScheduleStatus")
        if status == "Failed":
            raise ProviderError(
                f"monitoring schedule {name} failed: {desc.get('FailureReason') or 'no reason given'}",
                code="ScheduleFailed",
            )
        if enabled and status == "Stopped":
            call(self.aws.sagemaker, "start_monitoring_schedule", MonitoringScheduleName=name)
        elif not enabled and status != "Stopped":
            call(self.aws.sagemaker, "stop_monitoring_schedule", MonitoringScheduleName=name)
        else:
            return
        self._settled(ctx, name)

    def _wait_gone(self, ctx: ApplyContext, name: str) -> None:
        """Job definitions cannot be deleted while a schedule still uses them."""
        for _, delay in zip(range(_DELETE_POLLS), self.aws.polling.delays(), strict=False):
            if self._describe(name) is None:
                return
            ctx.progress(f"waiting for monitoring schedule {name} to be deleted")
            if ctx.cancel.wait(delay):
                break
        raise ProviderError(f"DeleteMonitoringSchedule: schedule {name} is still there", code="DeleteFailed")

    # ---- alert --------------------------------------------------------------------------------
    def _sync_alert(self, ctx: ApplyContext, prior: Mapping[str, Any], desired: Mapping[str, Any]) -> None:
        """Make the alarm and the monitor's own topic match `desired`: the topic first (the alarm
        notifies it), the alarm, then whatever is no longer wanted."""
        cw = self.aws.client("cloudwatch")
        wanted = "alarm_name" in desired
        addresses = mt.emails(desired["notify"]) if wanted else []
        topic = self._sync_topic(ctx, desired, addresses) if addresses else None
        if wanted:
            call(cw, "put_metric_alarm", **mt.alarm_request(desired, topic))
            alarm = self._describe_alarm(desired["alarm_name"])
            if alarm is None:
                raise ProviderError(f"PutMetricAlarm: alarm {desired['alarm_name']} was not created")
            ctx.checkpoint({"alarm_name": alarm["AlarmName"], "alarm_arn": alarm["AlarmArn"]})
            # PutMetricAlarm ignores Tags when the alarm exists already.
            self._sync_tags("cloudwatch", alarm["AlarmArn"], desired["tags"])
        elif prior.get("alarm_name"):
            with contextlib.suppress(NotFoundError):
                call(cw, "delete_alarms", AlarmNames=[prior["alarm_name"]])
        if topic is None and prior.get("topic_arn"):
            self._delete_topic(prior["topic_arn"])

    def _sync_topic(self, ctx: ApplyContext, desired: Mapping[str, Any], addresses: list[str]) -> str:
        sns = self.aws.client("sns")
        # CreateTopic returns the existing topic of that name, but refuses one whose tags differ:
        # tags are set separately.
        topic = call(sns, "create_topic", Name=mt.topic_name(self.provider.stack, desired["name"]))[
            "TopicArn"
        ]
        ctx.checkpoint({"topic_arn": topic})
        self._sync_tags("sns", topic, desired["tags"])
        subs = collect(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic)
        have = {s["Endpoint"]: s["SubscriptionArn"] for s in subs if s.get("Protocol") == "email"}
        for address in addresses:
            if address not in have:
                call(sns, "subscribe", TopicArn=topic, Protocol="email", Endpoint=address)
        for address, arn in have.items():
            # An unconfirmed subscription has no ARN to unsubscribe with: SNS drops it in 3 days.
            if address not in addresses and arn.startswith("arn:"):
                with contextlib.suppress(NotFoundError):
                    call(sns, "unsubscribe", SubscriptionArn=arn)
        return topic

    def _delete_topic(self, topic: str) -> None:
        """Deleting a topic deletes its subscriptions; deleting one that is gone succeeds."""
        try:
            call(self.aws.client("sns"), "delete_topic", TopicArn=topic)
        except ProviderError as exc:
            if not _absent(exc):
                raise

    # ---- tags ---------------------------------------------------------------------------------
    def _tags(self, service: str, arn: str) -> dict[str, str]:
        method, _, _, key = _TAGGING[service]
        client = self.aws.client(service)
        if client.can_paginate(method):
            return tag_dict(collect(client, method, "Tags", **{key: arn}))
        return tag_dict(call(client, method, **{key: arn}).get("Tags", []))

    def _sync_tags(self, service: str, arn: str, wanted: Mapping[str, str]) -> None:
        _, tag, untag, key = _TAGGING[service]
        client = self.aws.client(service)
        add, remove = tag_changes(self._tags(service, arn), wanted)
        if remove:
            call(client, untag, TagKeys=remove, **{key: arn})
        if add:
            call(client, tag, Tags=tag_list(add), **{key: arn})

    # ---- import -------------------------------------------------------------------------------
    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        try:
            default_image: str | None = analyzer_image(self.cfg.region)
        except ImageError:
            default_image = None
        return mt.monitor_spec(attributes, default_role=self.cfg.role_arn, default_image=default_image)


def _absent(exc: ProviderError) -> bool:
    # SNS reports a missing topic or subscription as NotFound, which client.py does not map.
    return isinstance(exc, NotFoundError) or exc.code == "NotFound"


@lru_cache(maxsize=32)  # failures raise, so only resolved URIs are cached
def analyzer_image(region: str) -> str:
    """SageMaker's Model Monitor analyzer image in `region`, from the image table that ships with
    sagemaker-core. The table is read as a data file: importing the SDK costs over a second."""
    try:
        dist = importlib.metadata.distribution("sagemaker-core")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ImageError(
            f"the Model Monitor image is looked up in sagemaker-core ({install_hint('sagemaker')}); "
            "or give sagemaker.image_uri"
        ) from exc
    table = Path(str(dist.locate_file("sagemaker/core/image_uri_config/model-monitor.json")))
    try:
        config = next(iter(json.loads(table.read_text())["versions"].values()))
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise ImageError(
            f"sagemaker-core has no readable Model Monitor image table ({table}): {exc}"
        ) from exc
    registries: dict[str, str] = config["registries"]
    if region not in registries:
        raise ImageError(
            f"SageMaker has no Model Monitor image in {region} "
            f"(it has one in {', '.join(sorted(registries))}): give sagemaker.image_uri"
        )
    domain = next((d for prefix, d in _ECR_DOMAINS if region.startswith(prefix)), "amazonaws.com")
    return f"{registries[region]}.dkr.ecr.{region}.{domain}/{config['repository']}"
