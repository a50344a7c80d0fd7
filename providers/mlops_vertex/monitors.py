"""Model monitoring on Vertex AI: the `monitor` kind.

A `monitor` owns one ModelDeploymentMonitoringJob on its endpoint (Vertex allows one per
endpoint), found by the ID Vertex assigns. Everything changes in place (an update, or pause and
resume for `enabled`) except the endpoint, which replaces it. See `monitoring.py` for what a
`data_quality` monitor becomes.

The neutral fields mean what they mean on every cloud:

- `alert.threshold` is the distance (L-infinity for categorical features, Jensen-Shannon for
  numerical ones) above which a feature alerts, by e-mail to `alert.notify`. `alert.metric` is
  optional: without it the threshold applies to every feature (Vertex's default threshold);
  `feature_baseline_drift_<feature>`, the metric SageMaker publishes for a feature's distance from
  its baseline, applies it to that feature only. Vertex has no other alert metrics, and alerts
  when a distance goes above its threshold (`when: below` is refused).
- `baseline: {dataset: URI, format: csv|json, header}` is the training data (a gs:// file or a
  bq:// table): Vertex computes its baseline statistics from it and detects training/serving
  skew against it. A `baseline:` string names precomputed statistics, which Vertex cannot use:
  refused, with what to write instead.

A monitor watches every deployed model of its endpoint, or, with `model`, only the deployed
models serving that model (the variants whose model it is): retiring that model then removes the
monitor (the core does), and the other variants were never part of it.

Not supported, and refused at validate time: `model_quality`, `bias` and `explainability`
monitors (model monitoring v1 watches input features) and a cron in `every` (Vertex runs
monitoring at an interval).

Attributes: id, display_name, endpoint, deployed_models (variant -> deployed model id), interval,
sample_rate, drift {default_threshold?, thresholds}, skew? {training_dataset, data_format?,
target_field?, default_threshold?, thresholds} (no default threshold: only the features named
are watched), notify, enabled, labels."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.handlers import Request
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType, known
from mlops_gitops.stack.schema import Alert, BaselineJob, MonitorSpec
from mlops_vertex import labels, monitoring
from mlops_vertex.client import NotFoundError, to_dict
from mlops_vertex.config import MonitorSettings
from mlops_vertex.kind import KindHandler

MONITOR = ResourceType(
    "monitor",
    force_new=("endpoint",),
    computed=("id",),
    create_before_destroy=True,
    id_field="id",
    not_drift=labels.MARKERS.not_drift,
    supports={"type": ("data_quality",), "every": tuple(monitoring.INTERVALS)},
    unsupported={
        "type": "Vertex AI model monitoring watches input features (data_quality: drift and skew)",
        "every": "Vertex AI runs model monitoring at an interval, not on a cron: use hourly or daily",
    },
)


class MonitorHandler(KindHandler[MonitorSpec, MonitorSettings]):
    rtype: ClassVar[ResourceType] = MONITOR
    settings_model: ClassVar[type[BaseModel] | None] = MonitorSettings
    noun: ClassVar[str] = "Vertex AI model monitoring job"

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[MonitorSpec, MonitorSettings]) -> list[Diagnostic]:
        spec = req.spec
        chosen = req.settings
        diags = super().validate(req)
        if spec.alert is not None:
            diags += _alert_problems(spec.alert)
            for i, address in enumerate(spec.alert.notify):
                if "@" not in address:
                    diags.append(
                        Diagnostic(
                            f"{address!r}: Vertex AI sends monitoring alerts by e-mail only",
                            f"alert.notify[{i}]",
                        )
                    )
        if isinstance(spec.baseline, str):
            diags.append(
                Diagnostic(
                    f"{spec.baseline}: Vertex AI cannot monitor against precomputed baseline "
                    "statistics, it computes them from the training data: give baseline: {dataset: "
                    "gs://.../train.csv, format: csv} (or a bq://project.dataset.table) instead",
                    "baseline",
                )
            )
        elif isinstance(spec.baseline, BaselineJob):
            diags += _baseline_problems(spec.baseline)
            if chosen.training_dataset:
                diags.append(
                    Diagnostic(
                        "the training data is given twice: keep baseline: {dataset: ...} and remove "
                        "vertex.training_dataset",
                        "vertex.training_dataset",
                    )
                )
        dataset, _ = _training_data(spec, chosen)
        if dataset is None and chosen.skew_thresholds:
            diags.append(
                Diagnostic(
                    "skew is measured against the training data: give it as baseline: {dataset: "
                    "gs://...} (or vertex.training_dataset)",
                    "vertex.skew_thresholds",
                )
            )
        if chosen.training_dataset:
            dataset = chosen.training_dataset
            if not dataset.startswith(("gs://", "bq://")):
                diags.append(
                    Diagnostic(
                        "the training dataset must be a gs:// file or a bq:// table",
                        "vertex.training_dataset",
                    )
                )
            elif dataset.startswith("gs://") and not (
                chosen.training_data_format or monitoring.data_format(dataset)
            ):
                diags.append(
                    Diagnostic(
                        f"cannot tell the format of {dataset!r} from its extension: set "
                        "vertex.training_data_format (csv, jsonl or tf-record)",
                        "vertex.training_data_format",
                    )
                )
        return diags

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[MonitorSpec, MonitorSettings]) -> dict[str, Any]:
        resource, refs, prior = req.resource, req.refs, req.prior
        spec = req.spec
        chosen = req.settings
        endpoint = refs.get(f"endpoint.{spec.endpoint}", {})
        alert = spec.alert
        threshold = float(
            alert.threshold
            if alert is not None and alert.threshold is not None
            else monitoring.DEFAULT_THRESHOLD
        )
        feature = monitoring.metric_feature(alert.metric) if alert is not None else None
        attrs: dict[str, Any] = {
            "id": (prior or {}).get("id", UNKNOWN),
            "display_name": resource.name,
            "endpoint": endpoint.get("id", UNKNOWN),
            "deployed_models": _deployed_models(
                endpoint, refs.get(f"model.{spec.model}", {}).get("id", UNKNOWN) if spec.model else None
            ),
            "interval": spec.every,
            "sample_rate": _sample_rate(chosen, endpoint),
            "drift": monitoring.thresholds(threshold, feature, chosen.drift_thresholds),
        }
        dataset, fmt = _training_data(spec, chosen)
        if dataset is not None:
            skew: dict[str, Any] = {"training_dataset": dataset}
            if fmt:
                skew["data_format"] = fmt
            if chosen.target_field:
                skew["target_field"] = chosen.target_field
            skew.update(monitoring.thresholds(threshold, feature, chosen.skew_thresholds))
            attrs["skew"] = skew
        attrs["notify"] = list(spec.alert.notify) if spec.alert is not None else []
        attrs["enabled"] = spec.enabled
        attrs["labels"] = self.labels(resource)
        return attrs

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        job_id = attributes.get("id")
        if not job_id or job_id is UNKNOWN:
            return None
        name = self.name("modelDeploymentMonitoringJobs", job_id)
        try:
            job = self.api.call(
                self.api.jobs.get_model_deployment_monitoring_job,
                f"GetModelDeploymentMonitoringJob {job_id}",
                name=name,
            )
        except NotFoundError:
            return None
        found = to_dict(job)
        return monitoring.job_from_api(found, attributes, self._variant_names(found, attributes))

    def _variant_names(self, job: Mapping[str, Any], prior: Mapping[str, Any]) -> dict[str, str]:
        """Deployed model id -> variant: as recorded, else (an import, a console edit) as the
        endpoint names its deployed models."""
        names = {dm_id: variant for variant, dm_id in (prior.get("deployed_models") or {}).items()}
        if set(monitoring.watched(job)) <= set(names):
            return names
        endpoint_id = str(job.get("endpoint", "")).rsplit("/", 1)[-1]
        try:
            endpoint = self.api.call(
                self.api.endpoints.get_endpoint,
                f"GetEndpoint {endpoint_id}",
                name=self.name("endpoints", endpoint_id),
            )
        except NotFoundError:
            return names
        return {**{dm.id: dm.display_name for dm in endpoint.deployed_models}, **names}

    def import_references(self, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return [("endpoint", "endpoint", attributes["endpoint"])]

    def _on_endpoint(self, endpoint_id: str) -> dict[str, Any] | None:
        """The monitoring job on an endpoint, if it has one."""
        jobs = self.api.collect(
            self.api.jobs.list_model_deployment_monitoring_jobs,
            "ListModelDeploymentMonitoringJobs",
            parent=self.api.parent,
        )
        return next((j for j in jobs if str(j.get("endpoint", "")).rsplit("/", 1)[-1] == endpoint_id), None)

    # ---- create / update / delete ---------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        existing = self._on_endpoint(desired["endpoint"])
        if existing is not None:
            current = monitoring.job_from_api(existing, None, self._variant_names(existing, {}))
            # Ours only if labelled so: left by a create that died before recording it.
            if not labels.owned_by(current["labels"], stack=self.stack, address=ctx.address):
                raise ProviderError(
                    f"endpoint {desired['endpoint']} already has monitoring job {current['id']} and "
                    f"Vertex AI allows one per endpoint: import it (mlops import {ctx.address} "
                    f"{current['id']}) or remove it",
                    code="AlreadyExists",
                )
            return self.update(current, {**desired, "id": current["id"]}, ctx)

        def recover() -> Any:
            """A create whose answer was lost made the endpoint's one job: it is ours if labelled so."""
            job = self._on_endpoint(desired["endpoint"])
            owned = job is not None and labels.owned_by(
                job.get("labels", {}), stack=self.stack, address=ctx.address
            )
            return job if owned else None

        job = self.api.call(
            self.api.jobs.create_model_deployment_monitoring_job,
            f"CreateModelDeploymentMonitoringJob {desired['display_name']}",
            recover=recover,
            parent=self.api.parent,
            model_deployment_monitoring_job=monitoring.job_body(desired, self._endpoint_name(desired)),
        )
        name = job["name"] if isinstance(job, dict) else job.name
        attrs = {**desired, "id": str(name).rsplit("/", 1)[-1]}
        ctx.checkpoint(known(attrs))
        if not desired["enabled"]:
            self._set_enabled(attrs["id"], False)
        return self.must_read(attrs)

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        attrs = {**desired, "id": prior["id"]}
        current = self.must_read(prior)
        mask = monitoring.update_mask(current, attrs)
        if mask:
            body = monitoring.job_body(attrs, self._endpoint_name(attrs))
            self.api.call_and_wait(
                self.api.jobs.update_model_deployment_monitoring_job,
                ctx,
                f"updating monitoring job {attrs['id']}",
                idempotent=True,  # sets the masked fields: twice is once
                model_deployment_monitoring_job={
                    "name": self.name("modelDeploymentMonitoringJobs", attrs["id"]),
                    **{k: v for k, v in body.items() if k in mask},
                },
                update_mask={"paths": mask},
            )
        if current["enabled"] != attrs["enabled"]:
            self._set_enabled(attrs["id"], attrs["enabled"])
        return self.must_read(attrs)

    def _set_enabled(self, job_id: str, enabled: bool) -> None:
        jobs = self.api.jobs
        method = (
            jobs.resume_model_deployment_monitoring_job
            if enabled
            else jobs.pause_model_deployment_monitoring_job
        )
        verb = "Resume" if enabled else "Pause"
        name = self.name("modelDeploymentMonitoringJobs", job_id)

        def recover() -> bool | None:
            """Vertex refuses to pause a paused job: after a lost answer, look instead."""
            job = self.api.call(self.api.jobs.get_model_deployment_monitoring_job, f"Get {job_id}", name=name)
            return True if (to_dict(job).get("state") != monitoring.PAUSED) == enabled else None

        self.api.call(method, f"{verb}ModelDeploymentMonitoringJob {job_id}", recover=recover, name=name)

    def _endpoint_name(self, attrs: Mapping[str, Any]) -> str:
        return self.name("endpoints", attrs["endpoint"])

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        if not prior.get("id"):
            return
        with contextlib.suppress(NotFoundError):
            self.api.call_and_wait(
                self.api.jobs.delete_model_deployment_monitoring_job,
                ctx,
                f"deleting monitoring job {prior['id']}",
                idempotent=True,  # a repeat finds it gone
                name=self.name("modelDeploymentMonitoringJobs", prior["id"]),
            )

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """The endpoint is named by its Vertex ID: import it under that name."""
        drift = attributes["drift"]
        alert: dict[str, Any] = {}
        drift_thresholds = dict(drift["thresholds"])
        if "default_threshold" in drift:
            alert["threshold"] = drift["default_threshold"]
        elif drift_thresholds:
            # No default: only named features are watched, as with one named metric.
            feature = next(iter(drift_thresholds))
            alert["metric"] = f"{monitoring.FEATURE_METRIC}{feature}"
            alert["threshold"] = drift_thresholds.pop(feature)
        alert["notify"] = list(attributes.get("notify", []))
        spec: dict[str, Any] = {
            "endpoint": attributes["endpoint"],
            "type": "data_quality",
            "every": attributes["interval"],
            "alert": alert,
        }
        if not attributes.get("enabled", True):
            spec["enabled"] = False
        if labels.user_labels(attributes.get("labels", {})):
            spec["tags"] = labels.user_labels(attributes["labels"])
        settings: dict[str, Any] = {"sample_rate": attributes["sample_rate"]}
        if drift_thresholds:
            settings["drift_thresholds"] = drift_thresholds
        skew = attributes.get("skew")
        if skew:
            fmt = skew.get("data_format")
            neutral = {v: k for k, v in monitoring.BASELINE_FORMATS.items()}
            if skew["training_dataset"].startswith("bq://") or fmt in neutral:
                spec["baseline"] = {"dataset": skew["training_dataset"]}
                if fmt in neutral and neutral[fmt] != "csv":
                    spec["baseline"]["format"] = neutral[fmt]
            else:  # tf-record: only the Vertex block can say so
                settings["training_dataset"] = skew["training_dataset"]
                if fmt and fmt != monitoring.data_format(skew["training_dataset"]):
                    settings["training_data_format"] = fmt
            if skew.get("target_field"):
                settings["target_field"] = skew["target_field"]
            if skew["thresholds"]:
                settings["skew_thresholds"] = dict(skew["thresholds"])
        spec["vertex"] = settings
        return spec


