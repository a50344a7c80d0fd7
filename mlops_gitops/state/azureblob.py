"""State in an Azure Blob Storage container.

    <container>/<blob>         the current state (e.g. fraud/prod/state.json)
    <container>/<blob>.backup  the version before the last write
    <container>/<blob>.lock    present while a command holds the lock

Credentials: with `account_url`, whatever `azure.identity.DefaultAzureCredential` finds (federated
/ OIDC credentials in CI, a managed identity, `az login`); without it, the connection string in
the environment variable AZURE_STORAGE_CONNECTION_STRING (Azurite, or an account key or SAS). The
connection string is never read from the stack file: it is a secret, and stack files are
committed.

Every change is conditional, so two commands can never silently overwrite each other:

- the lock blob is created with `If-None-Match: *` (create only if absent, one atomic step), and
  deleted with `If-Match: <the etag read>`, so a lock taken since it was read is never removed;
- the state blob is replaced with `If-Match: <the etag read>` (or created with `If-None-Match: *`
  when there was none), so a writer whose read is stale is refused instead of winning;
- the backup is written before the state is replaced, so the version being replaced is always
  kept; a reader sees the old state or the new one (one blob upload), never a mix.

Error messages name the blob and what to do, in one line; they never carry the connection
string, its AccountKey or a SAS signature (they end up in CI logs)."""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import ip_address
from types import ModuleType
from typing import Any

from mlops_gitops.cloud_errors import redact
from mlops_gitops.errors import LockInfo, StateError
from mlops_gitops.sdk import import_sdk
from mlops_gitops.stack.schema import AzureBlobBackend
from mlops_gitops.state.backend import StateBackend, lock_from_json, lock_to_json
from mlops_gitops.state.model import StateDoc

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
BACKUP_SUFFIX = ".backup"
LOCK_SUFFIX = ".lock"
EXTRA = "azureblob"  # pip install 'mlops-gitops[azureblob]'

# The account the Azure SDKs (and Azurite) use for `UseDevelopmentStorage=true`.
_DEVELOPMENT_ACCOUNT = "devstoreaccount1"
# A lock blob that disappears between a refused create and reading its holder was released
# meanwhile: create it again, but give up rather than spin if that keeps happening.
_LOCK_CREATE_ATTEMPTS = 3
_NEEDED_BY = "the azureblob state backend"
# The scope of a token for Azure Storage (every cloud): what the blob client asks for.
_STORAGE_SCOPE = "https://storage.azure.com/.default"
# 403 codes meaning the identity authenticated but lacks a data-plane role.
_NOT_PERMITTED = frozenset({"AuthorizationPermissionMismatch", "AuthorizationFailure"})
_ACCOUNT_KEY = re.compile(r"(AccountKey\s*=\s*)[^;\s]+", re.IGNORECASE)


@dataclass(frozen=True)
class _Seen:
    """A blob as this backend last read it: its etag (None: the blob did not exist) and bytes."""

    etag: str | None
    data: bytes | None


