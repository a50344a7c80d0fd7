"""The jinja2 environment of the templated renderers, with the filters their templates share.

jinja2 is imported when the first template is rendered, not before: commands that print no
structured text (`mlops --help`, `mlops validate`) never load it."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from mlops_gitops import paths
from mlops_gitops.render import retirement, values
from mlops_gitops.render.colors import paint

if TYPE_CHECKING:
    import jinja2


def render(template: str, *, color: bool = False, **document: Any) -> str:
    """`template` (a file of templates/) rendered with the given documents as its variables."""
    return environment(color).get_template(template).render(**document)


@lru_cache(maxsize=2)  # one per colour setting: a command renders several templates
def environment(color: bool) -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlops_gitops.templates", ""),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["paint"] = lambda text, key: paint(text, key, color=color)
    env.filters["fmt"] = values.fmt
    # Plain json.dumps, as these values were always printed: jinja2's tojson escapes <, > and &.
    env.filters["json"] = json.dumps
    env.filters["output_value"] = values.output_value
    env.tests["containing"] = lambda value, part: part in (value or "")
    env.globals.update(
        rows=values.rows,
        verbs=values.VERBS,
        drift_verbs=values.DRIFT_VERBS,
        symbols=values.SYMBOLS,
        output_text=values.output_text,
        leaves=lambda value: list(paths.leaves(value)),
        widest=values.widest,
        retirement_sentence=retirement.sentence,
        retirement_why=retirement.why,
    )
    return env
