"""Writing files that may hold secrets (state, saved plans, caches): atomically and readable by
their owner only."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: a reader sees the old file or the whole new one, never half.

    The bytes go to a new temporary file beside `path`, which mkstemp creates with mode 0600 and
    O_EXCL (never an existing file or a symlink planted under that name), then it is renamed over
    `path`. No moment exists when the content is readable by others, as with write-then-chmod."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
