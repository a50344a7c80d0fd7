"""Every benchmark, one after the other, at the sizes of the targets, then each target's verdict.

    python bench/run_all.py [--quick]

`--quick` runs smaller sizes (a tenth of the resources, shorter waits): a check that the
benchmarks work, not a measurement. Each benchmark prints its own ratios, measured in its own run;
the lines naming a target are gathered at the end. Nothing else should run on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, its arguments at the targets' sizes, the same with --quick)
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("bench_validate.py", [], ["--runs", "5"]),
    ("bench_scale.py", ["--sizes", "1000", "10000"], ["--sizes", "100", "1000"]),
    ("bench_refresh.py", ["--pairs", "1000"], ["--pairs", "100"]),
    ("bench_apply_scale.py", ["--pairs", "100"], ["--pairs", "10", "--wait", "1"]),
    ("bench_apply.py", [], ["--pairs", "4"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a check, not a measurement")
    args = parser.parse_args()
    verdicts: list[str] = []
    failed: list[str] = []
    for script, full, quick in BENCHMARKS:
        command = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"$ python bench/{script} {' '.join(command[2:])}".rstrip(), flush=True)
        started = time.monotonic()
        lines: list[str] = []
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
            assert process.stdout is not None
            for line in process.stdout:
                print(line, end="", flush=True)
                lines.append(line.rstrip())
        if process.returncode != 0:
            failed.append(f"{script} exited {process.returncode}")
        verdicts += [f"{script}: {line.strip()}" for line in lines if "target" in line]
        print(f"({script}: {time.monotonic() - started:.0f} s)\n", flush=True)
    print("targets:")
    for line in verdicts:
        print(f"  {line}")
    for line in failed:
        print(f"  FAILED: {line}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
