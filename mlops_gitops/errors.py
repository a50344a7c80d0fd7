"""Diagnostics are values: the stack loader, the engine and providers return or raise them, and
only the CLI decides how to print them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Position:
    """Where something sits in a source file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem, located as precisely as we can: a file position and a dotted field path."""

    message: str
    path: str = ""
    position: Position | None = None
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        parts = [str(self.position)] if self.position else []
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


class MlopsError(Exception):
    """An error meant for the user: printed as `Error: ...` without a traceback."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.diagnostics: list[Diagnostic] = list(diagnostics or [])

    @classmethod
    def of(cls, diagnostics: list[Diagnostic]) -> MlopsError:
        first = str(diagnostics[0]) if diagnostics else "invalid input"
        return cls(first, diagnostics)

    def lines(self) -> list[str]:
        if self.diagnostics:
            return [str(d) for d in self.diagnostics if d.severity == "error"] or [str(self)]
        return [str(self)]


class StackError(MlopsError):
    """The stack file (or its variables) is invalid. Raised before any cloud call."""


class StateError(MlopsError):
    """State is missing, corrupt, locked or stale."""


@dataclass
class LockInfo:
    """Who holds a state lock, and since when (shown when a second command is refused)."""

    id: str
    who: str
    operation: str
    created: str
    pid: int = 0
    host: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class LockedError(StateError):
    def __init__(self, info: LockInfo, message: str) -> None:
        super().__init__(message)
        self.info = info


class ProviderError(MlopsError):
    """The cloud refused or failed an operation; carries the cloud's own message."""

    def __init__(self, message: str, *, code: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class NotSupportedError(MlopsError):
    """A provider does not (yet) implement a kind or feature the stack asks for."""
