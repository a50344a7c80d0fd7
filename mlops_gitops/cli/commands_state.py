"""show, output, import, state list|show|rm|mv, force-unlock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mlops_gitops.cli.context import Options, create_private
from mlops_gitops.errors import MlopsError, StateError


def _backend(opts: Options):
    """State commands need the stack only to find the backend; no provider, no cloud call."""
    from mlops_gitops.workspace import state_backend

    stack = opts.load_stack()
    return stack, state_backend(stack, sandbox=opts.sandbox)


def _read_state(opts: Options):
    stack, backend = _backend(opts)
    state = backend.read()
    if state is None:
        raise StateError("no state yet: run `mlops apply` first")
    return stack, backend, state


def _fmt_attrs(attrs: dict[str, Any], sensitive: set[str] | None = None) -> list[str]:
    from mlops_gitops import paths
    from mlops_gitops.engine.plan import public_attributes

    flat = list(paths.leaves(public_attributes(attrs, sensitive or ())))
    width = max((len(p) for p, _ in flat), default=0)
    return [f"    {path.ljust(width)} = {_shown(value)}" for path, value in flat]


def _shown(value: Any) -> str:
    return value if value == "(sensitive)" else json.dumps(value)


def _sensitive_paths(stack: Any, address: str, rs: Any) -> set[str]:
    """What to hide: sensitive in the stack now, or when state last recorded the resource (so a
    resource that left the stack still hides its secrets)."""
    from mlops_gitops.engine.planner import sensitive_paths

    return set(sensitive_paths(stack.resources.get(address), rs))


def register(cli: click.Group) -> None:
    # State commands load the stack only to find its backend, but a backend or stack name may
    # use variables, so they take the same variable flags as plan.
    from mlops_gitops.cli.main import var_file_option, var_option, with_vars

    @cli.command()
    @click.argument("plan_file", required=False, type=click.Path(exists=True, dir_okay=False))
    @click.option("--json", "as_json", is_flag=True)
    @var_option
    @var_file_option
    @click.pass_context
    def show(
        ctx: click.Context,
        plan_file: str | None,
        as_json: bool,
        vars_: tuple[str, ...],
        var_files: tuple[str, ...],
    ) -> None:
        """Show state, or a plan saved with `plan --out`."""
        opts = with_vars(ctx, vars_, var_files)
        if plan_file:
            from mlops_gitops.cli.saved_plan import load_saved_plan
            from mlops_gitops.render.text import render_plan

            doc = load_saved_plan(Path(plan_file)).document()
            click.echo(
                json.dumps(doc, indent=2) if as_json else render_plan(doc, color=opts.color), nl=as_json
            )
            return
        stack, _, state = _read_state(opts)
        if as_json:
            click.echo(json.dumps(_public_state(stack, state), indent=2))
            return
        for addr, rs in state.resources.items():
            flag = " (tainted)" if rs.status == "tainted" else ""
            click.echo(f'# {addr}{flag}:\n{rs.kind} "{rs.name}" {{')
            click.echo("\n".join(_fmt_attrs(rs.attributes, _sensitive_paths(stack, addr, rs))))
            click.echo("}\n")
        if state.outputs:
            click.echo("Outputs:\n")
            for name, out in state.outputs.items():
                click.echo(
                    f"{name} = {'(sensitive)' if out.get('sensitive') else json.dumps(out.get('value'))}"
                )

    @cli.command()
    @click.argument("name", required=False)
    @click.option("--json", "as_json", is_flag=True)
    @click.option("--raw", is_flag=True, help="Print a string value without quotes (for scripts).")
    @var_option
    @var_file_option
    @click.pass_context
    def output(
        ctx: click.Context,
        name: str | None,
        as_json: bool,
        raw: bool,
        vars_: tuple[str, ...],
        var_files: tuple[str, ...],
    ) -> None:
        """Show the stack's outputs (a sensitive one only when asked for by name)."""
        _stack, _b, state = _read_state(with_vars(ctx, vars_, var_files))
        if name:
            if name not in state.outputs:
                from mlops_gitops.stack.suggest import did_you_mean

                raise MlopsError(f"no output named {name!r}{did_you_mean(name, state.outputs)}")
            value = state.outputs[name].get("value")
            click.echo(
                value if raw and isinstance(value, str) else json.dumps(value, indent=2 if as_json else None)
            )
            return
        if as_json:
            click.echo(
                json.dumps(
                    {
                        n: {
                            "value": None if o.get("sensitive") else o.get("value"),
                            "sensitive": bool(o.get("sensitive")),
                        }
                        for n, o in state.outputs.items()
                    },
                    indent=2,
                )
            )
            return
        width = max((len(n) for n in state.outputs), default=0)
        for n, o in state.outputs.items():
            click.echo(
                f"{n.ljust(width)} = {'(sensitive)' if o.get('sensitive') else json.dumps(o.get('value'))}"
            )

    @cli.command("import")
    @click.argument("address")
    @click.argument("cloud_id")
    @click.option(
        "--generate-config",
        "generate",
        type=click.Path(dir_okay=False),
        help="Write stack YAML for ADDRESS (and what it refers to) to this new file.",
    )
    @click.option("--var", "vars_", multiple=True, metavar="NAME=VALUE")
    @click.option("--var-file", "var_files", multiple=True)
    @click.pass_context
    def import_(
        ctx: click.Context,
        address: str,
        cloud_id: str,
        generate: str | None,
        vars_: tuple[str, ...],
        var_files: tuple[str, ...],
    ) -> None:
        """Adopt the existing cloud object CLOUD_ID as ADDRESS (e.g. endpoint.fraud-api fraud-api).

        The stack must declare ADDRESS; objects it refers to that the stack also declares (an
        endpoint's models) are adopted with it. With --generate-config, the YAML to declare them
        is written first: add it to the stack, then run the import again."""
        from mlops_gitops.cli.context import open_all
        from mlops_gitops.cli.main import with_vars

        opts = with_vars(ctx, vars_, var_files)
        stack, ws, backend = open_all(opts)
        kind, _, name = address.partition(".")
        if kind not in ws.provider.kinds or not name:
            raise MlopsError(
                f"{address}: expected <kind>.<name> with kind one of {', '.join(ws.provider.kinds)}"
            )
        if generate:
            _generate_config(Path(generate), ws, kind, name, cloud_id)
            return
        if address not in stack.resources:
            from mlops_gitops.stack.suggest import did_you_mean

            raise MlopsError(
                f"{address}: the stack declares no such resource{did_you_mean(address, stack.resources)}; "
                "add it to the stack first (--generate-config FILE writes the YAML for it)"
            )
        with backend.locked("import"):
            adopted = _adopt(stack, ws, backend, address, cloud_id)
        for addr, cid in adopted:
            click.echo(f"{addr}: imported {cid}.")
        click.echo("Run `mlops plan` to compare them with the stack.")

    @cli.group()
    def state() -> None:
        """Inspect and edit state (advanced)."""

    @state.command("list")
    @var_option
    @var_file_option
    @click.pass_context
    def state_list(ctx: click.Context, vars_: tuple[str, ...], var_files: tuple[str, ...]) -> None:
        """List the addresses in state."""
        _s, _b, doc = _read_state(with_vars(ctx.find_root(), vars_, var_files))
        for addr in doc.addresses():
            click.echo(addr)

    @state.command("show")
    @click.argument("address")
    @var_option
    @var_file_option
    @click.pass_context
    def state_show(
        ctx: click.Context, address: str, vars_: tuple[str, ...], var_files: tuple[str, ...]
    ) -> None:
        """Show one resource's recorded attributes."""
        stack, _b, doc = _read_state(with_vars(ctx.find_root(), vars_, var_files))
        rs = _get(doc, address)
        click.echo(f'# {address}{" (tainted)" if rs.status == "tainted" else ""}:\n{rs.kind} "{rs.name}" {{')
        click.echo("\n".join(_fmt_attrs(rs.attributes, _sensitive_paths(stack, address, rs))))
        click.echo("}")

    @state.command("rm")
    @click.argument("addresses", nargs=-1, required=True)
    @var_option
    @var_file_option
    @click.pass_context
    def state_rm(
        ctx: click.Context, addresses: tuple[str, ...], vars_: tuple[str, ...], var_files: tuple[str, ...]
    ) -> None:
        """Forget resources (the cloud objects are left alone)."""
        _stack, backend = _backend(with_vars(ctx.find_root(), vars_, var_files))
        with backend.locked("state rm"):
            doc = backend.read()
            if doc is None:
                raise StateError("no state yet")
            for a in addresses:
                _get(doc, a)
                doc.remove(a)
            backend.write(doc)
        for a in addresses:
            click.echo(f"Removed {a} from state (the cloud object still exists).")

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
        _stack, backend = _backend(with_vars(ctx.find_root(), vars_, var_files))
        kind, _, name = destination.partition(".")
        with backend.locked("state mv"):
            doc = backend.read()
            if doc is None:
                raise StateError("no state yet")
            rs = _get(doc, source)
            if doc.get(destination) is not None:
                raise StateError(f"{destination} already exists in state")
            if kind != rs.kind or not name:
                raise StateError(f"{destination}: must be {rs.kind}.<name> (a resource keeps its kind)")
            doc.remove(source)
            doc.put(type(rs).model_validate({**rs.model_dump(), "address": destination, "name": name}))
            backend.write(doc)
        click.echo(f"Moved {source} to {destination}.")

    @cli.command("force-unlock")
    @click.argument("lock_id")
    @click.option("--force", is_flag=True, help="Do not ask for confirmation.")
    @var_option
    @var_file_option
    @click.pass_context
    def force_unlock(
        ctx: click.Context, lock_id: str, force: bool, vars_: tuple[str, ...], var_files: tuple[str, ...]
    ) -> None:
        """Release a state lock left by a command that died."""
        _stack, backend = _backend(with_vars(ctx, vars_, var_files))
        info = backend.lock_info()
        if info is None:
            raise StateError("state is not locked")
        if not force:
            click.echo(f"Lock {info.id}: held by {info.who} for {info.operation} since {info.created}.")
            if not click.confirm("Release it? Only do this if that command is no longer running"):
                raise MlopsError("force-unlock cancelled")
        backend.force_unlock(lock_id)
        click.echo("State unlocked.")


