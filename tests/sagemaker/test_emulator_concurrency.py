"""The emulator is never what a parallel refresh waits on: concurrent calls are not served one at
a time, a burst of connections is accepted at once, connections are kept alive between calls
(werkzeug closes each), and ListModels filters and pages as SageMaker does (moto ignores
NameContains and describes every model on every call).

Timings are coarse ratios with wide margins: these machines are shared and noisy."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from mlops_sagemaker_sandbox.server import SageMakerEmulator, _SharedLock

from mlops_gitops.sandbox.background import LoopbackHTTPServer

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


def _make_model(sm: Any, name: str) -> None:
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://ml/{name}/model.tar.gz"},
    )


# ---- ListModels ---------------------------------------------------------------------------------
def test_list_models_honours_name_contains(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    for name in ("fraud-a", "fraud-b", "churn-a"):
        _make_model(sm, name)
    listed = sm.list_models(NameContains="fraud", SortBy="Name", SortOrder="Ascending")
    assert [m["ModelName"] for m in listed["Models"]] == ["fraud-a", "fraud-b"]
    # A ModelSummary: name, ARN and creation time, not the whole description.
    assert set(listed["Models"][0]) == {"ModelName", "ModelArn", "CreationTime"}
    assert listed["Models"][0]["ModelArn"].endswith(":model/fraud-a")
    assert sm.list_models(NameContains="nothing-like-it")["Models"] == []


def test_list_models_pages_through_every_match_once(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    names = [f"fraud-{i:02d}" for i in range(25)]
    for name in [*names, "churn-00", "churn-01"]:
        _make_model(sm, name)
    first = sm.list_models(NameContains="fraud", MaxResults=10)
    assert len(first["Models"]) == 10 and "NextToken" in first
    pages = sm.get_paginator("list_models").paginate(NameContains="fraud", PaginationConfig={"PageSize": 7})
    listed = [m["ModelName"] for page in pages for m in page["Models"]]
    assert sorted(listed) == names  # each once
    by_name = sm.get_paginator("list_models").paginate(
        SortBy="Name", SortOrder="Descending", PaginationConfig={"PageSize": 4}
    )
    assert [m["ModelName"] for page in by_name for m in page["Models"]] == sorted(
        [*names, "churn-00", "churn-01"], reverse=True
    )


def test_a_model_deleted_between_pages_shifts_nothing(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    names = [f"fraud-{i:02d}" for i in range(6)]
    for name in names:
        _make_model(sm, name)
    first = sm.list_models(SortBy="Name", SortOrder="Ascending", MaxResults=3)
    assert [m["ModelName"] for m in first["Models"]] == names[:3]
    sm.delete_model(ModelName="fraud-00")  # an offset would now skip fraud-03
    rest = sm.list_models(SortBy="Name", SortOrder="Ascending", MaxResults=3, NextToken=first["NextToken"])
    assert [m["ModelName"] for m in rest["Models"]] == names[3:]
    assert "NextToken" not in rest


def test_a_bad_page_token_is_refused(sm_client: Callable[..., Any]) -> None:
    sm = sm_client(config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as refused:
        sm.list_models(NextToken="not-a-token")
    assert refused.value.response["Error"]["Code"] == "ValidationException"


# ---- concurrency --------------------------------------------------------------------------------
def test_concurrent_calls_are_not_served_one_at_a_time(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    threads, latency = 10, 0.3
    sm = sm_client(config=Config(max_pool_connections=threads))
    _make_model(sm, "fraud-a")
    sm.describe_model(ModelName="fraud-a")  # first-call costs out of the way
    sm_emulator.update_settings({"latency_ms": latency * 1000})

    def calls(_: int) -> None:
        sm.describe_model(ModelName="fraud-a")
        sm.list_tags(ResourceArn=sm.describe_model(ModelName="fraud-a")["ModelArn"])

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(calls, range(threads)))
    elapsed = time.perf_counter() - start
    # Three calls each: about 3 x latency in parallel, 30 x latency one at a time.
    assert elapsed < 3 * latency * 3, f"{threads} x 3 calls of {latency} s took {elapsed:.2f} s"


def test_shared_holders_run_together_and_an_exclusive_one_alone() -> None:
    lock = _SharedLock()
    inside, most = 0, 0
    counting = threading.Lock()
    exclusive_saw: list[int] = []

    def share() -> None:
        nonlocal inside, most
        with lock.shared():
            with counting:
                inside += 1
                most = max(most, inside)
            time.sleep(0.2)
            with counting:
                inside -= 1

    def exclusive() -> None:
        with lock, lock, counting:  # re-entrant, as the RLock it replaces
            exclusive_saw.append(inside)

    sharers = [threading.Thread(target=share) for _ in range(5)]
    for t in sharers:
        t.start()
    time.sleep(0.05)
    writer = threading.Thread(target=exclusive)
    writer.start()
    for t in [*sharers, writer]:
        t.join(timeout=5)
    assert most == 5  # all five at once
    assert exclusive_saw == [0]  # it waited for them to leave


def test_a_burst_of_connections_is_accepted_at_once() -> None:
    """Fifty clients connecting in the same instant: with socketserver's backlog of 5 the kernel
    drops SYNs beyond it, and those clients retry after a second."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = LoopbackHTTPServer(("127.0.0.1", 0), Handler, logging.getLogger(__name__))
    assert server.request_queue_size >= 128
    served = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    served.start()
    port = server.server_address[1]
    go = threading.Barrier(50)

    def connect(_: int) -> float:
        go.wait()
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return time.perf_counter() - start

    try:
        with ThreadPoolExecutor(50) as pool:
            slowest = max(pool.map(connect, range(50)))
    finally:
        server.shutdown()
        server.server_close()
    assert slowest < 0.9, f"a connection waited {slowest:.2f} s: SYNs were dropped"


