"""What `mlops status` asks of Vertex AI beyond `read`: each object's live status and a deep link
to it in the Google Cloud console (see `Provider.live_status` and `Provider.console_url`).

- endpoint: Vertex reports no state of an endpoint nor a current replica count of a deployed
  model (only its min and max, which the serving view has): nothing beyond existing;
- monitor: GetModelDeploymentMonitoringJob's `state` and `schedule_state`, its last monitoring
  pipeline run (`latest_monitoring_pipeline_metadata`: run time and status) and
  `next_schedule_time`. The anomalies a run found (SearchModelDeploymentMonitoringStatsAnomalies)
  are not read: `violations` stays None;
- schedule: GetSchedule's `state` (ACTIVE/PAUSED/COMPLETED), `next_run_time`, and the last run it
  started (`last_scheduled_run_response`: when, and the pipeline job). That job's own result
  would take the PipelineService, which this provider does not use: not read;
- model: nothing beyond existing.

Console links: `https://console.cloud.google.com/vertex-ai/...?project=<project>` (endpoints,
models in the registry; a monitor links to its endpoint, whose page shows its monitoring; a
schedule to the pipelines' schedules). A `base` replaces `https://console.cloud.google.com`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlops_vertex.client import NotFoundError, to_dict

if TYPE_CHECKING:
    from mlops_vertex.provider import VertexProvider

DEFAULT_BASE = "https://console.cloud.google.com"
_JOB_HEALTH = {
    "JOB_STATE_RUNNING": "ok",
    "JOB_STATE_SUCCEEDED": "ok",
    "JOB_STATE_PENDING": "progressing",
    "JOB_STATE_QUEUED": "progressing",
    "JOB_STATE_UPDATING": "progressing",
    "JOB_STATE_PAUSED": "paused",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "failed",
    "JOB_STATE_EXPIRED": "failed",
}
_SCHEDULE_HEALTH = {"ACTIVE": "ok", "PAUSED": "paused", "COMPLETED": "ok"}


def console_url(
    provider: VertexProvider, kind: str, attributes: Mapping[str, Any], base: str | None = None
) -> str | None:
    cfg = provider.cfg
    origin = (base or DEFAULT_BASE).rstrip("/")
    project = f"?project={quote(cfg.project)}"
    where = f"locations/{quote(cfg.location)}"
    if kind == "endpoint" and attributes.get("id"):
        return f"{origin}/vertex-ai/{where}/endpoints/{quote(str(attributes['id']))}{project}"
    if kind == "monitor" and attributes.get("endpoint"):
        return f"{origin}/vertex-ai/{where}/endpoints/{quote(str(attributes['endpoint']))}{project}"
    if kind == "model" and attributes.get("id"):
        return f"{origin}/vertex-ai/models/{where}/models/{quote(str(attributes['id']))}{project}"
    if kind in ("schedule", "batch_job"):  # a batch job on a cron is a schedule of its pipeline
        return f"{origin}/vertex-ai/pipelines/schedules{project}"
    return None


def live_status(provider: VertexProvider, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    object_id = attributes.get("id")
    if not isinstance(object_id, str) or not object_id:
        return {}
    api = provider.api
    try:
        if kind == "monitor":
            job = api.call(
                api.jobs.get_model_deployment_monitoring_job,
                f"GetModelDeploymentMonitoringJob {object_id}",
                name=f"{api.parent}/modelDeploymentMonitoringJobs/{object_id}",
            )
            return _monitor(to_dict(job))
        if kind in ("schedule", "batch_job"):
            found = api.call(
                api.schedules.get_schedule,
                f"GetSchedule {object_id}",
                name=f"{api.parent}/schedules/{object_id}",
            )
            return _schedule(to_dict(found))
    except NotFoundError:
        return {}
    return {}


def _monitor(job: Mapping[str, Any]) -> dict[str, Any]:
    state = job.get("state")
    out: dict[str, Any] = {
        "state": state,
        "health": _JOB_HEALTH.get(str(state)),
        "message": (job.get("error") or {}).get("message") or None,
    }
    latest = job.get("latest_monitoring_pipeline_metadata") or {}
    if latest.get("run_time"):
        status = latest.get("status") or {}
        code = status.get("code", 0)
        out["last_run"] = {
            "time": str(latest["run_time"]),
            "status": "OK" if not code else f"error {code}",
            "ok": not code,
            "violations": None,  # the anomalies are not read: see the module's docstring
            "message": status.get("message") or None,
            "run": None,
        }
    if job.get("next_schedule_time") and state != "JOB_STATE_PAUSED":
        out["next_run"] = str(job["next_schedule_time"])
    return out


def _schedule(schedule: Mapping[str, Any]) -> dict[str, Any]:
    state = schedule.get("state")
    out: dict[str, Any] = {"state": state, "health": _SCHEDULE_HEALTH.get(str(state))}
    last = schedule.get("last_scheduled_run_response") or {}
    if last.get("scheduled_run_time"):
        out["last_run"] = {
            "time": str(last["scheduled_run_time"]),
            "status": "started",
            "ok": None,  # the pipeline job's result is not read: see the module's docstring
            "violations": None,
            "message": None,
            "run": last.get("run_response") or None,
        }
    if schedule.get("next_run_time"):
        out["next_run"] = str(schedule["next_run_time"])
    return out
