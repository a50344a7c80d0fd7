"""Optional parts of the neutral format are checked against what the stack's provider declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_gitops import features
from mlops_gitops.provider import ResourceType
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.stack.schema import PROVIDER_BLOCKS_CONTEXT, EndpointSpec

STACK = """\
apiVersion: mlops-gitops/v1
name: shop
provider: {sagemaker: {region: eu-west-1}}
variables:
  size: {default: 3000, sensitive: true}
endpoints:
  api:
    variants:
      - name: a
        model_package: recs@3
        serverless: {memory_mb: 3072}
      - name: b
        model_package: recs@4
        serverless: {memory_mb: "${var.size}"}
    rollout: {strategy: linear, step_percent: 10, rollback_on: [p99]}
"""


def _problems(tmp_path: Path, rtype: ResourceType) -> list[str]:
    (tmp_path / "stack.yaml").write_text(STACK)
    stack = load_stack(tmp_path / "stack.yaml")
    res = stack.resources["endpoint.api"]
    found = features.problems(res, rtype, "acme", "endpoints", stack.positions)
    return [f"{d.position.line}:{d.position.column} {d.path}: {d.message}" for d in found if d.position]


def test_a_provider_supporting_everything_used_has_no_problems(tmp_path: Path) -> None:
    rtype = ResourceType(
        "endpoint",
        supports={
            "variants[*].serverless": None,
            "variants[*].serverless.memory_mb": (3000, 3072),
            "variants[*].model_package": None,
            "rollout.strategy": ("linear",),
            "rollout.rollback_on": None,
        },
    )
    assert _problems(tmp_path, rtype) == []


def test_unsupported_features_and_values_are_refused_with_positions(tmp_path: Path) -> None:
    rtype = ResourceType(
        "endpoint",
        supports={"variants[*].model_package": None, "rollout.strategy": ("all_at_once", "canary")},
        unsupported={"rollout.rollback_on": "acme has no alarms"},
    )
    assert _problems(tmp_path, rtype) == [
        "11:21 endpoints.api.variants[0].serverless: provider acme does not support serverless variants",
        "14:21 endpoints.api.variants[1].serverless: provider acme does not support serverless variants",
        "15:25 endpoints.api.rollout.strategy: provider acme accepts all_at_once, canary, not 'linear'",
        "15:64 endpoints.api.rollout.rollback_on: acme has no alarms",
    ]


def test_a_refused_value_fed_by_a_sensitive_variable_is_not_shown(tmp_path: Path) -> None:
    rtype = ResourceType(
        "endpoint",
        supports={
            "variants[*].serverless": None,
            "variants[*].serverless.memory_mb": (3072,),
            "variants[*].model_package": None,
            "rollout.strategy": None,
            "rollout.rollback_on": None,
        },
    )
    (line,) = _problems(tmp_path, rtype)
    assert line.endswith("endpoints.api.variants[1].serverless.memory_mb: provider acme accepts 3072")
    assert "3000" not in line


def test_provider_blocks_are_set_aside_by_the_names_the_context_gives() -> None:
    body = {"variants": [{"name": "a", "model": "m", "instance_type": "x"}], "acme": {"zone": "z1"}}
    spec = EndpointSpec.model_validate(body, context={PROVIDER_BLOCKS_CONTEXT: {"acme"}})
    assert spec.provider_blocks == {"acme": {"zone": "z1"}}
    assert "acme" not in spec.model_dump()
    with pytest.raises(ValueError, match="acme"):  # not a provider here: an unknown field
        EndpointSpec.model_validate(body, context={PROVIDER_BLOCKS_CONTEXT: set()})
