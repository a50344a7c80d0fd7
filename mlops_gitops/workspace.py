"""Binds a loaded stack to its provider, its per-resource provider settings and its state backend.

Everything here is checked before any cloud call: an unknown provider, a kind or feature the
provider does not support, or a bad `<provider>:` block is a StackError with a position."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from mlops_gitops import features, plugins
from mlops_gitops.errors import Diagnostic, MlopsError, NotSupportedError, Position, StackError
from mlops_gitops.provider import IMAGE, Provider, SandboxEndpoints
from mlops_gitops.stack.model import Resource, Stack
from mlops_gitops.stack.schema import FrameworkImage
from mlops_gitops.stack.yamlpos import paused_gc

if TYPE_CHECKING:  # the state layer loads only for commands that touch state
    from mlops_gitops.cost.prices import PriceTable
    from mlops_gitops.state.backend import StateBackend


# The core's own entry in a resource's resolutions: when its retirement was first applied (so a
# saved plan, and every later plan, tag it with the same time).
RETIRED_AT = "retired_at"


@dataclass
class Workspace:
    stack: Stack
    provider: Provider
    settings: dict[str, BaseModel | None] = field(default_factory=dict)  # address -> `<provider>:` block
    sandbox: SandboxEndpoints | None = None
    warnings: list[Diagnostic] = field(default_factory=list)  # shown with the plan
    # address -> URI of its framework image, found when the stack was validated
    images: dict[str, str] = field(default_factory=dict)
    # The stack's own price file (`cost.prices_file`), read and checked when the stack was
    # validated, for the plan's cost estimate.
    price_override: PriceTable | None = None

    def desired(
        self,
        res: Resource,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
        resolved: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The attributes the provider wants for `res` (`Provider.desired`), with what the core
        adds: a retired resource's retirement tags, dated as `resolved` recorded."""
        from mlops_gitops.stack import retire

        if retire.retirement_of(res) is not None:
            res = retire.tagged(res, str(resolved.get(RETIRED_AT) or ""))
        return self.provider.desired(res, self.settings.get(res.address), refs, prior, resolved)

    def resolution(
        self,
        res: Resource,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """What the provider's plan-time lookups find for `res` now, its framework image's URI
        included (see `Provider.resolve` and `Provider.framework_image`)."""
        found = dict(self.provider.resolve(res, self.settings.get(res.address), refs, prior))
        if res.address in self.images:
            found[IMAGE] = self.images[res.address]
        return found


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
    """Everything `validate` checks beyond the schema and the provider's own checks: the
    provider, its config, its kinds and its per-resource settings. Raises StackError with every
    problem found."""
    cls, config, settings, diags = _check(stack)
    if diags:
        raise StackError.of(diags)
    assert config is not None
    return cls, config, settings


def _check(
    stack: Stack,
) -> tuple[type[Provider], BaseModel | None, dict[str, BaseModel | None], list[Diagnostic]]:
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
            diags.append(unsupported_kind(res, name))
            continue
        settings[res.address] = _settings(stack, cls, res, section, diags)
        for other in _blocks(res):
            if other != name:
                path = f"{section}.{res.name}.{other}"
                diags.append(
                    Diagnostic(
                        f"this stack uses provider {name}: a {other} block has no effect here",
                        path,
                        locate(stack, path),
                    )
                )
    return cls, config, settings, diags


def _blocks(res: Resource) -> dict[str, dict[str, Any]]:
    blocks = getattr(res.spec, "provider_blocks", None)
    return blocks if isinstance(blocks, dict) else {}


def _section(res: Resource) -> str:
    from mlops_gitops.kinds import KINDS

    return KINDS[res.kind].section


def _settings(
    stack: Stack, cls: type[Provider], res: Resource, section: str, diags: list[Diagnostic]
) -> BaseModel | None:
    raw = _blocks(res).get(cls.name)
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
    return dataclasses.replace(ws, provider=provider, sandbox=sandbox)


def unsupported_kind(res: Resource, provider: str) -> Diagnostic:
    """The error for a resource of a kind `provider` cannot apply, at the resource."""
    message = f"{res.kind} resources are not supported by provider {provider} yet"
    return Diagnostic(message, f"{_section(res)}.{res.name}", res.position)


@paused_gc  # as load_stack: its checks build many objects, a collector would walk them again and again
def open_workspace(stack: Stack, *, sandbox: SandboxEndpoints | None = None) -> Workspace:
    cls, config, settings, diags = _check(stack)
    if config is None:  # no provider can be made: its own checks cannot run
        raise StackError.of(diags)
    provider = cls(config, stack=stack.name, sandbox=sandbox)
    images: dict[str, str] = {}
    for res in stack.resources.values():
        if res.address not in settings:
            continue  # a kind the provider does not support: refused already
        # What the provider lacks, beside its own checks: one run shows every problem.
        diags += features.problems(res, cls.kinds[res.kind], cls.name, _section(res), stack.positions)
        if settings[res.address] is None and res.kind in cls.settings_models:
            continue  # its settings block is refused already: the provider cannot check it
        found = list(provider.validate(res, settings.get(res.address)))
        image = getattr(res.spec, "image", None)
        if isinstance(image, FrameworkImage):
            try:
                images[res.address] = provider.framework_image(res.kind, image)
            except StackError as exc:
                found.append(Diagnostic(str(exc), "image"))
        for d in found:
            if d.position is None:
                full = f"{_section(res)}.{res.name}" + (f".{d.path}" if d.path else "")
                d = Diagnostic(d.message, full, locate(stack, full), d.severity)
            diags.append(d)
    override, problems = _price_file(stack)
    diags += problems
    errors = [d for d in diags if d.severity == "error"]
    if errors:
        raise StackError.of(errors)
    warnings = [*stack.warnings, *(d for d in diags if d.severity == "warning")]
    return Workspace(stack, provider, settings, sandbox, warnings, images, override)


def _price_file(stack: Stack) -> tuple[PriceTable | None, list[Diagnostic]]:
    """The stack's own price file (`cost.prices_file`), checked before any cloud call."""
    if stack.cost is None or not stack.cost.prices_file:
        return None, []  # the common case: nothing to read, and the cost package stays unloaded
    from mlops_gitops.cost.plan import override_table

    try:
        return override_table(stack), []
    except StackError as exc:
        return None, exc.diagnostics


def local_root(stack: Stack) -> Path:
    """`.mlops/` beside the stack file (or the stack's `backend.local.path`): the sandbox, and
    local state (an environment's below it, in `env/<name>/`)."""
    return Path(stack.base_dir) / stack.local_dir


def state_backend(stack: Stack, *, sandbox: bool, store_url: str | None = None) -> StateBackend:
    """Where the stack's state lives: its backend, or on the sandbox its store on the emulator
    serving it (`store_url`, see `cli.context.sandbox_state`), else a local directory. Each
    environment has its own state (and lock): `.mlops/env/<name>/` when it is local."""
    backend = stack.backend
    if sandbox and store_url is not None and backend.s3 is not None:
        from mlops_gitops.state.s3 import S3StateBackend

        return S3StateBackend(backend.s3.model_copy(update={"endpoint_url": store_url}), sandbox=True)
    if sandbox and store_url is not None and backend.gcs is not None:
        from mlops_gitops.state.gcs import GcsStateBackend

        return GcsStateBackend(backend.gcs.model_copy(update={"endpoint_url": store_url}))
    if sandbox:
        from mlops_gitops.state.local import LocalBackend

        root = local_root(stack) / "sandbox"
        return LocalBackend(root / "env" / stack.environment if stack.environment else root)
    if backend.local is not None or backend.kind == "local":
        from mlops_gitops.state.local import LocalBackend

        return LocalBackend(Path(stack.base_dir) / (backend.local.path if backend.local else stack.local_dir))
    if backend.s3 is not None:
        from mlops_gitops.state.s3 import S3StateBackend

        return S3StateBackend(backend.s3)
    if backend.gcs is not None:
        from mlops_gitops.state.gcs import GcsStateBackend

        return GcsStateBackend(backend.gcs)
    if backend.azureblob is not None:
        from mlops_gitops.state.azureblob import AzureBlobStateBackend

        return AzureBlobStateBackend(backend.azureblob)
    raise NotSupportedError(f"the {backend.kind} state backend is not supported")
