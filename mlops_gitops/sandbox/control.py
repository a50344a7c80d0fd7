"""The control API every sandbox emulator serves beside the cloud API it emulates:
`POST {url}/_emulator/settings` (change settings: latency, delays, failure rules) and
`POST {url}/_emulator/reset` (wipe state). Used by `mlops sandbox up`, tests and benchmarks."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

CONTROL_PREFIX = "/_emulator/"


def _control_request(url: str, what: str, document: Mapping[str, Any], timeout: float) -> Any:
    request = urllib.request.Request(
        f"{url.rstrip('/')}{CONTROL_PREFIX}{what}",
        data=json.dumps(dict(document)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("error", "")
        except ValueError:
            detail = ""
        raise ValueError(f"the emulator at {url} refused {what}: {detail or exc}") from None


def update_settings(url: str, settings: Mapping[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Change a running emulator's settings (the keys given; the others keep their value) through
    its control API. Returns the settings now in force; ValueError if the emulator refuses them."""
    return dict(_control_request(url, "settings", settings, timeout))


def reset(url: str, timeout: float = 10.0) -> None:
    """Reset a running emulator: moto's state, endpoint operations in flight and its settings."""
    _control_request(url, "reset", {}, timeout)