class AzureBlobStateBackend(StateBackend):
    """`environ` is where AZURE_STORAGE_CONNECTION_STRING is read (once, here); with
    `account_url`, DefaultAzureCredential reads its own variables from the process environment.
    Nothing is imported or sent until the first read, write or lock."""

    def __init__(self, config: AzureBlobBackend, environ: Mapping[str, str] = os.environ) -> None:
        self.config = config
        self.lock_blob = config.blob + LOCK_SUFFIX
        self.backup_blob = config.blob + BACKUP_SUFFIX
        self._connection_string: str | None = None
        if config.account_url:
            self._account = _account_from_url(config.account_url)
        else:
            connection_string = environ.get(CONNECTION_STRING_ENV, "").strip()
            if not connection_string:
                raise StateError(
                    f"the azureblob backend (container {config.container!r}) needs either "
                    f"backend.azureblob.account_url (credentials from DefaultAzureCredential) or the "
                    f"environment variable {CONNECTION_STRING_ENV}, which is not set"
                )
            self._connection_string = connection_string
            self._account = _account_from_connection_string(connection_string)
        # Secret values to blank out of any message, on top of `redact`'s patterns: the whole
        # connection string and every key or SAS in it, in case an SDK message quotes them.
        self._secrets = _secret_values(self._connection_string)
        self._sdk: _Sdk | None = None
        self._container_client: Any = None
        # The state and lock blobs as last read: `write` reads the state (for its lineage and
        # serial checks) just before `_store`, and `unlock` reads the lock just before
        # `_delete_lock`; the changes are made conditional on exactly those versions, so the
        # checks and the change cannot be split by another writer.
        self._state_seen: _Seen | None = None
        self._lock_seen: tuple[str, str] | None = None  # (lock id, etag)

    @property
    def location(self) -> str:
        return self._url(self.config.blob)

    def _url(self, blob: str) -> str:
        return f"azureblob://{self._account}/{self.config.container}/{blob}"

    # -- state --------------------------------------------------------------------------------

    def read(self) -> StateDoc | None:
        seen = self._download(self.config.blob, "read")
        self._state_seen = seen
        if seen.data is None:
            return None
        try:
            return StateDoc.from_json(seen.data)
        except (StateError, RecursionError) as err:  # RecursionError: JSON nested absurdly deep
            why = err if isinstance(err, StateError) else "it nests too deeply"
            backup = (
                f" (the previous version is in {self.backup_blob})" if self._exists(self.backup_blob) else ""
            )
            raise StateError(f"{self.location} is not valid state: {why}{backup}") from None

    def _store(self, doc: StateDoc) -> None:
        sdk = self._load_sdk()
        seen = self._state_seen
        if seen is None:
            # Called without a read first: condition the replace on the version there now.
            seen = self._download(self.config.blob, "read")
        payload = doc.to_json().encode()
        if seen.data is not None:
            # The backup holds the bytes read, i.e. the exact version the replace below is
            # conditioned on. No condition can span two blobs: a writer refused below has still
            # written it, which is only off when several writers interleave without the lock
            # (the backup is then a version older than the state's predecessor, never a mix).
            self._upload(self.backup_blob, seen.data, "write the backup of")
            conditions: dict[str, Any] = {"etag": seen.etag, "match_condition": sdk.match.IfNotModified}
        else:
            conditions = {"match_condition": sdk.match.IfMissing}  # If-None-Match: *
        try:
            reply = self._blob(self.config.blob).upload_blob(
                payload, overwrite=True, content_settings=sdk.json_content(), **conditions
            )
        except sdk.errors.AzureError as err:
            if not _condition_failed(sdk, err):
                raise self._error("write", self.config.blob, err) from None
            # The SDK retries a request whose reply was lost; if the first attempt had landed,
            # the retry is refused although the state is ours. Only a different document means
            # another writer got in.
            current = self._download(self.config.blob, "read")
            if current.data != payload:
                self._state_seen = None
                raise StateError(
                    f"state changed since it was read: another command wrote {self.location} while "
                    "this one was writing; run the command again to start from the current state"
                ) from None
            reply = {"etag": current.etag}
        self._state_seen = _Seen(reply.get("etag"), payload)

    # -- lock ---------------------------------------------------------------------------------

    # Why a lock blob created with If-None-Match: * rather than a blob lease: a lease records no
    # holder, so a refused command could not say who is applying, for what, since when, nor give
    # the ID `mlops force-unlock` takes; a lease also needs a blob to exist before it can be taken
    # (a first apply has no state yet), and either expires (a long apply would have to renew it
    # from a background thread) or is infinite (then force-unlock means breaking it, which ignores
    # IDs). A lock document created only if absent gives the same semantics as the local, S3 and
    # GCS backends, and its etag makes the delete exact.

    def lock_info(self) -> LockInfo | None:
        seen = self._download(self.lock_blob, "read")
        if seen.data is None:
            self._lock_seen = None
            return None
        try:
            info = lock_from_json(seen.data)
        except StateError as err:
            raise StateError(
                f"{self._url(self.lock_blob)} is damaged: {err}; if no mlops command is running, "
                "delete that blob"
            ) from None
        if seen.etag:
            self._lock_seen = (info.id, seen.etag)
        return info

    def _create_lock(self, info: LockInfo) -> LockInfo | None:
        sdk = self._load_sdk()
        for _ in range(_LOCK_CREATE_ATTEMPTS):
            try:
                reply = self._blob(self.lock_blob).upload_blob(
                    lock_to_json(info).encode(),
                    match_condition=sdk.match.IfMissing,  # If-None-Match: *
                    content_settings=sdk.json_content(),
                )
            except sdk.errors.AzureError as err:
                if not _condition_failed(sdk, err):
                    raise self._error("create the lock", self.lock_blob, err) from None
                holder = self.lock_info()
                if holder is None:
                    continue
                if holder.id == info.id:
                    # Our own create, retried by the SDK after its reply was lost.
                    return None
                return holder
            self._lock_seen = (info.id, reply["etag"])
            return None
        raise StateError(f"{self._url(self.lock_blob)} kept appearing and disappearing; try again")

    def _delete_lock(self, info: LockInfo) -> None:
        sdk = self._load_sdk()
        seen = self._lock_seen
        if seen is None or seen[0] != info.id:
            current = self.lock_info()
            if current is None:
                return
            if current.id != info.id or self._lock_seen is None:
                raise StateError(
                    f"lock {info.id} is no longer the current lock (now {current.id}); nothing was unlocked"
                )
            seen = self._lock_seen
        try:
            self._blob(self.lock_blob).delete_blob(etag=seen[1], match_condition=sdk.match.IfNotModified)
        except sdk.errors.AzureError as err:
            if _blob_missing(sdk, err):
                return  # removed meanwhile (or by our own request, retried): nothing left to protect
            if not _condition_failed(sdk, err):
                raise self._error("delete the lock", self.lock_blob, err) from None
            # Azurite answers a conditional delete of a blob that is gone with 412, not 404.
            current = self.lock_info()
            if current is not None:
                raise StateError(
                    f"lock {info.id} was replaced by lock {current.id} before it could be removed; "
                    "nothing was unlocked"
                ) from None
        finally:
            self._lock_seen = None

    # -- storage ------------------------------------------------------------------------------

    def _download(self, blob: str, action: str) -> _Seen:
        sdk = self._load_sdk()
        try:
            stream = self._blob(blob).download_blob()
            data = stream.readall()
        except sdk.errors.AzureError as err:
            if _blob_missing(sdk, err):
                return _Seen(None, None)
            raise self._error(action, blob, err) from None
        return _Seen(stream.properties.etag, data)

    def _exists(self, blob: str) -> bool:
        sdk = self._load_sdk()
        try:
            return bool(self._blob(blob).exists())
        except sdk.errors.AzureError:
            return False  # only used to word a message: not worth a second error

    def _upload(self, blob: str, data: bytes, action: str) -> None:
        sdk = self._load_sdk()
        try:
            self._blob(blob).upload_blob(data, overwrite=True, content_settings=sdk.json_content())
        except sdk.errors.AzureError as err:
            raise self._error(action, blob, err) from None

    def _blob(self, blob: str) -> Any:
        return self._container().get_blob_client(blob)

    def _container(self) -> Any:
        if self._container_client is None:
            sdk = self._load_sdk()
            # The Azure SDKs log a failure (DefaultAzureCredential's is a dozen lines) before
            # raising it, and with no handler anywhere Python prints warnings to stderr. The
            # error this backend raises already says it in one line; an application that
            # configures logging still gets the SDK's records.
            azure_log = logging.getLogger("azure")
            if not azure_log.handlers:
                azure_log.addHandler(logging.NullHandler())
            if self.config.account_url:
                identity = import_sdk(
                    "azure.identity", extra=EXTRA, package="azure-identity", needed_by=_NEEDED_BY
                )
                credential = identity.DefaultAzureCredential()
                # Ask for a token once up front: inside a request, the storage client's retry
                # policy retries a credential failure with its backoff (about 80 s in all)
                # before giving up, while a missing credential never fixes itself. The
                # credential caches the token for the requests that follow.
                credential.get_token(_STORAGE_SCOPE)
                service = sdk.blob.BlobServiceClient(self.config.account_url, credential=credential)
            else:
                try:
                    service = sdk.blob.BlobServiceClient.from_connection_string(self._connection_string)
                except ValueError:
                    # The SDK's reason is generic; what matters is which variable to fix.
                    raise StateError(
                        f"{CONNECTION_STRING_ENV} is not a storage connection string (expected "
                        "AccountName=...;AccountKey=...;BlobEndpoint=... or a SharedAccessSignature)"
                    ) from None
            self._container_client = service.get_container_client(self.config.container)
        return self._container_client

    def _load_sdk(self) -> _Sdk:
        if self._sdk is None:
            self._sdk = _Sdk(
                import_sdk(
                    "azure.storage.blob", extra=EXTRA, package="azure-storage-blob", needed_by=_NEEDED_BY
                )
            )
        return self._sdk

    # -- errors -------------------------------------------------------------------------------

    def _error(self, action: str, blob: str, err: Exception) -> StateError:
        """One line saying what failed and what to do, without any secret."""
        sdk = self._load_sdk()
        errors = sdk.errors
        code = _error_code(err)
        status = getattr(err, "status_code", None)
        account, container = self._account, self.config.container
        if code == "ContainerNotFound":
            why = (
                f"container {container!r} does not exist in storage account {account!r}; create it "
                "or correct backend.azureblob.container"
            )
        elif isinstance(err, errors.ClientAuthenticationError) and not code:
            # Raised before any request reached storage: no credential could be obtained (or an
            # account key could not sign the request).
            if self.config.account_url:
                why = f"no Azure credential for storage account {account!r}: {_credential_failure(err)}"
            else:
                why = f"the credentials in {CONNECTION_STRING_ENV} are unusable: {_first_line(err)}"
        elif status in (401, 403):
            if self.config.account_url and code in _NOT_PERMITTED:
                hint = (
                    "the identity DefaultAzureCredential found needs the Storage Blob Data "
                    f"Contributor role on container {container!r}"
                )
            elif self.config.account_url:
                hint = f"the token DefaultAzureCredential got was not accepted: {_first_line(err)}"
            else:
                hint = f"check the account key or SAS in {CONNECTION_STRING_ENV}"
            why = f"storage account {account!r} refused the credentials ({code or status}); {hint}"
        elif isinstance(err, errors.HttpResponseError) and status:
            why = f"{status} {code or ''}: {_first_line(err)}".replace("  ", " ")
        elif isinstance(err, errors.ServiceRequestError | errors.ServiceResponseError):
            built = self._container_client
            endpoint = built.url.split("?", 1)[0] if built else self.config.account_url or "the account"
            why = f"cannot reach {endpoint}: {_first_line(err)}"
        else:
            why = _first_line(err) or type(err).__name__
        return StateError(self._scrub(f"cannot {action} {self._url(blob)}: {why}"))

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return redact(_ACCOUNT_KEY.sub(r"\1***", text))


