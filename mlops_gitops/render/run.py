"""The lines `mlops run` prints: a run started, its progress, its end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def run_starting(address: str) -> str:
    return f"{address}: Starting a run..."


def run_progress(address: str, elapsed: float, message: str) -> str:
    return f"{address}: Still running... [{elapsed:.0f}s elapsed] {message}".rstrip()


def run_started(address: str, result: Mapping[str, Any]) -> str:
    return f"{address}: run {result.get('id', '?')} started ({result.get('status', 'started')}); not followed"


def run_done(address: str, result: Mapping[str, Any]) -> list[str]:
    lines = [f"{address}: run {result.get('id', '?')} {str(result.get('status', 'completed')).lower()}"]
    if result.get("output"):
        lines.append(f"Output: {result['output']}")
    if result.get("message"):
        lines.append(str(result["message"]))
    return lines


def run_detached(address: str) -> str:
    return f"{address}: stopped following the run; it goes on in the cloud"
