"""The status document: every resource of a stack as it runs now, for `mlops status` (text,
`--json`, `--html`). Assembled from state (what was applied), the stack (what should be) and one
live read per resource, done in parallel: the provider's `read`, then its `live_status` (the
cloud's own status word, instance counts, the last and next run) and `console_url` (a deep link).
Drift is what the planner calls drift: state's recorded attributes against the live read, the
kind's `not_drift` paths excluded, sensitive values hidden.

    {"format_version": 1, "stack": "fraud-detection", "provider": "sagemaker", "environment": null,
     "sandbox": true, "generated_at": "2026-11-30T10:00:00Z",
     "summary": {"resources": 3, "ok": 3, "progressing": 0, "degraded": 0, "paused": 0,
                 "failed": 0, "missing": 0, "not_applied": 0, "error": 0, "drifted": 0},
     "resources": [{"address": "endpoint.fraud-api", "kind": "endpoint", "name": "fraud-api",
                    "dependencies": ["model.fraud-xgb-v7"], "in_stack": true, "in_state": true,
                    "tainted": false, "rolled_back": false, "exists": true,
                    "health": "ok", "state": "InService", "message": null,
                    "console_url": "https://...", "serving": {"variants": [{"name": "current",
                    "model": "...", "traffic_percent": 90.0, "desired_instances": 2,
                    "current_instances": 2, "min_instances": 1, "max_instances": 8, ...}]},
                    "last_run": null, "next_run": null, "drift": [{"path": "variants[0].weight",
                    "recorded": 90.0, "live": 50.0, "sensitive": false}]}, ...],
     "graph": {"layers": [["model.fraud-xgb-v7", ...], ["endpoint.fraud-api"]],
               "edges": [["model.fraud-xgb-v7", "endpoint.fraud-api"], ...]}}

`health` is one of HEALTH. Console base URLs: `console_base`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_gitops.errors import MlopsError

if TYPE_CHECKING:
    from mlops_gitops.state.model import ResourceState, StateDoc
    from mlops_gitops.workspace import Workspace

FORMAT_VERSION = 1
# Worst first: the order the summary counts them in.
HEALTH = ("error", "failed", "missing", "degraded", "progressing", "paused", "not_applied", "ok")
_PROVIDER_HEALTH = {"ok", "progressing", "degraded", "failed", "paused"}


def console_base(provider: str, given: str | None = None) -> str | None:
    """The console origin to link to for `provider`: `given` (`mlops status --console-url`), else
    the environment's `MLOPS_CONSOLE_URL_<PROVIDER>` (e.g. MLOPS_CONSOLE_URL_SAGEMAKER), else None
    (the provider's default: the public console)."""
    value = given or os.environ.get(f"MLOPS_CONSOLE_URL_{provider.upper()}") or None
    return value.rstrip("/") if value else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_document(
    ws: Workspace,
    state: StateDoc | None,
    *,
    parallelism: int = 10,
    console: str | None = None,
    sandbox: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The status document of `ws`'s stack: state's resources (in apply order) read live, then
    the stack's resources never applied."""
    moment = now or datetime.now(UTC)
    recorded = list(state.resources.values()) if state is not None else []
    base = console_base(ws.provider.name, console)
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        entries = list(pool.map(lambda rs: _entry(ws, rs, base, moment), recorded))
    _name_models(ws, recorded, entries)
    seen = {e["address"] for e in entries}
    for address, res in ws.stack.resources.items():
        if address not in seen:
            entries.append(_not_applied(address, res.kind, res.name, list(res.depends_on)))
    return {
        "format_version": FORMAT_VERSION,
        "stack": ws.stack.name,
        "provider": ws.provider.name,
        "environment": getattr(ws.stack, "environment", None),
        "sandbox": sandbox,
        "generated_at": _iso(moment),
        "summary": summary(entries),
        "resources": entries,
        "graph": graph(entries),
    }


def summary(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"resources": len(entries), **dict.fromkeys(reversed(HEALTH), 0)}
    for e in entries:
        counts[e["health"]] += 1
    counts["drifted"] = sum(1 for e in entries if e["drift"])
    return counts


def graph(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The dependency graph in layers: a resource sits one layer right of its deepest dependency."""
    addresses = [e["address"] for e in entries]
    deps = {e["address"]: [d for d in e["dependencies"] if d in addresses] for e in entries}
    depth: dict[str, int] = {}

    def layer(address: str, path: tuple[str, ...] = ()) -> int:
        if address not in depth:
            if address in path:  # a cycle state should never hold: cut it
                return 0
            depth[address] = 1 + max((layer(d, (*path, address)) for d in deps[address]), default=-1)
        return depth[address]

    for address in addresses:
        layer(address)
    layers: list[list[str]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
    for address in addresses:
        layers[depth[address]].append(address)
    edges = [[d, a] for a in addresses for d in deps[a]]
    return {"layers": layers, "edges": edges}


def _blank(address: str, kind: str, name: str, dependencies: list[str]) -> dict[str, Any]:
    return {
        "address": address,
        "kind": kind,
        "name": name,
        "dependencies": dependencies,
        "in_stack": True,
        "in_state": False,
        "tainted": False,
        "rolled_back": False,
        "exists": None,
        "health": "not_applied",
        "state": None,
        "message": None,
        "console_url": None,
        "serving": None,
        "last_run": None,
        "next_run": None,
        "drift": [],
    }


def _not_applied(address: str, kind: str, name: str, dependencies: list[str]) -> dict[str, Any]:
    entry = _blank(address, kind, name, dependencies)
    entry["message"] = "in the stack, not applied yet"
    return entry


def _entry(ws: Workspace, rs: ResourceState, base: str | None, now: datetime) -> dict[str, Any]:
    provider = ws.provider
    entry = _blank(rs.address, rs.kind, rs.name, list(rs.dependencies))
    entry.update(
        in_stack=rs.address in ws.stack.resources,
        in_state=True,
        tainted=rs.status == "tainted",
        rolled_back=rs.rolled_back is not None,
    )
    if rs.kind not in provider.kinds:
        entry.update(health="error", message=f"provider {provider.name} does not manage {rs.kind} resources")
        return entry
    try:
        live = provider.read(rs.kind, rs.attributes)
    except MlopsError as exc:
        entry.update(health="error", message=f"reading it failed: {exc}")
        entry["console_url"] = _console(provider, rs.kind, rs.attributes, base)
        return entry
    if live is None:
        entry.update(exists=False, health="missing", message="not found in the cloud: deleted outside mlops?")
        return entry
    entry["exists"] = True
    entry["console_url"] = _console(provider, rs.kind, live, base)
    try:
        found = provider.live_status(rs.kind, live) or {}
    except MlopsError as exc:
        found = {"message": f"its live status is unavailable: {exc}"}
    rtype = provider.kinds[rs.kind]
    failed = rtype.failed(live)
    health = found.get("health")
    entry.update(
        state=found.get("state") or failed,
        message=found.get("message"),
        health="failed" if failed else health if health in _PROVIDER_HEALTH else "ok",
        serving=_serving(provider, rs.kind, live, found.get("variants") or {}),
        last_run=_run(found.get("last_run")),
        next_run=_time(found.get("next_run")) or _next_run(live, now),
        drift=_drift(ws, rs, live),
    )
    return entry


def _name_models(ws: Workspace, recorded: list[ResourceState], entries: list[dict[str, Any]]) -> None:
    """Each variant's `model_address`: the model resource whose cloud object it serves, if any."""
    by_id: dict[str, str] = {}
    for rs in recorded:
        rtype = ws.provider.kinds.get(rs.kind)
        if rs.kind == "model" and rtype is not None:
            cloud_id = rs.attributes.get(rtype.id_field)
            if isinstance(cloud_id, str):
                by_id[cloud_id] = rs.address
    for entry in entries:
        for v in (entry["serving"] or {}).get("variants", []):
            v["model_address"] = by_id.get(str(v.get("model")))


def _time(value: Any) -> str | None:
    """An RFC 3339 time as `2026-11-30T10:00:00Z` (UTC, to the second); anything else as it is."""
    if not isinstance(value, str) or not value:
        return value or None
    try:
        return _iso(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return value


def _console(provider: Any, kind: str, attributes: Mapping[str, Any], base: str | None) -> str | None:
    try:
        return provider.console_url(kind, attributes, base)
    except Exception:  # a link is a convenience: attributes it cannot read give none
        return None


def _run(run: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not run:
        return None
    out = {k: run.get(k) for k in ("time", "status", "ok", "violations", "message", "run")}
    out["time"] = _time(out["time"])
    return out


def _serving(
    provider: Any, kind: str, live: Mapping[str, Any], counts: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any] | None:
    view = provider.serving(kind, live)
    if view is None:
        return None
    variants = []
    for v in view["variants"]:
        now = counts.get(v["name"]) or {}
        desired = now.get("desired_instance_count")
        variant = {k: val for k, val in v.items() if k != "instance_count"}
        variant["desired_instances"] = desired if desired is not None else v.get("instance_count")
        variant["current_instances"] = now.get("current_instance_count")
        variants.append(variant)
    return {"variants": variants}


def _next_run(live: Mapping[str, Any], now: datetime) -> str | None:
    """From a five-field `cron` (and `timezone`) in the live attributes, for a provider that
    tells no next run itself; none for a disabled one."""
    cron = live.get("cron")
    if not isinstance(cron, str) or live.get("enabled") is False:
        return None
    from mlops_gitops.cron import cron_problem, next_runs

    timezone = live.get("timezone") if isinstance(live.get("timezone"), str) else "UTC"
    if cron_problem(cron) is not None:
        return None
    try:
        return _iso(next_runs(cron, str(timezone), now, 1)[0])
    except Exception:  # an unknown zone: no next run rather than no status
        return None


def _drift(ws: Workspace, rs: ResourceState, live: Mapping[str, Any]) -> list[dict[str, Any]]:
    if rs.status == "tainted":
        return []  # a half-made object: there is no applied configuration to drift from
    from mlops_gitops.engine import diff
    from mlops_gitops.engine.planner import sensitive_paths

    rtype = ws.provider.kinds[rs.kind]
    sensitive = sensitive_paths(ws.stack.resources.get(rs.address), rs)
    return [
        {
            "path": c.path,
            "recorded": None if c.sensitive else c.before,
            "live": None if c.sensitive else c.after,
            "sensitive": c.sensitive,
        }
        for c in diff.drift(rtype, rs.attributes, live, sensitive)
    ]
