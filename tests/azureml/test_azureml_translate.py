"""The Azure ML provider's pure parts, without the emulator: the plan a stack makes (traffic
rounding, content-addressed versions, deterministic deployment names), time zones, framework
images, and the SDK entities and REST bodies built from attributes (and read back from them)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from mlops_azureml import autoscale, images, names, timezones, translate
from mlops_azureml.client import as_provider_error
from mlops_azureml.monitors import monitor_entity, monitor_from_api
from mlops_azureml.schedules import PIPELINE_TAG, schedule_entity, schedule_from_api

from mlops_gitops.cloud_errors import NotFoundError
from mlops_gitops.framework_images import ImageError
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.retry import Failure, RetryableError, failure_of
from mlops_gitops.stack.schema import FrameworkImage
from mlops_gitops.testing.harness import StackHarness

sys.path.insert(0, str(Path(__file__).parent))  # provider_kit, beside this file (importlib mode)
from provider_kit import SMALL, STACK, WORKSPACE, write_stack

WORKSPACE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"
    f"/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE}"
)


def planned(directory: Path, text: str = STACK) -> dict[str, dict[str, Any]]:
    """address -> planned attributes of a stack planned against empty state (no cloud call)."""
    directory.mkdir(parents=True, exist_ok=True)
    h = StackHarness(write_stack(directory, text), SandboxEndpoints())
    return {c.address: dict(c.after or {}) for c in h.plan().changes}


def variants(attrs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in attrs["variants"]}


# ---- the plan -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("weights", "shares"),
    [
        ((90, 10), (90, 10)),
        ((1, 1, 1), (34, 33, 33)),  # the point left over goes to the first of equal remainders
        ((2, 1), (67, 33)),
        ((1, 2, 2), (20, 40, 40)),
        ((0.5, 0.25, 0.25), (50, 25, 25)),
    ],
)
def test_weights_become_whole_percentages_summing_to_100(
    tmp_path: Path, weights: tuple[float, ...], shares: tuple[int, ...]
) -> None:
    lines = "".join(
        f"      - {{name: v{i}, model: scorer, instance_type: Standard_DS3_v2, weight: {w}}}\n"
        for i, w in enumerate(weights)
    )
    head, _, _ = SMALL.partition("    variants:\n")
    attrs = planned(tmp_path, f"{head}    variants:\n{lines}")["endpoint.scorer-api"]
    assert tuple(v["traffic_percent"] for v in attrs["variants"]) == shares


def test_a_shadow_variant_takes_mirrored_traffic_only(tmp_path: Path) -> None:
    text = SMALL.replace(
        "weight: 20}\n",
        "weight: 20}\n      - {name: shadow, model: scorer, instance_type: Standard_DS3_v2, weight: 0, "
        "mirror_percent: 15}\n",
    )
    shadow = variants(planned(tmp_path, text)["endpoint.scorer-api"])["shadow"]
    assert (shadow["traffic_percent"], shadow["mirror_percent"]) == (0, 15)


def test_versions_and_deployment_names_are_known_at_plan_time_and_follow_content(tmp_path: Path) -> None:
    first = planned(tmp_path / "a")
    again = planned(tmp_path / "b")
    assert first == again, "the same stack plans the same names and versions"
    blue = first["model.churn-blue"]
    assert blue["version"].startswith("v") and len(blue["version"]) == 13
    deployments = {k: v["deployment"] for k, v in variants(first["endpoint.churn-api"]).items()}
    assert deployments["blue"].startswith("blue-") and len(deployments["blue"]) == len("blue-") + 7

    # More instances: the same deployment, changed in place.
    scaled = planned(
        tmp_path / "c", STACK.replace("instance_count: 1, weight: 90", "instance_count: 3, weight: 90")
    )
    assert variants(scaled["endpoint.churn-api"])["blue"]["deployment"] == deployments["blue"]
    # A new artifact: a new model version, a new green deployment; blue is untouched.
    moved = planned(tmp_path / "d", STACK.replace("churn/green/v1/", "churn/green/v2/"))
    assert moved["model.churn-green"]["version"] != first["model.churn-green"]["version"]
    assert variants(moved["endpoint.churn-api"])["green"]["deployment"] != deployments["green"]
    assert variants(moved["endpoint.churn-api"])["blue"]["deployment"] == deployments["blue"]
    # Another conda file: the same model version, a new environment version and deployment.
    (tmp_path / "e").mkdir()
    write_stack(tmp_path / "e")
    (tmp_path / "e" / "envs" / "serve.yaml").write_text("name: serve\ndependencies: [python=3.12]\n")
    h = StackHarness(tmp_path / "e" / "stack.yaml", SandboxEndpoints())
    conda = {c.address: c.after for c in h.plan().changes}
    assert conda["model.churn-blue"]["version"] == blue["version"]
    assert conda["model.churn-blue"]["environment"]["version"] != blue["environment"]["version"]
    assert variants(conda["endpoint.churn-api"])["blue"]["deployment"] != deployments["blue"]


def test_deployment_names_fit_azure_whatever_the_variant_name() -> None:
    long = "a-variant-name-much-longer-than-azure-allows-for-deployments"
    name = names.deployment_name(long, {"model": "azureml:m:v1"})
    assert len(name) <= names.MAX_DEPLOYMENT and name[0].isalpha()
    assert names.variant_of(name) == long[: names.MAX_DEPLOYMENT - names.DEPLOYMENT_DIGEST - 1].rstrip("-")
    assert names.deployment_name("Blue", {"model": "x"}).startswith("blue-")
    assert names.deployment_name("blue", {"model": "x"}) != names.deployment_name("blue", {"model": "y"})


def test_the_schedule_plan_shows_the_next_three_runs_in_its_time_zone(tmp_path: Path) -> None:
    h = StackHarness(write_stack(tmp_path), SandboxEndpoints())
    (change,) = [c for c in h.plan().changes if c.address == "schedule.churn-retrain"]
    (note,) = change.notes
    assert note.startswith("next runs (Europe/Paris): ") and note.count(" 03:00") == 3


# ---- time zones and images ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("iana", "windows"),
    [
        ("Europe/Paris", "Romance Standard Time"),
        ("America/New_York", "Eastern Standard Time"),
        ("Asia/Tokyo", "Tokyo Standard Time"),
        ("UTC", "UTC"),
        ("Etc/UTC", "UTC"),
    ],
)
def test_iana_zones_become_the_windows_names_azure_ml_takes(iana: str, windows: str) -> None:
    assert timezones.windows_name(iana) == windows
    assert timezones.windows_name(timezones.iana_name(windows)) == windows


def test_the_zones_azure_ml_lacks_are_those_of_the_sdk() -> None:
    from azure.ai.ml.constants import TimeZone
    from tzlocal.windows_tz import tz_win

    offered = {t.value for t in TimeZone}
    assert set(tz_win.values()) - offered == timezones.NOT_IN_AZURE_ML
    with pytest.raises(timezones.UnknownTimeZone, match="Magallanes Standard Time"):
        timezones.windows_name("America/Punta_Arenas")
    with pytest.raises(timezones.UnknownTimeZone, match="no Windows name"):
        timezones.windows_name("Antarctica/Troll")


def test_framework_images_are_curated_inference_images() -> None:
    assert images.resolve(FrameworkImage(framework="scikit-learn", version="1.5.2")) == (
        "mcr.microsoft.com/azureml/curated/sklearn-1.5:latest"
    )
    assert images.resolve(FrameworkImage(framework="torch", version="2.2")).endswith("/pytorch-2.2:latest")
    with pytest.raises(ImageError, match="CPU only"):
        images.resolve(FrameworkImage(framework="pytorch", version="2.2", processor="gpu"))


def test_long_datastore_uris_read_back_as_the_stack_writes_them() -> None:
    long = (
        "azureml://subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/RG/workspaces/"
        f"{WORKSPACE}/datastores/workspaceblobstore/paths/m/v1/"
    )
    assert (
        translate.short_datastore_uri(long, WORKSPACE_ID)
        == "azureml://datastores/workspaceblobstore/paths/m/v1/"
    )
    other = long.replace(WORKSPACE, "another-ws")
    assert translate.short_datastore_uri(other, WORKSPACE_ID) == other
    registry = "azureml://registries/shared/models/fraud/versions/3"
    assert translate.short_datastore_uri(registry, WORKSPACE_ID) == registry


# ---- entities and bodies -----------------------------------------------------------------------------------
VARIANT: dict[str, Any] = {
    "name": "green",
    "deployment": "green-1234567",
    "model": "azureml:churn-green:v0123456789ab",
    "environment": "azureml:churn-green-env:vba9876543210",
    "instance_type": "Standard_DS3_v2",
    "instance_count": 3,
    "environment_variables": {"LOG_LEVEL": "info"},
    "data_collector": {
        "collections": ["model_inputs", "model_outputs"],
        "sampling_rate": 0.25,
        "destination": "azureml://datastores/workspaceblobstore/paths/capture",
    },
    "request_settings": {"request_timeout_ms": 5000, "max_concurrent_requests_per_instance": 2},
    "liveness_probe": {"initial_delay": 30, "period": 10},
    "readiness_probe": None,
    "app_insights_enabled": True,
}


def test_a_variant_is_a_managed_online_deployment() -> None:
    entity = translate.deployment_entity("churn-api", VARIANT, {"team": "growth"})
    rest = entity._to_rest_object(location="westeurope")
    assert rest.sku.capacity == 3 and rest.sku.name == "Default"
    props = rest.properties
    assert props.instance_type == "Standard_DS3_v2"
    assert props.request_settings.request_timeout == timedelta(seconds=5)
    assert props.liveness_probe.initial_delay == timedelta(seconds=30)
    assert props.liveness_probe.period == timedelta(seconds=10)
    assert props.environment_variables == {"LOG_LEVEL": "info"}
    assert props.app_insights_enabled is True
    collections = props.data_collector.collections
    assert set(collections) == {"model_inputs", "model_outputs"}
    assert collections["model_inputs"].sampling_rate == 0.25
    assert str(collections["model_inputs"].data_collection_mode).lower().endswith("enabled")


def test_a_deployment_read_back_is_the_variant_it_was_made_from() -> None:
    """Read from the entity (what the SDK returns has the same shape, with server fields: the
    integration tests read those back from the emulator); ARM ids of the model and environment
    read as the stack's references."""
    entity = translate.deployment_entity("churn-api", VARIANT, {})
    entity.model = f"{WORKSPACE_ID}/models/churn-green/versions/v0123456789ab"
    entity.environment = f"{WORKSPACE_ID}/environments/churn-green-env/versions/vba9876543210"
    read = translate.variant_from_api(entity, VARIANT)
    read.pop("provisioning_state")
    assert read == VARIANT


