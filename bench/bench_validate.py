"""`mlops validate` against the floor: a bare `import click, pydantic, yaml` in a fresh Python.

Both are measured in this run, interleaved, and the ratio of medians is printed: absolute times on
a shared machine mean little. The target is a ratio of at most 2.

    python bench/bench_validate.py [--runs 15] [--stack stacks/fraud-detection]

Our modules are byte-compiled first, as `pip install` does for a regular install: an editable
checkout run with PYTHONDONTWRITEBYTECODE set would otherwise compile every module from source on
every run, and the benchmark would time the compiler.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 2.0


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--stack", default=str(ROOT / "stacks" / "fraud-detection"))
    args = parser.parse_args()
    mlops = shutil.which("mlops") or str(Path(sys.executable).parent / "mlops")
    env = {**os.environ, "MLOPS_VAR_execution_role": "arn:aws:iam::123456789012:role/bench"}
    floor_cmd = [sys.executable, "-c", "import click, pydantic, yaml"]
    validate_cmd = [mlops, "--chdir", args.stack, "validate"]
    for package in ("mlops_gitops", "mlops_sagemaker", "mlops_vertex"):
        spec = importlib.util.find_spec(package)
        if spec and spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                compileall.compile_dir(location, quiet=1)
    timed(floor_cmd, env), timed(validate_cmd, env)  # warm the OS file cache
    floor, validate = [], []
    for _ in range(args.runs):
        floor.append(timed(floor_cmd, env))
        validate.append(timed(validate_cmd, env))
    f, v = statistics.median(floor), statistics.median(validate)
    print(f"floor    (import click, pydantic, yaml): median {f * 1000:7.1f} ms over {args.runs} runs")
    print(f"mlops validate ({Path(args.stack).name}):   median {v * 1000:7.1f} ms over {args.runs} runs")
    ratio = v / f
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"ratio validate/floor: {ratio:.2f}x ({verdict} the target of {TARGET:g}x)")


if __name__ == "__main__":
    main()
