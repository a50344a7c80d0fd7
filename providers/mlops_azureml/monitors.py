"""Model monitoring in Azure ML: the `monitor` kind.

A `monitor` is a `MonitorSchedule` (named after the resource) that runs Azure ML's model monitoring
on one deployment of an endpoint (the variant `azureml.variant`, else the variant with most traffic
among those serving the monitor's `model:`, else the one with most traffic), reading the data its
data collector registers, so the endpoint needs `data_capture` (the core checks it at validate
time). A `model:` and an `azureml.variant` that does not serve it are refused, at the variant.
Retiring the monitor's model deletes the schedule, its alert notification with it. Its signals,
from the neutral `type: data_quality` and the `azureml.signals` list:

- `data_drift`: the input features' distribution against the baseline (Jensen-Shannon distance
  for numerical features, Pearson's chi-squared test for categorical ones);
- `prediction_drift`: the same for the outputs (needs `output` in the endpoint's data capture);
- `data_quality`: null-value rates of the input features.

Thresholds are `azureml.numerical_threshold` / `categorical_threshold`, else `alert.threshold`,
else Azure's defaults; `azureml.features` restricts the signals to those features. The baseline
(`baseline:` a URI, or `{dataset: ...}`) is the signals' reference data, in the `training`
context. Alerts go by e-mail to `alert.notify`. `every: hourly` and `daily` are recurrences (daily
at 00:00 UTC), a cron expression a cron trigger. `enabled: false` disables the schedule.

Other neutral types (model_quality, bias, explainability) are refused at validate time (see
`MONITOR.unsupported`); so are `alert.metric` and `alert.when`, which Azure's signals fix.

Attributes: name, endpoint, deployment, signals {<signal>: {numerical_threshold?,
categorical_threshold?}}, features?, baseline?, ml_task?, trigger, emails, enabled, compute, tags."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from mlops_azureml import names, translate
from mlops_azureml.client import quiet
from mlops_azureml.config import MonitorSettings
from mlops_azureml.kind import MARKERS
from mlops_azureml.ml_schedules import MLScheduleHandler
from mlops_gitops.cron import next_runs_note
from mlops_gitops.errors import Diagnostic, ProviderError, StackError
from mlops_gitops.features import ANY
from mlops_gitops.handlers import Request
from mlops_gitops.provider import UNKNOWN, ResourceType
from mlops_gitops.stack.schema import BaselineJob, MonitorSpec

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ML_TASK = {
    "BinaryClassification": "classification",
    "MulticlassClassification": "classification",
    "Regression": "regression",
}
# Which captured data each signal reads.
_NEEDS = {"data_drift": "model_inputs", "data_quality": "model_inputs", "prediction_drift": "model_outputs"}

MONITOR = ResourceType(
    "monitor",
    not_drift=MARKERS.not_drift,
    create_before_destroy=False,  # one schedule per name
    supports={"type": ("data_quality",), "every": ANY},
    unsupported={
        "type": "Azure ML monitors data drift, prediction drift and data quality: write type: data_quality "
        "and choose the signals with azureml.signals [data_drift, prediction_drift, data_quality]",
    },
)


class MonitorHandler(MLScheduleHandler[MonitorSpec, MonitorSettings]):
    rtype: ClassVar[ResourceType] = MONITOR
    settings_model: ClassVar[type[BaseModel] | None] = MonitorSettings
    noun: ClassVar[str] = "Azure ML monitor schedule"
    schedule_noun: ClassVar[str] = "monitor schedule"

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[MonitorSpec, MonitorSettings]) -> list[Diagnostic]:
        spec = req.spec
        diags = super().validate(req)
        alert = spec.alert
        if alert is not None:
            for i, address in enumerate(alert.notify):
                if not _EMAIL.match(address):
                    diags.append(
                        Diagnostic(
                            "Azure ML monitors alert by e-mail: give an e-mail address", f"alert.notify[{i}]"
                        )
                    )
            for name in ("metric", "when"):
                if getattr(alert, name) is not None:
                    diags.append(
                        Diagnostic(
                            f"Azure ML's signals fix their metrics and direction: remove alert.{name} (set "
                            "thresholds with azureml.numerical_threshold / categorical_threshold)",
                            f"alert.{name}",
                        )
                    )
        baseline = spec.baseline.dataset if isinstance(spec.baseline, BaselineJob) else spec.baseline
        if baseline and not baseline.startswith(("azureml://", "https://")):
            where = "baseline.dataset" if isinstance(spec.baseline, BaselineJob) else "baseline"
            diags.append(Diagnostic("Azure ML reads reference data from azureml:// or https:// URIs", where))
        if len(set(req.settings.signals)) != len(req.settings.signals):
            diags.append(Diagnostic("a signal is listed twice", "azureml.signals"))
        return diags

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
        trigger = attributes.get("trigger") or {}
        if not attributes.get("enabled", True):
            return ["disabled: the schedule runs no monitoring"]
        if trigger.get("type") == "cron":
            return [next_runs_note(trigger["expression"], "UTC")]
        return []

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[MonitorSpec, MonitorSettings]) -> dict[str, Any]:
        resource, spec, chosen = req.resource, req.spec, req.settings
        endpoint = req.refs.get(f"endpoint.{spec.endpoint}", {})
        variant = self._monitored(req, endpoint.get("variants") or [])
        threshold = spec.alert.threshold if spec.alert is not None else None
        numerical = chosen.numerical_threshold if chosen.numerical_threshold is not None else threshold
        categorical = chosen.categorical_threshold if chosen.categorical_threshold is not None else threshold
        signals: dict[str, Any] = {}
        for signal in chosen.signals:
            entry: dict[str, Any] = {}
            if numerical is not None:
                entry["numerical_threshold"] = numerical
            if categorical is not None:
                entry["categorical_threshold"] = categorical
            signals[signal] = entry
        attrs: dict[str, Any] = {
            "name": resource.name,
            "endpoint": endpoint.get("name", UNKNOWN),
            "deployment": variant.get("deployment", UNKNOWN) if variant else UNKNOWN,
            "signals": signals,
        }
        if chosen.features:
            attrs["features"] = list(chosen.features)
        baseline = spec.baseline.dataset if isinstance(spec.baseline, BaselineJob) else spec.baseline
        if baseline:
            attrs["baseline"] = baseline
        if spec.problem_type:
            attrs["ml_task"] = _ML_TASK[spec.problem_type]
        attrs["trigger"] = trigger(spec.every)
        attrs["emails"] = list(spec.alert.notify) if spec.alert is not None else []
        attrs["enabled"] = spec.enabled
        attrs["compute"] = {
            "instance_type": chosen.compute_instance_type,
            "runtime_version": chosen.spark_runtime_version,
        }
        attrs["tags"] = self.tags(resource)
        return attrs

    def _monitored(
        self, req: Request[MonitorSpec, MonitorSettings], variants: list[Mapping[str, Any]]
    ) -> Mapping[str, Any] | None:
        """The variant whose deployment the monitor watches, checked against the endpoint's
        data capture (which its signals read)."""
        if not variants:
            return None
        resource, chosen = req.resource, req.settings
        where = f"monitors.{resource.name}"
        if chosen.variant is not None:
            found = next((v for v in variants if v.get("name") == chosen.variant), None)
            if found is None:
                shown = ", ".join(str(v.get("name")) for v in variants)
                raise StackError.of(
                    [
                        Diagnostic(
                            f"endpoint {req.spec.endpoint!r} has no variant {chosen.variant!r} "
                            f"(variants: {shown})",
                            f"{where}.azureml.variant",
                            resource.position,
                        )
                    ]
                )
        else:
            serving = self._serving(req, variants)
            if serving is None:
                return None  # the model's version is known after apply: so is the deployment
            found = max(serving, key=lambda v: v.get("traffic_percent") or 0)
        if chosen.variant is not None and req.spec.model is not None:
            serving = self._serving(req, variants)
            if serving is not None and found not in serving:
                raise StackError.of(
                    [
                        Diagnostic(
                            f"variant {chosen.variant!r} of endpoint {req.spec.endpoint!r} does not serve "
                            f"model {req.spec.model!r} (the monitor's model): remove azureml.variant, or "
                            "name a variant serving the model",
                            f"{where}.azureml.variant",
                            resource.position,
                        )
                    ]
                )
        collector = found.get("data_collector")
        if isinstance(collector, Mapping):
            captured = set(collector.get("collections") or [])
            for signal in chosen.signals:
                if _NEEDS[signal] not in captured:
                    kind = "input" if _NEEDS[signal] == "model_inputs" else "output"
                    raise StackError.of(
                        [
                            Diagnostic(
                                f"signal {signal} reads the endpoint's captured {kind}: add {kind} to "
                                f"data_capture.capture of endpoint {req.spec.endpoint!r}",
                                f"{where}.azureml.signals",
                                resource.position,
                            )
                        ]
                    )
        return found

    @staticmethod
    def _serving(
        req: Request[MonitorSpec, MonitorSettings], variants: list[Mapping[str, Any]]
    ) -> list[Mapping[str, Any]] | None:
        """The variants serving the monitor's `model:` (all of them when it names none), matched
        by the model version they deploy; None while that version is unknown."""
        if req.spec.model is None:
            return variants
        model = req.refs.get(f"model.{req.spec.model}", {})
        name, version = model.get("name"), model.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            return None
        wanted = translate.asset_ref(name, version)
        serving = [v for v in variants if v.get("model") == wanted]
        # The core checks that the model serves the endpoint; none here means a variant's model
        # is still unknown (its version is registered by this apply).
        return serving or None

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        found = self._get(attributes["name"])
        return monitor_from_api(found, attributes) if found is not None else None

    # ---- create / update / delete ---------------------------------------------------------------
    def _entity(self, desired: Mapping[str, Any]) -> Callable[[], Any]:
        return lambda: monitor_entity(desired)

    def import_references(self, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """The endpoint watched, by its Azure name: the import names it in the stack."""
        return [("endpoint", "endpoint", attributes["endpoint"])]

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """The monitor as the stack writes it. The stack gives every signal the same pair of
        thresholds: a schedule whose signals have different ones is refused, as is a trigger
        the stack cannot write (`every:` is hourly, daily at 00:00 UTC or a cron expression)."""
        name = attributes["name"]
        signals: Mapping[str, Mapping[str, Any]] = attributes.get("signals") or {}
        unknown = sorted(set(signals) - set(_NEEDS))
        if unknown:
            raise ProviderError(
                f"monitor {name}: its signals {unknown} are not ones the stack declares (data_drift, "
                "prediction_drift, data_quality): write it by hand without them",
                code="NotSupported",
            )
        pairs = {(t.get("numerical_threshold"), t.get("categorical_threshold")) for t in signals.values()}
        if len(pairs) > 1:
            shown = ", ".join(f"{k}: {dict(v) or 'Azure defaults'}" for k, v in signals.items())
            raise ProviderError(
                f"monitor {name}: its signals have different thresholds ({shown}) and the stack "
                "gives them all the same azureml.numerical_threshold / categorical_threshold: "
                "set them alike in Azure ML first, or write the monitor by hand",
                code="NotSupported",
            )
        numerical, categorical = next(iter(pairs)) if pairs else (None, None)
        spec: dict[str, Any] = {
            "endpoint": attributes["endpoint"],
            "type": "data_quality",
            "every": _every(name, attributes["trigger"]),
        }
        if attributes.get("baseline"):
            spec["baseline"] = attributes["baseline"]
        alert: dict[str, Any] = {}
        settings: dict[str, Any] = {"signals": list(signals)}
        if numerical is not None and numerical == categorical:
            alert["threshold"] = numerical
        else:
            if numerical is not None:
                settings["numerical_threshold"] = numerical
            if categorical is not None:
                settings["categorical_threshold"] = categorical
        if attributes.get("emails"):
            alert["notify"] = list(attributes["emails"])
        if alert:
            spec["alert"] = alert
        if not attributes.get("enabled", True):
            spec["enabled"] = False
        user = MARKERS.user(attributes.get("tags", {}))
        if user:
            spec["tags"] = user
        if attributes.get("deployment"):
            # The stack names the watched deployment by its variant (the variant with most
            # traffic, unless said): said, so that a second variant does not move the monitor.
            settings["variant"] = names.variant_of(attributes["deployment"])
        if attributes.get("features"):
            settings["features"] = list(attributes["features"])
        compute = attributes.get("compute") or {}
        defaults = MonitorSettings()
        if compute.get("instance_type") and compute["instance_type"] != defaults.compute_instance_type:
            settings["compute_instance_type"] = compute["instance_type"]
        if compute.get("runtime_version") and compute["runtime_version"] != defaults.spark_runtime_version:
            settings["spark_runtime_version"] = compute["runtime_version"]
        spec["azureml"] = settings
        return spec


def _every(name: str, live: Mapping[str, Any]) -> str:
    """`every:` for a trigger as read (see `trigger`), or NotSupported."""
    if live.get("type") == "cron":
        if live.get("time_zone", "UTC") != "UTC":
            raise ProviderError(
                f"monitor {name}: it runs on cron {live['expression']!r} in {live['time_zone']}, "
                "and the stack's monitor cron expressions are in UTC: write the UTC expression by hand",
                code="NotSupported",
            )
        return str(live["expression"])
    for every in ("hourly", "daily"):
        if dict(live) == trigger(every):
            return every
    raise ProviderError(
        f"monitor {name}: it recurs every {live.get('interval')} {live.get('frequency')}(s), which "
        "the stack cannot write (every: hourly, daily or a cron expression): write the equivalent "
        "cron expression by hand (a change of the schedule's trigger)",
        code="NotSupported",
    )


# ---------------------------------------------------------------------------------- translation
def trigger(every: str) -> dict[str, Any]:
    if every == "hourly":
        return {"type": "recurrence", "frequency": "hour", "interval": 1}
    if every == "daily":
        return {"type": "recurrence", "frequency": "day", "interval": 1}
    return {"type": "cron", "expression": every}


def trigger_entity(attrs: Mapping[str, Any]) -> Any:
    from azure.ai.ml.entities import CronTrigger, RecurrencePattern, RecurrenceTrigger

    t = attrs
    if t["type"] == "cron":
        return CronTrigger(expression=t["expression"], time_zone=t.get("time_zone", "UTC"))
    schedule = RecurrencePattern(hours=0, minutes=0) if t["frequency"] == "day" else None
    return RecurrenceTrigger(frequency=t["frequency"], interval=t["interval"], schedule=schedule)


def trigger_from_api(trigger: Any) -> dict[str, Any]:
    expression = getattr(trigger, "expression", None)
    if expression:
        zone = str(getattr(trigger, "time_zone", None) or "UTC")
        zone = str(getattr(getattr(trigger, "time_zone", None), "value", zone))
        # The stack's monitor crons are in UTC (`trigger`): another zone, set in the console, is drift.
        return {"type": "cron", "expression": expression, **({} if zone == "UTC" else {"time_zone": zone})}
    return {
        "type": "recurrence",
        "frequency": str(trigger.frequency).lower(),
        "interval": int(trigger.interval),
    }


def monitor_entity(attrs: Mapping[str, Any]) -> Any:
    from azure.ai.ml import Input
    from azure.ai.ml.entities import (
        AlertNotification,
        CategoricalDriftMetrics,
        DataDriftMetricThreshold,
        DataDriftSignal,
        DataQualityMetricsCategorical,
        DataQualityMetricsNumerical,
        DataQualityMetricThreshold,
        DataQualitySignal,
        MonitorDefinition,
        MonitoringTarget,
        MonitorSchedule,
        NumericalDriftMetrics,
        PredictionDriftMetricThreshold,
        PredictionDriftSignal,
        ReferenceData,
        ServerlessSparkCompute,
    )

    quiet()
    reference = None
    if attrs.get("baseline"):
        reference = ReferenceData(
            input_data=Input(path=attrs["baseline"], type="uri_folder"), data_context="training"
        )
    features = list(attrs["features"]) if attrs.get("features") else None
    alerting = bool(attrs.get("emails"))
    signals: dict[str, Any] = {}
    for name, t in attrs["signals"].items():
        n, c = t.get("numerical_threshold"), t.get("categorical_threshold")
        if name == "data_drift":
            thresholds = None
            if n is not None or c is not None:
                thresholds = DataDriftMetricThreshold(
                    numerical=NumericalDriftMetrics(jensen_shannon_distance=n) if n is not None else None,
                    categorical=CategoricalDriftMetrics(pearsons_chi_squared_test=c)
                    if c is not None
                    else None,
                )
            signals[name] = DataDriftSignal(
                reference_data=reference,
                features=features,
                metric_thresholds=thresholds,
                alert_enabled=alerting,
            )
        elif name == "prediction_drift":
            signals[name] = PredictionDriftSignal(
                reference_data=reference,
                metric_thresholds=PredictionDriftMetricThreshold(
                    numerical=NumericalDriftMetrics(jensen_shannon_distance=n) if n is not None else None,
                    categorical=CategoricalDriftMetrics(pearsons_chi_squared_test=c)
                    if c is not None
                    else None,
                ),
                alert_enabled=alerting,
            )
        else:
            thresholds = None
            if n is not None or c is not None:
                thresholds = DataQualityMetricThreshold(
                    numerical=DataQualityMetricsNumerical(null_value_rate=n) if n is not None else None,
                    categorical=DataQualityMetricsCategorical(null_value_rate=c) if c is not None else None,
                )
            signals[name] = DataQualitySignal(
                reference_data=reference,
                features=features,
                metric_thresholds=thresholds,
                alert_enabled=alerting,
            )
    definition = MonitorDefinition(
        compute=ServerlessSparkCompute(
            runtime_version=attrs["compute"]["runtime_version"],
            instance_type=attrs["compute"]["instance_type"],
        ),
        monitoring_target=MonitoringTarget(
            endpoint_deployment_id=f"azureml:{attrs['endpoint']}:{attrs['deployment']}",
            ml_task=attrs.get("ml_task"),
        ),
        monitoring_signals=signals,
        alert_notification=AlertNotification(emails=list(attrs["emails"])) if attrs.get("emails") else None,
    )
    return MonitorSchedule(
        name=attrs["name"],
        trigger=trigger_entity(attrs["trigger"]),
        create_monitor=definition,
        tags=dict(attrs.get("tags", {})),
    )


def _thresholds_from_api(signal: Any) -> dict[str, Any]:
    """The thresholds a signal holds, in the attributes' terms."""
    out: dict[str, Any] = {}
    thresholds = getattr(signal, "metric_thresholds", None)
    items = thresholds if isinstance(thresholds, list) else [thresholds]
    for t in items:
        if t is None:
            continue
        for side, key in (("numerical", "numerical_threshold"), ("categorical", "categorical_threshold")):
            metrics = getattr(t, side, None)
            if metrics is None:
                continue
            for field in ("jensen_shannon_distance", "pearsons_chi_squared_test", "null_value_rate"):
                value = getattr(metrics, field, None)
                if value is not None:
                    out[key] = value
                    break
    return out


