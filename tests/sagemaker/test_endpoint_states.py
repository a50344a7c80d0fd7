"""Endpoints through the statuses SageMaker gives them (Failed, Deleting, SystemUpdating,
RollingBack, OutOfService) and through applies killed part way, through boto3 against the
emulator. A kill is a BaseException raised from the engine's side of the apply (a checkpoint or a
progress report) at the moment a SIGKILL would stop the process: what the provider recorded up to
then is what state holds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlops_sagemaker.config import SageMakerConfig
from mlops_sagemaker.provider import SageMakerProvider
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import EndpointSpec, ModelSpec
from mlops_gitops.testing import RecordingContext
from mlops_gitops.testing.harness import StackHarness, actions

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ADDRESS = "endpoint.fraud-api"
OBSERVABLE_DELAY = 0.5  # long enough for the calls right after an operation to see it in progress


class Killed(BaseException):
    """The process died here."""


@dataclass
class KillingContext(RecordingContext):
    """A context in which the process dies where `kill_at_checkpoint(attrs)` /
    `kill_at_progress(message)` say: a checkpoint is recorded first (it was written), then the
    kill, unless `record_before_kill` is False."""

    address: str = ADDRESS
    kill_at_checkpoint: Callable[[Mapping[str, Any]], bool] = lambda _: False
    kill_at_progress: Callable[[str], bool] = lambda _: False
    record_before_kill: bool = True

    def checkpoint(self, attributes: Mapping[str, Any]) -> None:
        kill = self.kill_at_checkpoint(attributes)
        if self.record_before_kill or not kill:
            super().checkpoint(attributes)
        if kill:
            raise Killed

    def progress(self, message: str) -> None:
        super().progress(message)
        if self.kill_at_progress(message):
            raise Killed


@pytest.fixture
def provider(sm_emulator: SageMakerEmulator) -> SageMakerProvider:
    return SageMakerProvider(
        SageMakerConfig(region="us-east-1", role_arn=ROLE),
        stack="fraud",
        sandbox=SandboxEndpoints(urls={"sagemaker": sm_emulator.url}),
    )


@pytest.fixture
def sm(sm_client: Callable[..., Any]) -> Any:
    return sm_client()


def endpoint_res(instance_type: str = "ml.m5.large", count: int = 1) -> Resource:
    variants = [
        {"name": "blue", "model": "fraud-xgb", "instance_type": instance_type, "instance_count": count}
    ]
    return Resource("endpoint", "fraud-api", EndpointSpec(variants=variants))


@pytest.fixture
def model(provider: SageMakerProvider) -> dict[str, Any]:
    res = Resource("model", "fraud-xgb", ModelSpec(artifact="s3://ml/fraud/v7/model.tar.gz", image=IMAGE))
    return provider.create("model", provider.desired(res, None, {}, None), RecordingContext(res.address))


def desired(
    provider: SageMakerProvider, model: Mapping[str, Any], prior: Mapping[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    return provider.desired(endpoint_res(**spec), None, {"model.fraud-xgb": model}, prior)


def create(
    provider: SageMakerProvider, model: Mapping[str, Any], ctx: RecordingContext | None = None
) -> dict[str, Any]:
    return provider.create("endpoint", desired(provider, model), ctx or RecordingContext(ADDRESS))


def configs(sm: Any) -> list[str]:
    return sorted(c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"])


def status(sm: Any) -> str:
    return str(sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"])


# ---- an update killed part way --------------------------------------------------------------------


def test_an_update_records_its_new_config_as_pending_before_updating_the_endpoint(
    provider: SageMakerProvider, model: dict[str, Any], sm: Any
) -> None:
    prior = create(provider, model)
    old = prior["endpoint_config_name"]
    ctx = KillingContext(kill_at_checkpoint=lambda attrs: "pending_config" in attrs)
    with pytest.raises(Killed):
        provider.update("endpoint", prior, desired(provider, model, prior, instance_type="ml.m5.xlarge"), ctx)
    (checkpoint,) = ctx.checkpoints
    # The new config, as pending: nothing recorded claims the endpoint runs it.
    assert set(checkpoint) == {"pending_config"}
    pending = checkpoint["pending_config"]["name"]
    assert checkpoint["pending_config"]["models"] == []
    assert configs(sm) == sorted([old, pending])
    described = sm.describe_endpoint(EndpointName="fraud-api")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", old)

    # The next apply: the refresh keeps the pending config while it is pending...
    state = ctx.recorded(prior)
    live = provider.read("endpoint", state)
    assert live is not None and live["pending_config"] == {"name": pending, "models": []}
    assert live["endpoint_config_name"] == old
    # ...and the interrupted change is finished: the config the endpoint does not run goes.
    provider.finish_interrupted("endpoint", prior, live, RecordingContext(ADDRESS))
    assert configs(sm) == [old]
    again = provider.read("endpoint", live)
    assert again is not None and "pending_config" not in again


def test_an_update_killed_while_the_endpoint_updates_is_finished_on_the_new_config(
    provider: SageMakerProvider, model: dict[str, Any], sm: Any, sm_emulator: SageMakerEmulator
) -> None:
    prior = create(provider, model)
    old = prior["endpoint_config_name"]
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})
    ctx = KillingContext(kill_at_progress=lambda message: message.startswith("Updating"))
    with pytest.raises(Killed):
        provider.update("endpoint", prior, desired(provider, model, prior, instance_type="ml.m5.xlarge"), ctx)
    pending = ctx.recorded()["pending_config"]["name"]
    assert status(sm) == "Updating"

    live = provider.read("endpoint", ctx.recorded(prior))
    assert live is not None and live["status"] == "Updating" and live["pending_config"]["name"] == pending
    finishing = RecordingContext(ADDRESS)
    provider.finish_interrupted("endpoint", prior, live, finishing)
    assert any("status=Updating" in m for m in finishing.messages)  # it waited for the update
    assert configs(sm) == [pending] != [old]
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointConfigName"] == pending


def test_an_update_after_an_interrupted_one_landed_makes_no_new_config(
    provider: SageMakerProvider, model: dict[str, Any], sm: Any, sm_emulator: SageMakerEmulator
) -> None:
    prior = create(provider, model)
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})
    ctx = KillingContext(kill_at_progress=lambda message: message.startswith("Updating"))
    wanted = desired(provider, model, prior, instance_type="ml.m5.xlarge")
    with pytest.raises(Killed):
        provider.update("endpoint", prior, wanted, ctx)
    pending = ctx.recorded()["pending_config"]["name"]
    # The refresh read the endpoint while it was still updating: on its old config.
    live = provider.read("endpoint", ctx.recorded(prior))
    assert live is not None and live["endpoint_config_name"] == prior["endpoint_config_name"]
    # The change is made again from that: the endpoint got there meanwhile, so nothing is deployed
    # twice, and the config it left goes.
    updated = provider.update(
        "endpoint",
        live,
        desired(provider, model, live, instance_type="ml.m5.xlarge"),
        RecordingContext(ADDRESS),
    )
    assert updated["endpoint_config_name"] == pending
    assert configs(sm) == [pending]


# ---- a create killed part way ---------------------------------------------------------------------


def test_a_create_killed_before_it_recorded_its_config_leaves_it_to_the_next_create(
    provider: SageMakerProvider, model: dict[str, Any], sm: Any
) -> None:
    ctx = KillingContext(kill_at_checkpoint=lambda _: True, record_before_kill=False)
    with pytest.raises(Killed):
        create(provider, model, ctx)
    (orphan,) = configs(sm)
    assert ctx.checkpoints == [] and sm.list_endpoints()["Endpoints"] == []
    created = create(provider, model)  # nothing in state: the next plan creates it again
    assert configs(sm) == [created["endpoint_config_name"]] != [orphan]


@pytest.mark.parametrize(
    "kill",
    [
        {"kill_at_checkpoint": lambda attrs: "arn" not in attrs},  # recorded, before CreateEndpoint
        {"kill_at_checkpoint": lambda attrs: "arn" in attrs},  # after CreateEndpoint
        {"kill_at_progress": lambda message: message.startswith("Creating")},  # while it is created
    ],
    ids=["before-create-endpoint", "after-create-endpoint", "while-creating"],
)
def test_a_create_killed_after_it_recorded_its_config_is_replaced_cleanly(
    provider: SageMakerProvider,
    model: dict[str, Any],
    sm: Any,
    sm_emulator: SageMakerEmulator,
    kill: dict[str, Any],
) -> None:
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})
    ctx = KillingContext(**kill)
    with pytest.raises(Killed):
        create(provider, model, ctx)
    tainted = ctx.recorded()
    assert tainted["endpoint_config_name"] in configs(sm)
    # The next plan replaces the tainted endpoint: delete (destroy-then-create), then create.
    provider.delete("endpoint", tainted, RecordingContext(ADDRESS))
    assert configs(sm) == [] and sm.list_endpoints()["Endpoints"] == []
    created = create(provider, model)
    assert configs(sm) == [created["endpoint_config_name"]] and created["status"] == "InService"


# ---- statuses ---------------------------------------------------------------------------------------


def test_a_failed_endpoint_reads_failed_refuses_updates_and_can_be_deleted(
    provider: SageMakerProvider, model: dict[str, Any], sm: Any, sm_emulator: SageMakerEmulator
) -> None:
    sm_emulator.update_settings({"fail_endpoint_creates": ["fraud-api"]})
    ctx = RecordingContext(ADDRESS)
    with pytest.raises(ProviderError, match="is Failed") as failed:
        create(provider, model, ctx)
    assert failed.value.code == "EndpointFailed"
    recorded = ctx.recorded()
    read = provider.read("endpoint", recorded)
    assert read is not None and read["status"] == "Failed"
    assert provider.kinds["endpoint"].failed(read) == "Failed"  # the plan replaces it

    with pytest.raises(ProviderError, match="SageMaker accepts only its deletion") as refused:
        provider.update("endpoint", read, desired(provider, model, read, count=2), RecordingContext(ADDRESS))
    assert refused.value.code == "EndpointFailed"
    provider.delete("endpoint", read, RecordingContext(ADDRESS))
    assert sm.list_endpoints()["Endpoints"] == [] and configs(sm) == []


@pytest.mark.parametrize("injected", ["SystemUpdating", "RollingBack"])
def test_an_update_waits_while_sagemaker_works_on_the_endpoint(
    provider: SageMakerProvider, model: dict[str, Any], sm_emulator: SageMakerEmulator, injected: str
) -> None:
    prior = create(provider, model)
    sm_emulator.set_endpoint_status("fraud-api", injected, seconds=OBSERVABLE_DELAY)
    assert provider.read("endpoint", prior)["status"] == injected  # type: ignore[index]
    ctx = RecordingContext(ADDRESS)
    updated = provider.update("endpoint", prior, desired(provider, model, prior, count=2), ctx)
    assert any(f"status={injected}" in m for m in ctx.messages)
    assert updated["variants"][0]["instance_count"] == 2 and updated["status"] == "InService"


def test_an_out_of_service_endpoint_is_repaired_by_an_update_not_replaced(
    provider: SageMakerProvider, model: dict[str, Any], sm_emulator: SageMakerEmulator
) -> None:
    prior = create(provider, model)
    sm_emulator.set_endpoint_status("fraud-api", "OutOfService")
    read = provider.read("endpoint", prior)
    assert read is not None and read["status"] == "OutOfService"
    assert provider.kinds["endpoint"].failed(read) is None
    updated = provider.update(
        "endpoint",
        read,
        desired(provider, model, read, instance_type="ml.m5.xlarge"),
        RecordingContext(ADDRESS),
    )
    assert updated["status"] == "InService"


def test_an_endpoint_being_deleted_reads_as_gone_and_a_create_waits_for_its_name(
    provider: SageMakerProvider, model: dict[str, Any], sm: Any, sm_emulator: SageMakerEmulator
) -> None:
    prior = create(provider, model)
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})
    sm.delete_endpoint(EndpointName="fraud-api")
    assert status(sm) == "Deleting"
    assert provider.read("endpoint", prior) is None
    ctx = RecordingContext(ADDRESS)
    created = create(provider, model, ctx)
    assert any("being deleted" in m for m in ctx.messages)
    assert created["status"] == "InService" and created["arn"] == prior["arn"]


# ---- through the engine -----------------------------------------------------------------------------

STACK = f"""\
apiVersion: mlops-gitops/v1
name: fraud
provider:
  sagemaker: {{region: us-east-1, role_arn: "{ROLE}"}}
models:
  fraud-xgb: {{artifact: "s3://ml/fraud/v7/model.tar.gz", image: "{IMAGE}"}}
endpoints:
  fraud-api:
    variants:
      - {{name: blue, model: fraud-xgb, instance_type: ml.m5.large, instance_count: 1}}
"""


def test_the_plan_replaces_an_endpoint_sagemaker_reports_failed(
    sm_emulator: SageMakerEmulator, sm: Any, tmp_path: Path
) -> None:
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(STACK)
    harness = StackHarness(stack_file, SandboxEndpoints({"sagemaker": sm_emulator.url}))
    _, result = harness.apply()
    assert result.ok, result.errors
    assert actions(harness.plan()) == {}

    sm_emulator.set_endpoint_status("fraud-api", "Failed")
    assert actions(harness.plan()) == {ADDRESS: "replace"}
    _plan, result = harness.apply()
    assert result.ok, result.errors
    assert status(sm) == "InService" and actions(harness.plan()) == {}
    state = harness.state()
    assert state is not None and state.get(ADDRESS).attributes["status"] == "InService"  # type: ignore[union-attr]
    assert len(configs(sm)) == 1
