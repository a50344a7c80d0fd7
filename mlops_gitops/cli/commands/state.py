"""`mlops state list|show|rm|mv`: inspect and edit state. rm and mv leave the cloud alone."""

from __future__ import annotations

import click

from mlops_gitops.cli.options import var_file_option, var_option, with_vars
from mlops_gitops.cli.state_access import backend_of, read_state, resource_in_state
from mlops_gitops.errors import StateError
from mlops_gitops.render.state import moved_in_state, removed_from_state, render_addresses


@click.group()
def state() -> None:
    """Inspect and edit state (advanced)."""


@state.command("list")
@var_option
@var_file_option
@click.pass_context
def state_list(ctx: click.Context, vars_: tuple[str, ...], var_files: tuple[str, ...]) -> None:
    """List the addresses in state."""
    _stack, _backend, doc = read_state(with_vars(ctx.find_root(), vars_, var_files))
    click.echo(render_addresses(doc.addresses()), nl=False)


@state.command("show")
@click.argument("address")
@var_option
@var_file_option
@click.pass_context
def state_show(ctx: click.Context, address: str, vars_: tuple[str, ...], var_files: tuple[str, ...]) -> None:
    """Show one resource's recorded attributes."""
    from mlops_gitops.cli.state_documents import resource_document
    from mlops_gitops.render.state import render_resource

    stack, _backend, doc = read_state(with_vars(ctx.find_root(), vars_, var_files))
    rs = resource_in_state(doc, address)
    click.echo(render_resource(resource_document(stack, rs)), nl=False)


@state.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@var_option
@var_file_option
@click.pass_context
def state_rm(
    ctx: click.Context, addresses: tuple[str, ...], vars_: tuple[str, ...], var_files: tuple[str, ...]
) -> None:
    """Forget resources (the cloud objects are left alone)."""
    _stack, backend = backend_of(with_vars(ctx.find_root(), vars_, var_files))
    with backend.locked("state rm"):
        doc = backend.read()
        if doc is None:
            raise StateError("no state yet")
        for a in addresses:
            resource_in_state(doc, a)
            doc.remove(a)
        backend.write(doc)
    for a in addresses:
        click.echo(removed_from_state(a))


@state.command("mv")
@click.argument("source")
@click.argument("destination")
@var_option
@var_file_option
@click.pass_context
def state_mv(
    ctx: click.Context, source: str, destination: str, vars_: tuple[str, ...], var_files: tuple[str, ...]
) -> None:
    """Rename a resource in state (e.g. after renaming it in the stack)."""
    _stack, backend = backend_of(with_vars(ctx.find_root(), vars_, var_files))
    kind, _, name = destination.partition(".")
    with backend.locked("state mv"):
        doc = backend.read()
        if doc is None:
            raise StateError("no state yet")
        rs = resource_in_state(doc, source)
        if doc.get(destination) is not None:
            raise StateError(f"{destination} already exists in state")
        if kind != rs.kind or not name:
            raise StateError(f"{destination}: must be {rs.kind}.<name> (a resource keeps its kind)")
        doc.remove(source)
        doc.put(type(rs).model_validate({**rs.model_dump(), "address": destination, "name": name}))
        backend.write(doc)
    click.echo(moved_in_state(source, destination))


@state.command("migrate")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="BACKEND",
    help="The backend the state is in now, as a backend: block, e.g. '{local: {}}'.",
)
@var_option
@var_file_option
@click.pass_context
def state_migrate(
    ctx: click.Context, source: str, vars_: tuple[str, ...], var_files: tuple[str, ...]
) -> None:
    """Copy the state from another backend to the stack's, keeping its lineage."""
    import dataclasses

    import yaml
    from pydantic import ValidationError

    from mlops_gitops.stack.schema import Backend
    from mlops_gitops.workspace import state_backend

    opts = with_vars(ctx.find_root(), vars_, var_files)
    stack, target = backend_of(opts)
    try:
        config = Backend.model_validate(yaml.safe_load(source))
    except (yaml.YAMLError, ValidationError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
        raise StateError(f"--from {source!r}: not a backend block ({first})") from None
    origin = state_backend(dataclasses.replace(stack, backend=config), sandbox=False)
    if origin.location == target.location:
        raise StateError(f"--from names the stack's own backend ({target.location}): nothing to migrate")
    # Both locked: nobody applies from the old state, nor writes the new one, meanwhile.
    with origin.locked("state migrate"), target.locked("state migrate"):
        doc = origin.read()
        if doc is None:
            raise StateError(f"{origin.location} holds no state")
        if doc.stack != stack.name:
            raise StateError(
                f"{origin.location} holds the state of stack {doc.stack!r}, not of {stack.name!r}"
            )
        there = target.read()
        if there is not None and there.lineage == doc.lineage and there.serial >= doc.serial:
            click.echo(
                f"{target.location} already holds this state (serial {there.serial}): nothing to copy."
            )
            return
        if there is not None and there.lineage == doc.lineage:
            doc.serial = there.serial  # the same state, older there: the copy is its next version
        # A state of another lineage there is refused by the write, never overwritten.
        target.write(doc)
    click.echo(
        f"Copied the state (lineage {doc.lineage}, {len(doc.addresses())} resources) from "
        f"{origin.location} to {target.location}. The old copy is left in place: remove it once "
        "a plan shows no changes."
    )
