"""The core names no provider: what a cloud needs is declared by its provider, so a third party's
provider is one folder and an entry point. Comments and docstrings may give examples; code,
messages and templates may not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import mlops_gitops

CORE = Path(mlops_gitops.__file__).parent
TEMPLATES = CORE.parent / "templates"
# The providers of this repository, the one planned next, and their SDKs and emulators.
PROVIDERS = ("sagemaker", "vertex", "azureml", "azure_ai_ml", "aiplatform")
CLOUDS = ("boto", "moto", "aws", "gcp")
PATTERN = re.compile(rf"(?<![a-z])({'|'.join(PROVIDERS + CLOUDS)})(?![a-z])", re.IGNORECASE)
PROVIDER_PATTERN = re.compile(rf"(?<![a-z])({'|'.join(PROVIDERS)})(?![a-z])", re.IGNORECASE)
# State backends name the store they keep state in (S3 through boto3), and CI generation the
# identity federations jobs log in to: clouds, not providers.
STORAGE = {"state/s3.py", "state/gcs.py", "state/azureblob.py", "cli/commands/init.py"}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _words_in_code(source: str, pattern: re.Pattern[str] = PATTERN) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        texts: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            texts.append(node.value)
        elif isinstance(node, ast.Name):
            texts.append(node.id)
        elif isinstance(node, ast.Attribute):
            texts.append(node.attr)
        elif isinstance(node, ast.alias):
            texts.append(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            texts.append(node.module)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.arg):
            texts.append(node.name if not isinstance(node, ast.arg) else node.arg)
        for text in texts:
            found += [(getattr(node, "lineno", 0), m[1]) for m in pattern.finditer(text)]
    return found


def test_no_provider_is_named_in_core_code() -> None:
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        storage = str(path.relative_to(CORE)) in STORAGE
        for line, word in _words_in_code(path.read_text(), PROVIDER_PATTERN if storage else PATTERN):
            offenders.append(f"{path.relative_to(CORE.parent)}:{line}: {word}")
    for path in sorted(TEMPLATES.glob("*.j2")):
        text = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.DOTALL)  # jinja comments
        offenders += [f"{path.name}: {m[1]}" for m in PATTERN.finditer(text)]
    assert offenders == []


def test_the_check_finds_a_provider_name_in_code_but_not_in_docstrings() -> None:
    source = '"""Say SageMaker."""\n\ndef f(x):\n    """Or Vertex."""\n    return x.vertex + "moto"\n'
    assert sorted(_words_in_code(source)) == [(5, "moto"), (5, "vertex")]
