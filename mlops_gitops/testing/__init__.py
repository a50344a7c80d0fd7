"""Test kit for providers and for code built on the engine.

- `MemoryProvider` (with its `MemoryCloud`): an in-memory provider for the four kinds, with
  fault injection, to test the engine without a cloud or emulator; `memory_stack` writes and
  loads a stack file for it.
- `RecordingContext`: the `ApplyContext` a provider gets, for calling create/update/delete
  directly; it records checkpoints and progress messages.
- `harness.StackHarness` drives plan/apply on a stack file as the CLI does, and
  `contract.ProviderContract` is the suite every provider (ours or a third party's) must pass.
  Those two are imported from their modules: the contract suite needs pytest, and importing
  this package must not. So are `emulator_contract.EmulatorContract`, the check every sandbox
  emulator must pass (its control API and lifecycle), `backend_contract.BackendContract`, the
  one every state backend passes (versions, lineage, stale writers, the lock and its races), and
  `azurite.Azurite`, the Azure Storage emulator run as a child process for backend tests."""

from mlops_gitops.testing.context import RecordingContext
from mlops_gitops.testing.memory import Call, Fault, MemoryCloud, MemoryConfig, MemoryProvider, memory_stack

__all__ = [
    "Call",
    "Fault",
    "MemoryCloud",
    "MemoryConfig",
    "MemoryProvider",
    "RecordingContext",
    "memory_stack",
]