def test_the_endpoint_body_carries_traffic_and_mirror_without_zeros() -> None:
    attrs = {"name": "churn-api", "auth_mode": "key", "tags": {"team": "growth"}, "description": "churn"}
    rest = translate.endpoint_entity(
        attrs, {"blue-1": 90, "green-2": 10}, {"shadow-3": 20}
    )._to_rest_online_endpoint(location="westeurope")
    assert rest.properties.traffic == {"blue-1": 90, "green-2": 10}
    assert rest.properties.mirror_traffic == {"shadow-3": 20}
    assert rest.properties.auth_mode.lower() == "key" and rest.tags == {"team": "growth"}


SCALING = {
    "min": 2,
    "max": 6,
    "target_invocations_per_instance": 300,
    "scale_in_cooldown": 600,
    "scale_out_cooldown": 120,
}


def test_autoscaling_is_an_azure_monitor_setting_and_reads_back() -> None:
    from azure.mgmt.monitor.models import AutoscaleSettingResource

    target = f"{WORKSPACE_ID}/onlineEndpoints/churn-api/deployments/green-1234567"
    body = autoscale.setting_entity(SCALING, target, "westeurope", {"team": "growth"}).serialize()
    assert body["properties"]["targetResourceUri"] == target
    (profile,) = body["properties"]["profiles"]
    assert profile["capacity"] == {"minimum": "2", "maximum": "6", "default": "2"}
    scale_out, scale_in = profile["rules"]
    assert scale_out["metricTrigger"]["metricName"] == "RequestsPerMinute"
    assert scale_out["metricTrigger"]["dividePerInstance"] is True
    assert (scale_out["metricTrigger"]["threshold"], scale_out["scaleAction"]["direction"]) == (
        300,
        "Increase",
    )
    assert (scale_in["metricTrigger"]["threshold"], scale_in["scaleAction"]["direction"]) == (150, "Decrease")
    assert autoscale.scaling_from_api(AutoscaleSettingResource.deserialize(body)) == SCALING


