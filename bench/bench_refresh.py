"""Plan (its refresh) of N endpoint+model pairs against its latency floor, and parallelism 10 vs 1.

N model+endpoint pairs are applied to the SageMaker emulator; then the emulator adds a per-call
latency (`latency_ms`: a real AWS call takes tens of milliseconds) and the same no-change plan
is timed with `--parallelism 10` and `--parallelism 1`. The calls a plan makes are counted from
the emulator's request log (one record per HTTP request, naming its AWS action). The floor is
what the calls cost if nothing but their latency counted and `parallelism` of them were always
in flight: calls x latency / parallelism. Each plan runs in a process of its own, as `mlops plan`
runs beside the sandbox's emulator (the plan's own start is not timed). Targets: the plan within
1.3x its floor, and at least 7x faster than with `--parallelism 1`.

    python bench/bench_refresh.py [--pairs 200] [--latency-ms 50] [--parallelism 10] [--runs 1]
"""

from __future__ import annotations

import argparse
import collections
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.testing.harness import StackHarness

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
FLOOR_TARGET = 1.3
SPEEDUP_TARGET = 7.0


def stack_text(pairs: int) -> str:
    lines = [
        "apiVersion: mlops-gitops/v1",
        "name: bench-refresh",
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


class CallCounter(logging.Handler):
    """Counts the AWS calls the emulator's request log records, by action."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.calls: collections.Counter[str] = collections.Counter()
        self._lock_counts = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        action = getattr(record, "aws_action", None)
        if action is None:
            return  # not a request record
        with self._lock_counts:
            self.calls[action or "(unnamed)"] += 1

    def take(self) -> collections.Counter[str]:
        with self._lock_counts:
            taken, self.calls = self.calls, collections.Counter()
        return taken


def plan_seconds(stack: Path, sandbox: SandboxEndpoints, parallelism: int) -> float:
    harness = StackHarness(stack, sandbox, parallelism=parallelism)
    start = time.perf_counter()
    plan = harness.plan()
    elapsed = time.perf_counter() - start
    assert not plan.has_changes, "the bench's plan should find nothing to change"
    return elapsed


def timed_plan(stack: Path, url: str, parallelism: int) -> float:
    """The plan's time, measured in a process of its own (its start left out), as `mlops plan`
    runs beside the sandbox's emulator: in this one, the emulator's moto would share its GIL."""
    child = [sys.executable, __file__, "--child", str(stack), url, str(parallelism)]
    done = subprocess.run(child, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the timed plan failed: {done.stderr.strip()}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--parallelism", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1, help="timed plans per parallelism (median)")
    parser.add_argument("--skip-sequential", action="store_true", help="no --parallelism 1 plan")
    parser.add_argument("--child", nargs=3, metavar=("STACK", "URL", "PARALLELISM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        stack, url, parallelism = args.child
        print(plan_seconds(Path(stack), SandboxEndpoints({"sagemaker": url}), int(parallelism)))
        return

    counter = CallCounter()
    server_log = logging.getLogger("mlops_sagemaker_sandbox.server")
    server_log.setLevel(logging.DEBUG)
    server_log.addHandler(counter)
    server_log.propagate = False  # counted, not printed

    emulator = SageMakerEmulator({"endpoint_delay_seconds": 0})
    emulator.start()
    emulator.reset()  # moto's backends live in this process: start from nothing
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stack = Path(tmp) / "stack.yaml"
            stack.write_text(stack_text(args.pairs))
            sandbox = SandboxEndpoints({"sagemaker": emulator.url})
            start = time.perf_counter()
            _, result = StackHarness(stack, sandbox, parallelism=10).apply()
            assert result.ok, result.errors
            applied = time.perf_counter() - start
            emulator.update_settings({"latency_ms": args.latency_ms})
            counter.take()
            timed_plan(stack, emulator.url, args.parallelism)  # warm-up; counts the calls of one plan
            calls = counter.take()
            parallel = [timed_plan(stack, emulator.url, args.parallelism) for _ in range(args.runs)]
            sequential = (
                [] if args.skip_sequential else [timed_plan(stack, emulator.url, 1) for _ in range(args.runs)]
            )
    finally:
        emulator.stop()

    total = sum(calls.values())
    floor = total * args.latency_ms / 1000 / args.parallelism
    par = statistics.median(parallel)
    print(
        f"plan of {args.pairs} endpoint+model pairs, +{args.latency_ms:g} ms per call "
        f"(applied first in {applied:.1f} s, latency 0):"
    )
    print(f"  calls per plan : {total} ({total / args.pairs:.2f} per pair)")
    for action, count in calls.most_common():
        print(f"      {action:32s} {count:6d}  ({count / args.pairs:.2f} per pair)")
    print(f"  floor          : {floor:6.2f} s  (calls x {args.latency_ms:g} ms / {args.parallelism})")
    ratio = par / floor
    verdict = "meets" if ratio <= FLOOR_TARGET else "misses"
    print(f"  --parallelism {args.parallelism}: {par:6.2f} s  = {ratio:.2f}x the floor ", end="")
    print(f"({verdict} the target of {FLOOR_TARGET}x)")
    if sequential:
        seq = statistics.median(sequential)
        speedup = seq / par
        verdict = "meets" if speedup >= SPEEDUP_TARGET else "misses"
        print(f"  --parallelism 1 : {seq:6.2f} s")
        print(f"  speed-up        : {speedup:.1f}x ({verdict} the target of {SPEEDUP_TARGET:g}x)")


if __name__ == "__main__":
    main()
