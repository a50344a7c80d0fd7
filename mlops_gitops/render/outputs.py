"""Outputs as `mlops output` prints them, from the outputs document (what `output --json`
prints: {name: {"value": ..., "sensitive": ...}}, a sensitive output's value null)."""

from __future__ import annotations

import json
from typing import Any

from mlops_gitops.render.environment import render


def render_outputs(outputs: dict[str, Any]) -> str:
    return render("outputs.txt.j2", outputs=outputs)


def render_output_value(value: Any, *, raw: bool) -> str:
    """One output's value, asked for by name (so shown even when sensitive): JSON, or with `raw`
    a string as it is, for scripts."""
    return value if raw and isinstance(value, str) else json.dumps(value)
