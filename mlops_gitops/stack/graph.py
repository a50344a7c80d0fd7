"""Resources, the references between them, the order to apply them in, and the checks that need
more than one field (or the file system) to decide: what pydantic cannot see on its own."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from pydantic import BaseModel

from mlops_gitops import paths
from mlops_gitops.cron import cron_problem, timezone_problem
from mlops_gitops.errors import Diagnostic
from mlops_gitops.kinds import KINDS, Kind
from mlops_gitops.stack import schema
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.suggest import did_you_mean
from mlops_gitops.stack.variables import OutputRef, Segments
from mlops_gitops.stack.yamlpos import Positions

_OUTPUT_ATTRIBUTE = re.compile(
    r"[A-Za-z_][A-Za-z0-9_-]*(?:\[\d+\])*(?:\.[A-Za-z_][A-Za-z0-9_-]*(?:\[\d+\])*)*"
)


def attribute_path(segments: Sequence[str | int]) -> str:
    """A path the way the engine writes it: keys that are not plain names are quoted."""
    return paths.join(list(segments))


def build(
    specs: Sequence[tuple[Kind, str, BaseModel]],
    declared: Mapping[str, Sequence[str]],
    positions: Positions,
    sensitive: set[Segments],
) -> tuple[dict[str, Resource], list[Diagnostic]]:
    """Resources (in file order) with their dependencies. `declared` names every resource written
    in the file, valid or not, so a reference to a resource with errors of its own is not also
    reported as dangling."""
    # Each index below is built once, so that the work grows with the size of the stack, not
    # with its square (10,000 resources each scanning the others took a minute).
    hidden = _sensitive_by_resource(sensitive)
    resources: dict[str, Resource] = {}
    for kind, name, spec in specs:
        res = Resource(kind.name, name, spec, positions.key(f"{kind.section}.{name}"))
        res.sensitive_paths = hidden.get((kind.section, name), set())
        resources[res.address] = res
    names = _name_sets(declared)
    registering = _registering(resources)
    diagnostics: list[Diagnostic] = []
    for res in resources.values():
        diagnostics += _link(res, resources, declared, names, positions)
        _link_registry(res, registering)
    return resources, diagnostics


def _sensitive_by_resource(sensitive: set[Segments]) -> dict[tuple[str | int, ...], set[str]]:
    """The sensitive attribute paths of each resource, by (section, name): paths below a
    resource (`models.m.environment.TOKEN`), the resource's own segments removed."""
    out: dict[tuple[str | int, ...], set[str]] = {}
    for segs in sensitive:
        if len(segs) > 2:
            out.setdefault(tuple(segs[:2]), set()).add(attribute_path(segs[2:]))
    return out


