"""A small client of GitHub's REST API, for the sticky pull-request comments of `mlops comment`.

It reads what a GitHub Actions job provides: the API's base URL from `GITHUB_API_URL` (default
https://api.github.com, which GitHub Enterprise Server jobs set to their own), the token from
`GITHUB_TOKEN`, the repository (`owner/name`) from `GITHUB_REPOSITORY` and the pull request's
number from `--pr` or the event that started the job (`GITHUB_EVENT_PATH`, its
`pull_request.number`).

Calls are retried by the one retry policy of mlops (`mlops_gitops.retry`): GitHub's rate limits
(403 or 429 with `Retry-After`, or with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`) are
THROTTLED, and the wait GitHub asks for is honoured before the policy's own jittered pause; a
connection refused is UNSENT; a 5xx is TRANSIENT, so a POST (which would make a second comment)
is sent again only after looking for the comment it may have made. Every failure is one line,
the status named (401, 403, 404...), and never the token."""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_gitops import __version__
from mlops_gitops.errors import MlopsError
from mlops_gitops.retry import Failure, RetryableError, RetryPolicy, status_failure
from mlops_gitops.review import marker as markers

DEFAULT_API_URL = "https://api.github.com"
# GitHub's pages hold at most 100 comments.
PAGE_SIZE = 100
# The longest wait a rate limit may ask for that is waited out; a longer one fails the call.
MAX_RATE_LIMIT_WAIT = 60.0
TIMEOUT = 30.0
# GitHub's limit on a comment's body, in characters.
MAX_BODY = 65536
POLICY = RetryPolicy(attempts=5, base=1.0, cap=10.0, deadline=120.0)
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class GitHubError(MlopsError):
    """GitHub refused or failed a call, or the job does not say what to call: one line."""


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    data: Any


@dataclass
class GitHub:
    api_url: str
    token: str = field(repr=False)
    repository: str
    retry: RetryPolicy = POLICY
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time

    # ------------------------------------------------------------------ comments
    def comments(self, pr: int) -> Iterator[dict[str, Any]]:
        """Every comment of pull request `pr` (GitHub's issue comments), page by page."""
        url: str | None = self._url(f"/repos/{self.repository}/issues/{pr}/comments?per_page={PAGE_SIZE}")
        while url is not None:
            response = self.call("GET", url, what=f"list the comments of pull request #{pr}")
            if not isinstance(response.data, list):
                raise GitHubError(f"GitHub: listing the comments of #{pr} answered no list")
            yield from response.data
            url = next_page(response.headers.get("link", ""))

    def create_comment(self, pr: int, body: str) -> dict[str, Any]:
        what = f"comment on pull request #{pr}"
        mark = markers.find(body)

        def recover() -> dict[str, Any] | None:
            # A POST that failed after it was sent may have made the comment: look for it.
            return self.find_comment(pr, mark, body=body) if mark else None

        url = self._url(f"/repos/{self.repository}/issues/{pr}/comments")
        return self.call("POST", url, {"body": body}, what=what, idempotent=False, recover=recover).data

    def update_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        url = self._url(f"/repos/{self.repository}/issues/comments/{comment_id}")
        return self.call("PATCH", url, {"body": body}, what=f"update comment {comment_id}").data

    def find_comment(
        self, pr: int, mark: markers.Marker, *, body: str | None = None
    ) -> dict[str, Any] | None:
        """The first comment of `pr` marked for the same stack and environment as `mark` (and
        with exactly `body`, when given), or None."""
        for comment in self.comments(pr):
            text = str(comment.get("body") or "")
            found = markers.find(text)
            if found is not None and found.same_comment(mark) and (body is None or text == body):
                return comment
        return None

    # ---------------------------------------------------------------------- HTTP
    def call(
        self,
        method: str,
        url: str,
        payload: Any = None,
        *,
        what: str,
        idempotent: bool = True,
        recover: Callable[[], Any] | None = None,
    ) -> Response:
        def send() -> Response:
            return self._send(method, url, payload, what)

        def recovered() -> Response | None:
            found = recover() if recover is not None else None
            return None if found is None else Response(200, {}, found)

        return self.retry.run(send, idempotent=idempotent, recover=recovered if recover else None)

    def _url(self, path: str) -> str:
        return self.api_url.rstrip("/") + path

    def _send(self, method: str, url: str, payload: Any, what: str) -> Response:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", f"mlops-gitops/{__version__}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:
                raw = reply.read()
                headers = {k.lower(): v for k, v in reply.headers.items()}
                return Response(reply.status, headers, json.loads(raw) if raw else None)
        except urllib.error.HTTPError as exc:
            headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
            raw = exc.read() if exc.fp is not None else b""
            raise self._failure(exc.code, headers, raw, what) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            host = urllib.parse.urlsplit(url).netloc
            failure = Failure.UNSENT if _unsent(reason) else Failure.TRANSIENT
            raise RetryableError(
                f"GitHub: cannot {what}: {host} is not reachable ({_clean(str(reason))})",
                code="Unreachable",
                failure=failure,
            ) from None
        except json.JSONDecodeError:
            raise GitHubError(f"GitHub: cannot {what}: the answer is not JSON") from None

    def _failure(self, status: int, headers: Mapping[str, str], raw: bytes, what: str) -> MlopsError:
        message = _message(raw)
        said = f": {message}" if message else ""
        wait = self.rate_limit_wait(status, headers, message)
        if wait is not None:
            if wait > MAX_RATE_LIMIT_WAIT:
                return GitHubError(
                    f"GitHub: cannot {what}: rate limited ({status}) for {wait:.0f} more seconds{said}"
                )
            self.sleep(wait)
            return RetryableError(
                f"GitHub: cannot {what}: rate limited ({status}){said}",
                code=str(status),
                failure=Failure.THROTTLED,
            )
        named = {
            401: "401 Unauthorized: GITHUB_TOKEN is missing, expired or not a token of this repository",
            403: "403 Forbidden: the token may not do this (the job needs `permissions: pull-requests: "
            "write`)",
            404: f"404 Not Found: no repository {self.repository} or no such pull request or comment, "
            "or the token cannot see it",
            422: "422 Unprocessable: GitHub refused the request",
        }
        text = named.get(status, f"HTTP {status}")
        failure = status_failure(status)
        if failure is not None:
            return RetryableError(f"GitHub: cannot {what}: {text}{said}", code=str(status), failure=failure)
        return GitHubError(f"GitHub: cannot {what}: {text}{said}")

    def rate_limit_wait(self, status: int, headers: Mapping[str, str], message: str) -> float | None:
        """The seconds GitHub asks to wait before the next call, when `status` is a rate limit
        (primary or secondary); None when it is no rate limit."""
        if status not in (403, 429):
            return None
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                return 1.0
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            try:
                return max(0.0, float(headers["x-ratelimit-reset"]) - self.clock())
            except ValueError:
                return 1.0
        if status == 429 or "rate limit" in message.lower():
            return 1.0  # GitHub's advice without a header: wait at least a minute; try soon
        return None


