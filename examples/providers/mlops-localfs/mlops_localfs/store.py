"""The "cloud": JSON files below a root directory, one per object, and the faults a test asks
for in `<root>/.faults.json`. Every call goes through `Store.call`, which applies the core's
retry policy, so a throttled call is tried again as on a real cloud."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mlops_gitops.errors import ProviderError
from mlops_gitops.retry import Failure, RetryableError, RetryPolicy

R = TypeVar("R")
FAULTS = ".faults.json"
# A local directory answers fast: short pauses, the same shape of policy as every provider.
POLICY = RetryPolicy(attempts=5, base=0.02, cap=0.2, deadline=10.0)


class Store:
    def __init__(self, root: Path, policy: RetryPolicy = POLICY) -> None:
        self.root = root
        self.policy = policy
        self._faults_lock = threading.Lock()

    # ---- faults ----------------------------------------------------------------------------
    def _take_fault(self, key: str, match: str | None = None) -> bool:
        """Consume one fault of `key` (a counter, or a list naming `match`), if one is set."""
        path = self.root / FAULTS
        with self._faults_lock:
            try:
                faults = json.loads(path.read_text())
            except (FileNotFoundError, ValueError):
                return False
            value = faults.get(key)
            if match is None and isinstance(value, int) and value > 0:
                faults[key] = value - 1
            elif match is not None and isinstance(value, list) and match in value:
                value.remove(match)
            else:
                return False
            path.write_text(json.dumps(faults))
            return True

    def fail_after_checkpoint(self, address: str) -> bool:
        return self._take_fault("fail_after_checkpoint", address)

    def call(
        self, send: Callable[[], R], *, idempotent: bool = True, cancel: threading.Event | None = None
    ) -> R:
        def attempt() -> R:
            if self._take_fault("throttle"):
                raise RetryableError("Throttled: slow down", code="Throttled", failure=Failure.THROTTLED)
            return send()

        return self.policy.run(attempt, idempotent=idempotent, cancel=cancel)

    # ---- objects ---------------------------------------------------------------------------
    def path(self, collection: str, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ProviderError(f"{name!r} is not a valid object name", code="InvalidName")
        return self.root / collection / f"{name}.json"

    def get(self, collection: str, name: str) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            path = self.path(collection, name)
            try:
                body = json.loads(path.read_text())
            except FileNotFoundError:
                return None
            body["file_mode"] = format(stat.S_IMODE(path.stat().st_mode), "04o")
            return body

        return self.call(read)

    def put(self, collection: str, name: str, body: dict[str, Any], file_mode: str) -> None:
        def write() -> None:
            path = self.path(collection, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({k: v for k, v in body.items() if k != "file_mode"}, indent=2))
            os.chmod(tmp, int(file_mode, 8))
            os.replace(tmp, path)  # a reader never sees half a file

        self.call(write)

    def delete(self, collection: str, name: str) -> None:
        self.call(lambda: self.path(collection, name).unlink(missing_ok=True))

    def names(self, collection: str) -> list[str]:
        folder = self.root / collection
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
