"""`mlops status` on the sandbox, through the installed command: a SageMaker and a Vertex AI
stack applied, then shown live (state, traffic, instance counts, runs, console links), as JSON,
with a console-side change showing as drift, and as an HTML page that headless Chromium opens."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import chromium
import pytest
from sandbox_kit import MLOPS, VARS, aws_client, example_on_sandbox, mlops


class Elements(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    def having(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.found
            if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def classed(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.found if t == tag and cls in a.get("class", "").split()]


def _png_size(png: Path) -> tuple[int, int]:
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def fraud(tmp_path: Path) -> Iterator[Path]:
    with example_on_sandbox(tmp_path, "fraud-detection", operation_delay=0.1) as dest:
        res = mlops(dest, "--sandbox", "apply", *VARS, "--auto-approve")
        assert res.returncode == 0, res.stderr
        yield dest


@pytest.fixture
def churn(tmp_path: Path) -> Iterator[Path]:
    with example_on_sandbox(tmp_path, "vertex-churn", operation_delay=0.1) as dest:
        res = mlops(dest, "--sandbox", "apply", "--auto-approve")
        assert res.returncode == 0, res.stderr
        yield dest


def _status(stack: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    if env:
        res = subprocess.run(
            [MLOPS, "--sandbox", "status", *args, "--json"],
            cwd=stack,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **env},
        )
    else:
        res = mlops(stack, "--sandbox", "status", *args, "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_sagemaker_stack_live_status_drift_and_page(fraud: Path, tmp_path: Path) -> None:
    res = mlops(fraud, "--sandbox", "status", *VARS)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "Stack fraud-detection (sagemaker, sandbox)" in out and "3 resources: 3 ok" in out
    assert "endpoint.fraud-api: InService (ok)" in out
    assert "traffic  current    90.0%  model.fraud-xgb-v7 (fraud-xgb-v7-" in out
    assert "         candidate  10.0%  model.fraud-xgb-v8 (fraud-xgb-v8-" in out
    assert "instances 2 running / 2 desired (autoscaling 1-8)" in out
    assert (
        "console  https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/endpoints/fraud-api"
        in out
    )

    doc = _status(fraud, *VARS)
    assert doc["format_version"] == 1 and doc["stack"] == "fraud-detection" and doc["provider"] == "sagemaker"
    endpoint = next(r for r in doc["resources"] if r["address"] == "endpoint.fraud-api")
    assert (endpoint["state"], endpoint["health"], endpoint["exists"], endpoint["drift"]) == (
        "InService",
        "ok",
        True,
        [],
    )
    variants = {v["name"]: v for v in endpoint["serving"]["variants"]}
    assert {n: v["traffic_percent"] for n, v in variants.items()} == {"current": 90.0, "candidate": 10.0}
    assert (variants["current"]["current_instances"], variants["current"]["desired_instances"]) == (2, 2)
    assert (variants["current"]["min_instances"], variants["current"]["max_instances"]) == (1, 8)
    assert variants["candidate"]["model_address"] == "model.fraud-xgb-v8"
    assert endpoint["dependencies"] and set(endpoint["dependencies"]) <= {
        r["address"] for r in doc["resources"]
    }
    assert [sorted(layer) for layer in doc["graph"]["layers"]] == [
        ["model.fraud-xgb-v7", "model.fraud-xgb-v8"],
        ["endpoint.fraud-api"],
    ]
    model = next(r for r in doc["resources"] if r["address"] == "model.fraud-xgb-v7")
    assert "#/models/fraud-xgb-v7-" in model["console_url"]

    # Weights changed in the console: drift, and the live traffic.
    aws_client(fraud).update_endpoint_weights_and_capacities(
        EndpointName="fraud-api",
        DesiredWeightsAndCapacities=[
            {"VariantName": "current", "DesiredWeight": 50},
            {"VariantName": "candidate", "DesiredWeight": 50},
        ],
    )
    doc = _status(fraud, *VARS, "--console-url", "https://console.example.test/{region}")
    endpoint = next(r for r in doc["resources"] if r["address"] == "endpoint.fraud-api")
    assert [v["traffic_percent"] for v in endpoint["serving"]["variants"]] == [50.0, 50.0]
    assert {(c["path"], c["recorded"], c["live"]) for c in endpoint["drift"]} == {
        ("variants[0].weight", 90.0, 50.0),
        ("variants[1].weight", 10.0, 50.0),
    }
    assert doc["summary"]["drifted"] == 1
    assert endpoint["console_url"].startswith("https://console.example.test/us-east-1/sagemaker/home?")
    out = mlops(fraud, "--sandbox", "status", *VARS).stdout
    assert "drift    2 changes outside mlops since the last apply:" in out
    assert "variants[0].weight: 90.0 -> 50.0" in out

    page = tmp_path / "fraud.html"
    res = mlops(fraud, "--sandbox", "status", *VARS, "--html", str(page))
    assert res.returncode == 0 and res.stdout.startswith(f"Wrote {page}: 3 resources"), res.stderr
    dom = Elements(chromium.dump_dom(page))
    nodes = dom.classed("g", "node")
    assert sorted(n["data-address"] for n in nodes) == sorted(r["address"] for r in doc["resources"])
    assert len(dom.classed("path", "edge")) == len(doc["graph"]["edges"]) == 2
    assert [v["data-variant"] for v in dom.classed("rect", "variant")] == ["current", "candidate"]
    assert [v["data-percent"] for v in dom.classed("rect", "variant")] == ["50.0", "50.0"]
    links = sorted(a["href"] for a in dom.classed("a", "console"))
    home = "https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/"
    assert links[0] == f"{home}endpoints/fraud-api" and len(links) == 3
    assert all(link.startswith(f"{home}models/fraud-xgb-v") for link in links[1:])
    assert not dom.having("script") and not dom.having("link")  # self-contained


def test_vertex_stack_live_status_runs_and_page(churn: Path, tmp_path: Path) -> None:
    res = mlops(churn, "--sandbox", "status")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "Stack churn (vertex, sandbox)" in out and "5 resources: 5 ok" in out
    assert "traffic  champion    80.0%  model.churn-xgb (churn-xgb-" in out
    assert "         challenger  20.0%  model.churn-challenger (churn-challenger-" in out
    assert "monitor.churn-drift: JOB_STATE_RUNNING (ok)" in out
    assert "https://console.cloud.google.com/vertex-ai/locations/europe-west4/endpoints/churn-api-" in out

    doc = _status(churn)
    by = {r["address"]: r for r in doc["resources"]}
    endpoint = by["endpoint.churn-api"]
    assert [(v["name"], v["traffic_percent"]) for v in endpoint["serving"]["variants"]] == [
        ("champion", 80.0),
        ("challenger", 20.0),
    ]
    champion = endpoint["serving"]["variants"][0]
    assert (champion["desired_instances"], champion["min_instances"], champion["max_instances"]) == (2, 2, 6)
    url = endpoint["console_url"]
    assert url.startswith(
        "https://console.cloud.google.com/vertex-ai/locations/europe-west4/endpoints/churn-api-"
    )
    assert url.endswith("?project=acme-ml")
    # Vertex tells the next runs: the monitor's hourly, the retraining's on its cron (Monday 03:00
    # in Paris is 01:00 or 02:00 UTC).
    assert by["monitor.churn-drift"]["next_run"].endswith("Z")
    assert by["schedule.churn-retrain"]["state"] == "ACTIVE"
    assert by["schedule.churn-retrain"]["next_run"][11:] in ("01:00:00Z", "02:00:00Z")
    assert sorted(doc["graph"]["edges"]) == [
        ["endpoint.churn-api", "monitor.churn-drift"],
        ["model.churn-challenger", "endpoint.churn-api"],
        ["model.churn-xgb", "endpoint.churn-api"],
    ]

    page, png = tmp_path / "churn.html", tmp_path / "churn.png"
    assert mlops(churn, "--sandbox", "status", "--html", str(page)).returncode == 0
    chromium.screenshot(page, png)
    assert _png_size(png) == (1280, 1400)
    dom = Elements(chromium.dump_dom(page))
    assert dom.having("svg", id="graph")
    assert sorted(n["data-address"] for n in dom.classed("g", "node")) == sorted(by)
    assert len(dom.classed("path", "edge")) == 3
    assert [v["data-variant"] for v in dom.classed("rect", "variant")] == ["champion", "challenger"]
    assert len(dom.classed("a", "console")) == 5

    # Console URLs move: the base is configurable per provider.
    doc = _status(churn, env={"MLOPS_CONSOLE_URL_VERTEX": "https://console.example.test/"})
    assert all(
        r["console_url"].startswith("https://console.example.test/vertex-ai/") for r in doc["resources"]
    )


def test_watch_reads_again_until_interrupted(churn: Path) -> None:
    proc = subprocess.Popen(
        [MLOPS, "--sandbox", "status", "--watch", "--interval", "0.5"],
        cwd=churn,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen, deadline = 0, time.monotonic() + 30
    while seen < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line.startswith("Stack churn (vertex, sandbox)")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert seen == 2 and proc.returncode == 0, err
