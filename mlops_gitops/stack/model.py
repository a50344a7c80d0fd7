"""A loaded, validated stack: what the engine plans from. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, Position
from mlops_gitops.stack.schema import Backend, CostSettings, OutputSpec
from mlops_gitops.stack.yamlpos import Positions

if TYPE_CHECKING:
    from mlops_gitops.stack.retire import Retirements


def _no_retirements() -> Retirements:
    from mlops_gitops.stack.retire import Retirements

    return Retirements()


@dataclass
class Resource:
    kind: str  # "model" | "endpoint" | "monitor" | "schedule"
    name: str
    spec: BaseModel  # the kind's pydantic spec, variables already interpolated
    position: Position | None = None
    depends_on: list[str] = field(default_factory=list)  # addresses, from the kind's references
    sensitive_paths: set[str] = field(default_factory=set)  # attribute paths fed by sensitive vars
    base_dir: str = "."  # the stack file's directory: relative paths in the spec resolve here

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.name}"

    @property
    def tags(self) -> dict[str, str]:
        """The resource's tags, the stack's merged in (every kind's spec has them)."""
        return dict(getattr(self.spec, "tags", {}))

    def spec_json(self) -> dict[str, Any]:
        return self.spec.model_dump(mode="json", exclude_none=True)


@dataclass
class Stack:
    name: str
    path: str  # the stack file, as given (used in messages)
    digest: str  # sha256 of the file bytes and the resolved variable values
    provider: str
    provider_config: dict[str, Any]
    backend: Backend
    resources: dict[str, Resource]  # address -> resource, in file order
    order: list[str]  # addresses in dependency order (dependencies first)
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    sensitive_variables: set[str] = field(default_factory=set)
    base_dir: str = "."  # directory of the stack file: relative paths in the stack resolve here
    positions: Positions = field(default_factory=Positions)  # path -> where it is written
    warnings: list[Diagnostic] = field(default_factory=list)  # e.g. a --var-file value nothing declares
    moved: list[tuple[str, str]] = field(default_factory=list)  # (from, to) addresses, in file order
    environment: str | None = None  # the environment chosen (`--env`), when the stack has some
    local_dir: str = ".mlops"  # the stack's local directory (relative): the sandbox lives there
    environments: list[str] = field(default_factory=list)  # every environment it declares
    cost: CostSettings | None = None  # the `cost:` block: how the plan estimates cost
    # The `retired:` blocks and what they take out of `resources` (see stack/retire.py).
    retirements: Retirements = field(default_factory=_no_retirements)
