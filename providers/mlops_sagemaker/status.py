"""What `mlops status` asks of SageMaker beyond `read`: each object's live status and a deep link
to it in the AWS console (see `Provider.live_status` and `Provider.console_url`).

- endpoint: DescribeEndpoint's EndpointStatus and FailureReason, and per variant the current and
  desired instance counts (the autoscaler's, which `read` does not report as the variant's);
- monitor: DescribeMonitoringSchedule's MonitoringScheduleStatus and its
  LastMonitoringExecutionSummary (time, status, failure reason; `CompletedWithViolations` says
  there were violations, not how many: that count is in the run's constraint_violations.json on
  S3, which is not read), and the next run from the schedule's cron (UTC);
- schedule: the Scheduler schedule's state (ENABLED/DISABLED, from `read`), the last pipeline
  execution (ListPipelineExecutions, newest first); the next run comes from the cron (the core);
- model: nothing beyond existing.

Console links go to `https://<region>.console.aws.amazon.com/sagemaker/home?region=<region>#/...`
(endpoints, models; a monitor links to its endpoint, whose page lists its monitoring schedules)
and, for a schedule, to its EventBridge Scheduler schedule. A `base` replaces
`https://<region>.console.aws.amazon.com` (`{region}` in it is filled in)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlops_sagemaker.client import NotFoundError, call

if TYPE_CHECKING:
    from mlops_sagemaker.provider import SageMakerProvider

DEFAULT_BASE = "https://{region}.console.aws.amazon.com"
_PROGRESSING = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "Pending"}
_RUN_OK = {"Completed": True, "Succeeded": True, "CompletedWithViolations": False, "Failed": False}


def console_url(
    provider: SageMakerProvider, kind: str, attributes: Mapping[str, Any], base: str | None = None
) -> str | None:
    region = provider.cfg.region
    origin = (base or DEFAULT_BASE).replace("{region}", region).rstrip("/")
    home = f"{origin}/sagemaker/home?region={region}#"
    name = attributes.get("endpoint") if kind == "monitor" else attributes.get("name")
    if not isinstance(name, str) or not name:
        return None
    if kind in ("endpoint", "monitor"):
        return f"{home}/endpoints/{quote(name)}"
    if kind == "model":
        return f"{home}/models/{quote(name)}"
    if kind == "schedule" and attributes.get("schedule_arn"):
        return f"{origin}/scheduler/home?region={region}#schedules/default/{quote(name)}"
    return None


def live_status(provider: SageMakerProvider, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "endpoint":
        return _endpoint(provider, attributes["name"])
    if kind == "monitor":
        return _monitor(provider, attributes["name"])
    if kind == "schedule":
        return _schedule(provider, attributes)
    return {}


def _when(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value) if value else None


def _health(status: str | None) -> str | None:
    if status == "Failed":
        return "failed"
    if status in _PROGRESSING:
        return "progressing"
    if status in ("OutOfService",):
        return "degraded"
    if status == "Stopped":
        return "paused"
    return "ok" if status else None


def _endpoint(provider: SageMakerProvider, name: str) -> dict[str, Any]:
    try:
        desc = call(provider.aws.sagemaker, "describe_endpoint", EndpointName=name)
    except NotFoundError:
        return {}
    status = desc.get("EndpointStatus")
    return {
        "state": status,
        "health": _health(status),
        "message": desc.get("FailureReason"),
        "variants": {
            v["VariantName"]: {
                "current_instance_count": v.get("CurrentInstanceCount"),
                "desired_instance_count": v.get("DesiredInstanceCount"),
            }
            for v in desc.get("ProductionVariants", [])
        },
    }


def _monitor(provider: SageMakerProvider, name: str) -> dict[str, Any]:
    try:
        desc = call(provider.aws.sagemaker, "describe_monitoring_schedule", MonitoringScheduleName=name)
    except NotFoundError:
        return {}
    status = desc.get("MonitoringScheduleStatus")
    out: dict[str, Any] = {"state": status, "health": _health(status), "message": desc.get("FailureReason")}
    last = desc.get("LastMonitoringExecutionSummary")
    if last:
        result = last.get("MonitoringExecutionStatus")
        out["last_run"] = {
            "time": _when(last.get("ScheduledTime") or last.get("CreationTime")),
            "status": result,
            "ok": _RUN_OK.get(result),
            "violations": None,  # only whether there were any: see the module's docstring
            "message": last.get("FailureReason"),
            "run": last.get("ProcessingJobArn"),
        }
    expression = ((desc.get("MonitoringScheduleConfig") or {}).get("ScheduleConfig") or {}).get(
        "ScheduleExpression", ""
    )
    if status != "Stopped":
        out["next_run"] = _next_from_aws(expression)
    return out


def _next_from_aws(expression: str) -> str | None:
    from mlops_gitops.cron import cron_problem, next_runs
    from mlops_sagemaker.aws_cron import from_aws

    try:
        cron = from_aws(expression)
    except Exception:
        return None
    if not cron or cron_problem(cron) is not None:
        return None
    return _when(next_runs(cron, "UTC", datetime.now(UTC), 1)[0])


def _schedule(provider: SageMakerProvider, attributes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "enabled" in attributes:
        out["state"] = "ENABLED" if attributes["enabled"] else "DISABLED"
        out["health"] = "ok" if attributes["enabled"] else "paused"
    pipeline = attributes.get("pipeline_name") or attributes.get("name")
    try:
        found = call(
            provider.aws.sagemaker,
            "list_pipeline_executions",
            PipelineName=pipeline,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        ).get("PipelineExecutionSummaries", [])
    except NotFoundError:
        found = []
    if found:
        last = found[0]
        result = last.get("PipelineExecutionStatus")
        out["last_run"] = {
            "time": _when(last.get("StartTime")),
            "status": result,
            "ok": _RUN_OK.get(result),
            "violations": None,
            "message": last.get("PipelineExecutionFailureReason"),
            "run": last.get("PipelineExecutionArn"),
        }
    return out