def _get(doc: Any, address: str) -> Any:
    rs = doc.get(address)
    if rs is None:
        from mlops_gitops.stack.suggest import did_you_mean

        raise StateError(f"no resource {address!r} in state{did_you_mean(address, doc.addresses())}")
    return rs


def _public_state(stack: Any, state: Any) -> dict[str, Any]:
    from mlops_gitops.engine.plan import public_attributes

    resources = []
    for addr, rs in state.resources.items():
        attrs = public_attributes(rs.attributes, _sensitive_paths(stack, addr, rs))
        resources.append(
            {
                "address": addr,
                "kind": rs.kind,
                "name": rs.name,
                "provider": rs.provider,
                "status": rs.status,
                "attributes": attrs,
                "dependencies": rs.dependencies,
            }
        )
    return {
        "lineage": state.lineage,
        "serial": state.serial,
        "stack": state.stack,
        "resources": resources,
        "outputs": {
            n: {
                "value": None if o.get("sensitive") else o.get("value"),
                "sensitive": bool(o.get("sensitive")),
            }
            for n, o in state.outputs.items()
        },
    }


def _adopt(stack: Any, ws: Any, backend: Any, address: str, cloud_id: str) -> list[tuple[str, str]]:
    """Import ADDRESS and the resources it refers to that the stack declares and state lacks."""
    from mlops_gitops.state.model import ResourceState, StateDoc

    state = backend.read() or StateDoc.new(stack.name)
    if state.get(address) is not None:
        raise StateError(f"{address} is already managed; `mlops state rm {address}` first to re-import")
    res = stack.resources[address]
    attrs = ws.provider.import_resource(res.kind, cloud_id)
    todo = [(address, cloud_id, attrs)]
    for path, ref_kind, ref_id in ws.provider.import_references(res.kind, attrs):
        ref_addr = _declared_as(stack, ref_kind, path, res)
        if ref_addr and state.get(ref_addr) is None and ref_addr not in [a for a, _, _ in todo]:
            todo.append((ref_addr, ref_id, ws.provider.import_resource(ref_kind, ref_id)))
    for addr, _cid, found in todo:
        r = stack.resources[addr]
        state.put(
            ResourceState(
                address=addr,
                kind=r.kind,
                name=r.name,
                provider=stack.provider,
                attributes=found,
                dependencies=list(r.depends_on),
            )
        )
    backend.write(state)
    return [(a, c) for a, c, _ in todo]


