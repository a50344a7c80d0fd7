"""The stack file's JSON Schema, assembled from the core schema and the installed providers:
each provider's configuration (`provider: {<name>: ...}`) and its per-resource settings blocks
(`<name>:` inside a resource) come from the provider's own models, so editors complete and check
them as the CLI does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from mlops_gitops.kinds import KINDS
from mlops_gitops.provider import Provider
from mlops_gitops.stack.schema import StackSpec

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _embedded(model: type[BaseModel], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """`model`'s schema, its own definitions moved into `defs` under `prefix` (two providers
    may both call a model `Settings`)."""
    sub = model.model_json_schema(by_alias=True, ref_template=f"#/$defs/{prefix}{{model}}")
    for name, definition in sub.pop("$defs", {}).items():
        defs[f"{prefix}{name}"] = definition
    return sub


def stack_schema(providers: Mapping[str, type[Provider]]) -> dict[str, Any]:
    doc = StackSpec.model_json_schema(by_alias=True)
    defs: dict[str, Any] = doc.setdefault("$defs", {})
    configs: dict[str, Any] = {}
    for name, cls in sorted(providers.items()):
        prefix = f"{name}__"
        configs[name] = _embedded(cls.config_model, prefix, defs)
        for kind, model in cls.settings_models.items():
            spec = defs[KINDS[kind].spec.__name__]
            block = _embedded(model, prefix, defs)
            block["description"] = f"settings for provider {name}, used when the stack's provider is {name}"
            spec.setdefault("properties", {})[name] = block
    doc["properties"]["provider"] = {
        "description": doc["properties"]["provider"].get("description", ""),
        "type": "object",
        "properties": configs,
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
    }
    doc["$schema"] = DIALECT
    doc["title"] = "mlops-gitops stack file (apiVersion mlops-gitops/v1)"
    return doc
