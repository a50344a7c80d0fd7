"""`mlops comment` as a GitHub Actions job runs it, against a fake of GitHub's REST API on loopback
(github_fake.py): one sticky comment per stack and environment, found by its marker across pages
of comments, created once and then updated; rate limits waited out; failures one line, without
the token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from github_fake import FakeGitHub, serve

from mlops_gitops.review import github
from mlops_gitops.review.marker import Marker

MLOPS = str(Path(sys.executable).parent / "mlops")
PR = 7


def body(stack: str = "fraud", environment: str | None = "dev", digest: str = "a", text: str = "plan") -> str:
    return f"{Marker(stack, environment, digest * 64).line()}\n#### mlops plan: {stack}\n\n{text}\n"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with serve() as served:
        yield served


@pytest.fixture
def event(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": PR}}))
    return path


def run(
    fake: FakeGitHub, tmp_path: Path, text: str, *args: str, event: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    file = tmp_path / "comment.md"
    file.write_text(text)
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("GITHUB_") and "proxy" not in k.lower()
    }
    environ.update(
        {
            "GITHUB_API_URL": fake.url,
            "GITHUB_TOKEN": fake.token,
            "GITHUB_REPOSITORY": fake.repository,
            "NO_PROXY": "127.0.0.1,localhost",
            **({"GITHUB_EVENT_PATH": str(event)} if event else {}),
            **env,
        }
    )
    return subprocess.run(
        [MLOPS, "comment", "--body-file", str(file), *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_posts_once_then_updates_the_same_comment(fake: FakeGitHub, tmp_path: Path, event: Path) -> None:
    # Others' comments, and prod's plan comment: two pages of two before ours is looked for.
    fake.add(PR, "LGTM")
    prod = fake.add(PR, body(environment="prod", text="prod's plan"), user="github-actions[bot]")
    fake.add(PR, "please add a monitor")
    fake.add(PR + 1, body(text="another pull request's"), user="github-actions[bot]")

    first = run(fake, tmp_path, body(digest="a", text="first push"), event=event)
    assert first.returncode == 0, first.stderr
    (made,) = [c for c in fake.on(PR) if "first push" in c["body"]]
    assert first.stdout == f"Created comment {made['id']} on pull request #{PR}: {made['html_url']}\n"
    # Every page was read before deciding there was no comment of fraud (dev) yet.
    assert fake.calls()[:3] == [
        f"GET /repos/acme/ml-stacks/issues/{PR}/comments?per_page=100",
        f"GET /repos/acme/ml-stacks/issues/{PR}/comments?per_page=2&page=2",
        f"POST /repos/acme/ml-stacks/issues/{PR}/comments",
    ]

    fake.requests.clear()
    second = run(fake, tmp_path, body(digest="b", text="second push"), event=event)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"Updated comment {made['id']} on pull request #{PR}")
    assert fake.calls()[-1] == f"PATCH /repos/acme/ml-stacks/issues/comments/{made['id']}"
    ours = [c for c in fake.on(PR) if c["user"]["login"] == "github-actions[bot]"]
    assert [c["id"] for c in ours] == [prod, made["id"]]  # one comment per environment, still
    assert "second push" in fake.comments[made["id"]]["body"]
    assert fake.comments[prod]["body"] == body(environment="prod", text="prod's plan")
    assert len(fake.on(PR)) == 4 and len(fake.on(PR + 1)) == 1

    # The same body again: nothing to change, nothing sent but reads.
    fake.requests.clear()
    third = run(fake, tmp_path, body(digest="b", text="second push"), event=event)
    assert third.returncode == 0 and third.stdout.startswith(f"Unchanged: comment {made['id']}")
    assert all(c.startswith("GET ") for c in fake.calls())


def test_another_environment_and_a_stack_without_one_get_their_own(fake: FakeGitHub, tmp_path: Path) -> None:
    dev = run(fake, tmp_path, body(environment="dev"), "--pr", str(PR))
    prod = run(fake, tmp_path, body(environment="prod"), "--pr", str(PR))
    plain = run(fake, tmp_path, body(stack="churn", environment=None), "--pr", str(PR))
    assert (dev.returncode, prod.returncode, plain.returncode) == (0, 0, 0), plain.stderr
    assert sorted(marker_of(c["body"]) for c in fake.on(PR)) == [
        ("churn", None),
        ("fraud", "dev"),
        ("fraud", "prod"),
    ]


def marker_of(text: str) -> tuple[str, str | None]:
    from mlops_gitops.review.marker import find

    found = find(text)
    assert found is not None
    return found.stack, found.environment


def test_a_secondary_rate_limit_is_waited_out_and_retried(
    fake: FakeGitHub, tmp_path: Path, event: Path
) -> None:
    fake.rate_limit(1)
    started = time.monotonic()
    done = run(fake, tmp_path, body(), event=event)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 1.0  # Retry-After: 1, honoured
    listed = f"GET /repos/acme/ml-stacks/issues/{PR}/comments?per_page=100"
    assert fake.calls() == [listed, listed, f"POST /repos/acme/ml-stacks/issues/{PR}/comments"]
    assert len(fake.on(PR)) == 1


def test_a_post_whose_reply_is_lost_makes_no_second_comment(fake: FakeGitHub, tmp_path: Path) -> None:
    # The comment is made, then GitHub answers 502: sending the POST again would make a second one.
    fake.fail_after_post(1)
    done = run(fake, tmp_path, body(), "--pr", str(PR))
    assert done.returncode == 0, done.stderr
    assert len(fake.on(PR)) == 1
    assert [c.split(" ")[0] for c in fake.calls()] == ["GET", "POST", "GET"]


def test_a_bad_token_is_one_line_without_the_token(fake: FakeGitHub, tmp_path: Path, event: Path) -> None:
    secret = "ghs_wrong-token-do-not-print"
    done = run(fake, tmp_path, body(), event=event, GITHUB_TOKEN=secret)
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: GitHub: cannot list the comments of pull request #{PR}: 401 Unauthorized: GITHUB_TOKEN "
        "is missing, expired or not a token of this repository: Bad credentials\n"
    )
    assert secret not in done.stdout + done.stderr and done.stdout == ""
    assert not fake.comments


@pytest.mark.parametrize(
    ("env", "args", "error"),
    [
        (
            {"GITHUB_REPOSITORY": "acme/elsewhere"},
            ["--pr", "7"],
            "404 Not Found: no repository acme/elsewhere",
        ),
        ({"GITHUB_TOKEN": ""}, ["--pr", "7"], "GITHUB_TOKEN is not set"),
        ({"GITHUB_REPOSITORY": "nope"}, ["--pr", "7"], "GITHUB_REPOSITORY is not owner/name ('nope')"),
        ({}, [], "no pull request: give --pr N"),
    ],
)
def test_what_the_job_lacks_is_one_line(
    fake: FakeGitHub, tmp_path: Path, env: dict[str, str], args: list[str], error: str
) -> None:
    done = run(fake, tmp_path, body(), *args, **env)
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith("Error: ") and error in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and fake.token not in done.stderr


def test_a_push_event_or_a_body_without_marker_is_refused(fake: FakeGitHub, tmp_path: Path) -> None:
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main"}))
    done = run(fake, tmp_path, body(), event=push)
    assert done.returncode == 1
    assert "not a pull request's event (no pull_request.number): give --pr N" in done.stderr
    bare = run(fake, tmp_path, "#### a plan, unmarked\n", "--pr", str(PR))
    assert bare.returncode == 1 and "the comment body has no mlops-gitops marker" in bare.stderr
    assert not fake.requests


def test_link_headers_and_rate_limit_headers() -> None:
    link = '<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last"'
    assert github.next_page(link) == "https://api.github.com/x?page=2"
    assert github.next_page('<https://api.github.com/x?page=1>; rel="prev"') is None
    client = github.GitHub("http://127.0.0.1:1", "t", "a/b", clock=lambda: 1000.0)
    primary = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1030"}
    assert client.rate_limit_wait(403, primary, "API rate limit exceeded") == 30.0
    assert client.rate_limit_wait(429, {"retry-after": "3"}, "") == 3.0
    assert client.rate_limit_wait(403, {}, "Resource not accessible by integration") is None
    assert client.rate_limit_wait(404, {"retry-after": "3"}, "") is None
    assert repr(client).count("'t'") == 0  # the token is not in the client's repr