@pytest.mark.parametrize(
    ("seconds", "ok"), [(60, True), (300, True), (30, False), (90, False), (8 * 86400, False)]
)
def test_cooldowns_are_whole_minutes_between_one_minute_and_a_week(seconds: int, ok: bool) -> None:
    assert (autoscale.cooldown_problem(seconds) is None) is ok


MONITOR: dict[str, Any] = {
    "name": "churn-drift",
    "endpoint": "churn-api",
    "deployment": "blue-1234567",
    "signals": {
        "data_drift": {"numerical_threshold": 0.2, "categorical_threshold": 0.3},
        "data_quality": {"numerical_threshold": 0.02, "categorical_threshold": 0.02},
        "prediction_drift": {"numerical_threshold": 0.1, "categorical_threshold": 0.1},
    },
    "features": ["age", "balance"],
    "baseline": "azureml://datastores/workspaceblobstore/paths/churn/train/",
    "ml_task": "classification",
    "trigger": {"type": "recurrence", "frequency": "day", "interval": 1},
    "emails": ["ml-oncall@example.com"],
    "enabled": True,
    "compute": {"instance_type": "standard_e4s_v3", "runtime_version": "3.4"},
    "tags": {"team": "growth"},
}


def test_a_monitor_is_a_monitor_schedule_with_its_signals_and_reads_back() -> None:
    entity = monitor_entity(MONITOR)
    signals = entity.create_monitor.monitoring_signals
    assert signals["data_drift"].metric_thresholds.numerical.jensen_shannon_distance == 0.2
    assert signals["data_drift"].metric_thresholds.categorical.pearsons_chi_squared_test == 0.3
    assert signals["data_quality"].metric_thresholds.numerical.null_value_rate == 0.02
    assert signals["data_drift"].features == ["age", "balance"]
    assert entity.create_monitor.monitoring_target.endpoint_deployment_id == "azureml:churn-api:blue-1234567"
    # Whether a schedule is enabled is the service's state (`is_enabled`), read from the emulator
    # in the integration tests; a local entity has none.
    assert {**monitor_from_api(entity, MONITOR), "enabled": True} == MONITOR
    body = entity._to_rest_object().as_dict()
    assert body["properties"]["trigger"]["frequency"].lower() == "day"


