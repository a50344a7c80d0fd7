"""The S3 state backend, with the real boto3 against moto's S3 server on loopback: the shared
backend contract, then what is S3's own (object layout, conditional requests, error messages)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from mlops_gitops.errors import LockedError, StateError
from mlops_gitops.stack.schema import S3Backend
from mlops_gitops.state.model import StateDoc
from mlops_gitops.state.s3 import S3StateBackend
from mlops_gitops.testing.backend_contract import BackendContract, sample_doc

REGION = "eu-west-1"
KEY = "fraud/prod/state.json"

# Credentials and settings for every test, so that nothing of the user's AWS setup is read and
# nothing leaves loopback (the instance metadata service is never asked for credentials).
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
AWS_UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # In os.environ, so the racing child processes of the contract inherit it too.
    for name in AWS_UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_url: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        region_name=REGION,
        endpoint_url=s3_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def bucket(s3: Any) -> str:
    # A bucket per test on the module's server: every test starts from an empty store.
    name = f"state-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture
def config(bucket: str, s3_url: str) -> S3Backend:
    return S3Backend(bucket=bucket, key=KEY, region=REGION, endpoint_url=s3_url)


def _keys(s3: Any, bucket: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


class TestS3BackendContract(BackendContract):
    @pytest.fixture
    def make_backend(self, config: S3Backend) -> Callable[[], S3StateBackend]:
        return functools.partial(S3StateBackend, config)

    @pytest.fixture
    def backend(self, make_backend: Callable[[], S3StateBackend]) -> S3StateBackend:
        return make_backend()

    @pytest.fixture
    def read_previous(self, s3: Any, bucket: str) -> Callable[[], StateDoc | None]:
        def read() -> StateDoc | None:
            if f"{KEY}.backup" not in _keys(s3, bucket):
                return None
            return StateDoc.from_json(s3.get_object(Bucket=bucket, Key=f"{KEY}.backup")["Body"].read())

        return read

    @pytest.fixture
    def stored_names(self, s3: Any, bucket: str) -> Callable[[], set[str]]:
        return lambda: _keys(s3, bucket)


@pytest.fixture
def backend(config: S3Backend) -> S3StateBackend:
    return S3StateBackend(config)


def test_location_is_the_s3_url(backend: S3StateBackend, bucket: str) -> None:
    assert backend.location == f"s3://{bucket}/{KEY}"


def test_boto3_is_imported_on_first_use(config: S3Backend) -> None:
    # `mlops validate` builds the backend without touching state: it must not pay for boto3.
    code = (
        "import sys, json\n"
        "from mlops_gitops.stack.schema import S3Backend\n"
        "from mlops_gitops.state.s3 import S3StateBackend\n"
        "backend = S3StateBackend(S3Backend.model_validate_json(sys.argv[1]))\n"
        "before = 'boto3' in sys.modules or 'botocore' in sys.modules\n"
        "print(backend.location, before, backend.read() is None, 'boto3' in sys.modules)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, config.model_dump_json()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert child.stdout == f"s3://{config.bucket}/{KEY} False True True\n"


def test_object_layout(backend: S3StateBackend, s3: Any, bucket: str) -> None:
    doc = sample_doc(v=1)
    backend.write(doc)
    assert _keys(s3, bucket) == {KEY}
    first = s3.get_object(Bucket=bucket, Key=KEY)
    assert first["ContentType"] == "application/json"
    first_body = first["Body"].read()
    assert first_body == doc.to_json().encode()
    doc.get("model.m").record({"v": 2})
    backend.write(doc)
    assert s3.get_object(Bucket=bucket, Key=f"{KEY}.backup")["Body"].read() == first_body
    info = backend.lock("apply")
    assert _keys(s3, bucket) == {KEY, f"{KEY}.backup", f"{KEY}.lock"}
    stored_lock = json.loads(s3.get_object(Bucket=bucket, Key=f"{KEY}.lock")["Body"].read())
    assert stored_lock == {
        "id": info.id,
        "who": info.who,
        "operation": "apply",
        "created": info.created,
        "pid": info.pid,
        "host": info.host,
        "extra": {},
    }
    backend.unlock(info.id)
    assert _keys(s3, bucket) == {KEY, f"{KEY}.backup"}


def test_a_write_by_another_tool_after_the_read_is_refused(
    backend: S3StateBackend, s3: Any, bucket: str
) -> None:
    doc = sample_doc(v=1)
    backend.write(doc)
    # Someone edits the object by hand between this command's read and its replace, keeping
    # the serial: only the ETag condition can tell.
    edited = backend.read()
    edited.get("model.m").record({"v": "by hand"})
    real_read = backend.read

    def read_then_hand_edit() -> StateDoc | None:
        seen = real_read()
        s3.put_object(Bucket=bucket, Key=KEY, Body=edited.to_json().encode())
        return seen

    backend.read = read_then_hand_edit  # type: ignore[method-assign]
    with pytest.raises(StateError, match=r"another command changed .* meanwhile; run the command again"):
        backend.write(doc)
    del backend.read
    assert backend.read() == edited


def test_unlock_never_removes_a_lock_taken_after_the_id_was_checked(config: S3Backend) -> None:
    mine, rescuer = S3StateBackend(config), S3StateBackend(config)
    info = mine.lock("apply")
    real_lock_info = mine.lock_info
    taken: list[str] = []

    def lock_info_then_someone_relocks() -> Any:
        current = real_lock_info()
        rescuer.force_unlock(info.id)
        taken.append(rescuer.lock("apply").id)
        return current

    mine.lock_info = lock_info_then_someone_relocks  # type: ignore[method-assign]
    with pytest.raises(StateError, match=f"lock {info.id} was replaced while it was being removed"):
        mine.unlock(info.id)
    del mine.lock_info
    assert mine.lock_info().id == taken[0]


def test_the_lock_info_carries_the_etag_but_the_refusal_reads_the_same(
    backend: S3StateBackend, config: S3Backend
) -> None:
    held = backend.lock("apply")
    read = S3StateBackend(config).lock_info()
    assert read.extra["etag"].startswith('"')
    with pytest.raises(LockedError) as caught:
        S3StateBackend(config).lock("plan")
    assert "etag" not in str(caught.value).lower()
    assert f"lock ID {held.id}" in str(caught.value)


def test_state_that_is_not_json_is_reported(backend: S3StateBackend, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"{not json")
    with pytest.raises(StateError, match=rf"s3://{bucket}/{KEY} is not valid state: .*\.backup\)") as caught:
        backend.read()
    assert "\n" not in str(caught.value)


def test_a_damaged_lock_object_is_reported_not_ignored(backend: S3StateBackend, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key=f"{KEY}.lock", Body=b"")
    with pytest.raises(StateError, match=r"state\.json\.lock is damaged: .*delete that object") as caught:
        backend.lock("apply")
    assert not isinstance(caught.value, LockedError)


def test_a_missing_bucket_is_named(s3_url: str) -> None:
    backend = S3StateBackend(
        S3Backend(bucket="no-such-state-bucket", key=KEY, region=REGION, endpoint_url=s3_url)
    )
    for attempt in (backend.read, lambda: backend.lock("apply"), lambda: backend.write(sample_doc())):
        with pytest.raises(StateError) as caught:
            attempt()
        message = str(caught.value)
        assert "bucket 'no-such-state-bucket' does not exist" in message
        assert message.startswith("cannot ") and "s3://no-such-state-bucket/" in message
        assert "\n" not in message


def test_missing_credentials_are_reported(config: S3Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StateError, match="no usable AWS credentials were found"):
        S3StateBackend(config).read()


def test_an_unreachable_endpoint_is_reported_without_its_user_info(
    config: S3Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    # Port 9 (discard) on loopback: nothing listens there, so the connection is refused at once.
    unreachable = config.model_copy(update={"endpoint_url": "http://user:hunter2@127.0.0.1:9"})
    with pytest.raises(StateError) as caught:
        S3StateBackend(unreachable).read()
    message = str(caught.value)
    assert "cannot reach S3 at http://127.0.0.1:9" in message
    assert "hunter2" not in message and "user" not in message


# A moto server that checks credentials and IAM policies: after the first SETUP_CALLS requests
# (bucket, user, policy, access key), every request is authorised as real S3 would.
AUTH_SERVER = """
import sys, time
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""
SETUP_CALLS = 4


