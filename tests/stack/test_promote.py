"""`promote` copies one variable from an environment to another as a one-line edit."""

from __future__ import annotations

import difflib

import pytest
import yaml

from mlops_gitops.errors import StackError
from mlops_gitops.stack.promote import promote

STACK = """\
apiVersion: mlops-gitops/v1
name: fraud
variables:
  version: {default: "fraud@1"}   # the registry version served
  replicas: {default: 1, type: number}
environments:
  staging:
    variables:
      version: "fraud@7"   # candidate
      replicas: 2
  prod:
    variables: {version: "fraud@6", replicas: 3}
  dev:
    variables:
      replicas: 1
"""


def _diff(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_a_promotion_replaces_one_value_and_nothing_else() -> None:
    done = promote(STACK, "version", "staging", "prod")
    assert (done.value, done.before) == ("fraud@7", "fraud@6")
    assert _diff(STACK, done.text) == [
        '-    variables: {version: "fraud@6", replicas: 3}',
        "+    variables: {version: fraud@7, replicas: 3}",
    ]


def test_a_value_the_target_lacks_is_added_to_its_mapping() -> None:
    done = promote(STACK, "version", "staging", "dev")
    assert done.before is None
    assert _diff(STACK, done.text) == ["+      version: fraud@7"]
    assert yaml.safe_load(done.text)["environments"]["dev"]["variables"] == {
        "replicas": 1,
        "version": "fraud@7",
    }
    flow = promote(
        STACK.replace('{version: "fraud@6", replicas: 3}', "{replicas: 3}"), "version", "staging", "prod"
    )
    assert yaml.safe_load(flow.text)["environments"]["prod"]["variables"] == {
        "replicas": 3,
        "version": "fraud@7",
    }


def test_the_default_is_promoted_when_the_source_sets_nothing() -> None:
    done = promote(STACK, "version", "dev", "prod")
    assert done.value == "fraud@1"


def test_bad_requests_are_refused_with_the_reason() -> None:
    with pytest.raises(StackError, match=r"no environment 'prd' \(did you mean 'prod'\?\)"):
        promote(STACK, "version", "staging", "prd")
    with pytest.raises(StackError, match=r"no variable named 'versoin'"):
        promote(STACK, "versoin", "staging", "prod")
    with pytest.raises(StackError, match="declares no environments"):
        promote(STACK.split("environments:")[0], "version", "staging", "prod")
