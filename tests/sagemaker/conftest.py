"""Fixtures for tests that drive the SageMaker emulator with the real boto3, over HTTP on loopback.

- `sagemaker_emulator` (session): one emulator for the whole run, with endpoints taking
  `TEST_ENDPOINT_DELAY` seconds to create or update, so lifecycle code is exercised but fast.
  Its state is shared: prefer the function-scoped fixtures below.
- `sm_emulator`: that emulator, reset (every moto service's state and the settings) before the
  test. Change its settings with `sm_emulator.update_settings({...})`; the next test gets the
  initial ones back.
- `sm_client`: a factory of boto3 clients bound to the emulator, with dummy credentials:
  `sm_client()` is SageMaker, `sm_client("application-autoscaling")` any other service, and
  keyword arguments go to `Session.client` (e.g. `config=botocore.config.Config(...)`).
  Build clients in the test's main thread (they are thread-safe once built). Using it gives
  the test a clean emulator (it depends on `sm_emulator`).
- `wait_endpoint`: `wait_endpoint(client, name, status="InService", timeout=10)` polls
  DescribeEndpoint until the endpoint reaches `status` and returns that description; it fails
  the test if the endpoint settles in another status or the timeout passes.

Every test runs with `XDG_CACHE_HOME` in a temporary directory, so the framework-image cache
(images.py) is written there and not in the user's home.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from mlops_sagemaker_sandbox.server import SageMakerEmulator

TEST_ENDPOINT_DELAY = 0.05
REGION = "us-east-1"

SETTLED = frozenset({"InService", "Failed", "OutOfService"})


@pytest.fixture(autouse=True)
def _image_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


@pytest.fixture(scope="session")
def sagemaker_emulator() -> Iterator[SageMakerEmulator]:
    emulator = SageMakerEmulator({"endpoint_delay_seconds": TEST_ENDPOINT_DELAY})
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def sm_emulator(sagemaker_emulator: SageMakerEmulator) -> SageMakerEmulator:
    sagemaker_emulator.reset()
    return sagemaker_emulator


@pytest.fixture(scope="session")
def _boto3_session() -> boto3.session.Session:
    # One session for the run: it caches the service models, so a client costs ~4 ms instead of
    # ~0.1-0.2 s. Sessions are not thread-safe: build clients in the test's main thread.
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def sm_client(sm_emulator: SageMakerEmulator, _boto3_session: boto3.session.Session) -> Callable[..., Any]:
    def make(service: str = "sagemaker", *, region: str = REGION, **kwargs: Any) -> Any:
        return _boto3_session.client(service, region_name=region, endpoint_url=sm_emulator.url, **kwargs)

    return make


@pytest.fixture
def wait_endpoint() -> Callable[..., dict[str, Any]]:
    def wait(client: Any, name: str, status: str = "InService", timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            description = client.describe_endpoint(EndpointName=name)
            current = description["EndpointStatus"]
            if current == status:
                return description
            if current in SETTLED:
                pytest.fail(f"endpoint {name} settled in {current}, not {status}: {description}")
            if time.monotonic() > deadline:
                pytest.fail(f"endpoint {name} still {current} after {timeout} s")
            time.sleep(0.01)

    return wait
