"""A fake of the few GitHub REST API calls `mlops comment` makes, served on loopback (127.0.0.1, a
port of the system's choosing), so that no test reaches the internet.

It serves, for one repository:

* `GET /repos/{owner}/{repo}/issues/{number}/comments`: the pull request's comments, `page_size`
  a page (`per_page` is honoured up to it), with GitHub's `Link` header (`rel="next"`, `"last"`);
* `POST /repos/{owner}/{repo}/issues/{number}/comments`: a new comment (201);
* `PATCH /repos/{owner}/{repo}/issues/comments/{id}`: a comment's new body (200; 404 if none).

Every call must carry `Authorization: Bearer <token>` (else 401 "Bad credentials", as GitHub
answers); another repository is 404 "Not Found". `rate_limit(n)` answers the next n calls with
GitHub's secondary rate limit (403, `Retry-After: 1` and the documented message), and
`fail_after_post(n)` makes the next n POSTs create their comment and then answer 502, as a reply
lost on the way back would."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you "
    "reach out to GitHub Support for help, please include the request ID 1234:5678:9ABC."
)
RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)


@dataclass
class Request:
    method: str
    path: str  # with its query
    body: Any


@dataclass
class FakeGitHub:
    repository: str = "acme/ml-stacks"
    token: str = "ghs_fake-token-0123456789"
    page_size: int = 2
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> comment
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    _rate_limited: int = 0
    _failing_posts: int = 0
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ for the test
    def add(self, pr: int, body: str, user: str = "octocat") -> int:
        """A comment already on pull request `pr`; its id."""
        with self._lock:
            return self._create(pr, body, user)["id"]

    def on(self, pr: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["pr"] == pr]

    def rate_limit(self, times: int = 1) -> None:
        self._rate_limited = times

    def fail_after_post(self, times: int = 1) -> None:
        self._failing_posts = times

    def calls(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    # ------------------------------------------------------------------ the API
    def _create(self, pr: int, body: str, user: str) -> dict[str, Any]:
        comment_id = self._next_id
        self._next_id += 1
        comment = {
            "id": comment_id,
            "pr": pr,
            "body": body,
            "user": {"login": user},
            "html_url": f"https://github.com/{self.repository}/pull/{pr}#issuecomment-{comment_id}",
        }
        self.comments[comment_id] = comment
        return comment

    def handle(self, method: str, target: str, headers: Any, payload: Any) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append(Request(method, target, payload))
            if headers.get("Authorization") != f"Bearer {self.token}":
                return (
                    401,
                    {},
                    {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
                )
            if self._rate_limited:
                self._rate_limited -= 1
                return (
                    403,
                    {"Retry-After": "1"},
                    {"message": SECONDARY_RATE_LIMIT, "documentation_url": RATE_LIMIT_DOCS},
                )
            parts = urlsplit(target)
            prefix = f"/repos/{self.repository}/issues/"
            if not parts.path.startswith(prefix):
                return 404, {}, {"message": "Not Found"}
            rest = parts.path[len(prefix) :]
            listing = re.fullmatch(r"(\d+)/comments", rest)
            single = re.fullmatch(r"comments/(\d+)", rest)
            if listing and method == "GET":
                return self._list(int(listing.group(1)), parts.path, parse_qs(parts.query))
            if listing and method == "POST":
                made = self._create(int(listing.group(1)), str(payload["body"]), "github-actions[bot]")
                if self._failing_posts:
                    self._failing_posts -= 1
                    return 502, {}, {"message": "Server Error"}
                return 201, {}, _public(made)
            if single and method == "PATCH":
                comment = self.comments.get(int(single.group(1)))
                if comment is None:
                    return 404, {}, {"message": "Not Found"}
                comment["body"] = str(payload["body"])
                return 200, {}, _public(comment)
            return 404, {}, {"message": "Not Found"}

    def _list(self, pr: int, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        size = min(int(query.get("per_page", ["30"])[0]), self.page_size)
        page = int(query.get("page", ["1"])[0])
        found = sorted(self.on(pr), key=lambda c: c["id"])
        pages = max(1, -(-len(found) // size))
        headers = {}
        links = []
        if page < pages:
            links.append(f'<{self.url}{path}?per_page={size}&page={page + 1}>; rel="next"')
        links.append(f'<{self.url}{path}?per_page={size}&page={pages}>; rel="last"')
        headers["Link"] = ", ".join(links)
        return 200, headers, [_public(c) for c in found[(page - 1) * size : page * size]]


def _public(comment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in comment.items() if k != "pr"}


@contextmanager
def serve(fake: FakeGitHub | None = None) -> Iterator[FakeGitHub]:
    """`fake` (a new one by default) served on 127.0.0.1 for the block; its `url` is the API's."""
    fake = fake or FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            payload = json.loads(raw) if raw else None
            status, headers, body = fake.handle(self.command, self.path, self.headers, payload)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
