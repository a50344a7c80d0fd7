"""Binds a loaded stack to its provider, its per-resource provider settings and its state backend.

Everything here is checked before any cloud call: an unknown provider, a kind or feature the
provider does not support, or a bad `<provider>:` block is a StackError with a position."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from mlops_gitops import plugins
from mlops_gitops.errors import Diagnostic, MlopsError, NotSupportedError, Position, StackError
from mlops_gitops.provider import Provider, SandboxEndpoints
from mlops_gitops.stack.model import Resource, Stack

if TYPE_CHECKING:  # the state layer loads only for commands that touch state
    from mlops_gitops.state.backend import StateBackend


@dataclass
class Workspace:
    stack: Stack
    provider: Provider
    settings: dict[str, BaseModel | None] = field(default_factory=dict)  # address -> `<provider>:` block
    sandbox: SandboxEndpoints | None = None
    warnings: list[Diagnostic] = field(default_factory=list)  # shown with the plan


def locate(stack: Stack, path: str) -> Position | None:
    """The position of `path` in the stack file, or of its nearest ancestor that has one."""
    return stack.positions.value(path)


def _pydantic_diagnostics(
    stack: Stack, base: str, model: type[BaseModel], exc: ValidationError
) -> list[Diagnostic]:
    from mlops_gitops.stack.loader import validation_diagnostics

    # A `<provider>:` block holds account ids, role ARNs, keys: its values are never repeated in
    # a message (which may end up in a CI log or a pull request comment).
    return validation_diagnostics(exc, model, stack.positions, base=base, hidden=lambda _path: True)


def check_stack(stack: Stack) -> tuple[type[Provider], BaseModel, dict[str, BaseModel | None]]:
    """Everything `validate` checks beyond the schema: the provider, its config, its kinds and its
    per-resource settings. Raises StackError with every problem found."""
    name = stack.provider
    try:
        cls = plugins.provider_class(name)
    except MlopsError as exc:
        raise StackError.of(
            [Diagnostic(str(exc), f"provider.{name}", locate(stack, f"provider.{name}"))]
        ) from exc
    diags: list[Diagnostic] = []
    config: BaseModel | None = None
    try:
        config = cls.config_model.model_validate(stack.provider_config)
    except ValidationError as exc:
        diags += _pydantic_diagnostics(stack, f"provider.{name}", cls.config_model, exc)

    settings: dict[str, BaseModel | None] = {}
    for res in stack.resources.values():
        section = _section(res)
        if res.kind not in cls.kinds:
            diags.append(
                Diagnostic(
                    f"{res.kind} resources are not supported by provider {name} yet",
                    f"{section}.{res.name}",
                    res.position,
                )
            )
            continue
        settings[res.address] = _settings(stack, cls, res, section, diags)
        for other in ("sagemaker", "vertex", "azureml"):
            if other != name and getattr(res.spec, other, None) is not None:
                path = f"{section}.{res.name}.{other}"
                diags.append(
                    Diagnostic(
                        f"this stack uses provider {name}: a {other} block has no effect here",
                        path,
                        locate(stack, path),
                    )
                )
    if diags:
        raise StackError.of(diags)
    assert config is not None
    return cls, config, settings


def _section(res: Resource) -> str:
    from mlops_gitops.kinds import KINDS

    return KINDS[res.kind].section


def _settings(
    stack: Stack, cls: type[Provider], res: Resource, section: str, diags: list[Diagnostic]
) -> BaseModel | None:
    raw = getattr(res.spec, cls.name, None)
    model = cls.settings_models.get(res.kind)
    base = f"{section}.{res.name}.{cls.name}"
    if model is None:
        if raw:
            diags.append(
                Diagnostic(f"provider {cls.name} takes no settings for {res.kind}", base, locate(stack, base))
            )
        return None
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        diags += _pydantic_diagnostics(stack, base, model, exc)
        return None


def with_sandbox(ws: Workspace, sandbox: SandboxEndpoints) -> Workspace:
    """The same checked workspace, its provider pointed at the sandbox emulators."""
    provider = type(ws.provider)(ws.provider.config, stack=ws.stack.name, sandbox=sandbox)
    return Workspace(ws.stack, provider, ws.settings, sandbox, ws.warnings)


def open_workspace(stack: Stack, *, sandbox: SandboxEndpoints | None = None) -> Workspace:
    cls, config, settings = check_stack(stack)
    provider = cls(config, stack=stack.name, sandbox=sandbox)
    diags: list[Diagnostic] = []
    for res in stack.resources.values():
        for d in provider.validate(res, settings.get(res.address)):
            if d.position is None:
                full = f"{_section(res)}.{res.name}" + (f".{d.path}" if d.path else "")
                d = Diagnostic(d.message, full, locate(stack, full), d.severity)
            diags.append(d)
    errors = [d for d in diags if d.severity == "error"]
    if errors:
        raise StackError.of(errors)
    warnings = [*stack.warnings, *(d for d in diags if d.severity == "warning")]
    return Workspace(stack, provider, settings, sandbox, warnings)


def local_root(stack: Stack) -> Path:
    """`.mlops/` beside the stack file (or `backend.local.path`): local state and the sandbox."""
    return Path(stack.base_dir) / (stack.backend.local.path if stack.backend.local else ".mlops")


def state_backend(stack: Stack, *, sandbox: bool) -> StateBackend:
    kind = stack.backend.kind
    if sandbox or kind == "local":
        from mlops_gitops.state.local import LocalBackend

        root = local_root(stack)
        return LocalBackend(root / "sandbox" if sandbox else root)
    raise NotSupportedError(f"the {kind} state backend is not supported yet; use backend: {{local: {{}}}}")
