"""Retirement: what a `retired:` block on a model or an endpoint makes of the stack.

A retired resource leaves production but keeps its record, where removing it from the file would
destroy it. The stack the engine plans from is the one the file describes once the retirement is
done, worked out here, purely, when the stack is loaded:

- a retired model keeps its resource (its artifact and registration stay; the provider archives
  the registered version, see `Retirement.archive`), but every variant serving it is taken off its
  endpoint. Weights are relative, so the variants left share the traffic as their weights say.
  Retiring a model whose endpoint would have nothing left to serve its live traffic is refused:
  retire the endpoint too, or add a variant serving another model first.
- a retired endpoint leaves the stack (it stops serving and is deleted); its record is kept in
  state history.
- the monitors about what is retired (a monitor's `endpoint`, or its `model`) go, and with them
  their alerts; a retraining schedule started only by those monitors' alerts goes too; one that
  also has a cron loses those triggers only.
- a batch job running a retired model is refused: it would score with a model taken out of
  production. Point it at another model, or remove it.

The engine shows all this as one retirement in the plan (see `engine/planner.py`), not as the
separate deletions and updates it is made of."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mlops_gitops.errors import Diagnostic
from mlops_gitops.stack import schema
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.variables import OutputRef
from mlops_gitops.stack.yamlpos import Positions


@dataclass
class Retired:
    """One `retired:` block and what it does to the rest of the stack."""

    address: str  # model.<name> or endpoint.<name>
    reason: str
    by: str
    archive: bool
    resource: Resource  # as written in the file
    stops_serving: list[tuple[str, str]] = field(default_factory=list)  # (endpoint address, variant)
    removed: list[str] = field(default_factory=list)  # monitors and schedules that go with it
    changed: list[str] = field(default_factory=list)  # endpoints losing variants, schedules triggers

    @property
    def kind(self) -> str:
        return self.resource.kind

    @property
    def name(self) -> str:
        return self.resource.name


@dataclass
class Retirements:
    """Every retirement of a stack, and which one each affected resource answers to."""

    retired: dict[str, Retired] = field(default_factory=dict)  # address of what is retired -> it
    because: dict[str, str] = field(default_factory=dict)  # affected address -> retired address

    def of(self, address: str) -> Retired | None:
        """The retirement `address` is, or is affected by."""
        key = address if address in self.retired else self.because.get(address)
        return self.retired.get(key) if key else None


def retirement_of(res: Resource) -> schema.Retirement | None:
    retired = getattr(res.spec, "retired", None)
    return retired if isinstance(retired, schema.Retirement) else None


def apply(
    resources: dict[str, Resource],
    positions: Positions,
    output_refs: Iterable[OutputRef] = (),
) -> tuple[dict[str, Resource], Retirements, list[Diagnostic]]:
    """The resources once every retirement is done, the retirements, and what is refused."""
    out = Retirements()
    diagnostics: list[Diagnostic] = []
    for address, res in resources.items():
        r = retirement_of(res)
        if r is not None:
            out.retired[address] = Retired(address, r.reason, r.by, r.archive, res)
    diagnostics += _check_monitor_models(resources, positions)
    if not out.retired:
        return resources, out, diagnostics
    models = {a for a, r in out.retired.items() if r.kind == "model"}
    endpoints = {a for a, r in out.retired.items() if r.kind == "endpoint"}
    kept: dict[str, Resource] = {}
    for address, res in resources.items():
        if address in endpoints:
            diagnostics += _protected(res, positions)
            continue
        if res.kind == "endpoint":
            res = _without_retired_variants(res, models, out, positions, diagnostics)
        kept[address] = res
    # Monitors about what is retired go; then the schedules only those monitors started.
    for address, res in list(kept.items()):
        spec = res.spec
        if isinstance(spec, schema.MonitorSpec):
            by = f"endpoint.{spec.endpoint}" if f"endpoint.{spec.endpoint}" in endpoints else None
            if by is None and spec.model is not None and f"model.{spec.model}" in models:
                by = f"model.{spec.model}"
            if by is not None:
                del kept[address]
                out.retired[by].removed.append(address)
                out.because[address] = by
    for address, res in list(kept.items()):
        spec = res.spec
        if isinstance(spec, schema.ScheduleSpec) and spec.also_on:
            gone = [m for m in spec.also_on if f"monitor.{m}" in out.because]
            if not gone:
                continue
            by = out.because[f"monitor.{gone[0]}"]
            out.because[address] = by
            if spec.cron is None and len(gone) == len(spec.also_on):
                del kept[address]
                out.retired[by].removed.append(address)
                continue
            left = [m for m in spec.also_on if m not in gone]
            kept[address] = _copy(res, {"also_on": left}, drop={f"monitor.{m}" for m in gone})
            out.retired[by].changed.append(address)
    for address, res in list(kept.items()):
        spec = res.spec
        if not isinstance(spec, schema.BatchJobSpec):
            continue
        if spec.model is not None and f"model.{spec.model}" in models:
            path = f"batch_jobs.{res.name}.model"
            diagnostics.append(
                Diagnostic(
                    f"model {spec.model!r} is retired: a batch job cannot run it; point the batch job "
                    "at another model, or remove it",
                    path,
                    positions.value(path),
                )
            )
        gone = [s for s in spec.also_on if f"schedule.{s}" in out.because and f"schedule.{s}" not in kept]
        if gone:
            by = out.because[f"schedule.{gone[0]}"]
            kept[address] = _copy(
                res,
                {"also_on": [s for s in spec.also_on if s not in gone]},
                drop={f"schedule.{s}" for s in gone},
            )
            out.because[address] = by
            out.retired[by].changed.append(address)
    diagnostics += _outputs(output_refs, out, kept)
    return kept, out, diagnostics


def _check_monitor_models(resources: Mapping[str, Resource], positions: Positions) -> list[Diagnostic]:
    """A monitor's `model` must serve on the monitor's endpoint: it says whose monitor it is."""
    out = []
    for res in resources.values():
        spec = res.spec
        if not isinstance(spec, schema.MonitorSpec) or spec.model is None:
            continue
        endpoint = resources.get(f"endpoint.{spec.endpoint}")
        if endpoint is None or not isinstance(endpoint.spec, schema.EndpointSpec):
            continue  # reported by the reference check
        if not any(v.model == spec.model for v in endpoint.spec.variants):
            path = f"monitors.{res.name}.model"
            out.append(
                Diagnostic(
                    f"model {spec.model!r} serves no variant of endpoint {spec.endpoint!r}",
                    path,
                    positions.value(path),
                )
            )
    return out


def _protected(res: Resource, positions: Positions) -> list[Diagnostic]:
    if not res.spec.lifecycle.prevent_destroy:  # type: ignore[attr-defined]
        return []
    path = f"endpoints.{res.name}.retired"
    return [
        Diagnostic(
            "a retired endpoint is deleted, but lifecycle.prevent_destroy is set: set it to false "
            "to retire the endpoint",
            path,
            positions.value(path),
        )
    ]


def _without_retired_variants(
    res: Resource,
    models: set[str],
    out: Retirements,
    positions: Positions,
    diagnostics: list[Diagnostic],
) -> Resource:
    spec = res.spec
    assert isinstance(spec, schema.EndpointSpec)
    going = [v for v in spec.variants if v.model is not None and f"model.{v.model}" in models]
    if not going:
        return res
    left = [v for v in spec.variants if v not in going]
    live = [v for v in left if v.weight > 0]
    for v in going:
        by = f"model.{v.model}"
        out.retired[by].stops_serving.append((res.address, v.name))
    by = f"model.{going[0].model}"
    if not live:
        first_live = next((v for v in going if v.weight > 0), going[0])
        path = f"models.{first_live.model}.retired"
        serving = ", ".join(sorted({str(v.model) for v in going if v.weight > 0}))
        diagnostics.append(
            Diagnostic(
                f"retiring it leaves endpoint {res.name!r} with nothing to serve its traffic: every "
                f"variant taking live traffic serves a retired model ({serving}); add a variant "
                "serving another model first, or retire the endpoint too",
                path,
                positions.value(path),
            )
        )
        return res
    out.because[res.address] = by
    out.retired[by].changed.append(res.address)
    still = {f"model.{v.model}" for v in left if v.model is not None}
    return _copy(res, {"variants": left}, drop={f"model.{v.model}" for v in going} - still)


def _copy(res: Resource, update: dict[str, object], *, drop: set[str]) -> Resource:
    """`res` with its spec updated (a shallow copy: the file's own spec is left as written) and
    the dependencies on `drop` removed."""
    return Resource(
        res.kind,
        res.name,
        res.spec.model_copy(update=update),
        res.position,
        [d for d in res.depends_on if d not in drop],
        set(res.sensitive_paths),
        res.base_dir,
    )


def _outputs(refs: Iterable[OutputRef], out: Retirements, kept: Mapping[str, Resource]) -> list[Diagnostic]:
    """An output reading what a retirement removes would never be known again."""
    diagnostics = []
    for ref in refs:
        parts = ref.expression.split(".")
        address = ".".join(parts[:2])
        by = out.retired.get(address) or out.retired.get(out.because.get(address, ""))
        if by is None or address in kept:
            continue
        what = "is retired" if address == by.address else f"goes with retired {by.address}"
        diagnostics.append(
            Diagnostic(
                f"{ref.expression} reads {address}, which {what}: remove the output",
                ref.path,
                ref.position,
            )
        )
    return diagnostics


# The tags a retired resource carries in the cloud, beside the ownership tags: why, who, when.
TAG_REASON = "mlops-gitops:retired-reason"
TAG_BY = "mlops-gitops:retired-by"
TAG_AT = "mlops-gitops:retired-at"
# Characters every cloud takes in a tag value (AWS's rule is the narrowest); others become `-`.
_TAG_UNSAFE = re.compile(r"[^\w .:/=+\-@]")


def tag_value(text: str) -> str:
    return _TAG_UNSAFE.sub("-", text)[:256]


def tags(retired: schema.Retirement, at: str) -> dict[str, str]:
    return {TAG_REASON: tag_value(retired.reason), TAG_BY: tag_value(retired.by), TAG_AT: at}


def tagged(res: Resource, at: str) -> Resource:
    """`res` as the provider is asked for it: with the retirement tags, if it is retired."""
    retired = retirement_of(res)
    if retired is None:
        return res
    spec = res.spec.model_copy(update={"tags": {**res.tags, **tags(retired, at)}})
    return Resource(res.kind, res.name, spec, res.position, res.depends_on, res.sensitive_paths, res.base_dir)
