"""What every command needs: the stack, the workspace, the state backend and the output style.
Kept out of the command functions so they stay thin."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from mlops_gitops.errors import MlopsError


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Options:
    """Global flags (before the command) plus the stack-loading flags many commands share."""

    file: str | None = None
    chdir: str | None = None
    sandbox: bool = False
    color: bool = True
    cli_vars: dict[str, str] = field(default_factory=dict)
    var_files: list[str] = field(default_factory=list)
    allow_downtime: bool = False  # plan/apply: accept replacing a serving endpoint by deleting it first
    environment: str | None = None  # `--env` / MLOPS_ENV: one of the stack's environments
    backend_config: dict[str, str] = field(default_factory=dict)  # `--backend-config KEY=VALUE`

    def stack_path(self) -> Path:
        from mlops_gitops.stack.loader import resolve_stack_path

        return resolve_stack_path(self.file, self.chdir)

    def load_stack(self):
        from mlops_gitops.stack.loader import load_stack

        return load_stack(
            self.stack_path(),
            cli_vars=self.cli_vars,
            var_files=self.var_files,
            environment=self.environment,
            backend_config=self.backend_config,
        )


def options(ctx: click.Context) -> Options:
    return ctx.ensure_object(Options)


def make_options(
    file: str | None,
    chdir: str | None,
    sandbox: bool,
    no_color: bool,
    env: str | None = None,
    backend_config: tuple[str, ...] = (),
) -> Options:
    color = not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    return Options(
        file=file,
        chdir=chdir,
        sandbox=sandbox or _truthy(os.environ.get("MLOPS_SANDBOX")),
        color=color,
        environment=env or os.environ.get("MLOPS_ENV") or None,
        backend_config=parse_pairs(backend_config, "--backend-config", "KEY=VALUE"),
    )


def parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    return parse_pairs(pairs, "--var", "NAME=VALUE")


def parse_pairs(pairs: tuple[str, ...], flag: str, shape: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise MlopsError(f"{flag} {pair!r}: expected {shape}")
        out[name.strip()] = value
    return out


def create_private(path: Path, text: str) -> None:
    """Write `text` to the new file `path`, readable by its owner only: generated stack YAML
    holds what the cloud returned (environment values, keys). Created that way in one step
    (O_EXCL), so the file is never briefly readable by others, nor an existing one overwritten."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise MlopsError(f"{path} already exists: move it away or pick another name") from None
    except OSError as exc:
        raise MlopsError(f"cannot create {path}: {(exc.strerror or str(exc)).lower()}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


def open_all(opts: Options, stack: Any = None):
    """Load and check the stack (no cloud call), start the sandbox if asked, bind the provider."""
    from mlops_gitops.workspace import open_workspace, state_backend, with_sandbox

    stack = stack or opts.load_stack()
    ws = open_workspace(stack)  # every offline check passes before the sandbox or the cloud is touched
    if not opts.sandbox:
        return stack, ws, state_backend(stack, sandbox=False)
    endpoints, backend = sandbox_state(stack, [stack.provider])
    return stack, with_sandbox(ws, endpoints), backend


def sandbox_state(stack: Any, providers: list[str]) -> tuple[Any, Any]:
    """Start the sandbox emulators of `providers`, and of the stack's state backend when an
    emulator serves that store, and return their endpoints and the stack's state backend on the
    sandbox: that store on its emulator (so state is remote there too, as in CI), else a local
    directory apart from real state. The stack's own provider's emulator only otherwise: a
    Vertex AI stack on local state does not wait for moto."""
    from mlops_gitops.sandbox import emulators
    from mlops_gitops.sandbox.daemon import ensure_running
    from mlops_gitops.workspace import local_root, state_backend

    store = None if stack.backend.kind == "local" else emulators.serving(stack.backend.kind)
    wanted = list(dict.fromkeys([*providers, *([store] if store else [])]))
    endpoints = ensure_running(local_root(stack) / "sandbox", providers=wanted)
    url = endpoints.urls.get(store) if store else None
    return endpoints, state_backend(stack, sandbox=True, store_url=url)


def sandbox_dir(opts: Options) -> Path:
    """The sandbox of the stack in scope, or of the current directory when there is none."""
    return sandbox_scope(opts)[0]


def sandbox_scope(opts: Options) -> tuple[Path, str | None]:
    """The sandbox directory as `sandbox_dir`, and the provider of the stack in scope (None when
    there is no stack). A stack that does not load (`sandbox up` takes no --var) still names
    its provider, so that only that provider's emulator is started for it."""
    from mlops_gitops.errors import StackError
    from mlops_gitops.workspace import local_root

    try:
        stack = opts.load_stack()
    except StackError:
        return Path(opts.chdir or ".") / ".mlops" / "sandbox", _provider_named(opts)
    return local_root(stack) / "sandbox", stack.provider


def _provider_named(opts: Options) -> str | None:
    """The one key of the stack file's `provider:` mapping, read without validating the file."""
    from mlops_gitops.errors import StackError
    from mlops_gitops.stack import yamlpos

    try:
        path = opts.stack_path()
        data = yamlpos.parse_bytes(yamlpos.read_source(path), str(path)).data
    except (StackError, yamlpos.SourceError):
        return None
    provider = data.get("provider") if data else None
    if isinstance(provider, dict) and len(provider) == 1:
        name = next(iter(provider))
        return name if isinstance(name, str) else None
    return None