@pytest.fixture
def auth_s3_url() -> Iterator[str]:
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS)}
    child = subprocess.Popen(
        [sys.executable, "-c", AUTH_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        port = int(child.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def test_access_denied_is_reported_without_the_principal(
    auth_s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    s3 = session.client("s3", region_name=REGION, endpoint_url=auth_s3_url)
    iam = session.client("iam", region_name="us-east-1", endpoint_url=auth_s3_url)
    s3.create_bucket(Bucket="locked-down-state", CreateBucketConfiguration={"LocationConstraint": REGION})
    iam.create_user(UserName="reader")
    iam.put_user_policy(
        UserName="reader",
        PolicyName="read-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": ["arn:aws:s3:::locked-down-state", "arn:aws:s3:::locked-down-state/*"],
                    }
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    backend = S3StateBackend(
        S3Backend(bucket="locked-down-state", key=KEY, region=REGION, endpoint_url=auth_s3_url)
    )
    assert backend.read() is None  # reading is allowed
    with pytest.raises(StateError) as caught:
        backend.lock("apply")
    message = str(caught.value)
    assert message.startswith(f"cannot lock s3://locked-down-state/{KEY}.lock: access denied (AccessDenied)")
    assert "reader" not in message and "123456789012" not in message and key["AccessKeyId"] not in message
    with pytest.raises(StateError, match=r"cannot write s3://locked-down-state/.*: access denied"):
        backend.write(sample_doc())

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAREALKEY00000")
    with pytest.raises(StateError) as caught:
        S3StateBackend(backend.config).read()  # a new object: a client keeps the credentials it found
    assert "access denied (InvalidAccessKeyId)" in str(caught.value)
    assert "AKIANOTAREALKEY00000" not in str(caught.value)
