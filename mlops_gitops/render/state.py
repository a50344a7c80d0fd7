"""State as `mlops show` and `mlops state ...` print it, from the state document (what
`show --json` prints: sensitive attributes and outputs already hidden) and its parts."""

from __future__ import annotations

from typing import Any

from mlops_gitops.render.environment import render


def render_state(state: dict[str, Any]) -> str:
    """Every resource, then the outputs."""
    return render("state.txt.j2", state=state)


def render_resource(resource: dict[str, Any]) -> str:
    """One entry of the state document's `resources`."""
    return render("resource.txt.j2", resource=resource)


def render_addresses(addresses: list[str]) -> str:
    """`mlops state list`: the addresses in state, in apply order, one a line."""
    return "".join(f"{address}\n" for address in addresses)


def removed_from_state(address: str) -> str:
    return f"Removed {address} from state (the cloud object still exists)."


def moved_in_state(source: str, destination: str) -> str:
    return f"Moved {source} to {destination}."


def lock_holder(lock: dict[str, Any]) -> str:
    """Who holds the state lock (`lock` has the lock file's id, who, operation and created)."""
    return f"Lock {lock['id']}: held by {lock['who']} for {lock['operation']} since {lock['created']}."


def state_unlocked() -> str:
    return "State unlocked."