def test_a_cron_monitor_is_a_cron_trigger() -> None:
    attrs = {**MONITOR, "trigger": {"type": "cron", "expression": "15 6 * * *"}}
    assert monitor_from_api(monitor_entity(attrs), attrs)["trigger"] == {
        "type": "cron",
        "expression": "15 6 * * *",
    }


def test_a_schedule_is_a_job_schedule_of_the_pipeline_with_its_parameters(tmp_path: Path) -> None:
    write_stack(tmp_path)
    attrs = {
        "name": "churn-retrain",
        "cron": "0 3 * * 1",
        "timezone": "Europe/Paris",
        "time_zone": "Romance Standard Time",
        "pipeline": {"definition": "pipelines/train.yaml", "sha256": "ab" * 32},
        "parameters": {"epochs": 100},
        "enabled": True,
        "tags": {"team": "growth"},
    }
    entity = schedule_entity(attrs, tmp_path / "pipelines" / "train.yaml")
    assert entity.trigger.expression == "0 3 * * 1"
    assert (
        str(getattr(entity.trigger.time_zone, "value", entity.trigger.time_zone)) == "Romance Standard Time"
    )
    assert entity.tags == {"team": "growth", PIPELINE_TAG: "ab" * 32}
    assert entity.create_job.inputs["epochs"]._data == 100
    assert entity.create_job.inputs["learning_rate"]._data == 0.1
    assert {**schedule_from_api(entity, attrs), "enabled": True} == attrs  # `enabled`: the service's


