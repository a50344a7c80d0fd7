"""The pull-request comment (`render_markdown`) from hand-made plan documents: the verdict, the
summary table with the cost column (an estimate, or n/a), risks first, a Mermaid diagram that
parses, masked secrets, and the 65,536-character limit with what was trimmed said."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from mermaid_check import assert_parses, mermaid_blocks

from mlops_gitops.cli.main import cli
from mlops_gitops.engine.plan import FieldChange, Plan, ResourceChange, Risk
from mlops_gitops.render.markdown import LIMIT, render_markdown
from mlops_gitops.review import marker, mermaid

COST = {
    "currency": "USD",
    "estimate": True,
    "monthly_before": {"min": 1000.0, "max": 1200.0},
    "monthly_after": {"min": 1100.5, "max": 1400.0},
    "delta": {"min": 100.5, "max": 200.0},
    "resources": [
        {"address": "endpoint.fraud-api", "delta": {"min": 100.5, "max": 200.0}, "unpriced": []},
        {"address": "schedule.retrain", "delta": {"min": 0, "max": 0}, "unpriced": ["pipeline runs"]},
    ],
    "unpriced": [],
    "basis": "on-demand list prices, 730 hours a month",
}


def serving(*variants: tuple[str, str, float]) -> dict[str, Any]:
    return {
        "variants": [
            {
                "name": n,
                "model": m,
                "traffic_percent": t,
                "mirror_percent": None,
                "instance_type": "ml.m5.xlarge",
                "instance_count": 1,
                "min_instances": None,
                "max_instances": None,
                "serverless_memory_mb": None,
                "serverless_max_concurrency": None,
            }
            for n, m, t in variants
        ]
    }


def plan(n_models: int = 0) -> Plan:
    p = Plan(
        "fraud",
        "stack.yaml",
        "sha256:1",
        "memory",
        "lin",
        3,
        environment="prod",
        created_at="2026-12-01T00:00:00Z",
    )
    endpoint = ResourceChange(
        "endpoint.fraud-api",
        "endpoint",
        "fraud-api",
        "memory",
        "update",
        {"variants": []},
        {"variants": []},
        [FieldChange("variants[1].model", "v8-aaaa", "v8-bbbb"), FieldChange("variants[2].name", None, "c")],
        depends_on=["model.v7", "model.v8"],
    )
    endpoint.serving = {
        "before": serving(("current", "v7", 90.0), ("candidate", "v8-aaaa", 10.0)),
        "after": serving(("current", "v7", 81.82), ("candidate", "v8-bbbb", 9.09), ("c", "v7", 9.09)),
    }
    secret = ResourceChange(
        "model.v8",
        "model",
        "v8",
        "memory",
        "replace",
        {"environment": {"TOKEN": "hunter2"}},
        {"environment": {"TOKEN": "correct-horse"}},
        [
            FieldChange(
                "environment.TOKEN", "hunter2", "correct-horse", forces_replacement=True, sensitive=True
            )
        ],
        sensitive_paths=["environment.TOKEN"],
    )
    monitor = ResourceChange(
        "monitor.drift",
        "monitor",
        "drift",
        "memory",
        "delete",
        {"endpoint": "fraud-api"},
        None,
        [FieldChange("endpoint", "fraud-api", None)],
        depends_on=["endpoint.fraud-api"],
    )
    p.changes = [
        ResourceChange("model.v7", "model", "v7", "memory", "noop", {}, {}),
        secret,
        endpoint,
        monitor,
    ]
    for i in range(n_models):
        p.changes.append(
            ResourceChange(
                f"model.m{i}",
                "model",
                f"m{i}",
                "memory",
                "create",
                None,
                {"artifact": f"s3://ml/m{i}/"},
                [
                    FieldChange("artifact", None, f"s3://ml/m{i}/model.tar.gz"),
                    FieldChange("environment.LEVEL", None, "x" * 40),
                ],
                depends_on=["model.v7"],
            )
        )
    p.risks = [
        Risk(
            "endpoint.fraud-api",
            "shifts traffic: current 90% -> 81.82%, candidate 10% -> 9.09%, c (new) -> 9.09%",
            code="traffic_shift",
        ),
        Risk(
            "endpoint.fraud-api",
            "serves a new model: variant candidate (9.09% of live traffic) from v8-aaaa to v8-bbbb",
            code="model_changed",
        ),
        Risk(
            "monitor.drift",
            "removes model monitor drift: endpoint.fraud-api is no longer watched",
            code="monitor_removed",
        ),
        Risk("model.v8", "keeps model package fraud/3 in the registry (the archive)"),
    ]
    return p


def doc_with_cost(**kw: Any) -> dict[str, Any]:
    doc = plan(**kw).document()
    doc["cost"] = copy.deepcopy(COST)
    return doc


def test_first_screen_verdict_table_with_cost_and_the_risks_in_order() -> None:
    doc = doc_with_cost()
    text = render_markdown(doc, artifact_url="https://ci/run/1")
    lines = text.splitlines()
    assert lines[0] == marker.for_plan(doc, "prod").line()
    assert marker.find(text) == marker.for_plan(doc, "prod")
    screen = "\n".join(lines[:40])
    assert "**⚠️ 4 risks to review: 0 to add, 1 to change, 1 to replace, 1 to destroy.**" in screen
    assert "| fraud | prod | 0 | 1 | 1 | 1 | 0 | +$100.50 to +$200.00/mo (estimate), 1 unpriced |" in screen
    assert "Unpriced, not counted: schedule.retrain." in screen
    risks = [line for line in lines if line.startswith("- ") and "**" in line]
    assert [r.split("**")[1] for r in risks] == [
        "Traffic shift",
        "Model swapped",
        "Monitor removed",
        "Provider",
    ]
    assert "current 90% → 81.82%, candidate 10% → 9.09%, c (new) → 9.09%" in risks[0]
    assert "[Full plan](https://ci/run/1)" in text


def test_without_a_cost_the_column_says_n_a() -> None:
    doc = plan().document()
    for absent in (None, "missing"):
        if absent is None:
            doc["cost"] = None
        else:
            doc.pop("cost", None)
        assert "| fraud | prod | 0 | 1 | 1 | 1 | 0 | n/a |" in render_markdown(doc)


def test_the_diagram_parses_and_colours_by_action() -> None:
    text = render_markdown(doc_with_cost())
    (diagram,) = mermaid_blocks(text)
    assert_parses(diagram)
    assert 'n0["-/+ model.v8"]' in diagram and "class n1 change" in diagram and "class n2 destroy" in diagram
    assert "model.v7" in diagram and "class n3 same" in diagram, "an unchanged dependency is context"
    assert "traffic 90/10 → 81.82/9.09/9.09" in diagram


def test_secrets_stay_masked() -> None:
    text = render_markdown(doc_with_cost())
    assert "hunter2" not in text and "correct-horse" not in text
    assert (
        "- environment.TOKEN = (sensitive)\n+ environment.TOKEN = (sensitive)   # forces replacement" in text
    )


def test_a_thousand_resources_fit_and_say_what_was_left_out() -> None:
    doc = doc_with_cost(n_models=1000)
    text = render_markdown(doc, artifact_url="https://ci/run/1")
    assert len(text) <= LIMIT
    assert text.count("<details>") + text.count("<details><summary>") > 10
    shown = text.count("<summary><code>")
    left = 1003 - shown
    assert (
        left > 0
        and f"{left} resource diffs left out to fit in a comment: see [the full plan](https://ci/run/1)."
        in text
    )
    # Summaries come first and stay: the table and every risk.
    assert "| fraud | prod | 1000 | 1 | 1 | 1 | 0 |" in text and "Monitor removed" in text
    (diagram,) = mermaid_blocks(text)
    assert_parses(diagram)
    assert "more changing resources not drawn" in text


def test_a_tiny_limit_still_holds() -> None:
    text = render_markdown(doc_with_cost(n_models=50), limit=3000)
    assert len(text) <= 3000 and text.startswith("<!-- mlops-gitops plan:")


def test_no_changes() -> None:
    p = Plan("fraud", "stack.yaml", "d", "memory", "lin", 1)
    text = render_markdown(p.document())
    assert "✅ No changes: the cloud matches the stack." in text and "```mermaid" not in text
    assert "| fraud | - | 0 | 0 | 0 | 0 | 0 | n/a |" in text


def test_markdown_text_is_escaped() -> None:
    doc = plan().document()
    doc["risks"] = [{"address": "endpoint.x", "message": "a <b>|`c`* _d_", "code": "provider", "detail": {}}]
    assert r"a &lt;b&gt;\|\`c\`\* \_d\_" in render_markdown(doc)


def test_labels_are_escaped_so_any_name_parses() -> None:
    nodes = [
        mermaid.Node('model.a"b#c<d>', "create"),
        mermaid.Node("endpoint.end", "update"),
        mermaid.Node("monitor.graph", "delete"),
    ]
    chart = mermaid.flowchart(nodes, [('model.a"b#c<d>', "endpoint.end"), ("endpoint.end", "monitor.graph")])
    assert "#quot;" in chart and "#35;" in chart and "#lt;" in chart
    assert_parses(chart)


def test_graph_command(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    runner = CliRunner()
    res = runner.invoke(
        cli, ["--chdir", str(root / "stacks" / "credit-risk"), "graph", "--var-file", "sandbox.vars.yaml"]
    )
    assert res.exit_code == 0, res.output
    assert_parses(res.output)
    assert res.output.startswith("flowchart LR\n") and "classDef" not in res.output
    res = runner.invoke(
        cli,
        [
            "--chdir",
            str(root / "stacks" / "credit-risk"),
            "graph",
            "--format",
            "dot",
            "--var-file",
            "sandbox.vars.yaml",
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.output.startswith('digraph "credit-risk" {')
    assert '"model.risk-gbm" -> "endpoint.risk-api";' in res.output
    assert '"endpoint.risk-api" -> "monitor.risk-drift";' in res.output
    assert '"monitor.risk-drift" -> "schedule.risk-retrain";' in res.output


def test_json_and_another_format_conflict(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["--chdir", str(tmp_path), "plan", "--json", "--format", "markdown"])
    assert res.exit_code != 0 and "two formats" in res.output
    res = CliRunner().invoke(cli, ["--chdir", str(tmp_path), "show", "--format", "markdown"])
    assert res.exit_code != 0 and "PLAN_FILE" in res.output
