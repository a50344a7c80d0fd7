"""The Azure Blob Storage backend, through the real azure-storage-blob client, against Azurite on
loopback: the backend contract, then what is particular to blobs (layout, conditional writes,
error messages without secrets)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from mlops_gitops.errors import LockedError, StateError
from mlops_gitops.sdk import MissingSdkError
from mlops_gitops.stack.schema import AzureBlobBackend
from mlops_gitops.state.azureblob import CONNECTION_STRING_ENV, AzureBlobStateBackend
from mlops_gitops.state.backend import lock_from_json
from mlops_gitops.state.model import StateDoc
from mlops_gitops.testing import azurite as azurite_kit
from mlops_gitops.testing.backend_contract import BackendContract, sample_doc

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BLOB = "fraud/prod/state.json"
WRONG_KEY = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleQ=="  # valid base64, not the key


def _azurite_binary() -> Path:
    try:
        return azurite_kit.find_azurite(PROJECT_ROOT)
    except azurite_kit.AzuriteMissing as err:
        missing = str(err)
    # A failure, not a skip: without Azurite this backend would ship untested. Raised outside
    # the except block so the report is that one line, not a chained traceback.
    pytest.fail(missing, pytrace=False)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[azurite_kit.Azurite]:
    with azurite_kit.Azurite(_azurite_binary(), tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture(autouse=True)
def _connection_string(azurite: azurite_kit.Azurite, monkeypatch: pytest.MonkeyPatch) -> str:
    # In os.environ, not only passed to the backend: the race tests' child processes read it there.
    monkeypatch.setenv(CONNECTION_STRING_ENV, azurite.connection_string)
    return azurite.connection_string


@pytest.fixture
def service(azurite: azurite_kit.Azurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string)


@pytest.fixture
def container(service: BlobServiceClient) -> ContainerClient:
    """A new, empty container for this test."""
    client = service.get_container_client(f"state-{uuid.uuid4().hex[:16]}")
    client.create_container()
    return client


@pytest.fixture
def config(container: ContainerClient) -> AzureBlobBackend:
    return AzureBlobBackend(container=container.container_name, blob=BLOB)


def _blob_names(container: ContainerClient) -> set[str]:
    return set(container.list_blob_names())


def _download(container: ContainerClient, blob: str) -> bytes | None:
    try:
        return container.get_blob_client(blob).download_blob().readall()
    except ResourceNotFoundError:
        return None


class TestAzureBlobBackendContract(BackendContract):
    @pytest.fixture
    def make_backend(self, config: AzureBlobBackend) -> Callable[[], AzureBlobStateBackend]:
        # Picklable: the race tests build one in each child process, from os.environ.
        return functools.partial(AzureBlobStateBackend, config)

    @pytest.fixture
    def backend(self, make_backend: Callable[[], AzureBlobStateBackend]) -> AzureBlobStateBackend:
        return make_backend()

    @pytest.fixture
    def read_previous(self, container: ContainerClient) -> Callable[[], StateDoc | None]:
        def read() -> StateDoc | None:
            data = _download(container, BLOB + ".backup")
            return None if data is None else StateDoc.from_json(data)

        return read

    @pytest.fixture
    def stored_names(self, container: ContainerClient) -> Callable[[], set[str]]:
        return functools.partial(_blob_names, container)


@pytest.fixture
def backend(config: AzureBlobBackend) -> AzureBlobStateBackend:
    return AzureBlobStateBackend(config)


# -- where things are -----------------------------------------------------------------------------


def test_location_names_account_container_and_blob(
    backend: AzureBlobStateBackend, config: AzureBlobBackend
) -> None:
    assert backend.location == f"azureblob://devstoreaccount1/{config.container}/{BLOB}"


@pytest.mark.parametrize(
    ("account_url", "account"),
    [
        ("https://mlopsstate.blob.core.windows.net", "mlopsstate"),
        ("https://mlopsstate.blob.core.windows.net/", "mlopsstate"),
        ("https://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1"),  # emulator, path style
    ],
)
def test_location_with_an_account_url(
    account_url: str, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CONNECTION_STRING_ENV)
    backend = AzureBlobStateBackend(AzureBlobBackend(account_url=account_url, container="tfstate", blob=BLOB))
    assert backend.location == f"azureblob://{account}/tfstate/{BLOB}"


def test_state_backup_and_lock_blobs(backend: AzureBlobStateBackend, container: ContainerClient) -> None:
    doc = sample_doc(v=1)
    backend.write(doc)
    assert _blob_names(container) == {BLOB}
    first = _download(container, BLOB)
    doc.get("model.m").record({"v": 2})
    backend.write(doc)
    assert _blob_names(container) == {BLOB, BLOB + ".backup"}
    assert _download(container, BLOB + ".backup") == first
    assert _download(container, BLOB) == doc.to_json().encode()

    with backend.locked("apply") as info:
        assert _blob_names(container) == {BLOB, BLOB + ".backup", BLOB + ".lock"}
        assert lock_from_json(_download(container, BLOB + ".lock") or b"") == info
        properties = container.get_blob_client(BLOB + ".lock").get_blob_properties()
        assert properties.content_settings.content_type == "application/json"
    assert _blob_names(container) == {BLOB, BLOB + ".backup"}


# -- conditional writes ---------------------------------------------------------------------------


def test_a_replace_conditioned_on_a_stale_etag_is_refused(
    config: AzureBlobBackend, container: ContainerClient
) -> None:
    ours, theirs = AzureBlobStateBackend(config), AzureBlobStateBackend(config)
    ours.write(sample_doc(v=1))
    seen = ours.read()  # the etag `_store` is conditioned on
    newer = theirs.read()
    newer.get("model.m").record({"v": "theirs"})
    theirs.write(newer)
    seen.get("model.m").record({"v": "ours"})
    with pytest.raises(StateError) as caught:
        # The primitive, straight after the read: the serial check in `write` would refuse
        # first, so this is what stands when another write lands between that check and the
        # replace.
        ours._store(seen.model_copy(update={"serial": seen.serial + 1}))
    message = str(caught.value)
    assert message == (
        f"state changed since it was read: another command wrote {ours.location} while this one "
        "was writing; run the command again to start from the current state"
    )
    assert StateDoc.from_json(_download(container, BLOB) or b"") == newer
    ours.write(ours.read())  # after a fresh read, the same backend writes again


def test_the_lock_is_deleted_only_if_it_is_the_one_read(config: AzureBlobBackend) -> None:
    ours, theirs = AzureBlobStateBackend(config), AzureBlobStateBackend(config)
    first = ours.lock("apply")
    assert ours.lock_info() == first  # the etag `_delete_lock` is conditioned on
    theirs.force_unlock(first.id)
    second = theirs.lock("apply")
    with pytest.raises(StateError, match=f"lock {first.id} was replaced by lock {second.id}"):
        ours._delete_lock(first)
    assert theirs.lock_info() == second


def test_a_damaged_lock_blob_is_reported(backend: AzureBlobStateBackend, container: ContainerClient) -> None:
    container.get_blob_client(BLOB + ".lock").upload_blob(b"{not json")
    with pytest.raises(StateError, match=r"\.lock is damaged: .*delete that blob"):
        backend.lock_info()
    with pytest.raises(StateError, match="is damaged"):
        backend.lock("apply")


def test_a_corrupt_state_blob_is_reported_and_not_overwritten(
    backend: AzureBlobStateBackend, container: ContainerClient
) -> None:
    container.get_blob_client(BLOB).upload_blob(b'{"lineage": ')
    with pytest.raises(StateError) as caught:
        backend.read()
    assert str(caught.value).startswith(f"{backend.location} is not valid state: not JSON")
    assert "previous version" not in str(caught.value)  # there is no backup to promise
    with pytest.raises(StateError, match="not valid state"):
        backend.write(sample_doc(v=1))
    assert _download(container, BLOB) == b'{"lineage": '

    container.get_blob_client(BLOB + ".backup").upload_blob(b"{}")
    with pytest.raises(StateError, match=r"the previous version is in fraud/prod/state\.json\.backup"):
        backend.read()


# -- configuration and credential errors ------------------------------------------------------------


def _one_line_error(action: Callable[[], Any]) -> str:
    with pytest.raises(StateError) as caught:
        action()
    assert not isinstance(caught.value, LockedError)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_missing_container_is_a_clear_error(config: AzureBlobBackend) -> None:
    missing = AzureBlobStateBackend(config.model_copy(update={"container": "no-such-container"}))
    expected = (
        "container 'no-such-container' does not exist in storage account 'devstoreaccount1'; create it "
        "or correct backend.azureblob.container"
    )
    for action in (
        missing.read,
        missing.lock_info,
        lambda: missing.lock("apply"),
        lambda: missing.write(sample_doc()),
    ):
        message = _one_line_error(action)
        assert message.startswith("cannot ") and "azureblob://devstoreaccount1/no-such-container/" in message
        assert message.endswith(expected)


def test_no_account_url_and_no_connection_string(
    config: AzureBlobBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CONNECTION_STRING_ENV)
    message = _one_line_error(lambda: AzureBlobStateBackend(config))
    assert (
        "backend.azureblob.account_url" in message and f"{CONNECTION_STRING_ENV}, which is not set" in message
    )


def test_the_connection_string_comes_from_the_environ_given(
    config: AzureBlobBackend, _connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CONNECTION_STRING_ENV)
    backend = AzureBlobStateBackend(config, environ={CONNECTION_STRING_ENV: _connection_string})
    backend.write(sample_doc(v=1))
    assert backend.read() is not None


def test_a_wrong_account_key_is_refused_without_showing_it(
    config: AzureBlobBackend, _connection_string: str
) -> None:
    wrong = _connection_string.replace(azurite_kit.ACCOUNT_KEY, WRONG_KEY)
    backend = AzureBlobStateBackend(config, environ={CONNECTION_STRING_ENV: wrong})
    for action in (backend.read, lambda: backend.lock("apply"), lambda: backend.write(sample_doc())):
        message = _one_line_error(action)
        assert "storage account 'devstoreaccount1' refused the credentials (AuthorizationFailure)" in message
        assert f"check the account key or SAS in {CONNECTION_STRING_ENV}" in message
        assert WRONG_KEY not in message and WRONG_KEY[:12] not in message and "AccountKey" not in message


def test_an_account_key_that_is_not_base64_is_refused_without_showing_it(
    config: AzureBlobBackend, _connection_string: str
) -> None:
    broken = _connection_string.replace(azurite_kit.ACCOUNT_KEY, "not-a-key!*secret-part")
    message = _one_line_error(AzureBlobStateBackend(config, environ={CONNECTION_STRING_ENV: broken}).read)
    assert f"the credentials in {CONNECTION_STRING_ENV} are unusable" in message
    assert "secret-part" not in message


def test_a_bad_sas_is_refused_without_showing_it(
    config: AzureBlobBackend, azurite: azurite_kit.Azurite
) -> None:
    signature = "c2VjcmV0LXNpZ25hdHVyZS1ub3QtdmFsaWQ%3D"
    sas = f"sv=2024-08-04&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig={signature}"
    environ = {CONNECTION_STRING_ENV: f"BlobEndpoint={azurite.blob_endpoint};SharedAccessSignature={sas}"}
    backend = AzureBlobStateBackend(config, environ=environ)
    assert backend.location == f"azureblob://devstoreaccount1/{config.container}/{BLOB}"
    message = _one_line_error(backend.read)
    assert "refused the credentials" in message
    assert signature not in message and "sig=" not in message.replace("sig=***", "")


@pytest.mark.parametrize("value", ["garbage", "AccountKey=c2VjcmV0LXZhbHVlLWhlcmU="])
def test_a_malformed_connection_string_is_not_echoed(config: AzureBlobBackend, value: str) -> None:
    message = _one_line_error(AzureBlobStateBackend(config, environ={CONNECTION_STRING_ENV: value}).read)
    assert CONNECTION_STRING_ENV in message
    assert value not in message and "c2VjcmV0" not in message


def test_an_account_url_without_any_azure_credential_is_a_clear_error(
    azurite: azurite_kit.Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DefaultAzureCredential limited to the credentials read from the environment (service
    # principal, workload identity / OIDC federation), none of which is configured here, so it
    # neither probes the instance metadata service nor runs the az CLI.
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(CONNECTION_STRING_ENV)
    url = f"https://127.0.0.1:{azurite.port}/devstoreaccount1"
    backend = AzureBlobStateBackend(AzureBlobBackend(account_url=url, container="tfstate", blob=BLOB))
    message = _one_line_error(backend.read)
    assert message.startswith(f"cannot read azureblob://devstoreaccount1/tfstate/{BLOB}: no Azure credential")
    assert "DefaultAzureCredential" in message and "AZURE_FEDERATED_TOKEN_FILE" in message


def test_the_lock_document_is_plain_json(backend: AzureBlobStateBackend, container: ContainerClient) -> None:
    info = backend.lock("plan")
    stored = json.loads(_download(container, BLOB + ".lock") or b"")
    assert stored["id"] == info.id and stored["operation"] == "plan"


# -- account_url: DefaultAzureCredential and a bearer token, over https ------------------------------

# Stands in for the Azure CLI, which DefaultAzureCredential asks for a token (`az account
# get-access-token --output json --resource <resource>`) when it is signed in. The token is a JWT
# that Azurite's "basic" OAuth accepts: a known issuer, the storage audience, a valid lifetime
# (it checks no signature). FAKE_AZ_AUDIENCE changes the audience, FAKE_AZ_LOG records the calls.
FAKE_AZ = """#!{python}
import base64, json, os, sys, time

