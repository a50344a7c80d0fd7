"""The Azure ML emulator on the wire: TLS, the ARM asynchronous protocol (status codes, headers,
operation documents) with raw `requests`, the request log, fault injection (throttling, failures,
lost replies, failed asynchronous operations) through the real SDK, autoscale settings through
azure-mgmt-monitor, and the sandbox emulator contract."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from azure.ai.ml.entities import Environment, ManagedOnlineDeployment, ManagedOnlineEndpoint, Model
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from mlops_azureml_sandbox.server import AzureMLEmulator

from mlops_gitops.sandbox import control
from mlops_gitops.sandbox.emulators import emulator_class
from mlops_gitops.testing.emulator_contract import EmulatorCase, EmulatorContract

WS = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws"
)
API = {"api-version": "2023-04-01"}


def arm(handle: Any, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return requests.request(
        method, f"{handle.url}{path}", params={**API, **params}, json=body, verify=handle.ca_file, timeout=10
    )


def endpoint_body(traffic: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "location": "westeurope",
        "identity": {"type": "SystemAssigned"},
        "properties": {"authMode": "Key", "traffic": traffic or {}},
    }


def deployment_body(instance_type: str = "Standard_DS3_v2", collect: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "endpointComputeType": "Managed",
        "instanceType": instance_type,
        "model": "azureml://registries/azureml/models/m/versions/1",
    }
    if collect:
        properties["dataCollector"] = {
            "collections": {
                "model_inputs": {"dataCollectionMode": "enabled"},
                "model_outputs": {"dataCollectionMode": "enabled"},
            }
        }
    return {"location": "westeurope", "properties": properties, "sku": {"name": "Default", "capacity": 1}}


def wait_done(handle: Any, response: requests.Response) -> dict[str, Any]:
    url = response.headers["Azure-AsyncOperation"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = requests.get(url, verify=handle.ca_file, timeout=10).json()
        if status["status"] in ("Succeeded", "Failed", "Canceled"):
            return dict(status)
        time.sleep(0.02)
    raise AssertionError("the operation did not end")


# ---- TLS and the LRO protocol ---------------------------------------------------------------------------


def test_it_serves_https_with_a_certificate_for_127_0_0_1(azureml_emulator: Any) -> None:
    assert azureml_emulator.url.startswith("https://127.0.0.1:")
    assert azureml_emulator.emulator.settings["tls_ca_file"] == azureml_emulator.ca_file
    assert control.health(azureml_emulator.url, context=azureml_emulator.ssl_context())["emulator"] == (
        "Azure Machine Learning"
    )
    with pytest.raises(requests.exceptions.SSLError):  # not trusted without the CA file
        requests.get(f"{azureml_emulator.url}/_emulator/health", timeout=5)


def test_the_ca_file_setting_is_read_only(azureml_emulator: Any) -> None:
    with pytest.raises(ValueError, match="tls_ca_file"):
        azureml_emulator.emulator.update_settings({"tls_ca_file": "/tmp/other.pem"})
    azureml_emulator.emulator.reset()
    assert azureml_emulator.emulator.settings["tls_ca_file"] == azureml_emulator.ca_file


def test_a_put_follows_the_arm_async_protocol(azureml_emulator: Any) -> None:
    azureml_emulator.emulator.update_settings({"operation_delay_seconds": 0.3})
    created = arm(azureml_emulator, "PUT", f"{WS}/onlineEndpoints/ep1", endpoint_body())

    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Creating"
    assert created.headers["Retry-After"] == "1"
    assert created.headers["x-ms-request-id"] and created.headers["x-ms-correlation-request-id"]
    status_url, location = created.headers["Azure-AsyncOperation"], created.headers["Location"]
    assert "/mfeOperationsStatus/" in status_url and "/mfeOperationResults/" in location
    running = requests.get(status_url, verify=azureml_emulator.ca_file, timeout=5)
    assert running.json()["status"] == "InProgress" and 0 < float(running.headers["Retry-After"]) <= 1
    assert requests.get(location, verify=azureml_emulator.ca_file, timeout=5).status_code == 202

    status = wait_done(azureml_emulator, created)

    assert status["status"] == "Succeeded" and status["endTime"] and status["startTime"]
    assert set(status) >= {"id", "name", "status", "startTime", "endTime"}
    result = requests.get(location, verify=azureml_emulator.ca_file, timeout=5)
    assert result.status_code == 200 and result.json()["properties"]["provisioningState"] == "Succeeded"
    updated = arm(azureml_emulator, "PUT", f"{WS}/onlineEndpoints/ep1", endpoint_body())
    assert updated.status_code == 200 and updated.json()["properties"]["provisioningState"] == "Updating"


def test_a_delete_answers_202_then_the_location_204(azureml_emulator: Any) -> None:
    wait_done(azureml_emulator, arm(azureml_emulator, "PUT", f"{WS}/onlineEndpoints/ep1", endpoint_body()))
    deleted = arm(azureml_emulator, "DELETE", f"{WS}/onlineEndpoints/ep1")
    assert (
        deleted.status_code == 202 and deleted.headers["Retry-After"] == "1" and "Location" in deleted.headers
    )
    wait_done(azureml_emulator, deleted)
    assert (
        requests.get(deleted.headers["Location"], verify=azureml_emulator.ca_file, timeout=5).status_code
        == 204
    )
    missing = arm(azureml_emulator, "GET", f"{WS}/onlineEndpoints/ep1")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "UserError"
    assert arm(azureml_emulator, "DELETE", f"{WS}/onlineEndpoints/ep1").status_code == 204


def test_paths_are_case_insensitive_and_any_api_version_goes(azureml_emulator: Any) -> None:
    wait_done(azureml_emulator, arm(azureml_emulator, "PUT", f"{WS}/onlineEndpoints/ep1", endpoint_body()))
    got = requests.get(
        f"{azureml_emulator.url}{WS.lower()}/ONLINEENDPOINTS/EP1",
        params={"api-version": "2099-01-01-preview"},
        verify=azureml_emulator.ca_file,
        timeout=5,
    )
    assert got.status_code == 200 and got.json()["name"] == "ep1" and got.json()["id"].endswith("/ep1")


def test_a_monitor_schedule_needs_data_collection(azureml_emulator: Any) -> None:
    wait_done(azureml_emulator, arm(azureml_emulator, "PUT", f"{WS}/onlineEndpoints/ep1", endpoint_body()))
    wait_done(
        azureml_emulator,
        arm(azureml_emulator, "PUT", f"{WS}/onlineEndpoints/ep1/deployments/blue", deployment_body()),
    )
    wait_done(
        azureml_emulator,
        arm(
            azureml_emulator,
            "PUT",
            f"{WS}/onlineEndpoints/ep1/deployments/green",
            deployment_body(collect=True),
        ),
    )

    def monitor(deployment: str) -> dict[str, Any]:
        return {
            "properties": {
                "trigger": {
                    "triggerType": "Recurrence",
                    "frequency": "Day",
                    "interval": 1,
                    "timeZone": "UTC",
                },
                "action": {
                    "actionType": "CreateMonitor",
                    "monitorDefinition": {
                        "computeConfiguration": {"computeType": "ServerlessSpark"},
                        "monitoringTarget": {
                            "deploymentId": f"{WS}/onlineEndpoints/ep1/deployments/{deployment}",
                            "taskType": "Classification",
                        },
                        "signals": {},
                    },
                },
            }
        }

    refused = arm(azureml_emulator, "PUT", f"{WS}/schedules/drift", monitor("blue"))
    assert refused.status_code == 400
    assert "does not collect model_inputs and model_outputs" in refused.json()["error"]["message"]
    accepted = arm(azureml_emulator, "PUT", f"{WS}/schedules/drift", monitor("green"))
    assert accepted.status_code == 201
    stored = accepted.json()["properties"]
    assert stored["action"]["monitorDefinition"]["signals"] == {} and stored["isEnabled"] is True


# ---- the request log -------------------------------------------------------------------------------------


def test_the_request_log_records_every_call(azureml_emulator: Any, ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ep1")).result()
    with pytest.raises(ResourceNotFoundError):
        ml.online_endpoints.get("ghost")

    log = azureml_emulator.requests()

    puts = [r for r in log if r["method"] == "PUT"]
    assert [(r["path"], r["status"], r["operation"]) for r in puts] == [
        (f"{WS}/onlineEndpoints/ep1", 201, "OnlineEndpoints_CreateOrUpdate")
    ]
    assert any(r["path"].endswith("/ghost") and r["status"] == 404 for r in log)
    assert all("?" not in r["path"] and isinstance(r["time"], float) for r in log)
    azureml_emulator.emulator.reset()
    assert azureml_emulator.requests() == []


# ---- fault injection -------------------------------------------------------------------------------------


def make_ready(ml: Any) -> None:
    ml.models.create_or_update(Model(name="clf", version="1", path="https://example.com/clf.pkl"))
    ml.environments.create_or_update(Environment(name="sk", version="1", image="mcr.microsoft.com/azureml/x"))
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ep1")).result()


def green() -> ManagedOnlineDeployment:
    return ManagedOnlineDeployment(
        name="green",
        endpoint_name="ep1",
        model="azureml:clf:1",
        environment="azureml:sk:1",
        instance_type="Standard_DS3_v2",
        instance_count=1,
    )


def test_an_async_failure_fails_the_deployment_mid_rollout(
    azureml_emulator: Any, ml_client: Callable[..., Any]
) -> None:
    ml = ml_client()
    make_ready(ml)
    azureml_emulator.emulator.update_settings(
        {
            "fail_async": [
                {
                    "operation": "OnlineDeployments_CreateOrUpdate",
                    "path": "/deployments/green$",
                    "times": 1,
                    "code": "ResourceNotReady",
                    "message": "User container has crashed or terminated.",
                }
            ]
        }
    )
    with pytest.raises(HttpResponseError, match="User container has crashed") as caught:
        ml.online_deployments.begin_create_or_update(green()).result()

    assert "ResourceNotReady" in str(caught.value)
    assert ml.online_deployments.get("green", endpoint_name="ep1").provisioning_state == "Failed"
    assert azureml_emulator.emulator.settings["fail_async"] == []  # used up
    again = ml.online_deployments.begin_create_or_update(green()).result()
    assert again.provisioning_state == "Succeeded"


def test_throttling_answers_429_and_the_sdk_retries(
    azureml_emulator: Any, ml_client: Callable[..., Any]
) -> None:
    ml = ml_client()
    make_ready(ml)
    azureml_emulator.emulator.update_settings(
        {"throttle": [{"operation": "OnlineEndpoints_Get", "times": 1, "retry_after": 1}]}
    )
    raw = arm(azureml_emulator, "GET", f"{WS}/onlineEndpoints/ep1")
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "1"
    assert raw.json()["error"]["code"] == "TooManyRequests"
    assert raw.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    azureml_emulator.emulator.update_settings(
        {"throttle": [{"operation": "OnlineEndpoints_Get", "times": 1, "retry_after": 1}]}
    )

    assert ml.online_endpoints.get("ep1").name == "ep1"  # after one 429

    statuses = [r["status"] for r in azureml_emulator.requests() if r["operation"] == "OnlineEndpoints_Get"]
    assert statuses[-2:] == [429, 200]


def test_a_fail_rule_surfaces_its_arm_error(azureml_emulator: Any, ml_client: Callable[..., Any]) -> None:
    ml = ml_client()
    azureml_emulator.emulator.update_settings(
        {
            "fail": [
                {
                    "method": "PUT",
                    "path": "/models/",
                    "status": 403,
                    "code": "AuthorizationFailed",
                    "message": "The client does not have authorization to perform action.",
                }
            ]
        }
    )
    with pytest.raises(HttpResponseError, match="does not have authorization") as caught:
        ml.models.create_or_update(Model(name="clf", version="1", path="https://example.com/clf.pkl"))
    assert caught.value.status_code == 403 and caught.value.error.code == "AuthorizationFailed"


def test_a_lost_reply_takes_effect(azureml_emulator: Any, ml_client: Callable[..., Any]) -> None:
    azureml_emulator.emulator.update_settings(
        {
            "fail": [
                {
                    "method": "PUT",
                    "path": "/models/clf/versions/1$",
                    "status": 400,
                    "lose_reply": True,
                    "times": 1,
                }
            ]
        }
    )
    ml = ml_client()
    with pytest.raises(HttpResponseError):
        ml.models.create_or_update(Model(name="clf", version="1", path="https://example.com/clf.pkl"))
    assert ml.models.get("clf", version="1").path == "https://example.com/clf.pkl"


def test_rated_failures_repeat_with_the_seed(azureml_emulator: Any) -> None:
    rule = {"fail": [{"operation": "Workspaces_Get", "rate": 0.5, "status": 503}], "seed": 7}

    def draw() -> list[int]:
        azureml_emulator.emulator.update_settings(rule)
        return [arm(azureml_emulator, "GET", WS).status_code for _ in range(16)]

    first = draw()
    azureml_emulator.emulator.reset()
    assert draw() == first and {200, 503} == set(first)


def test_latency_is_added(azureml_emulator: Any) -> None:
    azureml_emulator.emulator.update_settings({"latency_ms": 200})
    started = time.monotonic()
    assert arm(azureml_emulator, "GET", WS).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_settings_refuse_bad_rules() -> None:
    with pytest.raises(ValueError, match="path"):
        AzureMLEmulator({"fail": [{"path": "("}]})
    with pytest.raises(ValueError, match="retry_after_seconds"):
        AzureMLEmulator({"retry_after_seconds": 0.5})


# ---- autoscale through azure-mgmt-monitor ---------------------------------------------------------------


def test_autoscale_settings_round_trip(azureml_emulator: Any, monitor_client: Callable[..., Any]) -> None:
    from azure.mgmt.monitor.models import (
        AutoscaleProfile,
        AutoscaleSettingResource,
        AutoscaleSettingResourcePatch,
        MetricTrigger,
        ScaleAction,
        ScaleCapacity,
        ScaleRule,
    )

    wait_done(azureml_emulator, arm(azureml_emulator, "PUT", f"{WS}/onlineEndpoints/ep1", endpoint_body()))
    wait_done(
        azureml_emulator,
        arm(azureml_emulator, "PUT", f"{WS}/onlineEndpoints/ep1/deployments/blue", deployment_body()),
    )
    target = f"{WS}/onlineEndpoints/ep1/deployments/blue"
    rule = ScaleRule(
        metric_trigger=MetricTrigger(
            metric_name="CpuUtilizationPercentage",
            metric_resource_uri=target,
            time_grain="PT1M",
            statistic="Average",
            time_window="PT5M",
            time_aggregation="Average",
            operator="GreaterThan",
            threshold=70,
        ),
        scale_action=ScaleAction(direction="Increase", type="ChangeCount", value="1", cooldown="PT5M"),
    )
    client = monitor_client()
    profile = AutoscaleProfile(
        name="default", capacity=ScaleCapacity(minimum="1", maximum="3", default="1"), rules=[rule]
    )

    created = client.autoscale_settings.create_or_update(
        "rg",
        "blue-autoscale",
        AutoscaleSettingResource(
            location="westeurope", profiles=[profile], target_resource_uri=target, enabled=True
        ),
    )

    assert created.target_resource_uri == target and created.profiles[0].capacity.maximum == "3"
    assert created.profiles[0].rules[0].metric_trigger.threshold == 70
    patched = client.autoscale_settings.update(
        "rg",
        "blue-autoscale",
        AutoscaleSettingResourcePatch(
            profiles=[
                AutoscaleProfile(
                    name="default", capacity=ScaleCapacity(minimum="2", maximum="5", default="2"), rules=[]
                )
            ]
        ),
    )
    assert patched.profiles[0].capacity.minimum == "2"
    assert client.autoscale_settings.get("rg", "blue-autoscale").profiles[0].capacity.maximum == "5"
    with pytest.raises(HttpResponseError, match="minimum"):
        client.autoscale_settings.create_or_update(
            "rg",
            "bad",
            AutoscaleSettingResource(
                location="westeurope",
                target_resource_uri=target,
                profiles=[
                    AutoscaleProfile(
                        name="p", capacity=ScaleCapacity(minimum="3", maximum="1", default="2"), rules=[]
                    )
                ],
            ),
        )
    client.autoscale_settings.delete("rg", "blue-autoscale")
    with pytest.raises(ResourceNotFoundError):
        client.autoscale_settings.get("rg", "blue-autoscale")


# ---- the sandbox emulator contract ------------------------------------------------------------------------


def test_the_entry_point_names_the_emulator() -> None:
    assert emulator_class("azureml") is AzureMLEmulator


class TestAzureMLEmulatorContract(EmulatorContract):
    @pytest.fixture
    def emulator_case(self, azureml_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> EmulatorCase:
        # The contract's client uses urllib's default TLS context: trust the emulators' certificate
        # (one per process, so emulators the contract starts itself are trusted too).
        monkeypatch.setenv("SSL_CERT_FILE", azureml_emulator.ca_file)

        def create() -> None:
            wait_done(
                azureml_emulator,
                arm(azureml_emulator, "PUT", f"{WS}/onlineEndpoints/contract", endpoint_body()),
            )

        return EmulatorCase(
            emulator=azureml_emulator.emulator,
            cls=emulator_class("azureml"),
            setting="operation_delay_seconds",
            value=0.5,
            invalid=-1,
            create=create,
            exists=lambda: arm(azureml_emulator, "GET", f"{WS}/onlineEndpoints/contract").status_code == 200,
        )
