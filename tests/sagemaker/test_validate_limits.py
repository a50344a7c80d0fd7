"""SageMaker's limits on names and tags, checked by `mlops validate` (no cloud call), located in the
stack file: what the API would refuse at apply time fails before anything is made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlops_sagemaker.config import SageMakerConfig
from mlops_sagemaker.provider import SageMakerProvider

from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import EndpointSpec, ModelSpec, MonitorSpec

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def stack(model_tags: str, stack_tags: str = "{}") -> str:
    return f"""\
apiVersion: mlops-gitops/v1
name: fraud
provider:
  sagemaker: {{region: us-east-1, role_arn: "{ROLE}"}}
tags: {stack_tags}
models:
  fraud-xgb:
    artifact: s3://ml/fraud/v7/model.tar.gz
    image: {IMAGE}
    tags: {model_tags}
endpoints:
  fraud-api:
    variants:
      - {{name: blue, model: fraud-xgb, instance_type: ml.m5.large, instance_count: 1}}
"""


def validate(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "stack.yaml").write_text(text)
    exe = Path(sys.executable).parent / "mlops"
    return subprocess.run([str(exe), "validate"], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def flow(tags: dict[str, str]) -> str:
    return "{" + ", ".join(f'"{k}": "{v}"' for k, v in tags.items()) + "}"


def test_more_tags_than_sagemaker_allows_with_the_ownership_tags_fail_validate(tmp_path: Path) -> None:
    # 48 of the stack's own, plus mlops-gitops:stack and mlops-gitops:address: SageMaker's 50.
    ok = validate(tmp_path, stack(flow({f"k{i}": "v" for i in range(48)})))
    assert ok.returncode == 0, ok.stderr
    res = validate(tmp_path, stack(flow({f"k{i}": "v" for i in range(49)})))
    assert res.returncode == 1
    line = next(i for i, t in enumerate((tmp_path / "stack.yaml").read_text().splitlines(), 1) if "k0" in t)
    assert res.stderr.splitlines() == [
        f"Error: stack.yaml:{line}:11: models.fraud-xgb.tags: SageMaker allows 50 tags per resource, "
        "and 2 of them are the ownership tags mlops adds: at most 48 here (49 given)"
    ]


def test_stack_tags_count_towards_every_resources_limit(tmp_path: Path) -> None:
    res = validate(
        tmp_path, stack(flow({"owner": "fraud"}), stack_tags=flow({f"s{i}": "v" for i in range(49)}))
    )
    assert res.returncode == 1
    errors = res.stderr.splitlines()
    # Both resources carry the stack's tags; the model has one more of its own.
    assert len(errors) == 2
    assert "models.fraud-xgb.tags: " in errors[0] and errors[0].endswith("at most 48 here (50 given)")
    assert "endpoints.fraud-api.tags: " in errors[1] and errors[1].endswith("at most 48 here (49 given)")


@pytest.mark.parametrize(
    ("tags", "says"),
    [
        ({"k" * 129: "v"}, "a tag key has 1 to 128 characters (129 here)"),
        ({"team": "v" * 257}, "a tag value has at most 256 characters (257 here)"),
        ({"aws:team": "risk"}, "tag keys starting with aws: are reserved for AWS"),
        ({"team": "risk;ml"}, "not ';'"),
    ],
    ids=["key-length", "value-length", "aws-prefix", "character"],
)
def test_a_tag_sagemaker_would_refuse_fails_validate_at_its_key(
    tmp_path: Path, tags: dict[str, str], says: str
) -> None:
    res = validate(tmp_path, stack(flow(tags)))
    assert res.returncode == 1
    (error,) = res.stderr.splitlines()
    (key,) = tags
    assert error.startswith("Error: stack.yaml:") and f"models.fraud-xgb.tags.{key}: " in error
    assert says in error


@pytest.fixture
def offline() -> SageMakerProvider:
    return SageMakerProvider(SageMakerConfig(region="us-east-1", role_arn=ROLE), stack="fraud")


def problems(provider: SageMakerProvider, res: Resource) -> dict[str, str]:
    return {d.path: d.message for d in provider.validate(res, None) if d.severity == "error"}


def test_names_that_would_exceed_sagemakers_63_characters_fail_validate(offline: SageMakerProvider) -> None:
    # The loader keeps stack names to 48 characters today; these limits hold whatever it allows.
    model = ModelSpec(artifact="s3://ml/m.tar.gz", image=IMAGE)
    assert problems(offline, Resource("model", "m" * 54, model)) == {}
    assert problems(offline, Resource("model", "m" * 55, model)) == {
        "": "SageMaker names are at most 63 characters and the model is named <model>-<8 hex>: the model "
        "name can have at most 54 (55 here)"
    }
    endpoint = EndpointSpec(
        variants=[{"name": "blue", "model": "m", "instance_type": "ml.m5.large", "instance_count": 1}]
    )
    assert problems(offline, Resource("endpoint", "e" * 50, endpoint)) == {}
    assert problems(offline, Resource("endpoint", "e" * 51, endpoint)) == {
        "": "SageMaker names are at most 63 characters and this endpoint's configurations are named "
        "<endpoint>-<12 hex>: the endpoint name can have at most 50 (51 here)"
    }
    monitor = MonitorSpec(endpoint="e", type="data_quality")
    assert "at most 54 (55 here)" in problems(offline, Resource("monitor", "d" * 55, monitor))[""]


def test_guardrail_timings_beyond_sagemakers_bounds_fail_the_endpoints_validate(
    offline: SageMakerProvider,
) -> None:
    def rollout(**spec: object) -> dict[str, str]:
        endpoint = EndpointSpec(
            variants=[{"name": "blue", "model": "m", "instance_type": "ml.m5.large", "instance_count": 2}],
            rollout={"strategy": "canary", "canary_percent": 10, **spec},
        )
        return problems(offline, Resource("endpoint", "fraud-api", endpoint))

    assert rollout(bake_minutes=60, termination_wait_minutes=60) == {}
    assert set(rollout(bake_minutes=61)) == {"rollout.bake_minutes"}  # WaitIntervalInSeconds <= 3600
    assert set(rollout(termination_wait_minutes=61)) == {"rollout.termination_wait_minutes"}
    assert set(rollout(timeout_minutes=9)) == {"rollout.timeout_minutes"}  # 600 s at least
    assert set(rollout(timeout_minutes=481)) == {"rollout.timeout_minutes"}  # 28800 s at most