def part(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

with open(os.environ["FAKE_AZ_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
now = int(time.time())
claims = {{
    "aud": os.environ.get("FAKE_AZ_AUDIENCE", "https://storage.azure.com"),
    "iss": "https://sts.windows.net/00000000-0000-4000-8000-000000000001/",
    "iat": now - 60, "nbf": now - 60, "exp": now + 3600,
    "oid": "00000000-0000-4000-8000-000000000002", "tid": "00000000-0000-4000-8000-000000000001",
}}
token = part({{"alg": "RS256", "typ": "JWT"}}) + "." + part(claims) + ".c2lnbmF0dXJl"
print(json.dumps({{"accessToken": token, "expires_on": now + 3600, "tokenType": "Bearer",
                  "subscription": "s", "tenant": claims["tid"]}}))
"""


@pytest.fixture(scope="module")
def azurite_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[azurite_kit.Azurite]:
    binary = _azurite_binary()
    workdir = tmp_path_factory.mktemp("azurite-tls")
    tls = azurite_kit.loopback_certificate(workdir / "tls")
    with azurite_kit.Azurite(binary, workdir / "data", tls=tls, oauth=True) as server:
        yield server


@pytest.fixture
def signed_in(azurite_tls: azurite_kit.Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An Azure CLI that is signed in, as DefaultAzureCredential's only source (so it does not
    probe the instance metadata service), Azurite's certificate trusted, and no connection
    string. Returns the file the CLI's calls are logged to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ.format(python=sys.executable))
    az.chmod(0o755)
    log = tmp_path / "az-calls.jsonl"
    monkeypatch.setenv("FAKE_AZ_LOG", str(log))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    assert azurite_tls.tls is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_tls.tls[0]))
    monkeypatch.delenv(CONNECTION_STRING_ENV)
    return log


@pytest.fixture
def tls_container(azurite_tls: azurite_kit.Azurite) -> ContainerClient:
    assert azurite_tls.tls is not None
    service = BlobServiceClient.from_connection_string(
        azurite_tls.connection_string, connection_verify=str(azurite_tls.tls[0])
    )
    client = service.get_container_client(f"state-{uuid.uuid4().hex[:16]}")
    client.create_container()
    return client


def test_an_account_url_authenticates_with_default_azure_credential(
    azurite_tls: azurite_kit.Azurite, tls_container: ContainerClient, signed_in: Path
) -> None:
    config = AzureBlobBackend(
        account_url=azurite_tls.blob_endpoint, container=tls_container.container_name, blob=BLOB
    )
    backend = AzureBlobStateBackend(config)
    assert backend.location == f"azureblob://devstoreaccount1/{tls_container.container_name}/{BLOB}"
    doc = sample_doc(v=1)
    with backend.locked("apply"):
        assert backend.read() is None
        backend.write(doc)
        backend.write(doc)
    assert AzureBlobStateBackend(config).read() == doc
    assert _blob_names(tls_container) == {BLOB, BLOB + ".backup"}
    calls = [json.loads(line) for line in signed_in.read_text().splitlines()]
    assert calls and all(call[-2:] == ["--resource", "https://storage.azure.com"] for call in calls)


def test_a_token_storage_does_not_accept_is_a_clear_error(
    azurite_tls: azurite_kit.Azurite,
    tls_container: ContainerClient,
    signed_in: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_AZ_AUDIENCE", "https://management.azure.com")
    config = AzureBlobBackend(
        account_url=azurite_tls.blob_endpoint, container=tls_container.container_name, blob=BLOB
    )
    message = _one_line_error(AzureBlobStateBackend(config).read)
    assert message.startswith(f"cannot read azureblob://devstoreaccount1/{tls_container.container_name}/")
    assert "storage account 'devstoreaccount1' refused the credentials (AuthenticationFailed)" in message
    assert "the token DefaultAzureCredential got was not accepted" in message
    assert "eyJ" not in message  # no part of the token


# -- packaging --------------------------------------------------------------------------------------


def test_importing_the_backend_loads_no_azure_sdk() -> None:
    # `mlops validate` and local-backend commands import the state package; they must not pay
    # for the Azure SDKs (see mlops_gitops/sdk.py).
    code = (
        "import sys, mlops_gitops.state.azureblob; "
        "print(sorted(m for m in sys.modules if m.startswith('azure')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_a_missing_sdk_names_the_extra(config: AzureBlobBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.storage.blob", None)  # as if not installed
    with pytest.raises(MissingSdkError) as caught:
        AzureBlobStateBackend(config).read()
    assert str(caught.value) == (
        "the azureblob state backend needs azure-storage-blob: pip install 'mlops-gitops[azureblob]'"
    )


def test_without_azurite_the_tests_fail_saying_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(azurite_kit.BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(azurite_kit.AzuriteMissing, match=r"run `npm install --prefix \.ci/node azurite@3`"):
        azurite_kit.find_azurite(tmp_path)
    monkeypatch.setenv(azurite_kit.BINARY_ENV, str(tmp_path / "nowhere" / "azurite-blob"))
    with pytest.raises(azurite_kit.AzuriteMissing, match="does not exist; install Azurite with"):
        azurite_kit.find_azurite(PROJECT_ROOT)
