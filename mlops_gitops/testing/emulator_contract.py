"""The emulator contract check: that a sandbox emulator keeps to the contract and control API of
`mlops_gitops.sandbox.emulator`, over HTTP, with state made and looked at through the cloud's real
SDK. To run it for an emulator, subclass `EmulatorContract` in a test module and give an
`emulator_case` fixture returning an `EmulatorCase` for a started, freshly reset emulator:

    from mlops_gitops.testing.emulator_contract import EmulatorCase, EmulatorContract

    class TestMyCloudEmulatorContract(EmulatorContract):
        @pytest.fixture
        def emulator_case(self, my_emulator) -> EmulatorCase:
            return EmulatorCase(my_emulator, MyCloudEmulator, "latency_ms", 5, -1, create, exists)

The suite resets the emulator after each test, through the API it checks."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mlops_gitops.sandbox import control
from mlops_gitops.sandbox.emulator import Emulator

UNKNOWN_SETTING = "no_such_setting"


@dataclass
class EmulatorCase:
    emulator: Emulator  # started (its `url` below), reset
    cls: type[Emulator]  # its class, as its entry point names it
    setting: str  # one of its settings
    value: Any  # a value the setting takes, other than its initial one
    invalid: Any  # a value the setting refuses
    create: Callable[[], None]  # make one cloud object, through the cloud's SDK
    exists: Callable[[], bool]  # whether that object is there, through the cloud's SDK
    url: str = ""  # the emulator's base URL; by default what `start()` returns

    def __post_init__(self) -> None:
        self.url = self.url or self.emulator.start()  # start() again returns the same URL


@dataclass
class _Answer:
    status: int
    document: Any
    content_type: str


def call(url: str, method: str, path: str, body: bytes | None = None) -> _Answer:
    """One raw request to the control API: the status and JSON document, errors included."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(f"{url}/_emulator/{path}", data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return _Answer(response.status, json.loads(response.read()), response.headers["Content-Type"])
    except urllib.error.HTTPError as exc:
        return _Answer(exc.code, json.loads(exc.read()), exc.headers["Content-Type"])


def _post(url: str, path: str, document: Any) -> _Answer:
    return call(url, "POST", path, json.dumps(document).encode())


def _is_error(answer: _Answer, status: int) -> bool:
    document = answer.document
    return answer.status == status and isinstance(document, dict) and isinstance(document.get("error"), str)


