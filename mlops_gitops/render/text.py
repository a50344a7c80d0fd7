"""Terraform-style plan text, rendered from the plan's JSON document with jinja2."""

from __future__ import annotations

from typing import Any

from mlops_gitops.render import values

_COLORS = {"+": "32", "~": "33", "-": "31", "-/+": "31", "bold": "1"}


def _environment(color: bool):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlops_gitops.templates", ""),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )

    def paint(text: str, key: str) -> str:
        code = _COLORS.get(key)
        return f"\x1b[{code}m{text}\x1b[0m" if color and code else text

    env.filters["paint"] = paint
    env.tests["containing"] = lambda value, part: part in (value or "")
    env.filters["fmt"] = values.fmt
    env.globals.update(
        rows=values.rows,
        verbs=values.VERBS,
        drift_verbs=values.DRIFT_VERBS,
        symbols=values.SYMBOLS,
        output_text=values.output_text,
    )
    return env


def render_plan(doc: dict[str, Any], *, color: bool = False) -> str:
    return _environment(color).get_template("plan.txt.j2").render(plan=doc)


def render_apply_summary(counts: dict[str, int], *, destroy: bool = False, color: bool = False) -> str:
    env = _environment(color)
    return env.get_template("apply_summary.txt.j2").render(counts=counts, destroy=destroy)
