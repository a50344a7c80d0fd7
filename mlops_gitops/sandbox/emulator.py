"""What a sandbox emulator is: a local stand-in for one cloud's control plane, run by the sandbox
daemon behind `mlops --sandbox`, and the control API every emulator serves.

Emulators are found through the `mlops_gitops.emulators` entry-point group (see `emulators.py`),
each named after the provider whose cloud it emulates, and pointing at a class that satisfies
`Emulator` (subclassing `background.BackgroundEmulator` gives most of it):

    [project.entry-points."mlops_gitops.emulators"]
    sagemaker = "mlops_sagemaker_sandbox.server:SageMakerEmulator"

The class
---------

    cls(settings)            `settings` is a mapping of the emulator's own setting names (JSON
                             values). Validated at once: ValueError (pydantic's ValidationError
                             is one) for a value or key it refuses. No server yet, and nothing
                             heavy imported: the CLI imports the class to call `cli_settings`.
    cls.state_stores         (optional class attribute) the state backends, by kind ("s3", "gcs",
                             "azureblob"), this emulator also serves at its URL: a stack on the
                             sandbox whose backend is one of them keeps its state there, as it
                             would in CI. Default: none.
    cls.cli_settings(operation_delay=S, latency_ms=MS)
                             (classmethod) `mlops sandbox up --operation-delay S --latency-ms MS`
                             in the emulator's own setting names: only the options given (not
                             None) that it has a setting for. An emulator without such a setting
                             leaves it out, and the option is not sent to it.
    start() -> url           listen on loopback (port 0 by default: any free port) and serve in
                             the background; returns the base URL, e.g. "http://127.0.0.1:40713".
                             OSError if it cannot listen. Calling it again returns the same URL.
    stop()                   stop serving and end kept-alive connections; idempotent.
    settings                 (property) the settings in force, as JSON values.
    update_settings(changes) change the keys given, keep the others; returns the settings now in
                             force. ValueError, and nothing changed, if it refuses them.
    reset()                  wipe the emulated cloud's state (operations in flight included) and
                             restore the settings it was built with.

The control API
---------------

Every emulator serves it beside the cloud API, under `{url}/_emulator/`. Request and response
bodies are JSON objects (`Content-Type: application/json`); an error answer is
`{"error": "<one line saying why>"}`. Latency and failures an emulator injects never apply here.

    GET  {url}/_emulator/health
         200 {"status": "ok", "emulator": "<label, e.g. Vertex AI>"} once the emulator serves its
         cloud API. The daemon's liveness probe: anything else (or no answer within 2 s) means
         the emulator is down.
    GET  {url}/_emulator/settings
         200 {setting: value, ...}: every setting in force.
    POST {url}/_emulator/settings       body {setting: value, ...}: the keys to change
         200 {setting: value, ...}: every setting now in force.
         400 {"error": ...}: the body is not a JSON object, names a setting the emulator does not
             have, or gives a value it refuses. Nothing changes.
    POST {url}/_emulator/reset          body {} (or none)
         200 {"status": "ok"}: state wiped, settings back to those the emulator was built with.

    Any other path under /_emulator/ answers 404 {"error": ...}, and a path above with another
    method 405 {"error": ...}, unless the emulator serves more of its own there (the SageMaker
    emulator's `POST /_emulator/endpoint-status`, documented in its module).

`control.answer()` implements this for an emulator; `control.health`, `get_settings`,
`update_settings` and `reset` are its clients; `mlops_gitops.testing.emulator_contract` checks
that an emulator keeps to it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

ENTRY_POINT_GROUP = "mlops_gitops.emulators"
# What `emulators.emulator_class` checks an entry point's class has.
METHODS = ("cli_settings", "start", "stop", "update_settings", "reset")


class Emulator(Protocol):
    """See the module docstring."""

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None: ...

    @classmethod
    def cli_settings(
        cls, *, operation_delay: float | None = None, latency_ms: float | None = None
    ) -> dict[str, Any]: ...

    def start(self) -> str: ...

    def stop(self) -> None: ...

    @property
    def settings(self) -> dict[str, Any]: ...

    def update_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]: ...

    def reset(self) -> None: ...
