"""`mlops graph`: the stack's dependency graph, as Mermaid or Graphviz DOT."""

from __future__ import annotations

import click

from mlops_gitops.cli.options import var_file_option, var_option, with_vars


@click.command()
@click.option(
    "--format",
    "format_",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
    help="mermaid (a flowchart GitHub renders in Markdown) or dot (Graphviz).",
)
@var_option
@var_file_option
@click.pass_context
def graph(ctx: click.Context, format_: str, vars_: tuple[str, ...], var_files: tuple[str, ...]) -> None:
    """Print the stack's dependency graph as Mermaid or Graphviz DOT. An arrow points from a
    resource to what depends on it, the order apply creates them in. Makes no cloud call."""
    from mlops_gitops.review import mermaid

    stack = with_vars(ctx, vars_, var_files).load_stack()
    nodes = [mermaid.Node(address, action="") for address in stack.order]
    edges = [(dep, address) for address in stack.order for dep in stack.resources[address].depends_on]
    if format_ == "dot":
        click.echo(mermaid.dot(stack.name, nodes, edges), nl=False)
    else:
        click.echo(mermaid.flowchart(nodes, edges, direction="LR"), nl=False)
