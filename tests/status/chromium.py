"""Headless Chromium for the status page's tests: a screenshot, and the DOM it built. Installed
in CI with `apt-get update && apt-get install -y chromium` (Debian's package)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

INSTALL = "apt-get update && apt-get install -y chromium"


def binary() -> str:
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    if found is None:
        pytest.fail(f"headless Chromium is not installed: {INSTALL}")
    return found


def _run(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )


def screenshot(page: Path, png: Path, size: str = "1280,1400") -> None:
    res = _run(page, f"--screenshot={png}", f"--window-size={size}")
    assert res.returncode == 0 and png.stat().st_size > 10_000, res.stderr[-2000:]


def dump_dom(page: Path) -> str:
    res = _run(page, "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout
