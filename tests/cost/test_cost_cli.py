"""The estimate through the CLI: a stack's own price file checked before any cloud call, and
the cost of the fraud-detection example on the sandbox, from the shipped SageMaker table."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from sandbox_kit import MLOPS, ROOT, VARS, example_on_sandbox, mlops

from mlops_gitops.cost.estimate import HOURS_PER_MONTH
from mlops_gitops.cost.prices import shipped
from mlops_gitops.cost.text import EN_DASH


def _copy(tmp_path: Path, extra: str) -> Path:
    dest = tmp_path / "fraud-detection"
    shutil.copytree(ROOT / "stacks" / "fraud-detection", dest, ignore=shutil.ignore_patterns(".mlops"))
    stack = dest / "stack.yaml"
    stack.write_text(stack.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return dest


def test_a_bad_price_file_is_one_located_line_before_any_cloud_call(tmp_path):
    dest = _copy(tmp_path, "\ncost:\n  prices_file: prices/ours.json\n")
    (dest / "prices").mkdir()
    (dest / "prices" / "ours.json").write_text(
        json.dumps({"currency": "USD", "date": "2026-01-01", "source": "ours", "regions": {"us-east-1": []}}),
        encoding="utf-8",
    )
    # Any AWS call would go to a closed port (and fail another way): the file is refused first.
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x"}
    out = subprocess.run(
        [MLOPS, "plan", *VARS], cwd=dest, capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 1
    [line] = out.stderr.strip().splitlines()
    assert re.fullmatch(
        r"Error: stack\.yaml:\d+:16: cost\.prices_file: prices/ours\.json: regions\.us-east-1: "
        r"Input should be a valid dictionary",
        line,
    ), line
    assert not (dest / ".mlops").exists() or not any((dest / ".mlops").rglob("*.json"))


def test_cost_on_the_sandbox(tmp_path):
    table = shipped("mlops_sagemaker")
    hourly = table.hourly("us-east-1", "ml.m5.xlarge")
    with example_on_sandbox(tmp_path, "fraud-detection", operation_delay=0) as dest:
        out = mlops(dest, "--sandbox", "plan", *VARS, "--json")
        assert out.returncode == 0, out.stderr
        cost = json.loads(out.stdout)["cost"]
        # Two variants of ml.m5.xlarge, each autoscaled 1-8 (the endpoint's autoscaling block).
        lo, hi = round(2 * 1 * hourly * HOURS_PER_MONTH, 2), round(2 * 8 * hourly * HOURS_PER_MONTH, 2)
        assert cost["estimate"] is True and cost["currency"] == "USD"
        assert cost["monthly_before"] == {"min": 0.0, "max": 0.0}
        assert cost["monthly_after"] == {"min": lo, "max": hi}
        assert cost["delta"] == {"min": lo, "max": hi}
        assert table.source in cost["basis"] and table.date in cost["basis"]
        [res] = cost["resources"]
        assert res["address"] == "endpoint.fraud-api" and res["before"] is None
        assert [(x["variant"], x["count_min"], x["count_max"]) for x in res["lines"]] == [
            ("current", 1, 8),
            ("candidate", 1, 8),
        ]
        assert cost["unpriced"] == []

        text = mlops(dest, "--sandbox", "plan", *VARS)
        assert text.returncode == 0, text.stderr
        low, high = f"${round(lo):,}", f"${round(hi):,}"
        line = f"Cost estimate: $0/month → {low}{EN_DASH}{high}/month (+{low} to +{high}/month)"
        assert line in text.stdout

        # The stack's own figures, and a type only they price: applied, and said in the basis.
        stack = dest / "stack.yaml"
        stack.write_text(
            stack.read_text(encoding="utf-8").replace(
                "instance_type: ml.m5.xlarge\n        instance_count: 1",
                "instance_type: ml.c5.2xlarge\n        instance_count: 1",
                1,
            )
            + "\ncost:\n  prices_file: ours.json\n",
            encoding="utf-8",
        )
        (dest / "ours.json").write_text(
            json.dumps(
                {
                    "currency": "USD",
                    "date": "2026-06-01",
                    "source": "our rates",
                    "regions": {"us-east-1": {"ml.m5.xlarge": 0.2}},
                }
            ),
            encoding="utf-8",
        )
        cost = json.loads(mlops(dest, "--sandbox", "plan", *VARS, "--json").stdout)["cost"]
        assert cost["monthly_after"] == {
            "min": round(0.2 * HOURS_PER_MONTH, 2),
            "max": round(8 * 0.2 * HOURS_PER_MONTH, 2),
        }
        assert cost["unpriced"] == [
            "endpoint.fraud-api: variants[1]: instance type ml.c5.2xlarge has no price in us-east-1"
        ]
        assert "our rates over https://aws.amazon.com/" in cost["basis"]
