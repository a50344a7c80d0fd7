"""`mlops comment`: the sticky pull-request comment of a stack environment's plan."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_gitops.errors import MlopsError


@click.command()
@click.option(
    "--body-file",
    required=True,
    type=click.Path(dir_okay=False),
    help="The comment's Markdown (`mlops show --format markdown PLAN_FILE`), or - for stdin.",
)
@click.option(
    "--pr",
    "pr",
    type=click.IntRange(min=1),
    help="The pull request's number (default: the one of the job's event, GITHUB_EVENT_PATH).",
)
def comment(body_file: str, pr: int | None) -> None:
    """Create or update this plan's comment on the pull request (one per stack and environment).

    The comment is found by the marker on the body's first line (stack and environment), so a
    new push updates it in place, and the comments of other stacks and environments are left
    alone. It talks to GitHub's REST API as a GitHub Actions job: GITHUB_TOKEN (which needs
    `pull-requests: write`), GITHUB_REPOSITORY, GITHUB_API_URL and the pull request of the event
    (GITHUB_EVENT_PATH) or --pr. Rate limits are waited out and retried."""
    from mlops_gitops.review import github

    body = _read_body(body_file)
    client = github.from_environment()
    number = github.pull_request_number(pr)
    posted = github.post_sticky(client, number, body)
    where = f": {posted.url}" if posted.url else ""
    verb = {"created": "Created", "updated": "Updated", "unchanged": "Unchanged:"}[posted.action]
    click.echo(f"{verb} comment {posted.comment_id} on pull request #{number}{where}")


def _read_body(body_file: str) -> str:
    try:
        if body_file == "-":
            return click.get_text_stream("stdin").read()
        return Path(body_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise MlopsError(f"--body-file {body_file}: cannot be read: {reason}") from None
