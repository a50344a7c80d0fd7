"""Guard rules on the plan document, through the CLI: `mlops policy --file POLICY PLAN` on plans the
memory provider makes (an endpoint applied, then removed from the stack), and `mlops plan
--policy` on a SageMaker stack planned offline (nothing in state, so no cloud call)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.engine.operations import plan_locked
from mlops_gitops.review.policy import Policy, evaluate
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.testing import MemoryProvider, memory_stack

MLOPS = str(Path(sys.executable).parent / "mlops")

POLICY = """\
rules:
  - deny: destroy_serving_endpoint
  - max_instances: 20
  - required_tags: [team, cost-center]
  - approved_models: [fraud-*]
"""


def mlops(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLOPS, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def stack_doc(endpoints: dict[str, int], *, tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Models fraud-v1 and churn-v1; endpoints: name -> instance count, serving fraud-v1."""
    return {
        "tags": tags if tags is not None else {"team": "risk", "cost-center": "cc-42"},
        "models": {
            name: {"artifact": f"s3://ml/{name}", "image": "img"} for name in ("fraud-v1", "churn-v1")
        },
        "endpoints": {
            name: {
                "variants": [{"name": "main", "model": "fraud-v1", "instance_type": "t", "instance_count": n}]
            }
            for name, n in endpoints.items()
        },
    }


class Memory:
    """A stack on the memory provider, planned and applied as `mlops` would."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.provider = MemoryProvider()
        self.backend = LocalBackend(tmp_path / "state")

    def plan(self, document: dict[str, Any], *, apply: bool = False) -> dict[str, Any]:
        planned = plan_locked(self.provider.workspace(memory_stack(document, self.dir)), self.backend)
        try:
            if apply:
                planned.apply(parallelism=2)
        finally:
            planned.release()
        return planned.plan.document()

    def plan_file(self, document: dict[str, Any], name: str = "plan.json") -> Path:
        path = self.dir / name
        path.write_text(json.dumps(self.plan(document), indent=2))
        return path


@pytest.fixture
def memory(tmp_path: Path) -> Memory:
    return Memory(tmp_path)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / ".mlops-policy.yaml"
    path.write_text(POLICY)
    return path


def test_a_plan_destroying_a_serving_endpoint_fails_naming_it(memory: Memory, policy_file: Path) -> None:
    memory.plan(stack_doc({"fraud-api": 2, "fraud-shadow": 1}), apply=True)
    plan = memory.plan_file(stack_doc({"fraud-shadow": 1}))
    assert [c["action"] for c in json.loads(plan.read_text())["resource_changes"]].count("delete") == 1
    done = mlops(memory.dir, "policy", "plan.json")  # .mlops-policy.yaml, the default
    assert done.returncode == 1, done.stderr
    assert done.stdout == (
        "Violation: endpoint.fraud-api: destroys a serving endpoint "
        "[rule 1: deny: destroy_serving_endpoint]\n"
        "Policy .mlops-policy.yaml: 1 violation of 1 rule.\n"
    )


def test_a_plan_keeping_every_endpoint_passes(memory: Memory, policy_file: Path) -> None:
    memory.plan(stack_doc({"fraud-api": 2}), apply=True)
    memory.plan_file(stack_doc({"fraud-api": 4}))
    done = mlops(memory.dir, "policy", "--policy", str(policy_file), "plan.json")
    assert (done.returncode, done.stdout) == (0, f"Policy {policy_file}: the plan passes every rule.\n")


def test_the_rule_falls_back_to_actions_on_a_plan_without_risk_codes(memory: Memory) -> None:
    memory.plan(stack_doc({"fraud-api": 2}), apply=True)
    document = memory.plan(stack_doc({}))
    rules = Policy.model_validate({"rules": [{"deny": "destroy_serving_endpoint"}]})
    coded = evaluate(rules, document)
    for risk in document["risks"]:
        risk.pop("code", None)
        risk.pop("detail", None)
    uncoded = evaluate(rules, document)
    assert [v.address for v in coded] == [v.address for v in uncoded] == ["endpoint.fraud-api"]
    # A risk code matched as such when the plan's risks carry codes.
    document["risks"] = [{"address": "endpoint.fraud-api", "message": "m", "code": "traffic_shift"}]
    assert not evaluate(rules, document)
    shift = Policy.model_validate(
        {"rules": [{"deny_risk": "traffic_shift", "except": ["endpoint.canary-*"]}]}
    )
    assert [v.line() for v in evaluate(shift, document)] == [
        "endpoint.fraud-api: risk traffic_shift: m [rule 1: deny_risk: traffic_shift]"
    ]


def test_max_instances_required_tags_and_approved_models(memory: Memory, policy_file: Path) -> None:
    document = stack_doc({"fraud-api": 30}, tags={"team": "risk"})
    document["endpoints"]["churn-api"] = {
        "variants": [{"name": "blue", "model": "churn-v1", "instance_type": "t", "instance_count": 1}],
        "tags": {"cost-center": "cc-7"},
    }
    memory.plan_file(document)
    done = mlops(memory.dir, "policy", "plan.json")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "Violation: endpoint.fraud-api: variant main has instance_count 30, above the 20 allowed "
        "[rule 2: max_instances: 20]",
        "Violation: model.fraud-v1: has no tag cost-center [rule 3: required_tags: [team, cost-center]]",
        "Violation: model.churn-v1: has no tag cost-center [rule 3: required_tags: [team, cost-center]]",
        "Violation: endpoint.fraud-api: has no tag cost-center [rule 3: required_tags: [team, cost-center]]",
        "Violation: endpoint.churn-api: variant blue serves churn-v1-eb865ec6, not an approved model "
        "[rule 4: approved_models: [fraud-*]]",
        "Policy .mlops-policy.yaml: 5 violations of 3 rules.",
    ]


def test_scopes_environments_and_messages(memory: Memory, tmp_path: Path) -> None:
    document = memory.plan(stack_doc({"fraud-api": 30, "fraud-batch": 30}))
    rules = Policy.model_validate(
        {
            "rules": [
                {"max_instances": 10, "only": ["endpoint.fraud-*"], "except": ["endpoint.fraud-batch"]},
                {"max_instances": 10, "environments": ["prod"], "message": "ask #ml-platform"},
            ]
        }
    )
    assert [v.line() for v in evaluate(rules, document)] == [
        "endpoint.fraud-api: variant main has instance_count 30, above the 10 allowed "
        "[rule 1: max_instances: 10]"
    ]
    prod = evaluate(rules, {**document, "environment": "prod"})
    assert prod[-1].line() == (
        "endpoint.fraud-batch: variant main has instance_count 30, above the 10 allowed "
        "[rule 2: max_instances: 10] (ask #ml-platform)"
    )


def test_approved_models_only(memory: Memory) -> None:
    # The memory provider deploys no registry versions: the SageMaker provider's endpoint
    # attributes carry `allow_unapproved: true` on a variant that deploys one anyway, and its
    # plans a risk coded unapproved_model; both fail the rule.
    document = memory.plan(stack_doc({"fraud-api": 1}))
    rules = Policy.model_validate({"rules": [{"approved_models_only": True}]})
    assert not evaluate(rules, document)
    (endpoint,) = [c for c in document["resource_changes"] if c["kind"] == "endpoint"]
    endpoint["after"]["variants"].append(
        {"name": "next", "model_package": "fraud@4", "allow_unapproved": True}
    )
    document["risks"].append(
        {
            "address": "endpoint.other",
            "message": "fraud@5 is PendingManualApproval",
            "code": "unapproved_model",
        }
    )
    assert [v.line() for v in evaluate(rules, document)] == [
        "endpoint.other: serves an unapproved model: fraud@5 is PendingManualApproval "
        "[rule 1: approved_models_only: true]",
        "endpoint.fraud-api: variant next deploys fraud@4 with allow_unapproved: true "
        "[rule 1: approved_models_only: true]",
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("rules:\n  - deny: destroy_everything\n", ":2:11: rules[0].deny: Input should be"),
        (
            "rules:\n  - max_instances: many\n",
            ":2:20: rules[0].max_instances: Input should be a valid integer",
        ),
        (
            "rules:\n  - deny: destroy\n  - {max_instances: 2, required_tags: [team]}\n",
            ":3:5: rules[1]: a rule is one check (deny, deny_risk, max_instances, approved_models_only, "
            "approved_models, required_tags); this one has max_instances, required_tags",
        ),
        ("rules:\n  - nope: 1\n", ":2:5: rules[0].nope: Extra inputs are not permitted"),
        ("rules: [\n", ":2:1: not YAML: expected the node content"),
        ("- deny: destroy\n", ":1:1: a policy file is a mapping with `rules:`"),
    ],
)
def test_a_bad_policy_file_is_a_located_line(memory: Memory, text: str, error: str) -> None:
    memory.plan_file(stack_doc({}))
    (memory.dir / "bad.yaml").write_text(text)
    done = mlops(memory.dir, "policy", "--policy", "bad.yaml", "plan.json")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("Error: bad.yaml:") and error in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1


SAGEMAKER = """\
apiVersion: mlops-gitops/v1
name: fraud
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/mlops
    endpoint_url: http://127.0.0.1:9
