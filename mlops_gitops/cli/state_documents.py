"""The state document (what `show --json` prints and the state renderers read) and its parts,
built from state with every sensitive value hidden."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_gitops.stack.model import Stack
    from mlops_gitops.state.model import ResourceState, StateDoc


def state_document(stack: Stack, state: StateDoc) -> dict[str, Any]:
    return {
        "lineage": state.lineage,
        "serial": state.serial,
        "stack": state.stack,
        "resources": [resource_document(stack, rs) for rs in state.resources.values()],
        "outputs": outputs_document(state.outputs),
    }


def resource_document(stack: Stack, rs: ResourceState) -> dict[str, Any]:
    from mlops_gitops.engine.plan import public_attributes

    return {
        "address": rs.address,
        "kind": rs.kind,
        "name": rs.name,
        "provider": rs.provider,
        "status": rs.status,
        "attributes": public_attributes(rs.attributes, _sensitive_paths(stack, rs)),
        "dependencies": rs.dependencies,
    }


def outputs_document(outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The outputs state records, a sensitive one's value left out."""
    return {
        name: {
            "value": None if out.get("sensitive") else out.get("value"),
            "sensitive": bool(out.get("sensitive")),
        }
        for name, out in outputs.items()
    }


def _sensitive_paths(stack: Stack, rs: ResourceState) -> set[str]:
    """What to hide: sensitive in the stack now, or when state last recorded the resource (so a
    resource that left the stack still hides its secrets)."""
    from mlops_gitops.engine.planner import sensitive_paths

    return set(sensitive_paths(stack.resources.get(rs.address), rs))