# ---- errors ----------------------------------------------------------------------------------------------
class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.reason = "reason"
        self.headers: dict[str, str] = {}
        self.request = None

    def text(self) -> str:
        return ""


def _http(cls: type, status: int, message: str) -> Exception:
    error = cls(message=message, response=_Response(status))
    return error


def test_azure_errors_map_to_the_cores_kinds() -> None:
    from azure.core import exceptions as aze

    throttled = as_provider_error(_http(aze.HttpResponseError, 429, "slow down"), "PUT x")
    assert isinstance(throttled, RetryableError) and failure_of(throttled) is Failure.THROTTLED
    busy = as_provider_error(_http(aze.ResourceExistsError, 409, "endpoint is Updating"), "PUT x")
    assert failure_of(busy) is Failure.THROTTLED, "a 409 on an ARM PUT is a busy object: nothing was done"
    assert isinstance(
        as_provider_error(_http(aze.ResourceNotFoundError, 404, "gone"), "GET x"), NotFoundError
    )
    assert (
        failure_of(as_provider_error(_http(aze.HttpResponseError, 503, "later"), "GET x"))
        is Failure.TRANSIENT
    )
    assert failure_of(as_provider_error(aze.ServiceRequestError("refused"), "GET x")) is Failure.UNSENT
    assert failure_of(as_provider_error(aze.ServiceResponseError("lost"), "GET x")) is Failure.TRANSIENT
    verdict = as_provider_error(_http(aze.HttpResponseError, 400, "bad instance type"), "PUT x")
    assert verdict is not None and not verdict.retryable and "bad instance type" in str(verdict)
    secret = as_provider_error(
        _http(aze.HttpResponseError, 400, "denied for Bearer abcdefghijklmnop"), "PUT x"
    )
    assert "abcdefghijklmnop" not in str(secret)
    assert as_provider_error(ValueError("a bug"), "PUT x") is None


def test_deployment_settings_come_from_the_endpoint_block_and_each_variants_own(tmp_path: Path) -> None:
    text = STACK.replace(
        "    rollout:",
        "    azureml:\n"
        "      request_settings: {request_timeout_ms: 3000}\n"
        "      liveness_probe: {period: 20}\n"
        "      variants:\n"
        "        green: {request_settings: {request_timeout_ms: 9000}, app_insights_enabled: true}\n"
        "    rollout:",
    )
    found = variants(planned(tmp_path, text)["endpoint.churn-api"])
    assert found["blue"]["request_settings"] == {"request_timeout_ms": 3000}
    assert found["green"]["request_settings"] == {"request_timeout_ms": 9000}
    assert found["blue"]["liveness_probe"] == found["green"]["liveness_probe"] == {"period": 20}
    assert (found["blue"]["app_insights_enabled"], found["green"]["app_insights_enabled"]) == (False, True)