tags: {team: risk}
models:
  fraud-xgb:
    artifact: s3://ml-artifacts-demo/fraud/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1
endpoints:
  fraud-api:
    variants:
      - {name: main, model: fraud-xgb, instance_type: ml.m5.large, instance_count: 25}
"""


def test_plan_policy_checks_the_plan_it_makes(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(SAGEMAKER)
    (tmp_path / "policy.yaml").write_text("rules:\n  - max_instances: 20\n  - required_tags: [team]\n")
    done = mlops(tmp_path, "plan", "--policy", "policy.yaml", "--out", "plan.bin", "--detailed-exitcode")
    assert done.returncode == 1, done.stderr
    assert "Plan: 2 to add" in done.stdout
    assert done.stdout.endswith(
        "Violation: endpoint.fraud-api: variant main has instance_count 25, above the 20 allowed "
        "[rule 1: max_instances: 20]\nPolicy policy.yaml: 1 violation of 1 rule.\n"
    )
    # The saved plan is checked the same way, by `mlops policy`.
    again = mlops(tmp_path, "policy", "--policy", "policy.yaml", "plan.bin")
    assert again.returncode == 1 and "endpoint.fraud-api: variant main has instance_count 25" in again.stdout
    # With --json, stdout stays the plan's JSON document; the verdict goes to stderr.
    (tmp_path / "policy.yaml").write_text("rules:\n  - max_instances: 30\n")
    as_json = mlops(tmp_path, "plan", "--policy", "policy.yaml", "--json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert {c["address"]: c["tags"] for c in document["resource_changes"]} == {
        "model.fraud-xgb": {"team": "risk"},
        "endpoint.fraud-api": {"team": "risk"},
    }
    assert "Policy policy.yaml: the plan passes every rule." in as_json.stderr


def test_a_bad_policy_file_fails_plan_before_planning(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(SAGEMAKER)
    (tmp_path / "policy.yaml").write_text("rules:\n  - max_instances: -1\n")
    done = mlops(tmp_path, "plan", "--policy", "policy.yaml")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "Error: policy.yaml:2:20: rules[0].max_instances: Input should be greater than or equal to 0\n"
    )
