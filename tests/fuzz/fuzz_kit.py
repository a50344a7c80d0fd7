"""What the fuzz suite shares: the hypothesis profile, running `mlops` in this process, the memory
provider standing in for a cloud, a guard that no socket leaves the machine, and the mutations.

The mutations start from valid documents (the repository's stacks, a state file and a saved plan
made by the real code) and break them a little at a time, so most inputs get past the parser and
reach the checks behind it: a key deleted, a value of another type, an unknown key, a duplicated
line, a truncation, a `${...}` where none belongs, aliases, bad UTF-8, a BOM, tabs."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from mlops_gitops import plugins
from mlops_gitops.cli.main import main
from mlops_gitops.provider import Provider
from mlops_gitops.testing.memory import MemoryCloud, MemoryProvider

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"

# Deterministic, so CI runs the same cases every time: no example database, no deadline (a slow
# CI machine must not turn into a flaky failure; `FAST` below bounds what must be fast).
PROFILE = "mlops-fuzz"
settings.register_profile(
    PROFILE,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
# MLOPS_FUZZ_SCALE=10 runs ten times as many cases (locally, to hunt for more).
SCALE = float(os.environ.get("MLOPS_FUZZ_SCALE", "1"))


def fuzz(max_examples: int) -> settings:
    return settings(settings.get_profile(PROFILE), max_examples=max(1, int(max_examples * SCALE)))


# ---------------------------------------------------------------------------- running mlops
TRACEBACK = "Traceback (most recent call last)"
# What main() prints for an exception that is not an MlopsError (see cli/main.py).
INTERNAL = ("internal error", "unexpected error", "set MLOPS_DEBUG=1")
# Slower than this for one command is a hang (a YAML bomb, a quadratic loop), not a slow machine.
FAST = 10.0


@dataclass
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float
    network: list[str] = field(default_factory=list)  # what the command tried to reach (refused)

    @property
    def errors(self) -> list[str]:
        # Lines as a terminal shows them: only "\n" ends one.
        return [line for line in self.err.split("\n") if line.startswith("Error: ")]

    def check(self, allowed: tuple[int, ...] = (0, 1)) -> Result:
        """The properties every command has on any input: an exit code it documents, no
        traceback, no internal error, and an `Error:` line for every failure."""
        where = f"mlops {' '.join(self.args)}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"
        assert self.code in allowed, f"exit code {self.code}\n{where}"
        if not os.environ.get("MLOPS_DEBUG"):
            assert TRACEBACK not in self.out + self.err, where
        for text in INTERNAL:
            assert text not in self.err, where
        if self.code == 1:
            assert self.errors, f"failed without an Error: line\n{where}"
        assert self.seconds < FAST, f"took {self.seconds:.1f}s\n{where}"
        assert not self.network, f"reached for the network: {self.network}\n{where}"
        return self


_RUN = threading.Lock()


def mlops(*args: str, provider: type[Provider] | None = None) -> Result:
    """`mlops ARGS` in this process through main(), as the console script runs it.
    `provider` stands in for the installed provider of its name, for this command only."""
    import time

    assert GUARDS, "mlops() runs only under network_guard() (the fuzz conftest installs it)"
    out, err = io.StringIO(), io.StringIO()
    seen = len(GUARDS[-1].attempts)
    with _RUN, _provider(provider), _argv(["mlops", *args]):
        start = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code: Any = 0
            except SystemExit as exc:
                code = exc.code
        seconds = time.monotonic() - start
    network = GUARDS[-1].attempts[seen:]
    return Result(
        args, code if isinstance(code, int) else 1, out.getvalue(), err.getvalue(), seconds, network
    )


@contextlib.contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


@contextlib.contextmanager
def _provider(cls: type[Provider] | None) -> Iterator[None]:
    if cls is None:
        yield
        return
    found = plugins.provider_class

    def provider_class(name: str) -> type[Provider]:
        return cls if name == cls.name else found(name)

    plugins.provider_class = provider_class
    try:
        yield
    finally:
        plugins.provider_class = found


def memory_provider() -> tuple[MemoryCloud, type[MemoryProvider]]:
    cloud = MemoryCloud()
    return cloud, MemoryProvider.on(cloud)


def writes(cloud: MemoryCloud) -> list[str]:
    """The creates, updates and deletes the memory cloud was asked for."""
    return [f"{c.op} {c.kind} {c.name}" for c in cloud.calls]


# ---------------------------------------------------------------------------- no cloud calls
@dataclass
class NetworkGuard:
    """Records (and refuses) every connection and name lookup that would leave the machine."""

    attempts: list[str] = field(default_factory=list)

    def refuse(self, what: str) -> None:
        self.attempts.append(what)
        raise OSError(f"fuzz suite: no network ({what})")


GUARDS: list[NetworkGuard] = []  # the active guard last
_LOOPBACK = ("127.", "::1", "localhost", "0:0:0:0:0:0:0:1")


def _is_loopback(host: object) -> bool:
    return isinstance(host, str) and host.startswith(_LOOPBACK)


@contextlib.contextmanager
def network_guard() -> Iterator[NetworkGuard]:
    """Patch socket.connect/connect_ex, getaddrinfo and, when botocore is installed, its
    Endpoint._send (the one place every AWS request goes through)."""
    guard = NetworkGuard()
    real_connect, real_connect_ex, real_getaddrinfo = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.getaddrinfo,
    )

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if not _is_loopback(host):
                guard.refuse(f"connect {address!r}")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host if isinstance(host, str) else str(host)):
            guard.refuse(f"getaddrinfo {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    endpoint: Any = None
    real_send: Any = None
    try:
        from botocore import endpoint  # type: ignore[no-redef]

        real_send = endpoint.Endpoint._send

        def send(self: Any, request: Any) -> Any:
            guard.refuse(f"botocore {request.method} {request.url}")

        endpoint.Endpoint._send = send
    except ImportError:
        endpoint = None
    GUARDS.append(guard)
    try:
        yield guard
    finally:
        GUARDS.remove(guard)
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo
        if endpoint is not None:
            endpoint.Endpoint._send = real_send


# ---------------------------------------------------------------------------- values
def _text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=30),
        st.sampled_from(
            [
                "",
                " ",
                "NaN",
                "nan",
                ".nan",
                "-.inf",
                "Infinity",
                "1e400",
                "-0",
                "0x1F",
                "true",
                "null",
                "~",
                "yes",
                "${var.region}",
                "${var.nope}",
                "${",
                "$${var.x}",
                "${endpoint.fraud-api.arn}",
                "${ var.region }",
                "café ✓ \u202e\u0000",
                "\t",
                "a\nb",
                "x" * 5000,
                "ml.m5.xlarge",
                "s3://bucket/key",
            ]
        ),
    )


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([0, -1, 2**63, -(2**64), 10**100, 10**4000]),
        st.floats(allow_nan=True, allow_infinity=True),
        _text(),
    )


def values() -> st.SearchStrategy[Any]:
    """Any value a YAML or JSON document can hold."""
    return st.recursive(
        scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.one_of(_text(), st.integers()), inner, max_size=4)
        ),
        max_leaves=8,
    )


# ---------------------------------------------------------------------------- data mutations
Path_ = tuple[Any, ...]


def _paths(data: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every path into `data` (the root is `()`)."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, (*prefix, i))
    return out


def _at(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated_data(draw: st.DrawFn, base: Any, *, steps: int = 3, keys: list[str] | None = None) -> Any:
    """`base` (a parsed document) after 1..steps random edits: a key deleted, a value replaced by
    one of any type (a near-miss string, a container wrapped or emptied), an unknown key added, a
    key renamed."""
    data = json.loads(json.dumps(base))  # a deep copy of plain data
    extra_keys = st.sampled_from(keys or ["name", "nope", "provider", "models", "variables"])
    for _ in range(draw(st.integers(1, steps))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        target = _at(data, path)
        op = draw(st.sampled_from(["delete", "replace", "replace", "insert", "rename", "wrap", "empty"]))
        if not path:  # the root: only keys can go or come
            op = "insert" if op not in ("delete", "insert") else op
        if op == "delete" and path:
            parent = _at(data, path[:-1])
            del parent[path[-1]]
        elif op == "replace" and path:
            _at(data, path[:-1])[path[-1]] = draw(values())
        elif op == "insert" and isinstance(target, dict):
            target[draw(st.one_of(extra_keys, _text()))] = draw(values())
        elif op == "insert" and isinstance(target, list):
            target.insert(draw(st.integers(0, len(target))), draw(values()))
        elif op == "rename" and path and isinstance(path[-1], str):
            parent = _at(data, path[:-1])
            parent[path[-1] + draw(st.sampled_from(["_", "s", "X", " "]))] = parent.pop(path[-1])
        elif op == "wrap" and path:
            _at(data, path[:-1])[path[-1]] = draw(st.sampled_from([[target], {"value": target}]))
        elif op == "empty" and path:
            _at(data, path[:-1])[path[-1]] = draw(st.sampled_from([[], {}, "", None]))
    return data


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def dump_json(data: Any) -> str:
    # NaN and Infinity as Python writes them (a JSON reader may meet them in a hand-edited file).
    return json.dumps(data, indent=2, allow_nan=True, default=str)


# ---------------------------------------------------------------------------- text mutations
_SNIPPETS = [
    "\t",
    "  ",
    ": ",
    ":",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "'",
    '"',
    "#",
    "&a ",
    "*a",
    "*undefined",
    "<<: *a\n",
    "!!python/object:os.system ",
    "!!binary ",
    "!!int ",
    "!custom ",
    "${",
    "${var.",
    "${var.region}",
    "${var.nope}",
    "${endpoint.fraud-api.arn}",
    "$${",
    "}}",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "? ",
    "|",
    ">-",
    "\x00",
    "\x1b",
    "\ufeff",
    "\u2028",
    "\r",
    "\r\n",
    "9" * 5000,
    "é",
    "\n  extra: 1\n",
    "\nunknown_top: 1\n",
]


@st.composite
def mutated_text(draw: st.DrawFn, base: str) -> bytes:
    """`base` after 1..3 edits of its text (then encoded), some of them in bytes: truncated, a
    line duplicated (a duplicate key) or dropped, a snippet of YAML/JSON syntax or of `${...}`
    inserted, characters deleted, a BOM in front, tabs for indentation, invalid UTF-8."""
    text = base
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(
                ["truncate", "dup_line", "drop_line", "insert", "insert", "delete", "bom", "tabs", "bytes"]
            )
        )
        at = draw(st.integers(0, len(text)))
        lines = text.splitlines(keepends=True)
        if op == "truncate":
            text = text[:at]
        elif op == "dup_line" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i] if lines[i].endswith("\n") else lines[i] + "\n")
            text = "".join(lines)
        elif op == "drop_line" and lines:
            del lines[draw(st.integers(0, len(lines) - 1))]
            text = "".join(lines)
        elif op == "insert":
            snippet = draw(st.one_of(st.sampled_from(_SNIPPETS), st.text(max_size=5)))
            text = text[:at] + snippet + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        elif op == "bom":
            text = "\ufeff" + text
        elif op == "tabs":
            text = text.replace("  ", "\t", draw(st.integers(1, 5)))
        elif op == "bytes":
            cut = len(_encode(text[:at]))
            encoded = _encode(text)
            junk = draw(
                st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xfe\xff", b"\x00"])
            )
            # Kept as text meanwhile: the bytes that are not UTF-8 as lone surrogates.
            text = (encoded[:cut] + junk + encoded[cut:]).decode("utf-8", errors="surrogateescape")
    return _encode(text)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


@st.composite
def yaml_bombs(draw: st.DrawFn) -> str:
    """Aliases that expand exponentially (billion laughs), deep nesting, and alias cycles."""
    kind = draw(st.sampled_from(["laughs", "deep_flow", "deep_block", "merge", "self"]))
    head = "apiVersion: mlops-gitops/v1\nname: bomb\nprovider: {memory: {}}\n"
    if kind == "laughs":
        width, depth = draw(st.integers(2, 10)), draw(st.integers(3, 30))
        lines = ['a0: &a0 ["lol"]']
        for i in range(1, depth):
            lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
        return head + "variables:\n  x:\n    default:\n" + "".join(f"      {line}\n" for line in lines)
    if kind == "deep_flow":
        n = draw(st.integers(50, 20000))
        return head + "tags: " + "[" * n + "]" * n + "\n"
    if kind == "deep_block":
        n = draw(st.integers(50, 400))
        return (
            head + "tags:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(n)) + "  " * (n + 1) + "x\n"
        )
    if kind == "merge":
        n = draw(st.integers(2, 60))
        lines = ["m0: &m0 {k: 1}"] + [
            f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}" for i in range(1, n)
        ]
        return head + "variables:\n  x:\n    default:\n" + "".join(f"      {line}\n" for line in lines)
    return head + "tags: &t\n  a: *t\n"


def is_finite_json(value: Any) -> bool:
    """Whether `value` has no NaN or infinity anywhere (JSON has none)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(is_finite_json(v) for v in value.values())
    if isinstance(value, list):
        return all(is_finite_json(v) for v in value)
    return True


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


Mutator = Callable[[Any], Any]
