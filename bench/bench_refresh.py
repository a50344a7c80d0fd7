"""Refresh (the first half of every plan) with bounded parallelism vs one read at a time.

A stack of N models is applied to the SageMaker emulator; then the emulator adds a per-call
latency (a real AWS call takes tens of milliseconds) and the same plan is timed with
`--parallelism 1` and `--parallelism 10`, interleaved. Prints the ratio of medians.

    python bench/bench_refresh.py [--models 40] [--latency-ms 30] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.testing.harness import StackHarness


def stack_text(models: int) -> str:
    lines = [
        "apiVersion: mlops-gitops/v1",
        "name: bench-refresh",
        "provider: {sagemaker: {region: us-east-1, role_arn: 'arn:aws:iam::123456789012:role/bench'}}",
        "models:",
    ]
    for i in range(models):
        lines += [
            f"  m{i:03d}:",
            f"    artifact: s3://bench/m{i:03d}/model.tar.gz",
            "    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    emulator = SageMakerEmulator({"endpoint_delay_seconds": 0})
    emulator.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stack = Path(tmp) / "stack.yaml"
            stack.write_text(stack_text(args.models))
            sandbox = SandboxEndpoints({"sagemaker": emulator.url})
            _, result = StackHarness(stack, sandbox, parallelism=10).apply()
            assert result.ok, result.errors
            emulator.update_settings({"latency_ms": args.latency_ms})
            times: dict[int, list[float]] = {1: [], 10: []}
            for _ in range(args.runs):
                for parallelism in (1, 10):
                    harness = StackHarness(stack, sandbox, parallelism=parallelism)
                    start = time.perf_counter()
                    plan = harness.plan()
                    times[parallelism].append(time.perf_counter() - start)
                    assert not plan.has_changes
    finally:
        emulator.stop()
    seq, par = statistics.median(times[1]), statistics.median(times[10])
    calls = args.models * 2  # DescribeModel + ListTags per model
    print(f"refresh of {args.models} models ({calls} calls, +{args.latency_ms:.0f} ms each), ", end="")
    print(f"median of {args.runs}:")
    print(f"  --parallelism 1 : {seq:6.2f} s")
    print(f"  --parallelism 10: {par:6.2f} s")
    print(f"  speed-up: {seq / par:.1f}x")


if __name__ == "__main__":
    main()
