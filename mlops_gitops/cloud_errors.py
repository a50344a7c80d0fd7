"""How an SDK's exception becomes a ProviderError, for every provider.

A provider keeps only its cloud's table: which error codes mean a missing object, a name taken,
throttling or a failure that may pass (a `Kind`). `map_error` builds the error from that: the
message names the operation, the cloud's code and the cloud's own words, with anything that
looks like a credential blanked out (error messages end up in CI logs and saved plans)."""

from __future__ import annotations

import re

from mlops_gitops.errors import ProviderError
from mlops_gitops.retry import Failure, RetryableError


class NotFoundError(ProviderError):
    """The object the call names does not exist."""


class AlreadyExistsError(ProviderError):
    """The object a create names exists already: maybe made by an earlier attempt of the same
    create whose answer was lost."""


# What a cloud error code means: one of the ProviderError classes above, or a retryable Failure.
# A code a provider's table does not list is a verdict on the call (a plain ProviderError).
Kind = type[ProviderError] | Failure

_SECRETS = (
    # user:password@ in a URL
    (re.compile(r"(?P<keep>\b[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", re.IGNORECASE), "***@"),
    # signed-URL and OAuth parameters, key=value or "key": "value"
    (
        re.compile(
            r"(?P<keep>\b(?:x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|"
            r"access_token|refresh_token|id_token|client_secret|password|passwd|secret|api[_-]?key|"
            r"token)[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+",
            re.IGNORECASE,
        ),
        "***",
    ),
    # Authorization header values
    (re.compile(r"(?P<keep>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE), "***"),
    # AWS access key ids and Google OAuth access tokens
    (re.compile(r"(?P<keep>)\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "***"),
    (re.compile(r"(?P<keep>)\bya29\.[A-Za-z0-9._-]+"), "***"),
    # private keys (a service-account JSON quoted back)
    (
        re.compile(
            r"(?P<keep>)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL
        ),
        "***",
    ),
)


def redact(text: str) -> str:
    """`text` with credentials (URL passwords, signatures, tokens, keys) replaced by `***`."""
    for pattern, mask in _SECRETS:
        text = pattern.sub(lambda m, mask=mask: m.group("keep") + mask, text)
    return text


def map_error(what: str, code: str, message: str, kind: Kind | None = None) -> ProviderError:
    """The ProviderError for a failure of `what` (the operation, e.g. `DescribeEndpoint fraud`)
    that the cloud reported as `code` and `message`, of the `kind` the provider's table gives."""
    text = redact(f"{what}: {code}: {message}" if code else f"{what}: {message}")
    if isinstance(kind, Failure):
        return RetryableError(text, code=code, failure=kind)
    if kind is not None:
        return kind(text, code=code)
    return ProviderError(text, code=code)