# ---- keep-alive -----------------------------------------------------------------------------------
def _raw_call(connection: Any, target: str, body: bytes = b"{}") -> Any:
    connection.request(
        "POST",
        "/",
        body,
        {
            "X-Amz-Target": target,
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": "AWS4-HMAC-SHA256 Credential=sandbox/20260101/us-east-1/sagemaker/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    response = connection.getresponse()
    response.read()
    return response


def test_connections_are_kept_alive_between_calls_and_closed_on_stop() -> None:
    import http.client

    emulator = SageMakerEmulator()
    emulator.start()
    try:
        host, port = emulator.url.removeprefix("http://").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.connect()
        first = connection.sock
        # Calls with and without a body, an error among them: one connection serves them all.
        for target in ("SageMaker.ListModels", "SageMaker.DescribeModel", "SageMaker.ListEndpoints"):
            response = _raw_call(connection, target, b'{"ModelName": "missing"}')
            assert response.getheader("Connection") != "close", target
            assert connection.sock is first, f"{target}: the emulator closed the connection"
        # A client's own `Connection: close` is honoured.
        connection.request("GET", "/_emulator/health", headers={"Connection": "close"})
        connection.getresponse().read()
        assert connection.sock is None
        kept = http.client.HTTPConnection(host, int(port), timeout=10)
        assert _raw_call(kept, "SageMaker.ListModels").status == 200
    finally:
        emulator.stop()
    # A stopped emulator does not go on answering on a kept-alive connection.
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        _raw_call(kept, "SageMaker.ListModels")


def test_botocore_reuses_its_connections(sm_client: Callable[..., Any]) -> None:
    """botocore keeps a pool of connections: thirty calls from ten threads open at most ten."""
    sm = sm_client(config=Config(max_pool_connections=10))
    import urllib3.util.connection as urllib3_connection

    opened: list[Any] = []
    original = urllib3_connection.create_connection

    def counting(*args: Any, **kwargs: Any) -> Any:
        sock = original(*args, **kwargs)
        opened.append(sock)
        return sock

    urllib3_connection.create_connection = counting  # type: ignore[assignment]
    try:
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda _: sm.list_models(), range(30)))
    finally:
        urllib3_connection.create_connection = original
    assert 1 <= len(opened) <= 10
