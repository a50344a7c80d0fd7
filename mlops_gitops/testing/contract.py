"""The provider contract suite.

Every provider runs the same behaviours against its emulator, through its real SDK:
create, read, no-op plan, in-place update, replace, delete, import, not-found, drift and
throttling; and the rules the engine relies on without checking them itself:

- an in-place update keeps the object's identity (`ResourceType.id_field`);
- a create that fails half way leaves state naming exactly what exists: the provider
  checkpointed what it made, so a destroy removes it all and the next apply finishes the job;
- deleting what is already gone succeeds.

To run it for a provider, subclass `ProviderContract` in a test module and give a
`contract_case` fixture returning a `ContractCase`:

    from mlops_gitops.testing.contract import ContractCase, ProviderContract

    class TestMyCloudContract(ProviderContract):
        @pytest.fixture
        def contract_case(self, my_emulator) -> ContractCase:
            return ContractCase(...)

A cloud that genuinely cannot honour one of those rules opts out of it in its case, with an
`Unsupported(reason)`; the test is then skipped with that reason. A provider without an emulator
(the memory provider) gives `SandboxEndpoints()` and its class as `provider_class`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mlops_gitops.engine import diff
from mlops_gitops.provider import Provider, SandboxEndpoints
from mlops_gitops.testing.context import RecordingContext
from mlops_gitops.testing.harness import StackHarness, actions

Attributes = Mapping[str, Any]
R = TypeVar("R")


@dataclass
class Edit:
    """A change to the stack text, and the plan it must produce: {address: action}."""

    change: Callable[[str], str]
    expect: dict[str, str]


@dataclass
class Retire:
    """Retiring a model that serves one variant of an endpoint, beside another variant: `change`
    adds its `retired:` block to the stack text, the plan must be `expect` ({address: action},
    the model's action "retire"), and `archived(attributes)` reads the model's cloud objects with
    the SDK and says whether the cloud holds them archived, their artifact still there."""

    change: Callable[[str], str]
    expect: dict[str, str]
    model: str  # the retired model's address
    archived: Callable[[Attributes], bool]


@dataclass(frozen=True)
class Unsupported:
    """Opts a case out of one rule of the contract. `reason` says why the cloud cannot honour
    it; it is shown as the skipped test's reason, so it must say something."""

    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("Unsupported needs a reason: why can this cloud not honour the rule?")


@dataclass
class PartialCreate:
    """A create that fails half way. `inject()` arranges that the next create of `address`
    fails after the provider has made (and checkpointed) part of it, and only that create:
    e.g. an emulator failure rule for one call, `times: 1` (see `emulator_settings`)."""

    address: str
    inject: Callable[[], None]


def emulator_settings(
    sandbox: SandboxEndpoints, provider: str, settings: Mapping[str, Any]
) -> Callable[[], None]:
    """An `inject` that changes the settings of `provider`'s emulator (its failure rules)
    through the control API every sandbox emulator serves."""
    from mlops_gitops.sandbox.control import update_settings

    url = sandbox.urls[provider]

    def inject() -> None:
        update_settings(url, settings)

    return inject


@dataclass
class ContractCase:
    sandbox: SandboxEndpoints
    stack_yaml: str  # at least one model and one endpoint serving it
    in_place: Edit  # exactly one resource updated in place
    replace: Edit  # a resource replaced (and whatever follows it)
    import_address: str  # a resource `import` must adopt
    cloud_id: Callable[[Attributes], str]  # its state attributes -> the id `import` takes
    drift_address: str
    change_out_of_band: Callable[[Attributes], None]  # edit a user-owned field with the SDK
    delete_out_of_band: Callable[[Attributes], None]  # delete the object with the SDK
    leftovers: Callable[[], list[str]]  # every cloud object of the kinds under test that exists
    throttle: Callable[[int], None]  # the next N cloud calls answer "throttled"
    partial_create: PartialCreate | Unsupported
    reset: Callable[[], None] = lambda: None  # wipe the emulator
    variables: dict[str, str] = field(default_factory=dict)
    # The other rules a cloud may opt out of (None: checked).
    keeps_identity: Unsupported | None = None
    deletes_what_is_gone: Unsupported | None = None
    # A provider not installed as an entry point (see `StackHarness`).
    provider_class: type[Provider] | None = None
    # Retiring a model (see `Retire`); required: a case without it fails, it is not skipped.
    retire: Retire | Unsupported | None = None


class ProviderContract:
    """Subclass and provide the `contract_case` fixture (see the module docstring)."""

    @pytest.fixture
    def harness(self, tmp_path: Path, contract_case: ContractCase) -> StackHarness:
        contract_case.reset()
        stack_file = tmp_path / "stack.yaml"
        stack_file.write_text(contract_case.stack_yaml)
        return StackHarness(
            stack_file,
            contract_case.sandbox,
            variables=contract_case.variables,
            provider_class=contract_case.provider_class,
        )

    @staticmethod
    def _check(rule: R | Unsupported) -> R:
        if isinstance(rule, Unsupported):
            pytest.skip(f"the provider opts out of this rule: {rule.reason}")
        return rule

    @staticmethod
    def _applied(h: StackHarness) -> None:
        plan, result = h.apply()
        assert result.ok, result.errors
        assert plan.has_changes

    @staticmethod
    def _attrs(h: StackHarness, address: str) -> dict[str, Any]:
        state = h.state()
        assert state is not None and state.get(address) is not None, f"{address} not in state"
        return dict(state.get(address).attributes)  # type: ignore[union-attr]

    def test_create_and_read(self, harness: StackHarness) -> None:
        plan = harness.plan()
        stack = harness.workspace().stack
        assert actions(plan) == {a: "create" for a in stack.order}
        self._applied(harness)
        ws = harness.workspace()
        state = harness.state()
        assert state is not None and set(state.addresses()) == set(stack.order)
        for address in stack.order:
            rs = state.get(address)
            assert rs is not None and rs.status == "ok"
            read = ws.provider.read(rs.kind, rs.attributes)
            assert read is not None, f"{address} cannot be read back"
            assert diff.drift(ws.provider.kinds[rs.kind], rs.attributes, read) == []

    def test_noop_plan_after_apply(self, harness: StackHarness) -> None:
        self._applied(harness)
        plan = harness.plan()
        assert actions(plan) == {}, actions(plan)
        assert not plan.drift and not plan.has_changes

    def test_in_place_update(self, harness: StackHarness, contract_case: ContractCase) -> None:
        self._applied(harness)
        harness.edit(contract_case.in_place.change)
        assert actions(harness.plan()) == contract_case.in_place.expect
        (address,) = contract_case.in_place.expect
        before = self._attrs(harness, address)
        self._applied(harness)
        assert actions(harness.plan()) == {}
        after = self._attrs(harness, address)
        assert after.get("arn", after.get("id")) == before.get("arn", before.get("id")), (
            "updated, not recreated"
        )

    def test_replace(self, harness: StackHarness, contract_case: ContractCase) -> None:
        self._applied(harness)
        objects_before = len(contract_case.leftovers())
        harness.edit(contract_case.replace.change)
        plan = harness.plan()
        assert actions(plan) == contract_case.replace.expect
        replaced = [c for c in plan.changes if c.action == "replace"]
        assert replaced and all(any(f.forces_replacement for f in c.changes) for c in replaced)
        self._applied(harness)
        assert actions(harness.plan()) == {}
        assert len(contract_case.leftovers()) == objects_before, "the replaced object was not deleted"

    def test_delete(self, harness: StackHarness, contract_case: ContractCase) -> None:
        self._applied(harness)
        assert contract_case.leftovers()
        plan, result = harness.apply(mode="destroy")
        assert result.ok, result.errors
        assert set(actions(plan).values()) == {"delete"}
        assert contract_case.leftovers() == []
        state = harness.state()
        assert state is not None and state.addresses() == []

    def test_import(self, harness: StackHarness, contract_case: ContractCase) -> None:
        self._applied(harness)
        address = contract_case.import_address
        backend = harness.backend()
        state = backend.read()
        assert state is not None
        rs = state.remove(address)
        backend.write(state)
        ws = harness.workspace()
        imported = ws.provider.import_resource(rs.kind, contract_case.cloud_id(rs.attributes))
        rs.attributes = imported
        state.put(rs)
        backend.write(state)
        assert actions(harness.plan()) == {}

    def test_not_found(self, harness: StackHarness, contract_case: ContractCase) -> None:
        self._applied(harness)
        address = contract_case.drift_address
        attrs = self._attrs(harness, address)
        contract_case.delete_out_of_band(attrs)
        ws = harness.workspace()
        assert ws.provider.read(address.split(".")[0], attrs) is None
        plan = harness.plan()
        assert [(d.address, d.action) for d in plan.drift] == [(address, "delete")]
        assert actions(plan).get(address) == "create"

    def test_drift(self, harness: StackHarness, contract_case: ContractCase) -> None:
        self._applied(harness)
        address = contract_case.drift_address
        contract_case.change_out_of_band(self._attrs(harness, address))
        plan = harness.plan()
        assert [d.address for d in plan.drift] == [address]
        assert actions(plan) == {address: "update"}, "the plan must undo the change"
        self._applied(harness)
        assert actions(harness.plan()) == {}

    def test_throttling_is_retried(self, harness: StackHarness, contract_case: ContractCase) -> None:
        self._applied(harness)
        contract_case.throttle(2)
        assert actions(harness.plan()) == {}

    # ---- rules the engine relies on -------------------------------------------------------------
    def test_in_place_update_keeps_the_identity(
        self, harness: StackHarness, contract_case: ContractCase
    ) -> None:
        self._check(contract_case.keeps_identity)
        self._applied(harness)
        ws = harness.workspace()
        before = harness.state()
        assert before is not None
        harness.edit(contract_case.in_place.change)
        self._applied(harness)
        after = harness.state()
        assert after is not None
        for address, old in before.resources.items():
            id_field = ws.provider.kinds[old.kind].id_field
            new = after.get(address)
            assert new is not None, f"{address} left state"
            assert old.attributes.get(id_field) is not None, f"{address}: state records no {id_field}"
            assert new.attributes.get(id_field) == old.attributes[id_field], (
                f"{address}: an update in place changed {id_field}, the attribute naming the object"
            )
        (address,) = contract_case.in_place.expect
        updated = after.get(address)
        assert updated is not None
        read = ws.provider.read(updated.kind, updated.attributes)
        id_field = ws.provider.kinds[updated.kind].id_field
        assert read is not None and read.get(id_field) == updated.attributes[id_field]

    def _fail_half_way(self, harness: StackHarness, case: PartialCreate) -> None:
        case.inject()
        plan, result = harness.apply()
        assert actions(plan).get(case.address) == "create", actions(plan)
        assert [a for a, _ in result.errors] == [case.address], result.errors
        state = harness.state()
        assert state is not None
        rs = state.get(case.address)
        assert rs is not None, (
            f"{case.address} failed half way and state does not name it: the provider must "
            "checkpoint what it made before it can fail"
        )
        assert rs.status == "tainted"

    def test_a_create_failed_half_way_is_destroyed_entirely(
        self, harness: StackHarness, contract_case: ContractCase
    ) -> None:
        case = self._check(contract_case.partial_create)
        self._fail_half_way(harness, case)
        # State names every object the failed create left: destroying the stack removes them.
        plan, result = harness.apply(mode="destroy")
        assert result.ok, result.errors
        assert case.address in actions(plan)
        left = contract_case.leftovers()
        assert left == [], f"objects the failed create made are left behind: {left}"
        state = harness.state()
        assert state is not None and state.addresses() == []

    def test_a_create_failed_half_way_is_finished_by_the_next_apply(
        self, harness: StackHarness, contract_case: ContractCase
    ) -> None:
        case = self._check(contract_case.partial_create)
        self._fail_half_way(harness, case)
        plan, result = harness.apply()
        assert result.ok, result.errors
        assert actions(plan).get(case.address) in ("create", "replace", "update"), actions(plan)
        assert actions(harness.plan()) == {}
        state = harness.state()
        assert state is not None and {rs.status for rs in state.resources.values()} == {"ok"}
        _, result = harness.apply(mode="destroy")
        assert result.ok, result.errors
        left = contract_case.leftovers()
        assert left == [], f"what the failed attempt made outlived the stack: {left}"

    def test_retiring_a_model_archives_it_and_takes_it_off_its_endpoint(
        self, harness: StackHarness, contract_case: ContractCase
    ) -> None:
        assert contract_case.retire is not None, "the case must give `retire` (or Unsupported(reason))"
        case = self._check(contract_case.retire)
        self._applied(harness)
        harness.edit(case.change)
        plan = harness.plan()
        assert actions(plan) == case.expect
        assert [r["address"] for r in plan.document()["retirements"]] == [case.model]
        self._applied(harness)
        assert actions(harness.plan()) == {}, "a retirement applied plans no changes"
        attrs = self._attrs(harness, case.model)
        assert harness.workspace().provider.read(case.model.split(".")[0], attrs) is not None
        assert case.archived(attrs), "the cloud does not hold the retired model archived"
        state = harness.state()
        assert state is not None and state.get(case.model).retired is not None  # type: ignore[union-attr]
        assert [e.event for e in state.events if e.address == case.model][-1] == "retired"

    def test_delete_of_what_is_gone_succeeds(
        self, harness: StackHarness, contract_case: ContractCase
    ) -> None:
        self._check(contract_case.deletes_what_is_gone)
        self._applied(harness)
        ws = harness.workspace()
        state = harness.state()
        assert state is not None
        recorded = [(rs.address, rs.kind, dict(rs.attributes)) for rs in state.resources.values()]
        # Deleted by someone else between the plan's refresh and the apply's delete.
        address = contract_case.drift_address
        kind, attrs = address.split(".")[0], self._attrs(harness, address)
        contract_case.delete_out_of_band(attrs)
        ws.provider.delete(kind, attrs, RecordingContext(address, stack=ws.stack.name))
        assert ws.provider.read(kind, attrs) is None
        _, result = harness.apply(mode="destroy")
        assert result.ok, result.errors
        # Deleted again, as after an apply that died before it recorded its deletes.
        for address, kind, attrs in reversed(recorded):
            ws.provider.delete(kind, attrs, RecordingContext(address, stack=ws.stack.name, destroying=True))
        assert contract_case.leftovers() == []
