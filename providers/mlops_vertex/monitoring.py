"""Pure translation for monitors: the attributes the engine diffs <-> a
ModelDeploymentMonitoringJob.

A `data_quality` monitor becomes prediction drift detection (each feature's serving distribution
against the previous window's) with `alert.threshold` as the default threshold (or, with
`alert.metric: feature_baseline_drift_<feature>`, as that feature's threshold and no default)
and `vertex.drift_thresholds` per feature; with training data (`baseline: {dataset: ...}`, or
`vertex.training_dataset`) it also detects training/serving skew (`vertex.skew_thresholds`). Vertex
configures objectives per deployed model, so the same objective is given to every deployed model
the monitor watches (`deployed_models`: every one of the endpoint, or those serving the monitor's
`model`), and the job is updated when those deployed models change.

No I/O and no SDK import: jobs are the plain snake_case dicts `client.to_dict` makes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INTERVALS = {"hourly": 3600, "daily": 86400}
_OBJECTIVES = "model_deployment_monitoring_objective_configs"
DEFAULT_THRESHOLD = 0.3  # Vertex's documented default distance for drift and skew
# The alert metric naming one feature's distance from its baseline (SageMaker publishes it as
# `feature_baseline_drift_<feature>`): the one metric both clouds mean the same way.
FEATURE_METRIC = "feature_baseline_drift_"
# A baseline dataset's neutral format -> Vertex's training data format.
BASELINE_FORMATS = {"csv": "csv", "json": "jsonl"}
PAUSED = "JOB_STATE_PAUSED"
_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".tfrecord": "tf-record"}
# Job fields an update may change, and the attributes each one holds.
UPDATABLE = {
    "display_name": ("display_name",),
    _OBJECTIVES: ("deployed_models", "drift", "skew"),
    "model_deployment_monitoring_schedule_config": ("interval",),
    "logging_sampling_strategy": ("sample_rate",),
    "model_monitoring_alert_config": ("notify",),
    "labels": ("labels",),
}


def data_format(uri: str) -> str | None:
    """The format of gs:// training data, from the file extension (BigQuery tables have none)."""
    if uri.startswith("bq://"):
        return None
    for extension, fmt in _FORMATS.items():
        if uri.lower().endswith(extension):
            return fmt
    return None


def metric_feature(metric: str | None) -> str | None:
    """The feature `feature_baseline_drift_<feature>` names; None for no metric or another."""
    if metric is None or not metric.startswith(FEATURE_METRIC):
        return None
    return metric[len(FEATURE_METRIC) :] or None


def thresholds(threshold: float, feature: str | None, per_feature: Mapping[str, float]) -> dict[str, Any]:
    """`{default_threshold?, thresholds}` of one objective: `threshold` for every feature, or
    (an alert on one feature's metric) for `feature` alone; per-feature values win."""
    values = {feature: threshold} if feature else {}
    values.update({k: float(v) for k, v in per_feature.items()})
    out: dict[str, Any] = {} if feature else {"default_threshold": threshold}
    out["thresholds"] = {k: float(v) for k, v in sorted(values.items())}
    return out


def _thresholds(values: Mapping[str, float]) -> dict[str, dict[str, float]]:
    return {feature: {"value": float(t)} for feature, t in sorted(values.items())}


