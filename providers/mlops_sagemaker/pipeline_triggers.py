"""What the kinds built on a SageMaker Pipeline share: `schedule` and `batch_job`.

Each owns, named after the resource, a Pipeline plus up to two triggers that start it: an
EventBridge Scheduler schedule (group `default`) when the stack gives a `cron`, and an EventBridge
rule when it gives `also_on`. The two kinds differ in the pipeline's definition, in what the rule
listens for and in what the triggers pass to the pipeline; how the three objects are read, made,
changed and deleted is the same, and lives here once so a fix to one (say, to the order a rule
and its targets are deleted in) cannot miss the other.

A subclass supplies `_read()`, `_sync_pipeline()`, `_schedule_request()` and `_rule_request()`,
and names its rule target's id in `target_id`. The checks, settings and desired attributes of the
roles and the cron are shared too (`PipelineRoles`, `cron_problems`, `trigger_attributes`).
Importing this module imports no AWS SDK."""

from __future__ import annotations

import contextlib
import uuid
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.handlers import S, T
from mlops_gitops.ownership import TAGS
from mlops_gitops.provider import UNKNOWN, ApplyContext, known
from mlops_sagemaker import aws_cron
from mlops_sagemaker import schedules_translate as st
from mlops_sagemaker.client import NotFoundError, call, collect
from mlops_sagemaker.config import _ROLE_ARN
from mlops_sagemaker.kind import KindHandler, already_exists
from mlops_sagemaker.translate import tag_changes, tag_dict, tag_list

# The attributes that follow a kind's own, in the order plans and `read()` show them.
TRIGGER_ORDER = (
    "cron",
    "timezone",
    "schedule_arn",
    "enabled",
    "scheduler_role_arn",
    "rule_name",
    "also_on",
    "tags",
)


class PipelineRoles(BaseModel):
    """The roles of a kind's `sagemaker:` block; each kind adds `scheduler_role_arn`, described
    with what its rule listens for."""

    model_config = ConfigDict(extra="forbid")

    execution_role_arn: str | None = Field(
        None, pattern=_ROLE_ARN, description="role the pipeline runs as; overrides the provider's role_arn"
    )


