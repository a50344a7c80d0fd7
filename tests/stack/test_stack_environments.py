"""One stack file, several environments: each with its own variable values, provider settings,
tags and state, chosen with `--env` (the loader's `environment`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_gitops.errors import StackError
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.workspace import state_backend

STACK = """\
apiVersion: mlops-gitops/v1
name: fraud
provider: {sagemaker: {region: us-east-1, role_arn: "arn:aws:iam::111111111111:role/ml"}}
backend: {s3: {bucket: acme-state, key: fraud.json, region: us-east-1}}
tags: {team: risk}
variables:
  version: {default: 1, type: number}
  replicas: {default: 1, type: number}
environments:
  staging:
    variables: {version: 7}
  prod:
    variables: {version: 6, replicas: 3}
    provider: {sagemaker: {role_arn: "arn:aws:iam::222222222222:role/ml"}}
    tags: {tier: prod}
    backend: {s3: {bucket: acme-prod-state, key: fraud.json}}
models:
  m:
    artifact: "s3://ml/fraud/v${var.version}/model.tar.gz"
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1
endpoints:
  api:
    variants: [{name: main, model: m, instance_type: ml.m5.large, instance_count: "${var.replicas}"}]
"""


@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(STACK)
    return path


def test_an_environment_must_be_chosen_and_must_exist(stack_file: Path) -> None:
    with pytest.raises(StackError, match=r"has environments staging, prod: choose one with --env NAME"):
        load_stack(stack_file, environ={})
    with pytest.raises(StackError, match=r"--env prd: no such environment \(did you mean 'prod'\?\)"):
        load_stack(stack_file, environ={}, environment="prd")
    plain = stack_file.parent / "plain.yaml"
    plain.write_text(STACK.split("environments:")[0] + "models: {}\n")
    with pytest.raises(StackError, match="declares no environments"):
        load_stack(plain, environ={}, environment="prod")


def test_each_environment_has_its_values_settings_and_tags(stack_file: Path) -> None:
    staging = load_stack(stack_file, environ={}, environment="staging")
    prod = load_stack(stack_file, environ={}, environment="prod")
    assert staging.resources["model.m"].spec.artifact == "s3://ml/fraud/v7/model.tar.gz"  # type: ignore[attr-defined]
    assert prod.resources["model.m"].spec.artifact == "s3://ml/fraud/v6/model.tar.gz"  # type: ignore[attr-defined]
    assert prod.resources["endpoint.api"].spec.variants[0].instance_count == 3  # type: ignore[attr-defined]
    assert staging.provider_config["role_arn"].startswith("arn:aws:iam::111111111111")
    assert prod.provider_config == {"region": "us-east-1", "role_arn": "arn:aws:iam::222222222222:role/ml"}
    assert prod.resources["model.m"].tags == {"team": "risk", "tier": "prod"}
    assert staging.resources["model.m"].tags == {"team": "risk"}
    assert (staging.environment, staging.environments) == ("staging", ["staging", "prod"])
    assert staging.digest != prod.digest


def test_command_line_values_still_win(stack_file: Path) -> None:
    prod = load_stack(stack_file, environ={"MLOPS_VAR_version": "8"}, environment="prod")
    assert prod.variables["version"] == 8
    prod = load_stack(stack_file, environ={}, environment="prod", cli_vars={"version": "9"})
    assert prod.variables["version"] == 9


def test_environments_never_share_state(stack_file: Path) -> None:
    staging = state_backend(load_stack(stack_file, environ={}, environment="staging"), sandbox=False)
    prod = state_backend(load_stack(stack_file, environ={}, environment="prod"), sandbox=False)
    assert (staging.location, prod.location) == (
        "s3://acme-state/env/staging/fraud.json",
        "s3://acme-prod-state/fraud.json",
    )
    local = stack_file.parent / "local.yaml"
    local.write_text(
        STACK.replace("backend: {s3: {bucket: acme-state, key: fraud.json, region: us-east-1}}\n", "")
    )
    dev = state_backend(load_stack(local, environ={}, environment="staging"), sandbox=False)
    assert dev.location == str(stack_file.parent / ".mlops" / "env" / "staging" / "state.json")
    sandboxed = state_backend(load_stack(local, environ={}, environment="staging"), sandbox=True)
    assert sandboxed.location == str(
        stack_file.parent / ".mlops" / "sandbox" / "env" / "staging" / "state.json"
    )


def test_an_environment_names_declared_variables_and_the_stack_provider_only(stack_file: Path) -> None:
    bad = STACK.replace("variables: {version: 7}", "variables: {versoin: 7}").replace(
        "provider: {sagemaker: {role_arn", "provider: {vertex: {role_arn"
    )
    stack_file.write_text(bad)
    with pytest.raises(StackError) as refused:
        load_stack(stack_file, environ={}, environment="staging")
    assert refused.value.lines() == [
        f"{stack_file}:11:17: environments.staging.variables.versoin: no variable named 'versoin' is "
        "declared (did you mean 'version'?)"
    ]
    with pytest.raises(StackError) as refused:
        load_stack(stack_file, environ={}, environment="prod")
    assert refused.value.lines() == [
        f"{stack_file}:14:16: environments.prod.provider.vertex: this stack uses provider sagemaker: an "
        "environment can only change its settings"
    ]