def _declared_as(stack: Any, kind: str, path: str, referrer: Any) -> str | None:
    """The address the stack gives the object `referrer` refers to at `path` (e.g. the model a
    variant serves), when the stack declares it."""
    from mlops_gitops import paths

    name = paths.get(referrer.spec_json(), path)
    address = f"{kind}.{name}"
    return address if isinstance(name, str) and address in stack.resources else None


def logical_name(cloud_id: str) -> str:
    """A stack name for a cloud object: lowercase letters, digits and hyphens."""
    import re

    name = re.sub(r"[^a-z0-9-]+", "-", cloud_id.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"r-{name}"
    return name[:48].rstrip("-")


def _generate_config(path: Path, ws: Any, kind: str, name: str, cloud_id: str) -> None:
    import yaml

    from mlops_gitops import paths
    from mlops_gitops.kinds import KINDS

    if path.exists():
        raise MlopsError(f"{path} already exists: --generate-config writes a new file only")
    attrs = ws.provider.import_resource(kind, cloud_id)
    spec = ws.provider.to_spec(kind, attrs)
    doc: dict[str, dict[str, Any]] = {}
    command = f"mlops import {kind}.{name} {cloud_id}"
    for ref_path, ref_kind, ref_id in ws.provider.import_references(kind, attrs):
        ref_name = logical_name(ref_id)
        paths.set_(spec, ref_path, ref_name)
        section = KINDS[ref_kind].section
        if ref_name not in doc.get(section, {}):
            ref_attrs = ws.provider.import_resource(ref_kind, ref_id)
            doc.setdefault(section, {})[ref_name] = ws.provider.to_spec(ref_kind, ref_attrs)
    doc.setdefault(KINDS[kind].section, {})[name] = spec
    written = []
    for rel, content in ws.provider.files(kind, attrs).items():
        target = path.parent / rel
        if target.exists():
            raise MlopsError(f"{target} already exists: move it away or pick another --generate-config path")
        target.parent.mkdir(parents=True, exist_ok=True)
        create_private(target, content)
        written.append(str(target))
    header = (
        f"# Generated by `mlops import --generate-config` from {ws.stack.provider} {kind} {cloud_id!r}.\n"
        "# Add these entries to the stack's sections, then adopt them with:\n"
        f"#   {command}\n"
    )
    create_private(path, header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
    also = f" (and {', '.join(written)})" if written else ""
    click.echo(f"Wrote {path}{also}: add its entries to {ws.stack.path}, then run `{command}`.")
