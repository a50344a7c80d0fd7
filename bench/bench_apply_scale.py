"""Apply cost against the number of resources, and waits that do not hold a parallelism slot.

1. N and 10N model+endpoint pairs, in one run: each size is applied to a fresh SageMaker
   emulator (moto's server, the sandbox's) with `--parallelism 10`, and to the in-memory provider
   (the engine alone: no emulator, no latency), each into a fresh local state. Linear cost is a
   ratio of about 10; the target is at most 12.
2. 50 endpoints that each take `--wait` seconds to become InService, with `--parallelism 10`:
   with waits holding a slot that would be 5 waves (5 x wait); the target is at most 1.5 x wait
   beyond the same apply with endpoints InService at once.

    python bench/bench_apply_scale.py [--pairs 100] [--factor 10] [--wait 5] [--skip-sandbox]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mlops_gitops.engine.operations import plan_locked
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.testing import MemoryCloud, MemoryProvider, memory_stack
from mlops_gitops.testing.harness import StackHarness

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TARGET = 12.0


def sagemaker_stack(pairs: int) -> str:
    lines = [
        "apiVersion: mlops-gitops/v1",
        "name: bench-apply-scale",
        "provider: {sagemaker: {region: us-east-1, role_arn: 'arn:aws:iam::123456789012:role/bench'}}",
        "models:",
        *(f"  m{i}: {{artifact: 's3://bench/m{i}/model.tar.gz', image: '{IMAGE}'}}" for i in range(pairs)),
        "endpoints:",
        *(
            f"  e{i}: {{variants: [{{name: main, model: m{i}, instance_type: ml.m5.large}}]}}"
            for i in range(pairs)
        ),
    ]
    return "\n".join(lines) + "\n"


def on_sandbox(pairs: int, delay: float = 0.0) -> float:
    from mlops_sagemaker_sandbox.server import SageMakerEmulator

    emulator = SageMakerEmulator({"endpoint_delay_seconds": delay})
    emulator.start()
    emulator.reset()  # moto's backends live in this process: start from nothing
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stack = Path(tmp) / "stack.yaml"
            stack.write_text(sagemaker_stack(pairs))
            harness = StackHarness(stack, SandboxEndpoints({"sagemaker": emulator.url}), parallelism=10)
            start = time.perf_counter()
            _, result = harness.apply()
            elapsed = time.perf_counter() - start
            assert result.ok, result.errors
    finally:
        emulator.stop()
    return elapsed


def in_memory(pairs: int) -> float:
    document = {
        "models": {f"m{i}": {"artifact": f"s3://bench/m{i}.tar.gz", "image": "img"} for i in range(pairs)},
        "endpoints": {
            f"e{i}": {"variants": [{"name": "main", "model": f"m{i}", "instance_type": "t"}]}
            for i in range(pairs)
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        provider = MemoryProvider(cloud=MemoryCloud())
        planned = plan_locked(
            provider.workspace(memory_stack(document, Path(tmp))), LocalBackend(Path(tmp) / "s")
        )
        start = time.perf_counter()
        try:
            result = planned.apply(parallelism=10)
        finally:
            planned.release()
        elapsed = time.perf_counter() - start
        assert result.ok, result.errors
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--wait", type=float, default=5.0, help="seconds an endpoint takes (part 2)")
    parser.add_argument("--skip-sandbox", action="store_true", help="only the in-memory provider")
    args = parser.parse_args()
    small, large = args.pairs, args.pairs * args.factor
    runs = [("in memory (the engine alone)", in_memory)]
    if not args.skip_sandbox:
        runs.insert(0, ("SageMaker sandbox", on_sandbox))
    print(f"apply of {small} and {large} model+endpoint pairs, --parallelism 10, local state:")
    for label, run in runs:
        a, b = run(small), run(large)
        ratio = b / a
        verdict = "meets" if ratio <= args.factor * TARGET / 10 else "misses"
        print(
            f"  {label:30s} {small:5d}: {a:7.2f} s  {large:5d}: {b:7.2f} s  ratio {ratio:5.1f}x "
            f"({verdict} the target of {args.factor * TARGET / 10:g}x)"
        )
    if args.skip_sandbox:
        return
    at_once, waiting = on_sandbox(50), on_sandbox(50, args.wait)
    extra = waiting - at_once
    verdict = "meets" if extra <= 1.5 * args.wait else "misses"
    print(
        f"50 endpoints taking {args.wait:g} s each to be InService, --parallelism 10: {waiting:.2f} s, "
        f"{extra:.2f} s more than at once ({extra / args.wait:.2f} x the wait; with waits holding "
        f"a slot it would be 5 x; {verdict} the target of 1.5 x)"
    )


if __name__ == "__main__":
    main()
