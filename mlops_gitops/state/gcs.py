"""State in a Google Cloud Storage bucket.

    gs://<bucket>/<prefix>/state.json         the current state
    gs://<bucket>/<prefix>/state.json.backup  the version before the last write
    gs://<bucket>/<prefix>/state.lock.json    present while a command holds the lock

With an empty prefix the three objects sit at the top of the bucket. Each is one object, and
GCS replaces an object in one step: a reader gets the old document or the new one, never a mix.

Every change is made conditional on an object generation (GCS's version number of an object),
so that GCS itself, not a read followed by a write here, decides who wins a race:

- the lock is created with `ifGenerationMatch=0`: created only if no lock object exists;
- the backup is a server-side copy of state.json with `ifSourceGenerationMatch=<generation read>`,
  made before the replace;
- state.json is replaced with `ifGenerationMatch=<generation read>` (0 when there was none), so a
  command that read the state before another one wrote it is refused instead of overwriting;
- the lock is deleted with `ifGenerationMatch=<generation of the lock read>`, so a lock taken
  since it was read (after a force-unlock) is never deleted.

Credentials come from the SDK's default chain (Application Default Credentials: a service-account
key in GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`, workload
identity). With `endpoint_url` (an emulator) the client talks to that endpoint, given explicitly
rather than through STORAGE_EMULATOR_HOST, with anonymous credentials.

The SDK is google-cloud-storage, imported on first use (`pip install 'mlops-gitops[gcs]'`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from mlops_gitops.cloud_errors import redact
from mlops_gitops.errors import LockInfo, StateError
from mlops_gitops.sdk import import_sdk
from mlops_gitops.stack.schema import GcsBackend
from mlops_gitops.state.backend import StateBackend, lock_from_json, lock_to_json
from mlops_gitops.state.model import StateDoc

STATE_OBJECT = "state.json"
BACKUP_OBJECT = "state.json.backup"
LOCK_OBJECT = "state.lock.json"

_EXTRA = "gcs"
_NEEDED_BY = "the gcs state backend"
_JSON = "application/json"
# An object can change between reading its metadata (for the generation) and its content; the
# content read is conditional on that generation, and read again from the start when it moved.
_READ_ATTEMPTS = 3
# A lock that disappears before its holder can be read was released meanwhile: create it again,
# but give up rather than spin if that keeps happening.
_LOCK_CREATE_ATTEMPTS = 3
_MAX_DETAIL = 200  # characters of the service's own words kept in an error message

_T = TypeVar("_T")


class _Refused(Exception):
    """A call answered with a status its caller handles itself (404, 412)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class GcsStateBackend(StateBackend):
    def __init__(self, config: GcsBackend) -> None:
        if config.endpoint_url is not None and not re.match(r"https?://", config.endpoint_url):
            # Without a scheme the SDK builds URLs that go nowhere; say so instead of failing later.
            raise StateError(
                f"backend.gcs.endpoint_url {config.endpoint_url!r} must start with http:// or https://"
            )
        self.config = config
        self.bucket_name = config.bucket
        self.prefix = config.prefix.strip("/")
        self.state_name = self._object(STATE_OBJECT)
        self.backup_name = self._object(BACKUP_OBJECT)
        self.lock_name = self._object(LOCK_OBJECT)
        self._client: Any = None
        self._bucket: Any = None
        self._sdk_errors: tuple[type[BaseException], ...] = ()
        self._api_error: type[Exception] = Exception
        self._retry_error: type[Exception] = Exception
        self._bucket_seen = False
        # The generation of state.json as this backend last read it (0: there was none). `write`
        # reads just before it stores, so the replace is conditional on exactly the version whose
        # lineage and serial were checked.
        self._state_generation: int | None = None
        # Generation of each lock object read or created here, by lock ID: deleting is
        # conditional on it, so only the lock that was read is removed.
        self._lock_generations: dict[str, int] = {}

    @property
    def location(self) -> str:
        return self._url(self.state_name)

    # -- the primitives ---------------------------------------------------------------------------

    def read(self) -> StateDoc | None:
        found = self._download(self.state_name)
        if found is None:
            self._state_generation = 0
            return None
        data, generation = found
        self._state_generation = generation
        try:
            return StateDoc.from_json(data)
        except (StateError, RecursionError) as err:  # RecursionError: JSON nested absurdly deep
            why = err if isinstance(err, StateError) else "it nests too deeply"
            backup = (
                f" (the previous version is in {self._url(self.backup_name)})"
                if self._exists(self.backup_name)
                else ""
            )
            raise StateError(f"{self.location} is not valid state: {why}{backup}") from None

    def _store(self, doc: StateDoc) -> None:
        if self._state_generation is None:
            self.read()  # the generation to make the replace conditional on
        generation = self._state_generation or 0
        text = doc.to_json().encode()
        bucket = self._get_bucket()
        # Copying the same source generation again gives the same backup, so the copy may be
        # retried (the SDK retries a copy only when its destination is conditional).
        retry = self._sdk("google.cloud.storage.retry").DEFAULT_RETRY
        if generation:
            # A server-side copy of exactly the generation being replaced: were it a re-upload of
            # bytes read earlier, a command that had read an older state could put that older
            # state in the backup after a newer write. It fails when state.json moved on.
            try:
                self._call(
                    "copy",
                    self.state_name,
                    lambda: bucket.copy_blob(
                        bucket.blob(self.state_name),
                        bucket,
                        self.backup_name,
                        if_source_generation_match=generation,
                        retry=retry,
                    ),
                    refused=(404, 412),
                )
            except _Refused:
                raise self._written_since(generation) from None
        blob = bucket.blob(self.state_name)
        try:
            self._call(
                "write",
                self.state_name,
                lambda: blob.upload_from_string(text, content_type=_JSON, if_generation_match=generation),
                refused=(412,),
            )
        except _Refused:
            # The SDK retries a conditional upload whose answer was lost; if the first attempt
            # landed, the retry is refused by that very write. Then the state holds `text`.
            current = self._download(self.state_name)
            if current is None or current[0] != text:
                raise self._written_since(generation) from None
            self._state_generation = current[1]
            return
        self._state_generation = int(blob.generation)

    def lock_info(self) -> LockInfo | None:
        found = self._download(self.lock_name)
        if found is None:
            return None
        data, generation = found
        try:
            info = lock_from_json(data)
        except StateError as err:
            url = self._url(self.lock_name)
            raise StateError(
                f"{url} is damaged: {err}; if no mlops command is running, delete it: gcloud storage rm {url}"
            ) from None
        self._lock_generations[info.id] = generation
        return info

    def _create_lock(self, info: LockInfo) -> LockInfo | None:
        body = lock_to_json(info).encode()
        bucket = self._get_bucket()
        for _ in range(_LOCK_CREATE_ATTEMPTS):
            blob = bucket.blob(self.lock_name)
            try:
                self._call(
                    "create",
                    self.lock_name,
                    lambda blob=blob: blob.upload_from_string(
                        body, content_type=_JSON, if_generation_match=0
                    ),
                    refused=(412,),
                )
            except _Refused:
                holder = self.lock_info()
                if holder is None:
                    continue
                # A retried upload refused by its own first attempt, which created the lock.
                return None if holder.id == info.id else holder
            self._lock_generations[info.id] = int(blob.generation)
            return None
        raise StateError(f"{self._url(self.lock_name)} kept appearing and disappearing; try again")

    def _delete_lock(self, info: LockInfo) -> None:
        generation = self._lock_generations.get(info.id)
        if generation is None:
            current = self.lock_info()
            if current is None:
                return
            if current.id != info.id:
                raise self._lock_replaced(info, current)
            generation = self._lock_generations[info.id]
        blob = self._get_bucket().blob(self.lock_name)
        try:
            self._call(
                "delete",
                self.lock_name,
                lambda: blob.delete(if_generation_match=generation),
                refused=(404, 412),
            )
        except _Refused:
            # 404, or 412 with no lock left: removed meanwhile (two commands unlocking the same
            # lock), so there is nothing left to protect. A lock there now is another one.
            current = self.lock_info()
            if current is not None and current.id != info.id:
                raise self._lock_replaced(info, current) from None
            if current is not None:
                raise StateError(
                    f"{self._url(self.lock_name)} changed while lock {info.id} was being removed; "
                    "it was left in place: check it with `mlops plan`"
                ) from None
        finally:
            self._lock_generations.pop(info.id, None)

    # -- GCS calls --------------------------------------------------------------------------------

    def _download(self, name: str) -> tuple[bytes, int] | None:
        """The object's content and generation, or None when it does not exist."""
        bucket = self._get_bucket()
        for _ in range(_READ_ATTEMPTS):
            blob = self._call("read", name, lambda: bucket.get_blob(name))
            if blob is None:
                self._check_bucket(name)
                return None
            generation = int(blob.generation)
            try:
                # Conditional, so the bytes are those of the generation just seen.
                data = self._call(
                    "read",
                    name,
                    lambda blob=blob, generation=generation: blob.download_as_bytes(
                        if_generation_match=generation
                    ),
                    refused=(404, 412),
                )
            except _Refused:
                continue  # replaced or deleted between the two calls: look again
            return data, generation
        raise StateError(f"{self._url(name)} kept changing while it was read; try again")

    def _exists(self, name: str) -> bool:
        bucket = self._get_bucket()
        return bool(self._call("read", name, lambda: bucket.blob(name).exists()))

    def _check_bucket(self, name: str) -> None:
        # A missing object and a missing bucket both answer 404 to an object read. Listing tells
        # them apart with the permission reading state needs anyway (storage.objects.list),
        # unlike a bucket lookup (storage.buckets.get). Once per backend is enough.
        if self._bucket_seen:
            return
        client, bucket = self._get_client(), self._get_bucket()
        self._call("read", name, lambda: list(client.list_blobs(bucket, prefix=name, max_results=1)))
        self._bucket_seen = True

    def _call(self, doing: str, name: str, call: Callable[[], _T], refused: tuple[int, ...] = ()) -> _T:
        """`call()`, with the SDK's errors as one-line StateErrors; a status in `refused` raises
        _Refused for the caller to handle."""
        self._get_client()
        try:
            return call()
        except self._sdk_errors as err:
            # When the SDK's retries run out, what went wrong is the last failure retried.
            cause = getattr(err, "cause", None) if isinstance(err, self._retry_error) else None
            failure = cause if isinstance(cause, self._sdk_errors) else err
            code = getattr(failure, "code", None) if isinstance(failure, self._api_error) else None
            if code in refused:
                raise _Refused(code) from None
            raise self._error(doing, name, failure, code) from None

    def _error(self, doing: str, name: str, err: BaseException, code: int | None) -> StateError:
        url = self._url(name) if name else f"gs://{self.bucket_name}"
        words = _detail(err)
        if code == 404:
            return StateError(
                f"cannot {doing} {url}: bucket {self.bucket_name!r} does not exist (or is not visible "
                "to these credentials); create it or fix backend.gcs.bucket"
            )
        if code == 403:
            return StateError(f"cannot {doing} {url}: permission denied: {words}")
        if code == 401:
            return StateError(
                f"cannot {doing} {url}: the credentials were refused (401); renew them, e.g. "
                "`gcloud auth application-default login`"
            )
        if code == 412:
            return StateError(
                f"cannot {doing} {url}: precondition failed (412): the object changed meanwhile"
            )
        if code is not None:
            return StateError(f"cannot {doing} {url}: HTTP {code}: {words}")
        kind = type(err).__name__
        if kind == "DefaultCredentialsError":
            return StateError(
                f"cannot {doing} {url}: no Google Cloud credentials found; run "
                "`gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, or "
                "run where workload identity provides them"
            )
        if kind == "InvalidOperation" and self.config.endpoint_url is not None:
            # A 401 makes the client refresh its credentials, which anonymous ones cannot.
            return StateError(
                f"cannot {doing} {url}: {self.config.endpoint_url} asked for credentials (401), and "
                "with backend.gcs.endpoint_url (an emulator) none are sent; point it at an emulator, "
                "or remove it to use Google Cloud Storage"
            )
        if kind == "RefreshError":
            return StateError(
                f"cannot {doing} {url}: the Google Cloud credentials could not be refreshed: {words}"
            )
        if kind == "DataCorruption":
            return StateError(f"cannot {doing} {url}: the download failed its checksum; try again")
        endpoint = self.config.endpoint_url or "storage.googleapis.com"
        return StateError(f"cannot {doing} {url}: cannot reach {endpoint} ({kind})")

    def _written_since(self, generation: int) -> StateError:
        return StateError(
            f"{self.location} was written by another command since this one read it (generation "
            f"{generation} is no longer current); state was not changed: run the command again to "
            "start from the current state"
        )

    def _lock_replaced(self, info: LockInfo, current: LockInfo) -> StateError:
        return StateError(
            f"lock {info.id} was replaced by lock {current.id} ({current.who} for {current.operation}) "
            "since it was read; that lock was left in place"
        )

    def _get_client(self) -> Any:
        if self._client is None:
            storage = self._sdk("google.cloud.storage")
            api_exceptions = self._sdk("google.api_core.exceptions")
            auth_exceptions = self._sdk("google.auth.exceptions")
            storage_exceptions = self._sdk("google.cloud.storage.exceptions")
            requests_exceptions = self._sdk("requests.exceptions")
            self._api_error = api_exceptions.GoogleAPICallError
            self._retry_error = api_exceptions.RetryError
            self._sdk_errors = (
                api_exceptions.GoogleAPICallError,
                api_exceptions.RetryError,  # the SDK's retries ran out of time
                auth_exceptions.GoogleAuthError,
                storage_exceptions.DataCorruption,
                requests_exceptions.RequestException,
            )
            options: dict[str, Any] = {
                # Object calls on a named bucket need no project, and asking the environment for
                # one fails where none is configured (a CI runner's workload identity).
                "project": None,
                "client_info": self._sdk("google.api_core.client_info").ClientInfo(user_agent="mlops-gitops"),
            }
            if self.config.endpoint_url is not None:
                options["credentials"] = self._sdk("google.auth.credentials").AnonymousCredentials()
                options["client_options"] = {"api_endpoint": self.config.endpoint_url}
            try:
                self._client = storage.Client(**options)
            except self._sdk_errors as err:
                raise self._error("open", "", err, None) from None
        return self._client

    def _get_bucket(self) -> Any:
        if self._bucket is None:
            self._bucket = self._get_client().bucket(self.bucket_name)
        return self._bucket

    @staticmethod
    def _sdk(module: str) -> Any:
        return import_sdk(module, extra=_EXTRA, package="google-cloud-storage", needed_by=_NEEDED_BY)

    def _object(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _url(self, name: str) -> str:
        return f"gs://{self.bucket_name}/{name}"


def _detail(err: BaseException) -> str:
    """The service's own words about a failure, on one line, credentials blanked out."""
    response = getattr(err, "response", None)
    words = ""
    try:
        words = response.json()["error"]["message"] if response is not None else ""
    except (ValueError, KeyError, TypeError, AttributeError):
        words = ""
    if not words:
        errors = getattr(err, "errors", None) or []
        first = errors[0] if errors else None
        words = first.get("message", "") if isinstance(first, dict) else ""
    if not words:
        words = getattr(err, "message", "") or str(err) or type(err).__name__
    words = redact(" ".join(str(words).split()))
    return words if len(words) <= _MAX_DETAIL else words[: _MAX_DETAIL - 3] + "..."
