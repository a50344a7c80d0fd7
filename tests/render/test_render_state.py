"""State and outputs text from their documents: what `mlops show`, `mlops state ...` and
`mlops output` print. A sensitive value never reaches the text, whatever the document holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops_gitops.cli.state_documents import outputs_document, resource_document, state_document
from mlops_gitops.render.outputs import render_output_value, render_outputs
from mlops_gitops.render.state import (
    lock_holder,
    moved_in_state,
    removed_from_state,
    render_addresses,
    render_resource,
    render_state,
    state_unlocked,
)
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.state.model import ResourceState, StateDoc

SECRET = "hunter2"

MODEL: dict[str, Any] = {
    "address": "model.fraud-xgb-v7",
    "kind": "model",
    "name": "fraud-xgb-v7",
    "provider": "sagemaker",
    "status": "ok",
    "attributes": {
        "name": "fraud-xgb-v7-1a2b3c4d",
        "environment": {"API_KEY": "(sensitive)", "MODE": "batch"},
        "tags": {"mlops-gitops:stack": "fraud"},
    },
    "dependencies": [],
}
ENDPOINT: dict[str, Any] = {
    "address": "endpoint.fraud-api",
    "kind": "endpoint",
    "name": "fraud-api",
    "provider": "sagemaker",
    "status": "tainted",
    "attributes": {"variants": [{"name": "current", "instance_count": 2, "weight": 90.0}], "arn": None},
    "dependencies": ["model.fraud-xgb-v7"],
}
OUTPUTS: dict[str, Any] = {
    "endpoint_name": {"value": "fraud-api", "sensitive": False},
    "api_key": {"value": None, "sensitive": True},
}


def state_doc(**overrides: Any) -> dict[str, Any]:
    return {
        "lineage": "lin-1",
        "serial": 3,
        "stack": "fraud",
        "resources": [MODEL, ENDPOINT],
        "outputs": OUTPUTS,
        **overrides,
    }


def test_one_resource_text() -> None:
    assert render_resource(MODEL) == (
        "# model.fraud-xgb-v7:\n"
        'model "fraud-xgb-v7" {\n'
        '    name                       = "fraud-xgb-v7-1a2b3c4d"\n'
        "    environment.API_KEY        = (sensitive)\n"
        '    environment.MODE           = "batch"\n'
        '    tags["mlops-gitops:stack"] = "fraud"\n'
        "}\n"
    )


def test_a_tainted_resource_says_so_and_lists_are_indexed() -> None:
    assert render_resource(ENDPOINT) == (
        "# endpoint.fraud-api (tainted):\n"
        'endpoint "fraud-api" {\n'
        '    variants[0].name           = "current"\n'
        "    variants[0].instance_count = 2\n"
        "    variants[0].weight         = 90.0\n"
        "    arn                        = null\n"
        "}\n"
    )


def test_state_lists_every_resource_then_the_outputs_unaligned() -> None:
    text = render_state(state_doc())
    assert text == (
        render_resource(MODEL)
        + "\n"
        + render_resource(ENDPOINT)
        + "\n"
        + "Outputs:\n\n"
        + 'endpoint_name = "fraud-api"\n'
        + "api_key = (sensitive)\n"
    )


def test_empty_state_prints_nothing() -> None:
    assert render_state(state_doc(resources=[], outputs={})) == ""


def test_state_without_outputs_has_no_outputs_heading() -> None:
    assert "Outputs:" not in render_state(state_doc(outputs={}))


def test_addresses_one_a_line_in_order() -> None:
    assert render_addresses(["model.a", "endpoint.b"]) == "model.a\nendpoint.b\n"
    assert render_addresses([]) == ""


def test_outputs_are_aligned_and_sensitive_ones_hidden() -> None:
    assert render_outputs(OUTPUTS) == 'endpoint_name = "fraud-api"\napi_key       = (sensitive)\n'
    assert render_outputs({}) == ""


def test_the_sensitive_flag_hides_a_value_even_when_the_document_holds_it() -> None:
    leaky = {"api_key": {"value": SECRET, "sensitive": True}}
    for text in (render_outputs(leaky), render_state(state_doc(outputs=leaky))):
        assert SECRET not in text and "(sensitive)" in text


def test_a_value_that_reads_sensitive_is_still_quoted_when_it_is_not() -> None:
    # Only the flag makes an output "(sensitive)": a plain string value is shown as JSON.
    assert (
        render_outputs({"label": {"value": "(sensitive)", "sensitive": False}}) == 'label = "(sensitive)"\n'
    )


def test_one_output_value_as_json_or_raw() -> None:
    assert render_output_value("fraud-api", raw=False) == '"fraud-api"'
    assert render_output_value("fraud-api", raw=True) == "fraud-api"
    assert render_output_value({"a": [1, 2]}, raw=True) == '{"a": [1, 2]}'
    assert render_output_value(None, raw=False) == "null"


def test_state_edit_lines() -> None:
    assert removed_from_state("model.a") == "Removed model.a from state (the cloud object still exists)."
    assert moved_in_state("model.a", "model.b") == "Moved model.a to model.b."
    assert state_unlocked() == "State unlocked."
    lock = {"id": "L1", "who": "ana@ci", "operation": "apply", "created": "2026-11-25T00:00:00Z"}
    assert lock_holder(lock) == "Lock L1: held by ana@ci for apply since 2026-11-25T00:00:00Z."


MINIMAL = Path(__file__).resolve().parents[2] / "stacks" / "minimal" / "stack.yaml"


def secret_stack(tmp_path: Path) -> Path:
    """The minimal example, with a sensitive variable in its model's environment and an output."""
    text = MINIMAL.read_text()
    text = text.replace("\nmodels:\n", "\nvariables:\n  api_key: {sensitive: true}\n\nmodels:\n")
    text = text.replace(
        "    image: ", '    environment: {API_KEY: "${var.api_key}", MODE: batch}\n    image: '
    )
    path = tmp_path / "stack.yaml"
    path.write_text(text + '\noutputs:\n  key: {value: "${var.api_key}", sensitive: true}\n')
    return path


def test_no_secret_in_state_state_shows_or_outputs_from_real_state(tmp_path: Path) -> None:
    # State records secrets as applied; the documents the commands build from it hide them, the
    # stack's sensitive paths and those state recorded for a resource no longer in the stack.
    stack = load_stack(secret_stack(tmp_path), cli_vars={"api_key": SECRET}, environ={})
    state = StateDoc.new(stack.name)
    iris = ResourceState(
        address="model.iris",
        kind="model",
        name="iris",
        provider="sagemaker",
        attributes={"name": "iris-1", "environment": {"API_KEY": SECRET, "MODE": "batch"}},
    )
    gone = ResourceState(
        address="model.old",
        kind="model",
        name="old",
        provider="sagemaker",
        attributes={"environment": {"API_KEY": SECRET}},
        sensitive_paths=["environment.API_KEY"],
    )
    state.put(iris)
    state.put(gone)
    state.outputs["key"] = {"value": SECRET, "sensitive": True}
    doc = state_document(stack, state)
    texts = [
        render_state(doc),
        json.dumps(doc),
        render_resource(resource_document(stack, iris)),
        render_resource(resource_document(stack, gone)),
        render_outputs(outputs_document(state.outputs)),
    ]
    for text in texts:
        assert SECRET not in text and "(sensitive)" in text
    assert '    environment.MODE    = "batch"' in texts[2]