def _deployed_models(endpoint: Mapping[str, Any], model_id: Any = None) -> Any:
    """Variant -> deployed model id of the endpoint (an id may be UNKNOWN until it is deployed):
    every variant, or those serving the model `model_id` (a monitor's `model`)."""
    variants = endpoint.get("variants", UNKNOWN)
    if variants is UNKNOWN or model_id is UNKNOWN:
        return UNKNOWN
    if model_id is not None and any(v.get("model") is UNKNOWN for v in variants):
        return UNKNOWN  # which variants serve the model is not known yet
    return {
        v["name"]: v.get("deployed_model_id", UNKNOWN)
        for v in variants
        if model_id is None or v.get("model") == model_id
    }


def _sample_rate(settings: MonitorSettings, endpoint: Mapping[str, Any]) -> float:
    """The monitor's own rate, else the endpoint's data capture rate, else every request."""
    if settings.sample_rate is not None:
        return settings.sample_rate
    logging = endpoint.get("request_logging")
    if isinstance(logging, Mapping) and logging.get("enabled"):
        return logging["sample_percent"] / 100
    return 1.0


def _floats(values: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in sorted(values.items())}


def _training_data(spec: MonitorSpec, settings: MonitorSettings) -> tuple[str | None, str | None]:
    """(URI, Vertex data format) of the training data: `baseline: {dataset, format}`, else
    `vertex.training_dataset`. A BigQuery table has no format."""
    if isinstance(spec.baseline, BaselineJob):
        uri = spec.baseline.dataset
        return uri, None if uri.startswith("bq://") else monitoring.BASELINE_FORMATS[spec.baseline.format]
    uri = settings.training_dataset
    if uri is None:
        return None, None
    return uri, settings.training_data_format or monitoring.data_format(uri)


