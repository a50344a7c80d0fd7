"""State in an S3 bucket, locked with S3's own conditional writes: no lock table, no lock service.

    s3://<bucket>/<key>          the current state
    s3://<bucket>/<key>.backup   the version before the last write
    s3://<bucket>/<key>.lock     present while a command holds the lock

Each step that must be atomic is one conditional request, which S3 evaluates and applies as one:

- The lock is created with `PutObject If-None-Match: *`: the put succeeds only if no lock object
  exists, so of several commands racing for it exactly one gets it; the others get 412
  PreconditionFailed and read the winner's lock to name it.
- The state is replaced with `PutObject If-Match: <ETag of the version read>` (or, for the very
  first write, `If-None-Match: *`). `StateBackend.write` refuses a document older than the stored
  one; the ETag condition closes the remaining gap, a write by another command between that check
  and the replace, which is then refused rather than overwritten.
- A lock is removed with `DeleteObject If-Match: <ETag of the lock read>`, so unlocking (or
  force-unlocking) by ID can never remove a lock someone else took after the ID was checked.

Before the state is replaced, the version it replaces is written to `<key>.backup`, from the
bytes this write read (so the backup is exactly what the conditional put replaces): as in the
local backend, a reader never meets a moment without state. The backup is a plain put (S3 has
no condition tying one object's write to another's ETag) and one version deep: a writer that
the state's condition then refuses has rewritten the backup with the version it read, which is
still the right one unless two other writes completed inside its read-to-replace window. Turn on
bucket versioning for a full history that a mistaken write or delete can be recovered from (the
backend needs nothing of it, and works the same with it on).

Credentials come from boto3's default chain (environment, shared config and profiles, SSO, the
instance or task role); nothing secret lives in the stack file. The IAM permissions needed are
s3:GetObject, s3:PutObject and s3:DeleteObject on the three keys, and s3:ListBucket on the
bucket: without it S3 answers a read of a missing object with AccessDenied, not NoSuchKey, and
a stack's first plan would fail instead of finding no state.

One backend object serves one command. It may be used from several threads: what a write read
(the ETag it will replace) is kept per thread."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from mlops_gitops.errors import LockInfo, StateError
from mlops_gitops.sdk import import_sdk
from mlops_gitops.state.backend import StateBackend, lock_from_json, lock_to_json
from mlops_gitops.state.model import StateDoc

if TYPE_CHECKING:
    from mlops_gitops.stack.schema import S3Backend

BACKUP_SUFFIX = ".backup"
LOCK_SUFFIX = ".lock"
# The extra of this package that installs boto3.
SDK_EXTRA = "s3"
_NEEDED_BY = "the s3 state backend"

# A lock object that vanishes between the refused create and the read of its holder was released
# meanwhile: try to create it again, but give up rather than spin if that keeps happening. S3 may
# also answer 409 ConditionalRequestConflict while another conditional write on the key is in
# flight; that too is worth a new attempt.
_LOCK_CREATE_ATTEMPTS = 3

# Error codes that mean the caller may not do this, whatever the cause (policy, bad keys, expired
# session): reported alike, and without the server's message, which names principals and accounts.
_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AccountProblem",
        "403",
    }
)


class S3StateBackend(StateBackend):
    def __init__(self, config: S3Backend, *, sandbox: bool = False) -> None:
        """`sandbox`: the store is the sandbox's emulator, at `config.endpoint_url`: any
        credentials do, and the bucket is made on first use (every sandbox starts empty)."""
        self.config = config
        self.sandbox = sandbox
        self.bucket = config.bucket
        self.key = config.key
        self.backup_key = config.key + BACKUP_SUFFIX
        self.lock_key = config.key + LOCK_SUFFIX
        self._client_obj: Any = None
        self._reads = threading.local()

    def __repr__(self) -> str:
        return f"S3StateBackend({self.location!r})"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    # -- state --------------------------------------------------------------------------------

    def read(self) -> StateDoc | None:
        self._reads.seen = None  # a failed read must not leave an earlier read's ETag to replace
        found = self._get(self.key)
        if found is None:
            self._reads.seen = (None, None)
            return None
        body, etag = found
        try:
            doc = StateDoc.from_json(body)
        except (StateError, RecursionError) as err:  # RecursionError: JSON nested absurdly deep
            why = err if isinstance(err, StateError) else "it nests too deeply"
            raise StateError(
                f"{self.location} is not valid state: {why} (the previous version, if any, is in "
                f"s3://{self.bucket}/{self.backup_key})"
            ) from None
        self._reads.seen = (etag, body)
        return doc

    def _store(self, doc: StateDoc) -> None:
        seen = getattr(self._reads, "seen", None)
        if seen is None:
            # StateBackend.write always reads first; replacing without a read would be a blind
            # overwrite, the one thing the ETag condition exists to prevent.
            raise RuntimeError("S3StateBackend._store needs a successful read() in the same thread first")
        etag, previous = seen
        self._reads.seen = None  # one read licenses one replace
        if previous is not None:
            self._call(
                "put_object",
                self.backup_key,
                Bucket=self.bucket,
                Key=self.backup_key,
                Body=previous,
                ContentType="application/json",
            )
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            self._client().put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=doc.to_json().encode(),
                ContentType="application/json",
                **condition,
            )
        except Exception as err:
            code = _error_code(err)
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                changed = "created" if etag is None else "changed"
                raise StateError(
                    f"state changed since it was read: another command {changed} {self.location} "
                    "meanwhile; run the command again to start from the current state"
                ) from None
            if code == "NoSuchKey":  # If-Match on an object deleted since it was read
                raise StateError(
                    f"state changed since it was read: {self.location} was deleted meanwhile; "
                    "check the bucket before running the command again"
                ) from None
            self._fail(err, "write", self.key)

    # -- lock ---------------------------------------------------------------------------------

    def lock_info(self) -> LockInfo | None:
        found = self._get(self.lock_key)
        if found is None:
            return None
        body, etag = found
        try:
            info = lock_from_json(body)
        except StateError as err:
            raise StateError(
                f"s3://{self.bucket}/{self.lock_key} is damaged: {err}; if no mlops command is "
                "running, delete that object"
            ) from None
        # The ETag travels with the info so that removing this lock removes exactly this one.
        info.extra = {**info.extra, "etag": etag}
        return info

    def _create_lock(self, info: LockInfo) -> LockInfo | None:
        for _ in range(_LOCK_CREATE_ATTEMPTS):
            try:
                self._client().put_object(
                    Bucket=self.bucket,
                    Key=self.lock_key,
                    Body=lock_to_json(info).encode(),
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
            except Exception as err:
                code = _error_code(err)
                if code == "ConditionalRequestConflict":
                    continue
                if code != "PreconditionFailed":
                    self._fail(err, "lock", self.lock_key)
                holder = self.lock_info()
                if holder is not None:
                    return holder
                continue
            return None
        raise StateError(f"s3://{self.bucket}/{self.lock_key} kept appearing and disappearing; try again")

    def _delete_lock(self, info: LockInfo) -> None:
        etag = info.extra.get("etag")
        condition = {"IfMatch": etag} if etag else {}
        try:
            self._client().delete_object(Bucket=self.bucket, Key=self.lock_key, **condition)
        except Exception as err:
            code = _error_code(err)
            if code == "NoSuchKey":
                # Already gone: this very lock was removed meanwhile (two people unlocking it
                # at once), so there is nothing left to protect.
                return
            if code == "PreconditionFailed":
                raise StateError(
                    f"lock {info.id} was replaced while it was being removed: someone "
                    "force-unlocked it and locked again; nothing was removed"
                ) from None
            self._fail(err, "unlock", self.lock_key)

    # -- S3 -----------------------------------------------------------------------------------

    def _client(self) -> Any:
        with _SDK_LOCK:
            if self._client_obj is None:
                try:
                    options: dict[str, Any] = {}
                    if self.sandbox:
                        options = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
                    client = _new_session().client(
                        "s3", region_name=self.config.region, endpoint_url=self.config.endpoint_url, **options
                    )
                    if self.sandbox:
                        _ensure_bucket(client, self.bucket, self.config.region)
                    self._client_obj = client
                except Exception as err:
                    self._fail(err, "connect to", self.key)
            return self._client_obj

    def _get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None when there is no such object."""
        try:
            response = self._client().get_object(Bucket=self.bucket, Key=key)
            with contextlib.closing(response["Body"]) as body:
                return body.read(), response["ETag"]
        except Exception as err:
            if _error_code(err) == "NoSuchKey":
                return None
            self._fail(err, "read", key)

    def _call(self, method: str, key: str, **params: Any) -> Any:
        try:
            return getattr(self._client(), method)(**params)
        except Exception as err:
            self._fail(err, "write", key)

    def _fail(self, err: Exception, verb: str, key: str) -> NoReturn:
        """Raise `err` as a one-line StateError naming the object; re-raise what is not S3's."""
        where = f"s3://{self.bucket}/{key}"
        code = _error_code(err)
        name = type(err).__name__
        if code == "NoSuchBucket":
            message = (
                f"cannot {verb} {where}: bucket {self.bucket!r} does not exist (check the stack's s3 backend)"
            )
        elif code in _ACCESS_CODES:
            message = (
                f"cannot {verb} {where}: access denied ({code}); check the AWS credentials in use "
                "and that they allow s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket there"
            )
        elif code in ("PermanentRedirect", "AuthorizationHeaderMalformed"):
            message = (
                f"cannot {verb} {where}: the bucket is in another region ({code}); set the backend's region"
            )
        elif code is not None:
            message = f"cannot {verb} {where}: S3 answered {code}"
        elif name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
            message = (
                f"cannot {verb} {where}: no usable AWS credentials were found (environment, "
                "~/.aws config or profile, SSO, or an instance role)"
            )
        elif name == "NoRegionError":
            message = (
                f"cannot {verb} {where}: no AWS region is set; set the s3 backend's region or AWS_REGION"
            )
        elif name in (
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ConnectionClosedError",
        ):
            message = f"cannot {verb} {where}: cannot reach S3 at {self._endpoint()} ({name})"
        elif type(err).__module__.startswith(("botocore", "boto3")):
            message = f"cannot {verb} {where}: {name}"
        else:
            raise err
        raise StateError(message) from None

    def _endpoint(self) -> str:
        if not self.config.endpoint_url:
            return "the AWS endpoint"
        parts = urlsplit(self.config.endpoint_url)
        # Only scheme, host and port: an endpoint URL may carry user info.
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


