"""Apply with independent branches in parallel vs one operation at a time.

A stack of N (model -> endpoint) pairs is applied to a fresh SageMaker emulator whose endpoints
take `--delay` seconds to become InService (as a real endpoint takes minutes), once with
`--parallelism 1` and once with `--parallelism 10`, then destroyed. Prints the ratio.

A resource waiting for the cloud gives up its slot (see `--parallelism` in the README), so even
`--parallelism 1` waits for the endpoints together: the ratio is that of the calls alone, near 1
while the waits dominate. bench_apply_scale.py measures the waits themselves.

    python bench/bench_apply.py [--pairs 8] [--delay 0.5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.testing.harness import StackHarness

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def stack_text(pairs: int) -> str:
    lines = [
        "apiVersion: mlops-gitops/v1",
        "name: bench-apply",
        "provider: {sagemaker: {region: us-east-1, role_arn: 'arn:aws:iam::123456789012:role/bench'}}",
        "models:",
    ]
    lines += [f"  m{i}: {{artifact: 's3://bench/m{i}/model.tar.gz', image: '{IMAGE}'}}" for i in range(pairs)]
    lines.append("endpoints:")
    lines += [
        f"  e{i}: {{variants: [{{name: main, model: m{i}, instance_type: ml.m5.large}}]}}"
        for i in range(pairs)
    ]
    return "\n".join(lines) + "\n"


def timed_apply(emulator: SageMakerEmulator, pairs: int, parallelism: int) -> float:
    emulator.reset()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Path(tmp) / "stack.yaml"
        stack.write_text(stack_text(pairs))
        harness = StackHarness(stack, SandboxEndpoints({"sagemaker": emulator.url}), parallelism=parallelism)
        start = time.perf_counter()
        _, result = harness.apply()
        elapsed = time.perf_counter() - start
        assert result.ok, result.errors
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds an endpoint takes to create")
    args = parser.parse_args()
    emulator = SageMakerEmulator({"endpoint_delay_seconds": args.delay})
    emulator.start()
    try:
        sequential = timed_apply(emulator, args.pairs, 1)
        parallel = timed_apply(emulator, args.pairs, 10)
    finally:
        emulator.stop()
    print(f"apply of {args.pairs} model+endpoint pairs, endpoints InService after {args.delay:.1f} s:")
    print(f"  --parallelism 1 : {sequential:6.2f} s")
    print(f"  --parallelism 10: {parallel:6.2f} s")
    print(f"  speed-up: {sequential / parallel:.1f}x")


if __name__ == "__main__":
    main()