def next_page(link: str) -> str | None:
    """The `rel="next"` URL of a `Link` header, or None on the last page."""
    found = _NEXT.search(link or "")
    return found.group(1) if found else None


def _message(raw: bytes) -> str:
    try:
        doc = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    return _clean(str(doc.get("message") or "")) if isinstance(doc, dict) else ""


def _clean(text: str) -> str:
    return " ".join(text.split())


def _unsent(reason: object) -> bool:
    return isinstance(reason, ConnectionRefusedError | socket.gaierror) or "refused" in str(reason).lower()


# ------------------------------------------------------------------------ from the job
def from_environment(environ: Mapping[str, str] | None = None) -> GitHub:
    """The client a GitHub Actions job's environment describes."""
    env = os.environ if environ is None else environ
    token = env.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise GitHubError(
            "GITHUB_TOKEN is not set: give the step `env: GITHUB_TOKEN: ${{ github.token }}` "
            "(with `permissions: pull-requests: write`)"
        )
    repository = env.get("GITHUB_REPOSITORY", "").strip()
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        shown = f" ({repository!r})" if repository else ""
        raise GitHubError(f"GITHUB_REPOSITORY is not owner/name{shown}: GitHub Actions sets it")
    api_url = env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
    if urllib.parse.urlsplit(api_url).scheme not in ("http", "https"):
        raise GitHubError(f"GITHUB_API_URL {api_url!r}: not an http(s) URL")
    return GitHub(api_url, token, repository)


def pull_request_number(explicit: int | None, environ: Mapping[str, str] | None = None) -> int:
    """`--pr`, or the pull request of the event that started the job."""
    if explicit is not None:
        return explicit
    env = os.environ if environ is None else environ
    path = env.get("GITHUB_EVENT_PATH", "")
    if not path:
        raise GitHubError("no pull request: give --pr N (GITHUB_EVENT_PATH, the job's event, is not set)")
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GitHubError(f"GITHUB_EVENT_PATH {path}: cannot be read: {_clean(str(exc))}") from None
    pr = event.get("pull_request") if isinstance(event, dict) else None
    number = pr.get("number") if isinstance(pr, dict) else None
    if number is None and isinstance(event, dict) and isinstance(event.get("issue"), dict):
        number = event["issue"].get("number") if "pull_request" in event["issue"] else None
    if not isinstance(number, int) or isinstance(number, bool):
        raise GitHubError(
            f"GITHUB_EVENT_PATH {path}: not a pull request's event (no pull_request.number): give --pr N"
        )
    return number


@dataclass(frozen=True)
class Posted:
    action: str  # "created" | "updated" | "unchanged"
    comment_id: int
    url: str


def post_sticky(client: GitHub, pr: int, body: str) -> Posted:
    """Create the comment of `body`'s stack and environment on `pr`, or update the one there is
    (found by its marker); a comment already holding `body` is left as it is."""
    mark = markers.find(body)
    if mark is None:
        raise GitHubError(
            "the comment body has no mlops-gitops marker (its first line, "
            "`<!-- mlops-gitops plan: stack=... environment=... digest=... -->`): render it with "
            "`mlops show --format markdown PLAN_FILE`"
        )
    if len(body) > MAX_BODY:
        raise GitHubError(f"the comment body is {len(body)} characters; GitHub takes at most {MAX_BODY}")
    found = client.find_comment(pr, mark)
    if found is None:
        made = client.create_comment(pr, body)
        return Posted("created", int(made["id"]), str(made.get("html_url") or ""))
    if found.get("body") == body:
        return Posted("unchanged", int(found["id"]), str(found.get("html_url") or ""))
    updated = client.update_comment(int(found["id"]), body)
    return Posted("updated", int(updated["id"]), str(updated.get("html_url") or ""))