class _Sdk:
    """The parts of azure-storage-blob (and azure-core, which it brings) this backend uses."""

    def __init__(self, blob: ModuleType) -> None:
        core = import_sdk("azure.core", extra=EXTRA, package="azure-core", needed_by=_NEEDED_BY)
        self.blob = blob
        self.errors = import_sdk(
            "azure.core.exceptions", extra=EXTRA, package="azure-core", needed_by=_NEEDED_BY
        )
        self.match = core.MatchConditions

    def json_content(self) -> Any:
        return self.blob.ContentSettings(content_type="application/json")


def _error_code(err: Exception) -> str:
    code = getattr(err, "error_code", None)
    return str(getattr(code, "value", code) or "")


def _blob_missing(sdk: _Sdk, err: Exception) -> bool:
    # A missing container is a configuration error, not "no state yet".
    return isinstance(err, sdk.errors.ResourceNotFoundError) and _error_code(err) != "ContainerNotFound"


def _condition_failed(sdk: _Sdk, err: Exception) -> bool:
    """If-Match failed (412), or If-None-Match: * found the blob (409 BlobAlreadyExists from
    Azure and Azurite; 412 by the HTTP standard)."""
    if isinstance(err, sdk.errors.ResourceModifiedError) or getattr(err, "status_code", None) == 412:
        return True
    return isinstance(err, sdk.errors.ResourceExistsError) and _error_code(err) == "BlobAlreadyExists"