def objective(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The ModelMonitoringObjectiveConfig every deployed model gets."""
    drift = attrs["drift"]
    detection: dict[str, Any] = {"drift_thresholds": _thresholds(drift["thresholds"])}
    if "default_threshold" in drift:
        detection["default_drift_threshold"] = {"value": float(drift["default_threshold"])}
    config: dict[str, Any] = {"prediction_drift_detection_config": detection}
    skew = attrs.get("skew")
    if skew:
        uri = skew["training_dataset"]
        dataset: dict[str, Any] = (
            {"bigquery_source": {"input_uri": uri}}
            if uri.startswith("bq://")
            else {"gcs_source": {"uris": [uri]}, "data_format": skew["data_format"]}
        )
        if skew.get("target_field"):
            dataset["target_field"] = skew["target_field"]
        config["training_dataset"] = dataset
        skew_detection: dict[str, Any] = {"skew_thresholds": _thresholds(skew["thresholds"])}
        if "default_threshold" in skew:
            skew_detection["default_skew_threshold"] = {"value": float(skew["default_threshold"])}
        config["training_prediction_skew_detection_config"] = skew_detection
    return config


def job_body(attrs: Mapping[str, Any], endpoint_name: str) -> dict[str, Any]:
    """A ModelDeploymentMonitoringJob for CreateModelDeploymentMonitoringJob (and the fields of
    an update)."""
    config = objective(attrs)
    body: dict[str, Any] = {
        "display_name": attrs["display_name"],
        "endpoint": endpoint_name,
        _OBJECTIVES: [
            {"deployed_model_id": dm_id, "objective_config": config}
            for dm_id in attrs["deployed_models"].values()
        ],
        "model_deployment_monitoring_schedule_config": {
            "monitor_interval": {"seconds": INTERVALS[attrs["interval"]]}
        },
        "logging_sampling_strategy": {"random_sample_config": {"sample_rate": float(attrs["sample_rate"])}},
        "labels": dict(attrs.get("labels", {})),
    }
    if attrs["notify"]:
        body["model_monitoring_alert_config"] = {"email_alert_config": {"user_emails": list(attrs["notify"])}}
    return body


def update_mask(current: Mapping[str, Any], desired: Mapping[str, Any]) -> list[str]:
    return [field for field, keys in UPDATABLE.items() if any(current.get(k) != desired.get(k) for k in keys)]


def _seconds(duration: Any) -> int:
    """`"3600s"` (JSON) or `{"seconds": 3600}` -> 3600."""
    if isinstance(duration, Mapping):
        return int(duration.get("seconds", 0))
    return int(float(str(duration).rstrip("s") or 0))


def _values(thresholds: Mapping[str, Any]) -> dict[str, float]:
    return {feature: float(t.get("value", 0)) for feature, t in sorted(thresholds.items())}


def _objective_attrs(config: Mapping[str, Any]) -> dict[str, Any]:
    """One objective config -> the `drift` and `skew` attributes."""
    out: dict[str, Any] = {}
    drift = config.get("prediction_drift_detection_config") or {}
    out["drift"] = {}
    if "default_drift_threshold" in drift:  # absent: only the features named are watched
        out["drift"]["default_threshold"] = float(drift["default_drift_threshold"].get("value", 0))
    out["drift"]["thresholds"] = _values(drift.get("drift_thresholds") or {})
    skew = config.get("training_prediction_skew_detection_config")
    if skew is not None:
        dataset = config.get("training_dataset") or {}
        uris = (dataset.get("gcs_source") or {}).get("uris") or []
        uri = (dataset.get("bigquery_source") or {}).get("input_uri") or (uris[0] if uris else "")
        attrs: dict[str, Any] = {"training_dataset": uri}
        if dataset.get("data_format"):
            attrs["data_format"] = dataset["data_format"]
        if dataset.get("target_field"):
            attrs["target_field"] = dataset["target_field"]
        if "default_skew_threshold" in skew:
            attrs["default_threshold"] = float(skew["default_skew_threshold"].get("value", 0))
        attrs["thresholds"] = _values(skew.get("skew_thresholds") or {})
        out["skew"] = attrs
    return out


def watched(job: Mapping[str, Any]) -> list[str]:
    """The ids of the deployed models a job watches."""
    return [str(c.get("deployed_model_id", "")) for c in job.get(_OBJECTIVES) or []]


def _deployed_models(ids: list[str], names: Mapping[str, str]) -> dict[str, str]:
    """Variant -> deployed model id; an id without a (unique) variant name is keyed by itself."""
    out: dict[str, str] = {}
    for dm_id in sorted(ids, key=lambda i: (i not in names, names.get(i, i))):
        name = names.get(dm_id, dm_id)
        out[dm_id if name in out else name] = dm_id
    return out


def job_from_api(
    job: Mapping[str, Any], prior: Mapping[str, Any] | None, names: Mapping[str, str]
) -> dict[str, Any]:
    """A job -> attributes; `names` maps deployed model ids to their variants (the job knows ids
    only). The objective is one per deployed model; in sync they are all the same. When one
    differs from what `prior` recorded (a console edit), that one is shown, so it is drift."""
    configs = job.get(_OBJECTIVES) or []
    views = [_objective_attrs(c.get("objective_config") or {}) for c in configs] or [
        {"drift": {"default_threshold": 0.0, "thresholds": {}}}
    ]
    expected = {k: (prior or {}).get(k) for k in ("drift", "skew")}
    view = next((v for v in views if {k: v.get(k) for k in expected} != expected), views[0])
    seconds = _seconds((job.get("model_deployment_monitoring_schedule_config") or {}).get("monitor_interval"))
    interval = next((name for name, s in INTERVALS.items() if s == seconds), f"{seconds}s")
    sampling = (job.get("logging_sampling_strategy") or {}).get("random_sample_config") or {}
    alert = (job.get("model_monitoring_alert_config") or {}).get("email_alert_config") or {}
    attrs: dict[str, Any] = {
        "id": job["name"].rsplit("/", 1)[-1],
        "display_name": job.get("display_name", ""),
        "endpoint": str(job.get("endpoint", "")).rsplit("/", 1)[-1],
        "deployed_models": _deployed_models(watched(job), names),
        "interval": interval,
        "sample_rate": float(sampling.get("sample_rate", 0)),
        **view,
        "notify": list(alert.get("user_emails") or []),
        "enabled": job.get("state") != PAUSED,
        "labels": dict(job.get("labels") or {}),
    }
    return attrs
