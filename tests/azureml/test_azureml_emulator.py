"""The Azure ML emulator driven through the real `azure.ai.ml.MLClient`: endpoints, deployments,
traffic, keys, models, environments, schedules and jobs, what the SDK reads back, and the rules
Azure enforces as the SDK surfaces them (exception class, HTTP status, ARM code and message).
(One module: with pytest's importlib mode, test modules cannot import each other's helpers.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from azure.ai.ml import command, dsl
from azure.ai.ml.entities import (
    CronTrigger,
    DataCollector,
    DeploymentCollection,
    Environment,
    JobSchedule,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
    MonitorDefinition,
    MonitoringTarget,
    MonitorSchedule,
    RecurrenceTrigger,
    ServerlessSparkCompute,
)
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

# Workspace assets, not registry ones: the SDK resolves `azureml://registries/...` through a
# registry-discovery client that ignores `connection_verify` (it would retry for seconds).
MODEL = "azureml:clf:1"
ENVIRONMENT = "azureml:sklearn:1"
IMAGE = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference"


def register_assets(ml: Any) -> None:
    """The model and environment deployments use (putting them again unchanged is accepted)."""
    ml.models.create_or_update(Model(name="clf", version="1", path="https://example.com/models/clf.pkl"))
    ml.environments.create_or_update(Environment(name="sklearn", version="1", image=IMAGE))


def make_endpoint(ml: Any, name: str = "ep1", **kwargs: Any) -> Any:
    return ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=name, **kwargs)).result()


def make_deployment(ml: Any, name: str, endpoint: str = "ep1", **kwargs: Any) -> Any:
    register_assets(ml)
    values: dict[str, Any] = {
        "model": MODEL,
        "environment": ENVIRONMENT,
        "instance_type": "Standard_DS3_v2",
        "instance_count": 1,
        **kwargs,
    }
    deployment = ManagedOnlineDeployment(name=name, endpoint_name=endpoint, **values)
    return ml.online_deployments.begin_create_or_update(deployment).result()


def set_traffic(ml: Any, traffic: dict[str, int], endpoint: str = "ep1", **more: Any) -> Any:
    current = ml.online_endpoints.get(endpoint)
    current.traffic = traffic
    for name, value in more.items():
        setattr(current, name, value)
    return ml.online_endpoints.begin_create_or_update(current).result()


def collecting() -> DataCollector:
    return DataCollector(
        collections={
            "model_inputs": DeploymentCollection(enabled="true"),
            "model_outputs": DeploymentCollection(enabled="true"),
        }
    )


# ---- endpoints -------------------------------------------------------------------------------------------


def test_an_endpoint_is_created_with_server_fields(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    endpoint = make_endpoint(ml, auth_mode="key", description="demo", tags={"team": "ml"})

    assert endpoint.provisioning_state == "Succeeded"
    assert endpoint.scoring_uri == "https://ep1.westeurope.inference.ml.azure.com/score"
    assert endpoint.openapi_uri.endswith("/swagger.json")
    assert endpoint.location == "westeurope"
    assert endpoint.auth_mode == "key"
    assert endpoint.identity.type == "system_assigned" and endpoint.identity.principal_id
    assert endpoint.tags == {"team": "ml"} and endpoint.description == "demo"
    assert endpoint.id.endswith("/workspaces/ws/onlineEndpoints/ep1")
    assert [e.name for e in ml.online_endpoints.list()] == ["ep1"]


def test_the_workspace_location_is_the_location_setting(
    azureml_emulator: Any, ml_client: Callable[..., Any]
) -> None:
    azureml_emulator.emulator.update_settings({"location": "eastus2"})
    ml = ml_client(workspace="other")
    assert ml.workspaces.get("other").location == "eastus2"
    assert make_endpoint(ml).location == "eastus2"


def test_keys_are_listed_and_regenerated(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    make_endpoint(ml, auth_mode="key")
    keys = ml.online_endpoints.get_keys("ep1")
    assert keys.primary_key and keys.secondary_key and keys.primary_key != keys.secondary_key

    ml.online_endpoints.begin_regenerate_keys("ep1", key_type="secondary").result()

    again = ml.online_endpoints.get_keys("ep1")
    assert again.primary_key == keys.primary_key and again.secondary_key != keys.secondary_key


def test_a_missing_endpoint_raises_resource_not_found(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    with pytest.raises(ResourceNotFoundError, match="ghost"):
        ml.online_endpoints.get("ghost")
    with pytest.raises(ResourceNotFoundError):
        ml.online_deployments.get("blue", endpoint_name="ghost")


def test_deleting_an_endpoint_deletes_its_deployments(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    make_endpoint(ml)
    make_deployment(ml, "blue")

    ml.online_endpoints.begin_delete("ep1").result()

    with pytest.raises(ResourceNotFoundError):
        ml.online_endpoints.get("ep1")
    assert list(ml.online_endpoints.list()) == []


# ---- deployments and traffic ---------------------------------------------------------------------------


def test_a_deployment_gets_server_defaults(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    make_endpoint(ml)
    deployment = make_deployment(ml, "blue", instance_count=2)

    assert deployment.provisioning_state == "Succeeded"
    assert deployment.instance_count == 2 and deployment.instance_type == "Standard_DS3_v2"
    assert deployment.scale_settings.type == "default"
    assert deployment.request_settings.request_timeout_ms == 5000
    assert deployment.liveness_probe is not None
    assert [d.name for d in ml.online_deployments.list("ep1")] == ["blue"]
    assert ml.online_endpoints.get("ep1").traffic == {"blue": 0}  # the SDK fills zeroes


def test_a_registered_model_and_environment_deploy(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    model = ml.models.create_or_update(Model(name="clf", path="https://example.com/models/clf.pkl"))
    environment = ml.environments.create_or_update(
        Environment(name="env", image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04")
    )
    make_endpoint(ml)

    deployment = make_deployment(ml, "blue", model=model, environment=environment)

    assert deployment.model.endswith("/models/clf/versions/1")
    assert deployment.environment.endswith("/environments/env/versions/1")


def test_traffic_moves_between_deployments(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    make_endpoint(ml)
    make_deployment(ml, "blue")
    make_deployment(ml, "green")

    assert set_traffic(ml, {"blue": 100}).traffic == {"blue": 100}
    assert set_traffic(ml, {"blue": 90, "green": 10}).traffic == {"blue": 90, "green": 10}
    assert set_traffic(ml, {"green": 100}).traffic == {"green": 100}
    ml.online_deployments.begin_delete("blue", endpoint_name="ep1").result()

    assert ml.online_endpoints.get("ep1").traffic == {"green": 100}
    assert [d.name for d in ml.online_deployments.list("ep1")] == ["green"]


def test_mirror_traffic_round_trips(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    make_endpoint(ml)
    make_deployment(ml, "blue")
    make_deployment(ml, "green")

    endpoint = set_traffic(ml, {"blue": 100}, mirror_traffic={"green": 20})

    assert endpoint.mirror_traffic == {"green": 20}
    assert ml.online_endpoints.get("ep1").mirror_traffic == {"green": 20}


def test_data_collection_round_trips_capitalised(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    make_endpoint(ml)
    deployment = make_deployment(ml, "blue", data_collector=collecting())

    assert deployment.data_collector.collections["model_inputs"].enabled == "true"
    assert deployment.data_collector.collections["model_outputs"].enabled == "true"
    # The SDK registered a data asset per collection.
    assert ml.data.get("ep1-blue-model_inputs", version="1").name == "ep1-blue-model_inputs"


def test_a_console_side_change_through_the_sdk_shows_on_the_next_get(ml_client: Callable[..., Any]) -> None:
    ml, console = ml_client(), ml_client()
    make_endpoint(ml)
    make_deployment(ml, "blue")
    make_deployment(ml, "green")
    set_traffic(ml, {"blue": 100})

    set_traffic(console, {"blue": 50, "green": 50})

    assert ml.online_endpoints.get("ep1").traffic == {"blue": 50, "green": 50}


def test_deployment_logs_are_served(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    make_endpoint(ml)
    make_deployment(ml, "blue")
    assert "blue" in ml.online_deployments.get_logs("blue", "ep1", lines=10)


# ---- models and environments -------------------------------------------------------------------------------


def test_model_versions_number_up_and_archive(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    first = ml.models.create_or_update(Model(name="clf", path="https://example.com/m/1.pkl"))
    second = ml.models.create_or_update(
        Model(name="clf", path="azureml://datastores/workspaceblobstore/paths/models/clf/2")
    )
    assert (first.version, second.version) == ("1", "2")
    assert ml.models.get("clf", version="2").path.endswith(
        "/datastores/workspaceblobstore/paths/models/clf/2"
    )

    ml.models.archive("clf", version="1")

    assert [m.version for m in ml.models.list("clf")] == ["2"]
    assert ml.models.get("clf", version="1") is not None  # archived, still there
    ml.models.restore("clf", version="1")
    assert sorted(m.version for m in ml.models.list("clf")) == ["1", "2"]


def test_an_unchanged_model_version_put_again_is_accepted(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    model = Model(name="clf", version="3", path="https://example.com/m.pkl", description="one")
    ml.models.create_or_update(model)
    model.description = "two"
    assert ml.models.create_or_update(model).description == "two"


def test_environments_take_an_image_and_a_conda_file(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    conda = {"name": "env", "dependencies": ["python=3.11", {"pip": ["scikit-learn==1.5.0"]}]}
    created = ml.environments.create_or_update(
        Environment(
            name="sk",
            version="1",
            image="mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference",
            conda_file=conda,
        )
    )
    got = ml.environments.get("sk", version="1")
    assert created.image == got.image and got.conda_file == conda
    assert got.os_type == "Linux"
    with pytest.raises(ResourceNotFoundError):
        ml.environments.get("sk", version="9")


def test_a_missing_model_raises_resource_not_found(ml_client: Callable[..., Any]) -> None:
    with pytest.raises(ResourceNotFoundError):
        ml_client().models.get("ghost", version="1")


# ---- schedules and jobs ------------------------------------------------------------------------------------


def pipeline_job() -> Any:
    step = command(command="echo hello", environment=ENVIRONMENT, compute="cpu-cluster")

    @dsl.pipeline(compute="cpu-cluster", description="nightly retrain")
    def retrain() -> None:
        step()

    return retrain()


def test_a_job_schedule_with_a_pipeline_job(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    register_assets(ml)
    trigger = CronTrigger(expression="0 3 * * 1-5", time_zone="Romance Standard Time")
    schedule = JobSchedule(name="nightly", trigger=trigger, create_job=pipeline_job())

    created = ml.schedules.begin_create_or_update(schedule).result()

    assert created.provisioning_state == "Succeeded" and created.is_enabled
    got = ml.schedules.get("nightly")
    assert got.trigger.expression == "0 3 * * 1-5" and got.trigger.time_zone == "Romance Standard Time"
    assert got.create_job.description == "nightly retrain"
    assert [s.name for s in ml.schedules.list()] == ["nightly"]

    ml.schedules.begin_disable("nightly").result()
    assert not ml.schedules.get("nightly").is_enabled
    assert list(ml.schedules.list()) == []  # EnabledOnly by default, as on Azure
    ml.schedules.begin_delete("nightly").result()
    with pytest.raises(ResourceNotFoundError):
        ml.schedules.get("nightly")


def test_a_monitor_schedule_on_a_collecting_deployment(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    make_endpoint(ml)
    make_deployment(ml, "blue", data_collector=collecting())
    monitor = MonitorSchedule(
        name="drift",
        trigger=RecurrenceTrigger(frequency="day", interval=1, time_zone="UTC"),
        create_monitor=MonitorDefinition(
            compute=ServerlessSparkCompute(instance_type="standard_e4s_v3", runtime_version="3.4"),
            monitoring_target=MonitoringTarget(
                ml_task="classification", endpoint_deployment_id="azureml:ep1:blue"
            ),
        ),
    )

    created = ml.schedules.begin_create_or_update(monitor).result()

    assert created.provisioning_state == "Succeeded"
    got = ml.schedules.get("drift")
    assert isinstance(got, MonitorSchedule)
    assert got.create_monitor.monitoring_target.endpoint_deployment_id.endswith("ep1:blue") or "blue" in str(
        got.create_monitor.monitoring_target.endpoint_deployment_id
    )
    assert got.trigger.frequency == "day"


def test_a_pipeline_job_is_submitted_and_read_back(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    register_assets(ml)
    job = ml.jobs.create_or_update(pipeline_job(), experiment_name="exp")
    got = ml.jobs.get(job.name)
    assert got.experiment_name == "exp" and got.status == "NotStarted"
    assert job.name in [j.name for j in ml.jobs.list()]


# ---- rules Azure enforces -----------------------------------------------------------------------------


def ready(ml: Any, *deployments: str) -> Any:
    make_endpoint(ml)
    for name in deployments:
        make_deployment(ml, name)
    return ml


def test_traffic_must_add_up_to_100(ml_client: Callable[..., Any]) -> None:
    ml = ready(ml_client(), "blue", "green")
    with pytest.raises(HttpResponseError, match="add up to 100") as caught:
        set_traffic(ml, {"blue": 60, "green": 30})
    assert caught.value.status_code == 400 and caught.value.error.code == "UserError"


def test_traffic_must_name_existing_deployments(ml_client: Callable[..., Any]) -> None:
    ml = ready(ml_client(), "blue")
    with pytest.raises(
        HttpResponseError, match="Deployment ghost specified in traffic does not exist"
    ) as caught:
        set_traffic(ml, {"ghost": 100})
    assert caught.value.status_code == 400
    assert ml.online_endpoints.get("ep1").traffic == {"blue": 0}  # unchanged


def test_mirror_traffic_is_at_most_50_percent(ml_client: Callable[..., Any]) -> None:
    ml = ready(ml_client(), "blue", "green")
    with pytest.raises(HttpResponseError, match="at most 50%"):
        set_traffic(ml, {"blue": 100}, mirror_traffic={"green": 60})


def test_mirror_traffic_cannot_go_to_a_live_deployment(ml_client: Callable[..., Any]) -> None:
    ml = ready(ml_client(), "blue", "green")
    with pytest.raises(HttpResponseError, match="receives live traffic"):
        set_traffic(ml, {"blue": 50, "green": 50}, mirror_traffic={"green": 10})


def test_a_deployment_with_traffic_cannot_be_deleted(ml_client: Callable[..., Any]) -> None:
    ml = ready(ml_client(), "blue")
    set_traffic(ml, {"blue": 100})
    with pytest.raises(HttpResponseError, match="cannot be deleted because it receives 100%") as caught:
        ml.online_deployments.begin_delete("blue", endpoint_name="ep1").result()
    assert caught.value.status_code == 400
    assert ml.online_deployments.get("blue", endpoint_name="ep1").provisioning_state == "Succeeded"


def test_changes_while_the_endpoint_is_updating_conflict(
    azureml_emulator: Any, ml_client: Callable[..., Any]
) -> None:
    ml = ready(ml_client(), "blue")
    register_assets(ml)
    azureml_emulator.emulator.update_settings({"operation_delay_seconds": 0.5})
    endpoint = ml.online_endpoints.get("ep1")
    endpoint.traffic = {"blue": 100}
    poller = ml.online_endpoints.begin_create_or_update(endpoint)
    assert ml.online_endpoints.get("ep1").provisioning_state == "Updating"

    green = ManagedOnlineDeployment(
        name="green",
        endpoint_name="ep1",
        model="azureml:clf:1",
        environment="azureml:sklearn:1",
        instance_type="Standard_DS3_v2",
        instance_count=1,
    )
    with pytest.raises(ResourceExistsError, match="Endpoint ep1 is being updated") as caught:
        ml.online_deployments.begin_create_or_update(green)
    assert caught.value.status_code == 409 and caught.value.error.code == "Conflict"
    with pytest.raises(ResourceExistsError, match="being updated"):
        ml.online_endpoints.begin_create_or_update(endpoint)

    assert poller.result().traffic == {"blue": 100}
    assert ml.online_deployments.begin_create_or_update(green).result().provisioning_state == "Succeeded"


def test_unknown_instance_types_are_refused(ml_client: Callable[..., Any]) -> None:
    ml = ready(ml_client())
    with pytest.raises(HttpResponseError, match="instance type Standard_Bogus_v9 is not supported") as caught:
        make_deployment(ml, "blue", instance_type="Standard_Bogus_v9")
    assert caught.value.status_code == 400 and caught.value.error.code == "InvalidVMSize"


def test_the_instance_types_setting_is_the_known_set(
    azureml_emulator: Any, ml_client: Callable[..., Any]
) -> None:
    azureml_emulator.emulator.update_settings({"instance_types": ["Standard_X1"]})
    ml = ready(ml_client())
    assert make_deployment(ml, "blue", instance_type="standard_x1").instance_type == "Standard_X1"
    with pytest.raises(HttpResponseError, match="not supported"):
        make_deployment(ml, "green", instance_type="Standard_DS3_v2")


def test_an_instance_count_below_one_is_refused(ml_client: Callable[..., Any]) -> None:
    ml = ready(ml_client())
    with pytest.raises(HttpResponseError, match="at least 1 instance"):
        make_deployment(ml, "blue", instance_count=0)


def test_a_deployment_of_a_missing_model_is_refused(ml_client: Callable[..., Any]) -> None:
    ml = ready(ml_client())
    with pytest.raises(HttpResponseError, match="Model ghost:7 referenced by the deployment was not found"):
        make_deployment(ml, "blue", model="azureml:ghost:7")


def test_model_versions_are_immutable(ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    ml.models.create_or_update(Model(name="clf", version="1", path="https://example.com/a.pkl"))
    with pytest.raises(HttpResponseError, match="already exists with different modelUri") as caught:
        ml.models.create_or_update(Model(name="clf", version="1", path="https://example.com/b.pkl"))
    assert caught.value.status_code == 409


@pytest.mark.parametrize(
    ("expression", "zone", "message"),
    [
        ("0 3 * * *", "Europe/Paris", "IANA name"),
        ("0 3 * *", "UTC", "5 fields"),
        ("61 3 * * *", "UTC", "not a valid minute field"),
    ],
)
def test_cron_triggers_are_checked(
    ml_client: Callable[..., Any], expression: str, zone: str, message: str
) -> None:
    ml = ml_client()
    register_assets(ml)
    schedule = JobSchedule(
        name="nightly", trigger=CronTrigger(expression=expression, time_zone=zone), create_job=pipeline_job()
    )
    with pytest.raises(HttpResponseError, match=message) as caught:
        ml.schedules.begin_create_or_update(schedule).result()
    assert caught.value.status_code == 400


def test_a_monitor_needs_data_collection_on_its_target(ml_client: Callable[..., Any]) -> None:
    from azure.ai.ml.entities import (
        MonitorDefinition,
        MonitoringTarget,
        MonitorSchedule,
        RecurrenceTrigger,
        ServerlessSparkCompute,
    )

    ml = ready(ml_client(), "blue")  # no data collector
    monitor = MonitorSchedule(
        name="drift",
        trigger=RecurrenceTrigger(frequency="day", interval=1),
        create_monitor=MonitorDefinition(
            compute=ServerlessSparkCompute(instance_type="standard_e4s_v3", runtime_version="3.4"),
            monitoring_target=MonitoringTarget(
                ml_task="classification", endpoint_deployment_id="azureml:ep1:blue"
            ),
        ),
    )
    # The SDK checks this itself before sending (the emulator's own check is in the protocol tests).
    with pytest.raises(Exception, match="data collector enabled for model inputs and outputs"):
        ml.schedules.begin_create_or_update(monitor).result()


def test_an_endpoint_in_progress_shows_it(azureml_emulator: Any, ml_client: Callable[..., Any]) -> None:
    azureml_emulator.emulator.update_settings({"operation_delay_seconds": 0.4})
    ml = ml_client()
    poller = ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ep1"))
    assert ml.online_endpoints.get("ep1").provisioning_state == "Creating"
    started = time.monotonic()
    assert poller.result().provisioning_state == "Succeeded"
    assert time.monotonic() - started < 1.5  # the poller follows the short Retry-After
