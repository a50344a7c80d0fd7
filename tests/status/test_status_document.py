"""The status document's pure parts: the graph's layers, the summary, the console base, the
provider hooks' defaults, and the page's layout and escaping."""

from __future__ import annotations

from mlops_sagemaker.config import SageMakerConfig
from mlops_sagemaker.provider import SageMakerProvider

from mlops_gitops.provider import ResourceType
from mlops_gitops.render.status import graph_layout, render_status_html, render_status_text, traffic_bars
from mlops_gitops.status import console_base, graph, summary


def _entry(address: str, deps: list[str], health: str = "ok", drift: bool = False) -> dict:
    kind, name = address.split(".", 1)
    return {
        "address": address,
        "kind": kind,
        "name": name,
        "dependencies": deps,
        "in_stack": True,
        "in_state": True,
        "tainted": False,
        "rolled_back": False,
        "exists": True,
        "health": health,
        "state": None,
        "message": None,
        "console_url": None,
        "serving": None,
        "last_run": None,
        "next_run": None,
        "drift": [{"path": "x", "recorded": 1, "live": 2, "sensitive": False}] if drift else [],
    }


ENTRIES = [
    _entry("model.a", []),
    _entry("model.b", []),
    _entry("endpoint.e", ["model.a", "model.b"], drift=True),
    _entry("monitor.m", ["endpoint.e"], health="failed"),
    _entry("schedule.s", ["monitor.m", "gone.x"]),
]


def test_layers_put_each_resource_right_of_its_deepest_dependency() -> None:
    g = graph(ENTRIES)
    assert g["layers"] == [["model.a", "model.b"], ["endpoint.e"], ["monitor.m"], ["schedule.s"]]
    assert ["gone.x", "schedule.s"] not in g["edges"] and len(g["edges"]) == 4
    counts = summary(ENTRIES)
    assert (counts["resources"], counts["ok"], counts["failed"], counts["drifted"]) == (5, 4, 1, 1)


def test_layout_and_page_escape_what_the_cloud_says() -> None:
    entries = [*ENTRIES[:2], {**ENTRIES[2], "message": "<b>boom</b>"}]
    doc = {
        "format_version": 1,
        "stack": "s<x>",
        "provider": "sagemaker",
        "environment": None,
        "sandbox": False,
        "generated_at": "2026-11-30T10:00:00Z",
        "summary": summary(entries),
        "resources": entries,
        "graph": graph(entries),
    }
    layout = graph_layout(doc)
    xs = {n["address"]: n["x"] for n in layout["nodes"]}
    assert xs["model.a"] == xs["model.b"] < xs["endpoint.e"] and len(layout["edges"]) == 2
    page = render_status_html(doc)
    assert "&lt;b&gt;boom&lt;/b&gt;" in page and "<b>boom" not in page and "s&lt;x&gt;" in page
    assert "<script" not in page
    assert "endpoint.e: ok" in render_status_text(doc)
    bars = traffic_bars([{"name": "a", "traffic_percent": 75.0}, {"name": "b", "traffic_percent": 25.0}])
    assert [(b["x"], b["w"]) for b in bars] == [(0.0, 450.0), (450.0, 150.0)]


def test_console_base_comes_from_the_option_then_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("MLOPS_CONSOLE_URL_SAGEMAKER", raising=False)
    assert console_base("sagemaker") is None
    monkeypatch.setenv("MLOPS_CONSOLE_URL_SAGEMAKER", "https://console.amazonaws-us-gov.com/")
    assert console_base("sagemaker") == "https://console.amazonaws-us-gov.com"
    assert console_base("sagemaker", "https://x.test") == "https://x.test"


def test_provider_hooks() -> None:
    provider = SageMakerProvider(SageMakerConfig(region="eu-west-1"), stack="s")
    assert provider.console_url("endpoint", {"name": "api"}) == (
        "https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/endpoints/api"
    )
    assert provider.console_url("endpoint", {"name": "api"}, "https://console.amazonaws.cn") == (
        "https://console.amazonaws.cn/sagemaker/home?region=eu-west-1#/endpoints/api"
    )
    # The base class's default: the status word at the kind's status_path, nothing else.
    rtype = ResourceType("endpoint", status_path="status", failed_statuses=("Failed",))
    base = type("P", (), {"kinds": {"endpoint": rtype}})()
    from mlops_gitops.provider import Provider

    assert Provider.live_status(base, "endpoint", {"status": "Failed"}) == {
        "state": "Failed",
        "health": "failed",
    }
    assert Provider.live_status(base, "endpoint", {}) == {}
    assert Provider.console_url(base, "endpoint", {}) is None
