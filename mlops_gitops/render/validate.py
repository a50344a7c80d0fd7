"""What `mlops validate` prints, from its document (what `--json` prints: {"valid", "errors",
"warnings", "resources"}). Plain text, no template: validate stays as fast as it can start."""

from __future__ import annotations

from typing import Any


def validation_warnings(validation: dict[str, Any]) -> list[str]:
    return [f"Warning: {w}" for w in validation["warnings"]]


def validation_success(validation: dict[str, Any], *, stack_path: str) -> str:
    return f"Success! {stack_path} is valid ({validation['resources']} resources)."