def _name_sets(declared: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """`declared` as sets, to ask whether a name is declared in constant time."""
    return {kind: frozenset(names) for kind, names in declared.items()}


def _link(
    res: Resource,
    resources: Mapping[str, Resource],
    declared: Mapping[str, Sequence[str]],
    names: Mapping[str, frozenset[str]],
    positions: Positions,
) -> list[Diagnostic]:
    """Fill `res.depends_on` from its kind's references; report those that name nothing."""
    kind = KINDS[res.kind]
    dangling: list[Diagnostic] = []
    for ref in kind.references(res.spec):
        if ref.name not in names.get(ref.kind, ()):
            path = f"{kind.section}.{res.name}.{ref.path}"
            # The suggestion reads the names in file order, as written.
            message = f"no {ref.kind} named {ref.name!r}{did_you_mean(ref.name, declared.get(ref.kind, ()))}"
            dangling.append(Diagnostic(message, path, positions.value(path)))
        elif ref.address in resources and ref.address not in res.depends_on:
            res.depends_on.append(ref.address)
    return dangling


def _registering(resources: Mapping[str, Resource]) -> dict[str, list[tuple[int, str]]]:
    """Registry group -> (place in the file, address) of the stack's models registering into it,
    in file order."""
    out: dict[str, list[tuple[int, str]]] = {}
    for i, (address, res) in enumerate(resources.items()):
        spec = res.spec
        if isinstance(spec, schema.ModelSpec) and spec.registry is not None:
            out.setdefault(spec.registry.group, []).append((i, address))
    return out


def _link_registry(res: Resource, registering: Mapping[str, Sequence[tuple[int, str]]]) -> None:
    """An endpoint deploying `<group>@...` depends on the stack's models registering into that
    group: they register (or approve) the version before the endpoint resolves it, and outlive
    the endpoint on destroy. A group nobody in the stack registers into is outside the stack.
    `registering` is `_registering(resources)`."""
    if not isinstance(res.spec, schema.EndpointSpec):
        return
    groups = {v.model_package.partition("@")[0] for v in res.spec.variants if v.model_package}
    # A model registers into one group, so the lists do not overlap; sorted, they are in file
    # order, as one pass over the stack's resources finds them.
    found = sorted(pair for group in groups for pair in registering.get(group, ()))
    known = set(res.depends_on)
    for _, address in found:
        if address not in known:
            known.add(address)
            res.depends_on.append(address)


def dependency_order(resources: Mapping[str, Resource]) -> tuple[list[str], list[Diagnostic]]:
    """Addresses with dependencies first; among resources ready at the same time, file order wins,
    so the order changes only when the file does."""
    sorter = TopologicalSorter({address: res.depends_on for address, res in resources.items()})
    try:
        sorter.prepare()
    except CycleError as exc:
        return [], [_cycle(exc.args[1], resources)]
    rank = {address: i for i, address in enumerate(resources)}
    ready = [(rank[a], a) for a in sorter.get_ready()]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, address = heapq.heappop(ready)
        order.append(address)
        sorter.done(address)
        for a in sorter.get_ready():
            heapq.heappush(ready, (rank[a], a))
    return order, []


def _cycle(cycle: list[str], resources: Mapping[str, Resource]) -> Diagnostic:
    # graphlib lists each node before the one that depends on it; we print "a -> b" for "a depends
    # on b", starting from the cycle's first resource in the file so the message is stable.
    ring = list(reversed(cycle[:-1]))
    rank = {address: i for i, address in enumerate(resources)}  # not list.index: once per member
    start = min(range(len(ring)), key=lambda i: rank[ring[i]])
    ring = ring[start:] + ring[:start]
    first = resources[ring[0]]
    path = f"{KINDS[first.kind].section}.{first.name}"
    return Diagnostic(f"dependency cycle: {' -> '.join([*ring, ring[0]])}", path, first.position)


def check_outputs(
    refs: Sequence[OutputRef],
    declared: Mapping[str, Sequence[str]],
    outputs: Mapping[str, schema.OutputSpec] | None,
    sensitive: set[Segments],
    positions: Positions,
) -> list[Diagnostic]:
    """Outputs name resources that exist, and do not show a sensitive variable unmarked."""
    names = _name_sets(declared)
    diagnostics = [d for ref in refs if (d := _output_ref(ref, declared, names)) is not None]
    for name in sorted({segs[1] for segs in sensitive if segs[0] == "outputs" and len(segs) > 1}):
        output = (outputs or {}).get(str(name))
        if output is not None and not output.sensitive:
            path = f"outputs.{name}"
            message = f"output {name!r} shows a sensitive variable: add sensitive: true to it"
            diagnostics.append(Diagnostic(message, path, positions.key(path)))
    return diagnostics


def _output_ref(
    ref: OutputRef, declared: Mapping[str, Sequence[str]], names: Mapping[str, frozenset[str]]
) -> Diagnostic | None:
    kind, _, rest = ref.expression.partition(".")
    name, _, attribute = rest.partition(".")
    if kind not in KINDS:
        expected = "outputs may use ${var.NAME} or ${<kind>.<name>.<attribute>}"
        message = f"cannot resolve ${{{ref.expression}}}: {expected}{did_you_mean(kind, KINDS)}"
    elif name not in names.get(kind, ()):
        message = f"no {kind} named {name!r}{did_you_mean(name, declared.get(kind, ()))}"
    elif not _OUTPUT_ATTRIBUTE.fullmatch(attribute):
        message = f"${{{ref.expression}}} needs an attribute after the name, e.g. ${{{kind}.{name}.arn}}"
    else:
        return None
    return Diagnostic(message, ref.path, ref.position)


# ------------------------------------------------------------------------- semantic checks
@dataclass
class _Checker:
    resources: Mapping[str, Resource]
    positions: Positions
    base_dir: Path

    def error(self, res: Resource, path: str, message: str) -> Diagnostic:
        full = f"{KINDS[res.kind].section}.{res.name}.{path}"
        return Diagnostic(message, full, self.positions.value(full))


def check(resources: Mapping[str, Resource], positions: Positions, base_dir: Path) -> list[Diagnostic]:
    """Rules the schema cannot express: cross-resource requirements, cron syntax, time zones,
    files the stack points to, and lifecycle paths."""
    checker = _Checker(resources, positions, base_dir)
    diagnostics: list[Diagnostic] = []
    for res in resources.values():
        diagnostics += _ignore_changes(checker, res)
        if isinstance(res.spec, schema.MonitorSpec):
            diagnostics += _monitor(checker, res, res.spec)
        elif isinstance(res.spec, schema.ScheduleSpec):
            diagnostics += _schedule(checker, res, res.spec)
        elif isinstance(res.spec, schema.BatchJobSpec):
            diagnostics += _batch_job(checker, res, res.spec)
    return diagnostics


def _ignore_changes(checker: _Checker, res: Resource) -> Iterator[Diagnostic]:
    lifecycle = getattr(res.spec, "lifecycle", None)
    fields = type(res.spec).model_fields
    for i, pattern in enumerate(lifecycle.ignore_changes if lifecycle else []):
        path = f"lifecycle.ignore_changes[{i}]"
        try:
            segments = paths.split(pattern)
        except ValueError:
            segments = ()
        if not segments or not isinstance(segments[0], str):
            message = f"{pattern!r} is not an attribute path such as variants[*].instance_count or tags.team"
            yield checker.error(res, path, message)
            continue
        head = segments[0]
        if head != "*" and head not in fields:
            yield checker.error(res, path, f"{res.kind} has no field {head!r}{did_you_mean(head, fields)}")


def _monitor(checker: _Checker, res: Resource, spec: schema.MonitorSpec) -> Iterator[Diagnostic]:
    if spec.every not in ("hourly", "daily"):
        if " " in spec.every.strip():  # meant as a cron expression: say what is wrong with it
            problem = cron_problem(spec.every)
        else:
            hint = did_you_mean(spec.every, ("hourly", "daily"))
            problem = f"must be hourly, daily or a five-field cron expression; got {spec.every!r}{hint}"
        if problem is not None:
            yield checker.error(res, "every", problem)
    endpoint = checker.resources.get(f"endpoint.{spec.endpoint}")
    if endpoint is None:
        return
    assert isinstance(endpoint.spec, schema.EndpointSpec)
    capture = endpoint.spec.data_capture
    if capture is None:
        message = (
            f"endpoint {spec.endpoint!r} has no data_capture: add "
            "data_capture: {destination: ..., sample_percent: ...} to it"
        )
        yield checker.error(res, "endpoint", message)
    elif not capture.enabled:
        message = (
            f"endpoint {spec.endpoint!r} has data capture disabled: set data_capture.enabled: true on it"
        )
        yield checker.error(res, "endpoint", message)


def _schedule(checker: _Checker, res: Resource, spec: schema.ScheduleSpec) -> Iterator[Diagnostic]:
    if spec.cron is not None:
        problem = cron_problem(spec.cron)
        if problem is not None:
            yield checker.error(res, "cron", problem)
    problem = timezone_problem(spec.timezone)
    if problem is not None:
        yield checker.error(res, "timezone", problem)
    if spec.pipeline.definition:
        problem = _missing_file(checker.base_dir, spec.pipeline.definition)
        if problem is not None:
            yield checker.error(res, "pipeline.definition", problem)


def _batch_job(checker: _Checker, res: Resource, spec: schema.BatchJobSpec) -> Iterator[Diagnostic]:
    if spec.cron is not None:
        problem = cron_problem(spec.cron)
        if problem is not None:
            yield checker.error(res, "cron", problem)
    problem = timezone_problem(spec.timezone)
    if problem is not None:
        yield checker.error(res, "timezone", problem)


def _missing_file(base_dir: Path, relative: str) -> str | None:
    target = base_dir / relative
    if target.is_file():
        return None
    siblings: list[str] = []
    if target.parent.is_dir():
        siblings = [str(Path(relative).parent / p.name) for p in target.parent.iterdir() if p.is_file()]
    where = "relative to the stack file's directory"
    return f"no file {relative!r} ({where}){did_you_mean(relative, siblings)}"


# ------------------------------------------------------------------- outputs and moves
def check_output_secrets(
    refs: Sequence[OutputRef],
    resources: Mapping[str, Resource],
    outputs: Mapping[str, schema.OutputSpec] | None,
    positions: Positions,
) -> list[Diagnostic]:
    """An output that shows a sensitive attribute of a resource must be marked sensitive, as one
    that shows a sensitive variable must: else `mlops output` would print the secret."""
    out: list[Diagnostic] = []
    flagged: set[str] = set()
    for ref in refs:
        name = ref.path.split(".")[1] if ref.path.startswith("outputs.") else ""
        output = (outputs or {}).get(name)
        if output is None or output.sensitive or name in flagged:
            continue
        kind, _, rest = ref.expression.partition(".")
        res_name, _, attribute = rest.partition(".")
        res = resources.get(f"{kind}.{res_name}")
        if res is None or not attribute or not res.sensitive_paths:
            continue
        hidden = tuple(res.sensitive_paths)
        if paths.matches_any(hidden, attribute) or any(paths.matches(attribute, p) for p in hidden):
            flagged.add(name)
            message = (
                f"output {name!r} shows a sensitive attribute ({ref.expression}): mark it sensitive: true"
            )
            out.append(Diagnostic(message, f"outputs.{name}", positions.key(f"outputs.{name}")))
    return out


def check_moved(
    moved: Sequence[schema.MovedBlock], resources: Mapping[str, Resource], positions: Positions
) -> list[Diagnostic]:
    """A move names a resource the stack declares (`to`) and one it no longer does (`from`);
    each address moves at most once, so the moves never chain or fork."""
    out: list[Diagnostic] = []
    seen_from: set[str] = set()
    seen_to: set[str] = set()

    def problem(i: int, field: str, message: str) -> None:
        path = f"moved[{i}].{field}"
        out.append(Diagnostic(message, path, positions.value(path)))

    for i, block in enumerate(moved):
        if block.to not in resources:
            problem(i, "to", f"no resource {block.to} in this stack{did_you_mean(block.to, resources)}")
        if block.from_ in resources:
            problem(
                i,
                "from",
                f"{block.from_} is still declared: a moved resource's old address must be gone "
                "from the stack",
            )
        if block.from_ in seen_from or block.from_ in seen_to:
            problem(i, "from", f"{block.from_} is moved more than once")
        if block.to in seen_to:
            problem(i, "to", f"two resources are moved to {block.to}")
        seen_from.add(block.from_)
        seen_to.add(block.to)
    return out