# Clients are built under one lock: boto3 sessions are not thread-safe, and the service-model
# loader below is shared between them.
_SDK_LOCK = threading.Lock()
_loader: Any = None


def _new_session() -> Any:
    """A boto3 session of its own (credentials resolved afresh from the default chain), sharing
    one loader of the service models: loading S3's model is most of the ~0.1 s a client costs."""
    global _loader
    boto3_session = import_sdk("boto3.session", extra=SDK_EXTRA, package="boto3", needed_by=_NEEDED_BY)
    botocore_session = import_sdk(
        "botocore.session", extra=SDK_EXTRA, package="botocore", needed_by=_NEEDED_BY
    ).Session()
    if _loader is None:
        _loader = botocore_session.get_component("data_loader")
    else:
        botocore_session.register_component("data_loader", _loader)
    return boto3_session.Session(botocore_session=botocore_session)


def _ensure_bucket(client: Any, bucket: str, region: str | None) -> None:
    """Make `bucket` unless it exists (the sandbox's store only: a real bucket is the user's)."""
    names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket in names:
        return
    where = {}
    if region not in (None, "us-east-1"):  # us-east-1 takes no location constraint
        where = {"CreateBucketConfiguration": {"LocationConstraint": region}}
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=bucket, **where)


def _error_code(err: Exception) -> str | None:
    """The S3 error code of a botocore ClientError ("NoSuchKey", "PreconditionFailed"...), or None
    for anything else. Read off the response so that botocore need not be imported here."""
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status else None
