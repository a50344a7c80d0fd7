"""Stack loading, validation and a pure no-op plan as the stack grows: linear, or not?

For each size N (resources: models, the endpoints serving them, monitors watching those), a
fresh Python process
- writes a stack of N resources and times `load_stack` + `open_workspace` (what `mlops validate`
  runs) on the SageMaker provider, whose checks make no cloud call;
- times (CPU) a plan of the same stack on the in-memory provider with state and refresh equal to
  what the stack asks for, so every resource is a no-op (no cloud, no lock: `make_plan` alone);
- reports its peak resident memory (the whole process: interpreter and imports included).

Sizes are measured in one run and compared as ratios (the machine is shared: absolute times
vary, ratios much less): growing N tenfold should cost about ten times as much.

    python bench/bench_scale.py [--sizes 1000 10000] [--runs 1]

Targets (from the issue): 10,000 resources validate in under 3 s and 300 MB; a pure plan of
10,000 no-op resources under 1 s of CPU.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROLE = "arn:aws:iam::123456789012:role/bench"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
VALIDATE_TARGET_S, MEMORY_TARGET_MB, PLAN_TARGET_S = 3.0, 300.0, 1.0


def stack_text(resources: int, provider: str) -> str:
    """A stack of about `resources` resources in groups of three (model, endpoint, monitor),
    using what large stacks use: variables (one of them sensitive), stack-wide tags, registry
    groups, and endpoints deploying from the registry group their model registers into."""
    units = max(1, resources // 3)
    registry = provider == "sagemaker"  # the memory provider has no model registry
    if provider == "sagemaker":
        head = f"provider: {{sagemaker: {{region: us-east-1, role_arn: '{ROLE}'}}}}"
    else:
        head = "provider: {memory: {}}"
    lines = [
        "apiVersion: mlops-gitops/v1",
        "name: bench-scale",
        head,
        "variables:",
        "  bucket: {default: bench-artifacts}",
        "  token: {default: s3cr3t, sensitive: true}",
        "tags: {team: bench, env: prod}",
        "models:",
    ]
    for i in range(units):
        lines += [
            f"  m{i}:",
            f"    artifact: s3://${{var.bucket}}/m{i}/model.tar.gz",
            f"    image: {IMAGE}",
            "    environment: {API_TOKEN: '${var.token}', THRESHOLD: '0.8'}",
            f"    tags: {{owner: team-{i % 7}}}",
        ]
        if registry:
            lines.append(f"    registry: {{group: g{i}, approval: Approved}}")
    lines.append("endpoints:")
    for i in range(units):
        variant = f"model_package: 'g{i}@latest-approved'" if registry and i % 2 else f"model: m{i}"
        lines += [
            f"  e{i}:",
            "    variants:",
            f"      - {{name: main, {variant}, instance_type: ml.m5.large, instance_count: 1}}",
            f"    data_capture: {{destination: 's3://${{var.bucket}}/capture/e{i}/', sample_percent: 10}}",
        ]
    lines.append("monitors:")
    for i in range(units):
        lines += [
            f"  mon{i}:",
            f"    endpoint: e{i}",
            "    type: data_quality",
            f"    baseline: s3://${{var.bucket}}/baseline/e{i}/",
        ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- measured in a child process
def _validate(directory: Path, resources: int) -> tuple[float, int, int]:
    from mlops_gitops.stack.loader import load_stack
    from mlops_gitops.workspace import open_workspace

    path = directory / "validate.yaml"
    path.write_text(stack_text(resources, "sagemaker"))
    gc.collect()
    full = _full_collections()
    start = time.perf_counter()
    ws = open_workspace(load_stack(path, environ={}))
    elapsed = time.perf_counter() - start
    return elapsed, len(ws.stack.resources), _full_collections() - full


def _noop_state(ws: Any) -> tuple[Any, dict[str, dict[str, Any]]]:
    """State (and refresh) recording exactly what `ws` asks for: a plan from empty state, its
    unknowns filled in as an apply would, each set recorded as applied."""
    from mlops_gitops.engine.planner import make_plan
    from mlops_gitops.provider import UNKNOWN
    from mlops_gitops.state.model import ResourceState, StateDoc

    def known(value: Any, address: str) -> Any:
        if value is UNKNOWN:
            return f"arn:bench:{address}"
        if isinstance(value, dict):
            return {k: known(v, address) for k, v in value.items()}
        if isinstance(value, list):
            return [known(v, address) for v in value]
        return value

    state = StateDoc.new(ws.stack.name)
    first = make_plan(ws, state, refreshed={})
    assert all(c.action == "create" for c in first.changes)
    refreshed: dict[str, dict[str, Any]] = {}
    for change in first.changes:
        res = ws.stack.resources[change.address]
        attributes = known(change.after, change.address)
        state.put(
            ResourceState(
                address=change.address,
                kind=res.kind,
                name=res.name,
                provider=ws.stack.provider,
                attributes=attributes,
                dependencies=list(res.depends_on),
            )
        )
        refreshed[change.address] = json.loads(json.dumps(attributes))  # a read: fresh objects
    return state, refreshed


def _plan(directory: Path, resources: int) -> tuple[float, int, int]:
    from mlops_gitops.engine.planner import make_plan
    from mlops_gitops.testing import MemoryProvider, memory_stack

    ws = MemoryProvider().workspace(
        memory_stack(stack_text(resources, "memory"), directory, file="plan.yaml")
    )
    state, refreshed = _noop_state(ws)
    gc.collect()
    full = _full_collections()
    start = time.process_time()
    plan = make_plan(ws, state, refreshed=refreshed)
    cpu = time.process_time() - start
    full = _full_collections() - full
    actions = {c.action for c in plan.changes}
    assert actions == {"noop"}, f"the no-op plan has {sorted(actions)}"
    return cpu, len(plan.changes), full


def _full_collections() -> int:
    # Each full collection walks every live object: its cost grows with the stack, so a 10,000
    # resource run that meets one (and a 1,000 one that does not) has a ratio above 10x.
    return gc.get_stats()[2]["collections"]


def child(resources: int, what: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if what == "validate":
            seconds, count, full = _validate(Path(tmp), resources)
        else:
            seconds, count, full = _plan(Path(tmp), resources)
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mb = rss / (1 << 20) if sys.platform == "darwin" else rss / 1024
    print(json.dumps({"seconds": seconds, "resources": count, "peak_mb": mb, "full_gcs": full}))


# ------------------------------------------------------------------------------------ driver
def measure(resources: int, what: str, runs: int) -> dict[str, float]:
    """The best of `runs` fresh processes (the least disturbed by the rest of the machine)."""
    best: dict[str, float] | None = None
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, __file__, "--child", what, str(resources)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")},
        )
        if done.returncode != 0:
            raise SystemExit(f"{what} of {resources} resources failed:\n{done.stderr.strip()}")
        got = json.loads(done.stdout.strip().splitlines()[-1])
        if best is None or got["seconds"] < best["seconds"]:
            best = got
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="resources per stack")
    parser.add_argument("--runs", type=int, default=1, help="processes per measurement; the best is kept")
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[1]), args.child[0])
        return
    sizes = sorted(args.sizes)
    results: dict[str, dict[int, dict[str, float]]] = {"validate": {}, "plan": {}}
    for n in sizes:
        for what in ("validate", "plan"):
            results[what][n] = measure(n, what, args.runs)
            r = results[what][n]
            label = "load + validate (wall)" if what == "validate" else "pure no-op plan (CPU)"
            print(
                f"{label:24} {int(r['resources']):6d} resources: {r['seconds']:7.3f} s, "
                f"peak {r['peak_mb']:6.1f} MB, {int(r['full_gcs'])} full GC"
            )
    small, large = sizes[0], sizes[-1]
    if large != small:
        growth = large / small
        for what, label in (("validate", "load + validate"), ("plan", "no-op plan")):
            ratio = results[what][large]["seconds"] / results[what][small]["seconds"]
            print(f"{label}: {large}/{small} time ratio {ratio:.1f}x (linear: ~{growth:.0f}x)")
    v, p = results["validate"][large], results["plan"][large]
    met = "met" if v["seconds"] < VALIDATE_TARGET_S and v["peak_mb"] < MEMORY_TARGET_MB else "NOT met"
    print(
        f"{int(v['resources'])} resources validate in {v['seconds']:.2f} s "
        f"(target < {VALIDATE_TARGET_S:.0f} s), {v['peak_mb']:.0f} MB "
        f"(target < {MEMORY_TARGET_MB:.0f} MB): {met}"
    )
    met = "met" if p["seconds"] < PLAN_TARGET_S else "NOT met"
    print(
        f"pure no-op plan of {int(p['resources'])}: {p['seconds']:.2f} s CPU "
        f"(target < {PLAN_TARGET_S:.0f} s): {met}"
    )


if __name__ == "__main__":
    main()
