"""Azure Monitor autoscale settings (`Microsoft.Insights/autoscalesettings`), the way Azure ML
online deployments are autoscaled: synchronous PUT/GET/PATCH/DELETE/list as
`azure.mgmt.monitor.MonitorManagementClient(...).autoscale_settings` sends them. Profiles are kept
as sent (capacity minimum/maximum/default are strings on the wire), after the checks Azure Monitor
makes: 1 to 20 profiles, 0 <= minimum <= default <= maximum, at most 10 rules per profile, and a
`targetResourceUri`, which, when it names an online deployment, must exist."""

from __future__ import annotations

import copy
import re
from typing import Any

from .arm import ArmError, State, bad_request, system_data
from .resources import Call, Reply

_TYPE = "Microsoft.Insights/autoscaleSettings"


def setting_id(call: Call) -> str:
    g = call.groups
    return (
        f"/subscriptions/{g['subscription']}/resourceGroups/{g['group']}/providers/microsoft.insights"
        f"/autoscalesettings/{g['setting']}"
    )


def _refuse(message: str, target: str) -> ArmError:
    return bad_request(message, target=target, code="UnsupportedRequestContent")


def _capacity(profile: dict[str, Any], index: int) -> None:
    capacity = profile.get("capacity")
    if not isinstance(capacity, dict):
        raise _refuse(f"Profile {index} has no capacity.", f"profiles[{index}].capacity")
    values: dict[str, int] = {}
    for name in ("minimum", "maximum", "default"):
        try:
            values[name] = int(str(capacity.get(name)))
        except ValueError:
            raise _refuse(
                f"Profile {index}: capacity {name} {capacity.get(name)!r} is not a number.",
                f"profiles[{index}].capacity.{name}",
            ) from None
    if not 0 <= values["minimum"] <= values["default"] <= values["maximum"]:
        raise _refuse(
            f"The autoscale profile capacity is invalid: minimum ({values['minimum']}) <= default "
            f"({values['default']}) <= maximum ({values['maximum']}) must hold.",
            f"profiles[{index}].capacity",
        )
    if len(profile.get("rules") or []) > 10:
        raise _refuse(f"Profile {index} has more than 10 rules.", f"profiles[{index}].rules")


def put_setting(state: State, call: Call) -> Reply:
    key = setting_id(call)
    previous = state.get(key)
    properties = copy.deepcopy(call.body.get("properties"))
    if not isinstance(properties, dict):
        raise _refuse("The request body must have 'properties'.", "properties")
    _check(state, properties)
    document = {
        "id": previous["id"] if previous is not None else key,
        "name": call.groups["setting"],
        "type": _TYPE,
        "location": call.body.get("location") or call.settings.location,
        "tags": copy.deepcopy(call.body.get("tags") or {}),
        "properties": {"name": call.groups["setting"], "enabled": True, "notifications": [], **properties},
        "systemData": system_data(previous and previous.get("systemData")),
    }
    state.put(document)
    return Reply(200 if previous is not None else 201, document)


def _check(state: State, properties: dict[str, Any]) -> None:
    profiles = properties.get("profiles")
    if not isinstance(profiles, list) or not 1 <= len(profiles) <= 20:
        raise _refuse("An autoscale setting needs 1 to 20 profiles.", "profiles")
    for index, profile in enumerate(profiles):
        if not isinstance(profile, dict):
            raise _refuse(f"Profile {index} is not an object.", f"profiles[{index}]")
        _capacity(profile, index)
    target = properties.get("targetResourceUri")
    if not isinstance(target, str) or not target.startswith("/subscriptions/"):
        raise _refuse(f"Invalid targetResourceUri {target!r}: a resource id.", "targetResourceUri")
    if (
        re.search(r"/onlineEndpoints/[^/]+/deployments/[^/]+$", target, re.IGNORECASE)
        and state.get(target) is None
    ):
        raise ArmError(
            400,
            "TargetResourceNotFound",
            f"The target resource id '{target}' was not found.",
            target="targetResourceUri",
        )


def _setting(state: State, call: Call) -> dict[str, Any]:
    found = state.get(setting_id(call))
    if found is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{_TYPE}/{call.groups['setting']}' under resource group '{call.groups['group']}' "
            "was not found.",
        )
    return found


def get_setting(state: State, call: Call) -> Reply:
    return Reply(200, _setting(state, call))


def patch_setting(state: State, call: Call) -> Reply:
    found = _setting(state, call)
    if "tags" in call.body:
        found["tags"] = copy.deepcopy(call.body.get("tags") or {})
    changes = call.body.get("properties")
    if isinstance(changes, dict):
        merged = {**found["properties"], **copy.deepcopy(changes)}
        _check(state, merged)
        found["properties"] = merged
    found["systemData"] = system_data(found.get("systemData"))
    return Reply(200, found)


def delete_setting(state: State, call: Call) -> Reply:
    key = setting_id(call)
    if state.get(key) is None:
        return Reply(204)
    state.remove(key)
    return Reply(200)


def list_settings(state: State, call: Call) -> Reply:
    g = call.groups
    collection = (
        f"/subscriptions/{g['subscription']}/resourceGroups/{g['group']}/providers/microsoft.insights"
        "/autoscalesettings"
    )
    return Reply(200, {"value": list(state.children(collection)), "nextLink": None})
