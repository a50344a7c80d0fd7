"""What apply, destroy and refresh print after the plan, from the apply result document (the one
`apply --json` prints) and the outputs document; and the progress lines while they run."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_gitops.render.apply import apply_failure_lines, confirmation_question, render_apply_summary
from mlops_gitops.render.progress import progress_line

OUTPUTS = {
    "endpoint_name": {"value": "fraud-api", "sensitive": False},
    "api_key": {"value": None, "sensitive": True},
}


def result(
    mode: str = "normal", *, applied: int = 3, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    summary = {"add": 2, "change": 1, "destroy": 4, "move": 0, "drift": 0}
    return {
        "plan": {"mode": mode, "summary": summary},
        "applied": [["model.m", "create"]] * applied,
        "errors": errors or [],
    }


def test_apply_summary_then_the_outputs_aligned() -> None:
    assert render_apply_summary(result(), OUTPUTS) == (
        "\nApply complete! Resources: 2 added, 1 changed, 4 destroyed.\n"
        "\nOutputs:\n\n"
        'endpoint_name = "fraud-api"\n'
        "api_key       = (sensitive)\n"
    )


def test_apply_summary_without_outputs() -> None:
    assert (
        render_apply_summary(result(), {})
        == "\nApply complete! Resources: 2 added, 1 changed, 4 destroyed.\n"
    )


def test_destroy_and_refresh_summaries_show_no_outputs() -> None:
    assert render_apply_summary(result("destroy"), OUTPUTS) == "\nDestroy complete! Resources: 4 destroyed.\n"
    assert render_apply_summary(result("refresh-only"), OUTPUTS) == (
        "\nRefresh complete: state now matches the cloud.\n"
    )


def test_no_sensitive_output_value_reaches_the_summary() -> None:
    leaky = {"api_key": {"value": "hunter2", "sensitive": True}}
    for color in (False, True):
        text = render_apply_summary(result(), leaky, color=color)
        assert "hunter2" not in text and "api_key = (sensitive)" in text


def test_failure_lines_name_each_failure_then_how_far_it_got() -> None:
    errors = [
        {"address": "endpoint.a", "message": "CreateEndpoint: Failed"},
        {"address": "model.b", "message": "throttled"},
    ]
    assert apply_failure_lines(result(applied=1, errors=errors)) == [
        "endpoint.a: CreateEndpoint: Failed",
        "model.b: throttled",
        "1 operation completed before the failure; state records what exists.",
    ]
    assert apply_failure_lines(result(applied=0, errors=errors[:1]))[-1] == (
        "0 operations completed before the failure; state records what exists."
    )


@pytest.mark.parametrize(
    ("mode", "question"),
    [
        ("normal", "Do you want to perform these actions? Only 'yes' will be accepted."),
        ("rollback", "Do you want to perform these actions? Only 'yes' will be accepted."),
        ("destroy", "Do you want to destroy every resource of this stack? Only 'yes' will be accepted."),
    ],
)
def test_confirmation_question(mode: str, question: str) -> None:
    assert confirmation_question(mode) == question


def event(phase: str, action: str = "create", **kw: Any) -> dict[str, Any]:
    return {
        "address": "endpoint.fraud-api",
        "action": action,
        "phase": phase,
        "elapsed": 0.0,
        "message": "",
        **kw,
    }


@pytest.mark.parametrize(
    ("ev", "line"),
    [
        (event("start"), "endpoint.fraud-api: Creating..."),
        (event("start", "destroy-deposed"), "endpoint.fraud-api: Destroying the replaced object..."),
        (
            event("progress", "update", elapsed=20.4, message="Updating"),
            "endpoint.fraud-api: Still modifying... [20s elapsed] Updating",
        ),
        (event("progress", elapsed=9.6), "endpoint.fraud-api: Still creating... [10s elapsed]"),
        (event("done", "delete", elapsed=3.0), "endpoint.fraud-api: Destruction complete after 3s"),
        (event("done", "something-new", elapsed=1.0), "endpoint.fraud-api: Complete after 1s"),
        (event("error", "replace"), "endpoint.fraud-api: failed"),
        (event("queued"), None),
    ],
)
def test_progress_lines(ev: dict[str, Any], line: str | None) -> None:
    assert progress_line(ev, color=False) == line


def test_progress_label_is_bold_on_a_terminal() -> None:
    assert progress_line(event("start"), color=True) == "\x1b[1mendpoint.fraud-api\x1b[0m: Creating..."
