"""What `mlops import` prints: from {"resources": [{"address": ..., "cloud_id": ...}]} what it
adopted, or from {"path", "also_written", "stack_path", "command"} the stack YAML it wrote."""

from __future__ import annotations

from typing import Any

from mlops_gitops.render.environment import render


def render_import_summary(imported: dict[str, Any]) -> str:
    return render("imported.txt.j2", imported=imported)


def generated_config_note(generated: dict[str, Any]) -> str:
    also = f" (and {', '.join(generated['also_written'])})" if generated["also_written"] else ""
    return (
        f"Wrote {generated['path']}{also}: add its entries to {generated['stack_path']}, "
        f"then run `{generated['command']}`."
    )