class EmulatorContract:
    """Subclass and provide the `emulator_case` fixture (see the module docstring)."""

    @pytest.fixture
    def case(self, emulator_case: EmulatorCase) -> Iterator[EmulatorCase]:
        yield emulator_case
        control.reset(emulator_case.url)  # the next test, whatever it is, finds it as built

    # ---- health ------------------------------------------------------------------------------------
    def test_health_answers(self, case: EmulatorCase) -> None:
        answer = call(case.url, "GET", "health")
        assert answer.status == 200
        assert answer.content_type.startswith("application/json")
        assert answer.document["status"] == "ok"
        assert isinstance(answer.document["emulator"], str) and answer.document["emulator"]
        assert control.health(case.url) == answer.document

    def test_injected_latency_spares_the_control_api(self, case: EmulatorCase) -> None:
        latency = case.cls.cli_settings(latency_ms=2000)
        if not latency:
            pytest.skip("the emulator has no latency setting")
        control.update_settings(case.url, latency)
        started = time.monotonic()
        assert control.health(case.url)["status"] == "ok"
        assert control.get_settings(case.url)[next(iter(latency))] == 2000
        assert time.monotonic() - started < 1.0

    # ---- settings ----------------------------------------------------------------------------------
    def test_settings_round_trip(self, case: EmulatorCase) -> None:
        initial = call(case.url, "GET", "settings")
        assert initial.status == 200 and isinstance(initial.document, dict)
        assert initial.document == case.emulator.settings
        assert initial.document[case.setting] != case.value

        changed = _post(case.url, "settings", {case.setting: case.value})

        assert changed.status == 200
        assert changed.document == {**initial.document, case.setting: case.value}  # the others kept
        assert call(case.url, "GET", "settings").document == changed.document
        assert case.emulator.settings == changed.document

    def test_unknown_settings_are_refused(self, case: EmulatorCase) -> None:
        before = control.get_settings(case.url)
        answer = _post(case.url, "settings", {case.setting: case.value, UNKNOWN_SETTING: 1})
        assert _is_error(answer, 400) and UNKNOWN_SETTING in answer.document["error"]
        assert control.get_settings(case.url) == before  # the valid key was not taken either

    def test_invalid_values_are_refused(self, case: EmulatorCase) -> None:
        before = control.get_settings(case.url)
        answer = _post(case.url, "settings", {case.setting: case.invalid})
        assert _is_error(answer, 400) and case.setting in answer.document["error"]
        with pytest.raises(control.Refused, match=case.setting):
            control.update_settings(case.url, {case.setting: case.invalid})
        assert control.get_settings(case.url) == before

    @pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b'"latency"'])
    def test_a_body_that_is_no_json_object_is_refused(self, case: EmulatorCase, body: bytes) -> None:
        before = control.get_settings(case.url)
        assert _is_error(call(case.url, "POST", "settings", body), 400)
        assert control.get_settings(case.url) == before

    # ---- reset -------------------------------------------------------------------------------------
    def test_reset_wipes_state_and_restores_settings(self, case: EmulatorCase) -> None:
        initial = control.get_settings(case.url)
        case.create()
        assert case.exists()
        control.update_settings(case.url, {case.setting: case.value})

        answer = _post(case.url, "reset", {})

        assert (answer.status, answer.document) == (200, {"status": "ok"})
        assert not case.exists()
        assert control.get_settings(case.url) == initial

    def test_reset_takes_an_empty_body(self, case: EmulatorCase) -> None:
        case.create()
        assert call(case.url, "POST", "reset").status == 200
        assert not case.exists()

    # ---- the rest of the prefix --------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            ("GET", UNKNOWN_SETTING, 404),
            ("POST", UNKNOWN_SETTING, 404),
            ("GET", "reset", 405),
            ("POST", "health", 405),
            ("DELETE", "settings", 405),
        ],
    )
    def test_other_requests_are_refused(
        self, case: EmulatorCase, method: str, path: str, status: int
    ) -> None:
        assert _is_error(call(case.url, method, path, b"{}" if method == "POST" else None), status)

    # ---- the class ---------------------------------------------------------------------------------
    def test_cli_settings_are_settings_it_takes(self, case: EmulatorCase) -> None:
        settings = control.get_settings(case.url)
        assert case.cls.cli_settings() == {}
        assert case.cls.cli_settings(operation_delay=None, latency_ms=None) == {}
        both = {"operation_delay": 0.25, "latency_ms": 3.0}
        for options in ({"operation_delay": 0.25}, {"latency_ms": 3.0}, both):
            named = case.cls.cli_settings(**options)
            assert set(named) <= set(settings), f"{options} names settings the emulator lacks: {named}"
            assert len(named) <= len(options) and all(value in options.values() for value in named.values())
            assert _post(case.url, "settings", named).status == 200

    def test_construction_validates_settings(self, case: EmulatorCase) -> None:
        for refused in ({UNKNOWN_SETTING: 1}, {case.setting: case.invalid}):
            with pytest.raises(ValueError):
                case.cls(refused)

    def test_a_new_emulator_starts_once_and_stops(self, case: EmulatorCase) -> None:
        emulator = case.cls({case.setting: case.value})
        url = emulator.start()
        try:
            assert url.startswith(("http://", "https://")) and url != case.url
            assert emulator.start() == url
            assert control.get_settings(url)[case.setting] == case.value
            assert emulator.settings[case.setting] == case.value
        finally:
            emulator.stop()
        with pytest.raises(OSError):
            control.health(url, timeout=1)
        emulator.stop()  # again: nothing to do