def monitor_from_api(schedule: Any, recorded: Mapping[str, Any]) -> dict[str, Any]:
    definition = schedule.create_monitor
    target = definition.monitoring_target
    deployment_id = str(getattr(target, "endpoint_deployment_id", "") or "")
    parts = deployment_id.removeprefix("azureml:").split(":") if deployment_id.startswith("azureml:") else []
    if deployment_id.startswith("/subscriptions/"):
        segments = deployment_id.strip("/").split("/")
        parts = [segments[segments.index("onlineEndpoints") + 1], segments[-1]]
    signals = {}
    features: list[str] | None = None
    baseline = None
    for name, signal in (definition.monitoring_signals or {}).items():
        signals[name] = _thresholds_from_api(signal)
        chosen = getattr(signal, "features", None)
        if isinstance(chosen, list) and chosen:
            features = list(chosen)
        reference = getattr(signal, "reference_data", None)
        if reference is not None and getattr(reference, "input_data", None) is not None:
            baseline = reference.input_data.path
    attrs: dict[str, Any] = {
        "name": schedule.name,
        "endpoint": parts[0] if len(parts) == 2 else deployment_id,
        "deployment": parts[1] if len(parts) == 2 else "",
        "signals": signals,
    }
    if features:
        attrs["features"] = features
    if baseline:
        attrs["baseline"] = baseline
    if getattr(target, "ml_task", None) and recorded.get("ml_task"):
        # Azure fills in a task of its own when none is given: read only when the stack sets one.
        attrs["ml_task"] = str(getattr(target.ml_task, "value", target.ml_task)).lower()
    attrs["trigger"] = trigger_from_api(schedule.trigger)
    alert = definition.alert_notification
    attrs["emails"] = list(getattr(alert, "emails", None) or [])
    attrs["enabled"] = bool(schedule.is_enabled)
    compute = definition.compute
    attrs["compute"] = {"instance_type": compute.instance_type, "runtime_version": compute.runtime_version}
    attrs["tags"] = dict(schedule.tags or {})
    return attrs
