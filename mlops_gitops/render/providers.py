"""`mlops providers` from its document (what `--json` prints): a list of {"name", "module",
"kinds", "error"}, error set for a provider that does not load."""

from __future__ import annotations

from typing import Any

from mlops_gitops.render.environment import render


def render_providers(providers: list[dict[str, Any]]) -> str:
    return render("providers.txt.j2", providers=providers)