def _credential_failure(err: Exception) -> str:
    """DefaultAzureCredential's many-line report in one line: the credentials that tried and
    failed (their reason is what to fix, e.g. a federated credential whose subject does not
    match), or that none is configured, and where to configure one."""
    text = str(getattr(err, "message", None) or err)
    attempts = [line.strip() for line in text.splitlines() if line.startswith("\t")]
    failed = [attempt for attempt in attempts if "unavailable" not in attempt.lower()]
    if failed:
        return "DefaultAzureCredential could not get a token: " + "; ".join(failed)
    found = "found none" if attempts else _first_line(err)
    return (
        f"DefaultAzureCredential {found} (in CI, federated credentials: AZURE_CLIENT_ID, "
        "AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE, as azure/login sets; on a workstation, az login)"
    )


def _first_line(err: Exception) -> str:
    text = getattr(err, "message", None) or str(err)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _settings(connection_string: str) -> dict[str, str]:
    pairs = [part.split("=", 1) for part in connection_string.strip().rstrip(";").split(";") if part]
    return {pair[0].strip().lower(): pair[1].strip() for pair in pairs if len(pair) == 2}


def _secret_values(connection_string: str | None) -> tuple[str, ...]:
    if not connection_string:
        return ()
    settings = _settings(connection_string)
    values = [connection_string, *(settings.get(k, "") for k in ("accountkey", "sharedaccesssignature"))]
    # Longest first, so a key inside the whole string is not replaced piecemeal.
    return tuple(sorted({v for v in values if len(v) >= 8}, key=len, reverse=True))


def _account_from_connection_string(connection_string: str) -> str:
    settings = _settings(connection_string)
    if settings.get("usedevelopmentstorage", "").lower() == "true":
        return _DEVELOPMENT_ACCOUNT
    if settings.get("accountname"):
        return settings["accountname"]
    if settings.get("blobendpoint"):
        return _account_from_url(settings["blobendpoint"])
    return "unknown-account"


def _account_from_url(url: str) -> str:
    """The account of `https://<account>.blob.core.windows.net`, or of an emulator's path-style
    `http://127.0.0.1:10000/<account>` (the form Azurite and the SDKs use for IP hosts)."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    try:
        ip_address(host)
        path_style = True
    except ValueError:
        path_style = host == "localhost"
    if path_style:
        first = parsed.path.strip("/").split("/", 1)[0]
        return first or host
    return host.split(".", 1)[0] or url
