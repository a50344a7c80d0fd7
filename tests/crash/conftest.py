"""The kill-point suite's cases are made at collection: each path is run once to count its kill
points, on the session's sandboxes, which stop when the session ends."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))

import crash_kit


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kill" in metafunc.fixturenames:
        cases = crash_kit.kill_cases(crash_kit.budget())
        metafunc.parametrize("kill", cases, ids=[case.id for case in cases])


def pytest_sessionfinish(session: pytest.Session) -> None:
    crash_kit.LANES.close()