def _alert_problems(alert: Alert) -> list[Diagnostic]:
    """An alert Vertex can raise: on a feature's distance (all of them, or one), going above."""
    out = []
    if alert.metric is not None:
        feature = monitoring.metric_feature(alert.metric)
        if feature is None:
            out.append(
                Diagnostic(
                    f"Vertex AI model monitoring alerts on each feature's distance from its baseline, "
                    f"not on {alert.metric}: leave metric out (the threshold applies to every "
                    f"feature) or name one feature, {monitoring.FEATURE_METRIC}<feature>; "
                    "vertex.drift_thresholds and vertex.skew_thresholds set more per feature",
                    "alert.metric",
                )
            )
    if alert.when == "below":
        out.append(
            Diagnostic(
                "Vertex AI alerts when a feature's distance goes above its threshold: remove when",
                "alert.when",
            )
        )
    return out


def _baseline_problems(job: BaselineJob) -> list[Diagnostic]:
    if not job.dataset.startswith(("gs://", "bq://")):
        return [
            Diagnostic(
                "Vertex AI reads training data from Cloud Storage or BigQuery: a gs:// file or a "
                "bq://project.dataset.table",
                "baseline.dataset",
            )
        ]
    if job.dataset.startswith("gs://") and job.format == "csv" and not job.header:
        return [
            Diagnostic(
                "Vertex AI takes the column names of a csv training dataset from its header line: "
                "give the file one (header: true)",
                "baseline.header",
            )
        ]
    return []
