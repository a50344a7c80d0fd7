"""How many AWS calls a refresh makes per resource, counted with a botocore event hook on the
provider's own clients, and that what a refresh no longer asks for is still seen when it changes.

A refresh reads an endpoint with DescribeEndpoint and ListTags: its EndpointConfig (immutable)
is described again only when the endpoint runs another one than the recorded, and autoscaling is
read only for the variants the record gives autoscaling, all in one DescribeScalableTargets."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from mlops_sagemaker.config import SageMakerConfig
from mlops_sagemaker.provider import SageMakerProvider
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import EndpointSpec, ModelSpec
from mlops_gitops.testing import RecordingContext

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


class Calls:
    """The AWS operations the provider's clients send, counted from botocore's `before-call`."""

    def __init__(self, provider: SageMakerProvider) -> None:
        self._lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()
        for client in (provider.aws.sagemaker, provider.aws.autoscaling):
            client.meta.events.register("before-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.counts[model.name] += 1

    def during(self, action: Callable[[], Any]) -> collections.Counter[str]:
        with self._lock:
            self.counts.clear()
        action()
        with self._lock:
            return collections.Counter(self.counts)


@pytest.fixture
def provider(sm_emulator: SageMakerEmulator) -> SageMakerProvider:
    return SageMakerProvider(
        SageMakerConfig(region="us-east-1", role_arn=ROLE),
        stack="reads",
        sandbox=SandboxEndpoints(urls={"sagemaker": sm_emulator.url}),
    )


@pytest.fixture
def calls(provider: SageMakerProvider) -> Calls:
    return Calls(provider)


@pytest.fixture
def sm(sm_client: Callable[..., Any]) -> Any:
    return sm_client()


def _create(
    provider: SageMakerProvider, res: Resource, refs: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    desired = provider.desired(res, None, refs or {}, None)
    return provider.create(res.kind, desired, RecordingContext(res.address))


def _model(provider: SageMakerProvider) -> dict[str, Any]:
    spec = ModelSpec(artifact="s3://ml/scorer/v1/model.tar.gz", image=IMAGE)
    return _create(provider, Resource("model", "scorer", spec))


def _endpoint(provider: SageMakerProvider, model: Mapping[str, Any], **variant: Any) -> dict[str, Any]:
    variants = [
        {"name": "blue", "model": "scorer", "instance_type": "ml.m5.large", "weight": 1, **variant},
        {"name": "green", "model": "scorer", "instance_type": "ml.m5.large", "weight": 1, **variant},
    ]
    res = Resource("endpoint", "scorer-api", EndpointSpec(variants=variants))
    return _create(provider, res, {"model.scorer": model})


def test_a_refresh_reads_an_endpoint_and_its_model_with_two_calls_each(
    provider: SageMakerProvider, calls: Calls
) -> None:
    model = _model(provider)
    endpoint = _endpoint(provider, model)

    read: dict[str, Any] = {}
    assert calls.during(lambda: read.update(provider.read("endpoint", endpoint) or {})) == {
        "DescribeEndpoint": 1,
        "ListTags": 1,
    }
    assert read == endpoint  # the same attributes as the apply's own, full, read
    assert calls.during(lambda: provider.read("model", model)) == {"DescribeModel": 1, "ListTags": 1}


def test_autoscaling_is_read_in_one_call_for_the_variants_that_have_it(
    provider: SageMakerProvider, calls: Calls, sm_client: Callable[..., Any]
) -> None:
    model = _model(provider)
    endpoint = _endpoint(provider, model, autoscaling={"min": 1, "max": 3})

    counted = calls.during(lambda: provider.read("endpoint", endpoint))
    # Both variants' targets in one DescribeScalableTargets; each target's policies after it.
    assert counted == {
        "DescribeEndpoint": 1,
        "ListTags": 1,
        "DescribeScalableTargets": 1,
        "DescribeScalingPolicies": 2,
    }
    # A target deregistered outside mlops is drift all the same.
    sm_client("application-autoscaling").deregister_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/scorer-api/variant/green",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    read = provider.read("endpoint", endpoint)
    assert read is not None
    assert [v["name"] for v in read["variants"] if v.get("autoscaling")] == ["blue"]


def test_an_endpoint_moved_to_another_config_outside_mlops_is_read_from_that_config(
    provider: SageMakerProvider, calls: Calls, sm: Any, wait_endpoint: Callable[..., Any]
) -> None:
    model = _model(provider)
    endpoint = _endpoint(provider, model)
    sm.create_endpoint_config(
        EndpointConfigName="scorer-api-by-hand",
        ProductionVariants=[
            {
                "VariantName": "blue",
                "ModelName": model["name"],
                "InstanceType": "ml.c5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.update_endpoint(EndpointName="scorer-api", EndpointConfigName="scorer-api-by-hand")
    wait_endpoint(sm, "scorer-api")

    read: dict[str, Any] = {}
    counted = calls.during(lambda: read.update(provider.read("endpoint", endpoint) or {}))
    assert counted["DescribeEndpointConfig"] == 1
    assert read["endpoint_config_name"] == "scorer-api-by-hand"
    assert [(v["name"], v["instance_type"]) for v in read["variants"]] == [("blue", "ml.c5.xlarge")]


def test_weights_changed_outside_mlops_are_read_without_describing_the_config(
    provider: SageMakerProvider, calls: Calls, sm: Any, wait_endpoint: Callable[..., Any]
) -> None:
    model = _model(provider)
    endpoint = _endpoint(provider, model)
    sm.update_endpoint_weights_and_capacities(
        EndpointName="scorer-api",
        DesiredWeightsAndCapacities=[
            {"VariantName": "green", "DesiredWeight": 3.0, "DesiredInstanceCount": 2}
        ],
    )
    wait_endpoint(sm, "scorer-api")

    read: dict[str, Any] = {}
    counted = calls.during(lambda: read.update(provider.read("endpoint", endpoint) or {}))
    assert "DescribeEndpointConfig" not in counted
    green = next(v for v in read["variants"] if v["name"] == "green")
    assert (green["weight"], green["instance_count"]) == (3.0, 2)


def test_tags_changed_outside_mlops_are_read(provider: SageMakerProvider, sm: Any) -> None:
    model = _model(provider)
    endpoint = _endpoint(provider, model)
    sm.add_tags(ResourceArn=endpoint["arn"], Tags=[{"Key": "cost-centre", "Value": "4711"}])
    read = provider.read("endpoint", endpoint)
    assert read is not None and read["tags"]["cost-centre"] == "4711"


def test_a_record_made_before_any_read_describes_everything(
    provider: SageMakerProvider, calls: Calls
) -> None:
    model = _model(provider)
    endpoint = _endpoint(provider, model, autoscaling={"min": 1, "max": 2})
    # As an apply killed right after CreateEndpoint leaves it: no status, read from nothing.
    checkpoint = {k: v for k, v in endpoint.items() if k != "status"}
    read: dict[str, Any] = {}
    counted = calls.during(lambda: read.update(provider.read("endpoint", checkpoint) or {}))
    assert counted["DescribeEndpointConfig"] == 1 and counted["DescribeScalableTargets"] == 1
    assert read == endpoint