class PipelineTriggerHandler(KindHandler[S, T]):
    # The Id of the one target this kind puts on its rule: reading back picks it out by this id.
    target_id: ClassVar[str]

    # ---- offline ------------------------------------------------------------------------------
    def _role_problems(self, execution_role_arn: str | None) -> list[Diagnostic]:
        if execution_role_arn or self.cfg.role_arn:
            return []
        return [
            Diagnostic(
                "a SageMaker pipeline needs an execution role: set role_arn in the sagemaker "
                "provider block, or execution_role_arn here",
                "sagemaker.execution_role_arn",
            )
        ]

    # ---- hooks --------------------------------------------------------------------------------
    @abstractmethod
    def _read(self, prior: Mapping[str, Any], *, schedule: bool, rule: str | None) -> dict[str, Any] | None:
        """The resource's objects as they are. Only the triggers asked for are looked for, so an
        unrelated schedule or rule that happens to share a name is never taken for ours."""

    @abstractmethod
    def _sync_pipeline(self, current: Mapping[str, Any], desired: Mapping[str, Any]) -> str:
        """Create or update the pipeline (see `_put_pipeline`); its ARN."""

    @abstractmethod
    def _schedule_request(self, desired: Mapping[str, Any], pipeline_arn: str) -> dict[str, Any]:
        """The CreateSchedule / UpdateSchedule request."""

    @abstractmethod
    def _rule_request(
        self, desired: Mapping[str, Any], pipeline_arn: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The PutRule request and the rule's target (without its Id). Raises while what the
        rule listens for is not known yet."""

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._read(
            attributes,
            schedule="cron" in attributes or "schedule_arn" in attributes,
            rule=attributes.get("rule_name"),
        )

    def _read_pipeline(self, prior: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The names `prior` gives, with `pipeline_arn`, `execution_role_arn` and `tags` of that
        pipeline; and its definition text, None if there is no such pipeline. One being deleted
        counts as gone: it can only go, and a replacement waits for it."""
        name = prior["name"]
        attrs: dict[str, Any] = {"name": name, "pipeline_name": prior.get("pipeline_name", name)}
        pipeline = self._describe_pipeline(attrs["pipeline_name"])
        if pipeline is None or pipeline.get("PipelineStatus") == "Deleting":
            return attrs, None
        attrs["pipeline_arn"] = pipeline["PipelineArn"]
        attrs["execution_role_arn"] = pipeline["RoleArn"]
        tags = tag_dict(collect(self.aws.sagemaker, "list_tags", "Tags", ResourceArn=pipeline["PipelineArn"]))
        if tags:  # an empty `tags` would differ from the ownership tags, which are not drift
            attrs["tags"] = tags
        return attrs, pipeline["PipelineDefinition"]

    def _read_schedule(
        self, name: str, prior: Mapping[str, Any], attrs: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Fill `cron`, `timezone` and `schedule_arn` from the Scheduler schedule `name`; the
        schedule as GetSchedule returns it, None if there is none."""
        found = self._get_schedule(name)
        if found is not None:
            attrs["cron"] = _cron_read_back(found["ScheduleExpression"], prior.get("cron"))
            attrs["timezone"] = found.get("ScheduleExpressionTimezone") or "UTC"
            attrs["schedule_arn"] = found["Arn"]
        return found

    def _read_rule(self, rule: str) -> tuple[dict[str, Any], Mapping[str, Any]] | None:
        """The rule as DescribeRule returns it and our target on it ({} if it lost it); None if
        there is no such rule."""
        desc = self._describe_rule(rule)
        if desc is None:
            return None
        targets = collect(self.aws.client("events"), "list_targets_by_rule", "Targets", Rule=rule)
        return desc, next((t for t in targets if t["Id"] == self.target_id), {})

    def _describe_pipeline(self, name: str) -> dict[str, Any] | None:
        try:
            return call(self.aws.sagemaker, "describe_pipeline", PipelineName=name)
        except NotFoundError:
            return None

    def _get_schedule(self, name: str) -> dict[str, Any] | None:
        try:
            return call(self.aws.client("scheduler"), "get_schedule", Name=name, GroupName=st.SCHEDULE_GROUP)
        except NotFoundError:
            return None

    def _describe_rule(self, name: str) -> dict[str, Any] | None:
        try:
            return call(self.aws.client("events"), "describe_rule", Name=name)
        except NotFoundError:
            return None

    # ---- create / update ----------------------------------------------------------------------
    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        # Read again rather than trust `prior`: whatever was deleted since is made again.
        return self._converge(self.read(prior) or {}, desired, ctx)

    def _converge(
        self, current: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        """Make the pipeline, then each trigger, match `desired`, recording after each step."""
        pipeline_arn = self._sync_pipeline(current, desired)
        done = {**desired, "pipeline_arn": pipeline_arn}
        ctx.checkpoint(known(done))
        schedule_arn = self._sync_schedule(current, desired, pipeline_arn)
        if schedule_arn is not None:
            done["schedule_arn"] = schedule_arn
            ctx.checkpoint(known(done))
        if self._sync_rule(current, desired, pipeline_arn):
            ctx.checkpoint(known(done))
        return self.must_read(desired)

    def _put_pipeline(
        self,
        current: Mapping[str, Any],
        desired: Mapping[str, Any],
        *,
        definition: Callable[[], str],
        differs: Callable[[Mapping[str, Any]], bool],
        **create_args: Any,
    ) -> str:
        """Create the pipeline, or update what `differs(current)` and the role; then its tags.
        `definition` is only called when the text is sent; `create_args` go to CreatePipeline
        alone."""
        sm = self.aws.sagemaker
        name = desired["pipeline_name"]
        if "pipeline_arn" not in current:
            try:
                created = call(
                    sm,
                    "create_pipeline",
                    PipelineName=name,
                    PipelineDefinition=definition(),
                    **create_args,
                    RoleArn=desired["execution_role_arn"],
                    Tags=tag_list(desired["tags"]),
                )
                return str(created["PipelineArn"])
            except ProviderError as exc:
                if not already_exists(exc):
                    raise
                # Made by this very call (its reply lost and the call retried, where the cloud did
                # not recognise its token) if it carries this resource's tags; then it is brought
                # to what is asked like any existing pipeline.
                found = self._read(
                    {"name": desired["name"], "pipeline_name": name}, schedule=False, rule=None
                )
                if found is None or not owned(found, desired):
                    raise ProviderError(
                        f"a SageMaker pipeline named {name!r} was created by someone else meanwhile",
                        code="AlreadyExists",
                    ) from exc
                current = found
        changes: dict[str, str] = {}
        if differs(current):
            changes["PipelineDefinition"] = definition()
        if current.get("execution_role_arn") != desired["execution_role_arn"]:
            changes["RoleArn"] = desired["execution_role_arn"]
        if changes:
            call(sm, "update_pipeline", PipelineName=name, **changes)
        arn = str(current["pipeline_arn"])
        add, remove = tag_changes(current.get("tags", {}), desired["tags"])
        if remove:
            call(sm, "delete_tags", ResourceArn=arn, TagKeys=remove)
        if add:
            call(sm, "add_tags", ResourceArn=arn, Tags=tag_list(add))
        return arn

    def _sync_schedule(
        self, current: Mapping[str, Any], desired: Mapping[str, Any], pipeline_arn: str
    ) -> str | None:
        """Create, update or delete the Scheduler schedule; its ARN if it now exists. An update
        is sent whenever the resource changes: UpdateSchedule replaces every field, so one call
        also repairs what a console edit changed outside the attributes (say, the target)."""
        if "cron" not in desired:
            if "schedule_arn" in current:
                self._delete_schedule(current["name"])
            return None
        request = self._schedule_request(desired, pipeline_arn)
        method = "update_schedule" if "schedule_arn" in current else "create_schedule"
        return str(call(self.aws.client("scheduler"), method, **request)["ScheduleArn"])

    def _sync_rule(self, current: Mapping[str, Any], desired: Mapping[str, Any], pipeline_arn: str) -> bool:
        """Put (or delete) the rule and its target; True if the rule now exists."""
        if "rule_name" not in desired:
            if "rule_name" in current:
                self._delete_rule(current["rule_name"])
            return False
        request, target = self._rule_request(desired, pipeline_arn)
        events = self.aws.client("events")
        call(events, "put_rule", **request)
        result = call(
            events, "put_targets", Rule=desired["rule_name"], Targets=[{"Id": self.target_id, **target}]
        )
        if result.get("FailedEntryCount"):
            failed = "; ".join(
                f"{e.get('ErrorCode')}: {e.get('ErrorMessage')}" for e in result.get("FailedEntries", [])
            )
            raise ProviderError(f"PutTargets on rule {desired['rule_name']}: {failed}")
        return True

    # ---- delete -------------------------------------------------------------------------------
    def _delete_all(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        """Triggers first, so nothing starts the pipeline while it goes."""
        if "cron" in prior or "schedule_arn" in prior:
            self._delete_schedule(prior["name"])
        if prior.get("rule_name"):
            self._delete_rule(prior["rule_name"])
        name = prior.get("pipeline_name", prior["name"])
        with contextlib.suppress(NotFoundError):
            call(self.aws.sagemaker, "delete_pipeline", PipelineName=name)
        self._wait_pipeline_gone(name, ctx)

    def _delete_schedule(self, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            call(self.aws.client("scheduler"), "delete_schedule", Name=name, GroupName=st.SCHEDULE_GROUP)

    def _delete_rule(self, rule: str) -> None:
        """Targets first: EventBridge refuses to delete a rule that still has any."""
        events = self.aws.client("events")
        try:
            targets = collect(events, "list_targets_by_rule", "Targets", Rule=rule)
        except NotFoundError:
            return
        with contextlib.suppress(NotFoundError):
            if targets:
                call(events, "remove_targets", Rule=rule, Ids=[t["Id"] for t in targets])
            call(events, "delete_rule", Name=rule)

    def _wait_pipeline_gone(self, name: str, ctx: ApplyContext) -> None:
        """SageMaker may keep a pipeline `Deleting` for a while; a replacement that creates the
        same name again must wait for it to go."""
        for delay in self.aws.polling.delays():
            desc = self._describe_pipeline(name)
            if desc is None:
                return
            status = desc.get("PipelineStatus")
            if status != "Deleting":
                raise ProviderError(f"DeletePipeline: pipeline {name} is still there ({status})")
            ctx.progress(f"Deleting pipeline {name}… status={status}")
            if ctx.cancel.wait(delay):
                raise ProviderError(
                    f"stopped waiting for pipeline {name} to be deleted: the apply was cancelled",
                    code="Cancelled",
                )

    # ---- run ----------------------------------------------------------------------------------
    def _start_execution(self, name: str, ctx: ApplyContext, **request: Any) -> str:
        """Start an execution of pipeline `name`; its ARN. The request token is made once for
        this call: a start sent again after a lost reply names the same execution rather than a
        second one."""
        token = uuid.uuid5(uuid.NAMESPACE_URL, f"{ctx.address}/{uuid.uuid4()}").hex
        started = call(
            self.aws.sagemaker,
            "start_pipeline_execution",
            PipelineName=name,
            ClientRequestToken=token,
            **request,
            PipelineExecutionDescription=f"started by mlops run {ctx.address}",
            cancel=ctx.cancel,
        )
        return str(started["PipelineExecutionArn"])


def cron_problems(cron: str | None) -> list[Diagnostic]:
    """What EventBridge Scheduler would refuse in the stack's cron (none without one)."""
    if cron:
        try:
            aws_cron.to_aws(cron)
        except aws_cron.CronError as exc:
            return [Diagnostic(f"cron {cron!r}: {exc}", "cron")]
    return []


def trigger_attributes(
    cron: str | None, timezone: str, enabled: bool, scheduler_role_arn: str, prior: Mapping[str, Any]
) -> dict[str, Any]:
    """The desired attributes of the triggers: the schedule's (with a cron), then what both share."""
    attrs: dict[str, Any] = {}
    if cron:
        attrs["cron"] = cron
        attrs["timezone"] = timezone
        attrs["schedule_arn"] = prior.get("schedule_arn", UNKNOWN)
    attrs["enabled"] = enabled
    attrs["scheduler_role_arn"] = scheduler_role_arn
    return attrs


def owned(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether the pipeline found carries this resource's ownership tags (so a create that died
    before recording it made it), rather than being someone else's."""
    tags = existing.get("tags", {})
    return "pipeline_arn" in existing and all(tags.get(k) == desired["tags"][k] for k in TAGS.keys)


def _cron_read_back(expression: str, prior: str | None) -> str:
    """The stack's own spelling while AWS holds what it converts to; otherwise the cron AWS
    holds, or its raw expression when there is no five-field equivalent."""
    if prior:
        with contextlib.suppress(aws_cron.CronError):
            if aws_cron.to_aws(prior) == expression:
                return prior
    return aws_cron.from_aws(expression) or expression
