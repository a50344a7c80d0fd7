"""Files of the repository the stack points to: conda files of serving environments and Azure ML
pipeline YAML of schedules. Read at validate and plan time; no SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class FileProblem(Exception):
    """A file the stack names cannot be used; the message says why, in one line."""


def load_yaml(base_dir: str, relative: str, *, what: str) -> dict[str, Any]:
    """The YAML mapping at `relative` (to the stack file's directory)."""
    import yaml

    path = Path(base_dir) / relative
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileProblem(f"cannot read {relative!r}: {exc.__class__.__name__}") from exc
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise FileProblem(f"{relative!r} is not valid YAML{where}") from exc
    if not isinstance(body, dict):
        raise FileProblem(f"{relative!r} is not {what} (a YAML mapping)")
    return body


def load_conda(base_dir: str, relative: str) -> dict[str, Any]:
    body = load_yaml(base_dir, relative, what="a conda environment file")
    if not isinstance(body.get("dependencies"), list):
        raise FileProblem(f"{relative!r} is not a conda environment file: it lists no dependencies")
    return body


def load_pipeline(base_dir: str, relative: str) -> dict[str, Any]:
    body = load_yaml(base_dir, relative, what="an Azure ML pipeline job")
    if body.get("type") != "pipeline" or not isinstance(body.get("jobs"), dict):
        raise FileProblem(
            f"{relative!r} is not an Azure ML pipeline job: it needs `type: pipeline` and `jobs:`"
        )
    return body
