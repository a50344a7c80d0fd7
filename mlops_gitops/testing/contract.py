"""The provider contract suite.

Every provider runs the same behaviours against its emulator, through its real SDK:
create, read, no-op plan, in-place update, replace, delete, import, not-found, drift and
throttling. To run it for a provider, subclass `ProviderContract` in a test module and give a
`contract_case` fixture returning a `ContractCase`:

    from mlops_gitops.testing.contract import ContractCase, ProviderContract

    class TestMyCloudContract(ProviderContract):
        @pytest.fixture
        def contract_case(self, my_emulator) -> ContractCase:
            return ContractCase(...)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.engine import diff
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.testing.harness import StackHarness, actions

Attributes = Mapping[str, Any]


@dataclass
class Edit:
    """A change to the stack text, and the plan it must produce: {address: action}."""

    change: Callable[[str], str]
    expect: dict[str, str]


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
    reset: Callable[[], None] = lambda: None  # wipe the emulator
    variables: dict[str, str] = field(default_factory=dict)


class ProviderContract:
    """Subclass and provide the `contract_case` fixture (see the module docstring)."""

    @pytest.fixture
    def harness(self, tmp_path: Path, contract_case: ContractCase) -> StackHarness:
        contract_case.reset()
        stack_file = tmp_path / "stack.yaml"
        stack_file.write_text(contract_case.stack_yaml)
        return StackHarness(stack_file, contract_case.sandbox, variables=contract_case.variables)

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
