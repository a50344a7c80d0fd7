"""The state's history: what was deployed, promoted, rolled back and retired, when, by whom, why.

Every change `mlops` makes to a resource adds one event to the state document (`StateDoc.events`,
oldest first), written with the state itself, so the record lives where the state lives (the
remote backend in CI) and is as safe as it is. `mlops history` reads it. The newest
`EVENT_LIMIT` events are kept: enough for years of deploys of a stack, without letting the
document, rewritten on every change, grow without bound.

An event names the change in the terms an ML team uses rather than the cloud's:

- deployed: an endpoint is made, a variant is added, or a variant serves another model;
- promoted: traffic moves between an endpoint's variants (detail: the share of each);
- rolled_back: `mlops rollback`, or a rollout the cloud rolled back;
- retired / unretired: a `retired:` block applied, or taken back;
- created, updated, replaced, destroyed: any other change;
- failed: a change that did not complete (detail: the error, without secrets: messages never
  carry attribute values marked sensitive).

`by` is who ran it: `MLOPS_ACTOR`, else the CI's own actor variable, else `user@host`. `source`
links the commit and the CI run when a CI says which (GitHub Actions, GitLab CI, Azure Pipelines)."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

EVENT_LIMIT = 1000

EventName = Literal[
    "deployed",
    "promoted",
    "rolled_back",
    "retired",
    "unretired",
    "created",
    "updated",
    "replaced",
    "destroyed",
    "failed",
    "imported",
]


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    at: str
    address: str
    event: EventName
    by: str
    reason: str | None = None  # why, when someone said so (a retirement's reason, a rollback's)
    detail: dict[str, JsonValue] = Field(default_factory=dict)
    source: dict[str, str] = Field(default_factory=dict)  # commit, run: where the change came from


def actor(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for name in ("MLOPS_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_REQUESTEDFOR"):
        if env.get(name, "").strip():
            return env[name].strip()
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name: a container running as an unnamed uid
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def source(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The commit and CI run a change came from, as far as the CI says."""
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    commit = env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA") or env.get("BUILD_SOURCEVERSION")
    if commit:
        out["commit"] = commit
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        out["run"] = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    elif env.get("CI_PIPELINE_URL"):
        out["run"] = env["CI_PIPELINE_URL"]
    return out


def serving_detail(serving: Mapping[str, Any] | None) -> list[dict[str, JsonValue]]:
    """Each variant's model and shares, from a plan's serving view (see mlops_gitops.serving)."""
    if not serving:
        return []
    out: list[dict[str, JsonValue]] = []
    for v in serving.get("variants") or []:
        row: dict[str, JsonValue] = {
            "variant": v.get("name"),
            "model": v.get("model"),
            "traffic_percent": v.get("traffic_percent"),
        }
        if v.get("mirror_percent") is not None:
            row["mirror_percent"] = v.get("mirror_percent")
        out.append(row)
    return out


def endpoint_event(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> EventName:
    """What a change of an endpoint's serving means: deployed or promoted (else updated)."""
    old = {v["variant"]: v for v in serving_detail(before)}
    new = {v["variant"]: v for v in serving_detail(after)}
    if not old or any(name not in old or old[name]["model"] != v["model"] for name, v in new.items()):
        return "deployed"
    shares = ("traffic_percent", "mirror_percent")
    if set(old) != set(new) or any(old[n].get(k) != new[n].get(k) for n in new for k in shares):
        return "promoted"
    return "updated"
