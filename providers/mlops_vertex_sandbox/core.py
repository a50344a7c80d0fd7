"""The machinery shared by the Vertex AI emulator's resources: Google's error model, the proto3
JSON conventions of the REST API (timestamps, enums, int64 as strings), labels, field masks,
AIP-160 list filters, paging, and the in-memory state with its long-running operations.

No HTTP here (see `server.py`) and no `google.cloud` import: the emulator knows the wire format
only, and the tests check it against the real client's types."""

from __future__ import annotations

import base64
import copy
import hashlib
import heapq
import itertools
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Union

_log = logging.getLogger(__name__)

# ---- errors --------------------------------------------------------------------------------------

# google.rpc.Code names -> (HTTP status, gRPC code), as Google's REST gateways map them.
CODES: dict[str, tuple[int, int]] = {
    "CANCELLED": (499, 1),
    "UNKNOWN": (500, 2),
    "INVALID_ARGUMENT": (400, 3),
    "DEADLINE_EXCEEDED": (504, 4),
    "NOT_FOUND": (404, 5),
    "ALREADY_EXISTS": (409, 6),
    "PERMISSION_DENIED": (403, 7),
    "RESOURCE_EXHAUSTED": (429, 8),
    "FAILED_PRECONDITION": (400, 9),
    "ABORTED": (409, 10),
    "OUT_OF_RANGE": (400, 11),
    "UNIMPLEMENTED": (501, 12),
    "INTERNAL": (500, 13),
    "UNAVAILABLE": (503, 14),
    "DATA_LOSS": (500, 15),
    "UNAUTHENTICATED": (401, 16),
}

# The status an HTTP code stands for when only the code is given (several statuses share 400, 409
# and 500: the most common one is meant).
STATUS_FOR_HTTP: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """A Google API error: answered as `{"error": {code, message, status}}` with the HTTP status of
    `status`, or carried by a failed operation as a google.rpc.Status with its gRPC code."""

    def __init__(self, status: str, message: str) -> None:
        if status not in CODES:
            raise ValueError(f"unknown status {status!r}")
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def http_status(self) -> int:
        return CODES[self.status][0]

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.http_status, "message": self.message, "status": self.status}}

    def rpc_status(self) -> dict[str, Any]:
        return {"code": CODES[self.status][1], "message": self.message}


def invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)


def precondition(message: str) -> ApiError:
    return ApiError("FAILED_PRECONDITION", message)


def not_found(message: str) -> ApiError:
    return ApiError("NOT_FOUND", message)


# ---- field names and typed access to request documents -------------------------------------------


def snake(name: str) -> str:
    """`trafficSplit` -> `traffic_split`: Google's error messages name fields the proto way."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def camel(name: str) -> str:
    """`traffic_split` -> `trafficSplit`: masks, filters and orderBy accept either spelling."""
    return re.sub(r"_([a-z0-9])", lambda match: match.group(1).upper(), name)


def _where(prefix: str, key: str) -> str:
    return f"{prefix}.{snake(key)}" if prefix else snake(key)


def get_object(doc: Mapping[str, Any], key: str, where: str = "", required: bool = False) -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        if required:
            raise invalid(f"{_where(where, key)} is required.")
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid value at '{_where(where, key)}': expected an object.")
    return value


def get_string(doc: Mapping[str, Any], key: str, where: str = "", required: bool = False) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise invalid(f"Invalid value at '{_where(where, key)}': expected a string.")
    if required and not value:
        raise invalid(f"{_where(where, key)} is required.")
    return value


def get_int(doc: Mapping[str, Any], key: str, where: str = "", minimum: int | None = None) -> int:
    """An int32 (a JSON number) or int64 (a string of digits in proto3 JSON; numbers accepted too)."""
    value = doc.get(key, 0)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"Invalid value at '{_where(where, key)}': expected an integer.")
    if minimum is not None and value < minimum:
        raise invalid(f"{_where(where, key)} must be at least {minimum}, got {value}.")
    return value


def get_list(doc: Mapping[str, Any], key: str, where: str = "") -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise invalid(f"Invalid value at '{_where(where, key)}': expected a list.")
    return value


def drop(doc: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    """`doc` without `keys`: output-only fields a client may send back are ignored, as Vertex does."""
    return {key: value for key, value in doc.items() if key not in keys}


def set_or_drop(doc: dict[str, Any], key: str, value: Any) -> None:
    """proto3 JSON omits empty values: a field that becomes empty disappears from the resource."""
    if value in (None, "", [], {}):
        doc.pop(key, None)
    else:
        doc[key] = value


def resource_id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


# ---- project numbers -----------------------------------------------------------------------------

_PROJECT_SEGMENT = re.compile(r"^(/(?:v1|ui)/)?projects/([^/]+)(?=/|$)")


def project_number(project: str) -> str:
    """The 12-digit number Vertex names a project by in the resources it returns. Stable per
    project ID (a digest), so a restarted emulator names things as before; a number is itself."""
    if project.isdigit():
        return project
    digest = int.from_bytes(hashlib.sha256(project.encode()).digest()[:8], "big")
    return str(10**11 + digest % (9 * 10**11))


def canonical_name(name: str) -> str:
    """A resource name (or request path) with the project ID replaced by the project number.
    Vertex accepts either in requests and answers with the number, so every name the emulator
    stores, compares or returns is in this form."""
    return _PROJECT_SEGMENT.sub(lambda m: f"{m.group(1) or ''}projects/{project_number(m.group(2))}", name, 1)


# ---- timestamps and durations --------------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """RFC 3339 the way protobuf's JSON printer writes it: 0, 3 or 6 fractional digits and `Z`."""
    moment = moment.astimezone(UTC)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    micros = moment.microsecond
    if micros == 0:
        return f"{base}Z"
    if micros % 1000 == 0:
        return f"{base}.{micros // 1000:03d}Z"
    return f"{base}.{micros:06d}Z"


def parse_timestamp(value: Any, where: str) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is not None:
                return moment.astimezone(UTC)
    raise invalid(
        f"Invalid value at '{where}': expected an RFC 3339 timestamp with a time zone, got {value!r}."
    )


_DURATION = re.compile(r"(-?\d+)(?:\.(\d{1,9}))?s")


def parse_duration(value: Any, where: str) -> float:
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise invalid(f"Invalid value at '{where}': expected a duration such as \"3600s\", got {value!r}.")
    return float(f"{match.group(1)}.{match.group(2) or 0}")


# ---- enums ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enum:
    """A proto enum: requests may carry names or numbers; resources keep names; replies carry
    numbers when the client asks for `enum-encoding=int` (the aiplatform client always does)."""

    proto_name: str
    values: Mapping[str, int]

    def canonical(self, value: Any, where: str) -> str:
        if isinstance(value, str) and value in self.values:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            for name, number in self.values.items():
                if number == value:
                    return name
        raise invalid(
            f"Invalid value at '{where}' (type.googleapis.com/{self.proto_name}), {json.dumps(value)}"
        )


# Where enums sit in a resource: field name -> Enum, or a nested spec for a message field (applied
# to every element of a repeated field).
EnumSpec = Mapping[str, Union[Enum, "EnumSpec"]]


def canonical_enums(doc: dict[str, Any], spec: EnumSpec, where: str = "") -> None:
    """Turn the enum values of a request document into names, in place; unknown values -> 400."""
    for key, sub in spec.items():
        value = doc.get(key)
        if value is None:
            continue
        place = _where(where, key)
        if isinstance(sub, Enum):
            if isinstance(value, list):
                doc[key] = [sub.canonical(item, place) for item in value]
            else:
                doc[key] = sub.canonical(value, place)
        elif isinstance(value, dict):
            canonical_enums(value, sub, place)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    canonical_enums(item, sub, place)


def encode_enums(doc: dict[str, Any], spec: EnumSpec) -> dict[str, Any]:
    """A copy of `doc` with its enum names turned into numbers."""
    out = dict(doc)
    for key, sub in spec.items():
        value = out.get(key)
        if value is None:
            continue
        if isinstance(sub, Enum):
            out[key] = [sub.values[item] for item in value] if isinstance(value, list) else sub.values[value]
        elif isinstance(value, dict):
            out[key] = encode_enums(value, sub)
        elif isinstance(value, list):
            out[key] = [encode_enums(item, sub) if isinstance(item, dict) else item for item in value]
    return out


# ---- labels --------------------------------------------------------------------------------------


def _label_char(char: str) -> bool:
    # Lowercase letters (international ones included), digits, underscores and dashes.
    return (char.isalpha() and not char.isupper()) or char.isdigit() or char in "_-"


def check_labels(labels: Any, where: str = "labels") -> None:
    """Vertex's label rules: at most 64 labels; keys of 1-64 and values of 0-64 lowercase letters,
    digits, `_` or `-`, keys starting with a letter. Real Vertex refuses anything else (e.g. a
    `:` or an uppercase letter), so the emulator does too."""
    if not isinstance(labels, dict):
        raise invalid(f"Invalid value at '{where}': expected a map of strings.")
    if len(labels) > 64:
        raise invalid(f"{where}: at most 64 labels are allowed, got {len(labels)}.")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise invalid(f"Invalid value at '{where}[{key!r}]': expected a string.")
        key_ok = 0 < len(key) <= 64 and key[0].isalpha() and not key[0].isupper()
        if not key_ok or not all(map(_label_char, key)):
            raise invalid(
                f"{where}: invalid label key {key!r}: keys must start with a lowercase letter and "
                "contain only lowercase letters, digits, '_' and '-' (at most 64 characters)."
            )
        if len(value) > 64 or not all(map(_label_char, value)):
            raise invalid(
                f"{where}: invalid value {value!r} for label {key!r}: values may contain only "
                "lowercase letters, digits, '_' and '-' (at most 64 characters)."
            )


# ---- field masks ---------------------------------------------------------------------------------


def mask_paths(raw: Any, allowed: frozenset[str], resource: str, required: bool = True) -> list[str]:
    """The paths of an update mask (proto3 JSON: comma-separated; snake_case accepted), each one
    checked against `allowed` (a path also allows the paths below it; `*` means all of them).
    Empty when no mask is given and `required` is false."""
    if raw is not None and not isinstance(raw, str):
        raise invalid("Invalid value at 'update_mask': expected a comma-separated string of field paths.")
    paths = [".".join(camel(part) for part in path.strip().split(".")) for path in (raw or "").split(",")]
    paths = [path for path in paths if path]
    if not paths and required:
        raise invalid("update_mask is required and must name at least one field.")
    if paths == ["*"]:
        return sorted(allowed)
    for path in paths:
        if not any(path == top or path.startswith(f"{top}.") for top in allowed):
            updatable = ", ".join(sorted(snake(top) for top in allowed))
            raise invalid(f"Field {snake(path)!r} of {resource} cannot be updated (updatable: {updatable}).")
    return paths


def apply_mask(target: dict[str, Any], source: Mapping[str, Any], paths: list[str]) -> None:
    """Copy each masked path from `source` to `target`; a path absent from `source` is cleared."""
    for path in paths:
        *parents, last = path.split(".")
        src: Any = source
        for part in parents:
            src = src.get(part) if isinstance(src, Mapping) else None
        dst = target
        for part in parents:
            dst = dst.setdefault(part, {})
        value = src.get(last) if isinstance(src, Mapping) else None
        set_or_drop(dst, last, copy.deepcopy(value))


# ---- AIP-160 filters -----------------------------------------------------------------------------

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op><=|>=|!=|=|<|>|:)|(?P<paren>[()])|(?P<word>[^\s()"=!<>:]+))'
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "op", "paren" or "word"
    text: str


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise invalid(f"Unsupported filter {text!r}: unexpected text at position {position}.")
        kind = match.lastgroup or ""
        raw = match.group(kind)
        tokens.append(_Token(kind, json.loads(raw) if kind == "string" else raw))
        position = match.end()
    return tokens


class _FilterParser:
    """A subset of https://google.aip.dev/160: comparisons (`= != < <= > >= :`), `AND`, `OR`,
    `NOT`/`-`, parentheses, `*` wildcards in string values, `field:*` presence and `labels.key`.
    As in AIP-160, `OR` binds tighter than `AND`, and juxtaposition means `AND`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0

    def parse(self) -> Predicate:
        predicate = self._conjunction()
        if self.position != len(self.tokens):
            raise self._error(f"unexpected {self.tokens[self.position].text!r}")
        return predicate

    def _error(self, what: str) -> ApiError:
        return invalid(f"Unsupported filter {self.text!r}: {what}.")

    def _peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _conjunction(self) -> Predicate:
        terms = [self._disjunction()]
        while (token := self._peek()) is not None and (token.kind, token.text) != ("paren", ")"):
            if token.kind == "word" and token.text == "AND":
                self.position += 1
            terms.append(self._disjunction())
        return terms[0] if len(terms) == 1 else lambda doc: all(term(doc) for term in terms)

    def _disjunction(self) -> Predicate:
        terms = [self._unary()]
        while (token := self._peek()) is not None and token.kind == "word" and token.text == "OR":
            self.position += 1
            terms.append(self._unary())
        return terms[0] if len(terms) == 1 else lambda doc: any(term(doc) for term in terms)

    def _unary(self) -> Predicate:
        token = self._peek()
        if token is None:
            raise self._error("expected a comparison")
        if token.kind == "word" and token.text == "NOT":
            self.position += 1
            inner = self._unary()
            return lambda doc: not inner(doc)
        if token.kind == "word" and token.text.startswith("-") and len(token.text) > 1:
            self.tokens[self.position] = _Token("word", token.text[1:])
            inner = self._unary()
            return lambda doc: not inner(doc)
        if token.kind == "paren" and token.text == "(":
            self.position += 1
            inner = self._conjunction()
            closing = self._peek()
            if closing is None or (closing.kind, closing.text) != ("paren", ")"):
                raise self._error("missing ')'")
            self.position += 1
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        if self.position + 3 > len(self.tokens):
            raise self._error("expected `field operator value`")
        field_token, op, value = self.tokens[self.position : self.position + 3]
        if field_token.kind != "word" or op.kind != "op" or value.kind not in ("word", "string"):
            raise self._error("expected `field operator value`")
        self.position += 3
        path = field_token.text.split(".")
        # A map's keys are data, not field names: `labels.team_name` keeps its key as written.
        path = [camel(path[0]), *(path[1:] if path[0] == "labels" else map(camel, path[1:]))]
        return _comparator(path, op.text, value.text, value.kind == "string")


def _lookup(doc: Any, path: list[str]) -> Any:
    for depth, part in enumerate(path):
        if isinstance(doc, list):
            values = [_lookup(item, path[depth:]) for item in doc]
            return [value for value in values if value is not None]
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(part)
    return doc


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(map(re.escape, pattern.split("*"))), re.DOTALL)


def _ordered(actual: Any, wanted: str) -> tuple[Any, Any] | None:
    """Comparable forms of a resource value and a filter value: numbers, timestamps or strings."""
    if isinstance(actual, bool):
        return None
    try:
        return float(actual), float(wanted)
    except (TypeError, ValueError):
        pass
    try:
        return parse_timestamp(actual, "filter"), parse_timestamp(wanted, "filter")
    except ApiError:
        pass
    return (actual, wanted) if isinstance(actual, str) else None


def _equals(actual: Any, wanted: str) -> bool:
    if isinstance(actual, bool):
        return str(actual).lower() == wanted.lower()
    if isinstance(actual, int | float):
        return _ordered(actual, wanted) is not None and float(actual) == float(wanted)
    if not isinstance(actual, str):
        return False
    return _wildcard(wanted).fullmatch(actual) is not None if "*" in wanted else actual == wanted


def _comparator(path: list[str], op: str, wanted: str, quoted: bool) -> Predicate:
    def test(doc: Mapping[str, Any]) -> bool:
        actual = _lookup(doc, path)
        if op == ":":
            if wanted == "*" and not quoted:
                return actual not in (None, "", [], {})
            if isinstance(actual, dict):
                return wanted in actual
            values = actual if isinstance(actual, list) else [actual]
            return any(_equals(value, wanted) for value in values if value is not None)
        # proto3 leaves default values out of a resource: a missing string compares as "".
        values = actual if isinstance(actual, list) else ["" if actual is None else actual]
        if op in ("=", "!="):
            found = any(_equals(value, wanted) for value in values)
            return found if op == "=" else not found
        for value in values:
            pair = _ordered(value, wanted)
            if pair is not None and _ORDER_OPS[op](*pair):
                return True
        return False

    return test


_ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def parse_filter(text: str) -> Predicate:
    if not text.strip():
        return lambda doc: True
    return _FilterParser(text).parse()


# ---- lists: filter, order, pages -----------------------------------------------------------------

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def _order_key(path: list[str]) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    def key(doc: Mapping[str, Any]) -> tuple[int, Any]:
        value = _lookup(doc, path)
        if value is None or isinstance(value, dict | list):
            return (0, "")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (1, float(value))
        return (2, str(value))

    return key


def list_page(query: Mapping[str, str], items: list[dict[str, Any]], key: str, scope: str) -> dict[str, Any]:
    """One page of `items` filtered (`filter`) and sorted (`orderBy`) as the request asks.

    The page token names an offset into the result and is bound to the request's scope, filter
    and order, so that reusing it with another filter is refused (as Google APIs do)."""
    predicate = parse_filter(query.get("filter", ""))
    selected = [item for item in items if predicate(item)]
    order_by = query.get("orderBy", "")
    for clause in reversed([part.strip() for part in order_by.split(",") if part.strip()]):
        words = clause.split()
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise invalid(f"Unsupported order_by {order_by!r}.")
        path = [camel(part) for part in words[0].split(".")]
        selected.sort(key=_order_key(path), reverse=len(words) == 2 and words[1].lower() == "desc")
    try:
        size = int(query.get("pageSize") or 0)
    except ValueError:
        raise invalid("page_size must be an integer.") from None
    if size < 0:
        raise invalid("page_size must not be negative.")
    size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    binding = hashlib.sha256(f"{scope}\n{query.get('filter', '')}\n{order_by}".encode()).hexdigest()[:16]
    offset = _decode_token(query.get("pageToken", ""), binding)
    page: dict[str, Any] = {}
    set_or_drop(page, key, selected[offset : offset + size])
    if offset + size < len(selected):
        token = json.dumps([offset + size, binding]).encode()
        page["nextPageToken"] = base64.urlsafe_b64encode(token).decode()
    return page


def _decode_token(token: str, binding: str) -> int:
    if not token:
        return 0
    try:
        offset, bound = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise invalid("Invalid page token.") from None
    if bound != binding or not isinstance(offset, int) or offset < 0:
        raise invalid("Invalid page token: it belongs to a list call with other arguments.")
    return offset


# ---- resource documents --------------------------------------------------------------------------


def etag(doc: Mapping[str, Any]) -> str:
    """A content hash: it changes whenever the resource does."""
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def check_etag(body: Mapping[str, Any], current: str, what: str) -> None:
    """Read-modify-write: an update carrying an etag applies only to the version it was read from."""
    sent = body.get("etag")
    if sent and sent != current:
        raise ApiError("ABORTED", f"The etag of {what} does not match: it changed since it was read.")


# ---- the API call --------------------------------------------------------------------------------


@dataclass
class Call:
    """One API request, as the resource handlers see it."""

    method: str
    path: str  # percent-decoded, without the query string
    query: dict[str, str]
    body: dict[str, Any]
    groups: dict[str, str]  # the route's named groups (project, location, resource ids)
    # Takes the failure, if any, that the emulator's settings inject into the operation this call
    # starts (consumed only when the call does start one).
    operation_failure: Callable[[], ApiError | None] = lambda: None

    @property
    def parent(self) -> str:
        return f"projects/{self.groups['project']}/locations/{self.groups['location']}"

    @property
    def int_enums(self) -> bool:
        return "enum-encoding=int" in self.query.get("$alt", "")

    def reply(self, doc: Mapping[str, Any], spec: EnumSpec | None = None) -> dict[str, Any]:
        """A copy of `doc` (safe to serialise once the state lock is released), enums encoded as
        the request asked."""
        out = copy.deepcopy(dict(doc))
        return encode_enums(out, spec) if spec and self.int_enums else out


# ---- state and long-running operations -----------------------------------------------------------

_TYPE_PREFIX = "type.googleapis.com/google.cloud.aiplatform.v1."
EMPTY = "type.googleapis.com/google.protobuf.Empty"

DEPLOYMENT_STAGE = Enum(
    "google.cloud.aiplatform.v1.DeploymentStage",
    {
        "DEPLOYMENT_STAGE_UNSPECIFIED": 0,
        "STARTING_DEPLOYMENT": 5,
        "PREPARING_MODEL": 6,
        "CREATING_SERVING_CLUSTER": 7,
        "ADDING_NODES_TO_CLUSTER": 8,
        "GETTING_CONTAINER_IMAGE": 9,
        "STARTING_MODEL_SERVER": 3,
        "FINISHING_UP": 4,
        "DEPLOYMENT_TERMINATED": 10,
        "SUCCESSFULLY_DEPLOYED": 11,
        "FAILED_TO_DEPLOY": 12,
    },
)
_METADATA_SPEC: EnumSpec = {"deploymentStage": DEPLOYMENT_STAGE}


@dataclass
class Operation:
    name: str
    metadata_type: str  # e.g. "DeployModelOperationMetadata"
    response_type: str  # a full type URL
    response_spec: EnumSpec
    created: str
    due: float  # time.monotonic() at which it completes
    complete: Callable[[], dict[str, Any]]  # applies the effect; returns the response or raises ApiError
    holds: frozenset[str]  # names of the resources it is changing (a model being deployed, ...)
    staged: bool  # metadata carries a deploymentStage (deployments)
    injected: ApiError | None
    done: bool = False
    updated: str = ""
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def document(self, int_enums: bool) -> dict[str, Any]:
        generic = {"createTime": self.created, "updateTime": self.updated or self.created}
        metadata: dict[str, Any] = {"@type": _TYPE_PREFIX + self.metadata_type, "genericMetadata": generic}
        if self.staged:
            stage = "STARTING_DEPLOYMENT"
            if self.done:
                stage = "FAILED_TO_DEPLOY" if self.error else "SUCCESSFULLY_DEPLOYED"
            metadata["deploymentStage"] = stage
        doc: dict[str, Any] = {"name": self.name, "metadata": metadata}
        if self.done:  # proto3 JSON leaves `done: false` out
            doc["done"] = True
        if self.error is not None:
            doc["error"] = dict(self.error)
        if self.response is not None:
            doc["response"] = copy.deepcopy(self.response)
        if int_enums:
            doc["metadata"] = encode_enums(metadata, _METADATA_SPEC)
            if self.response is not None:
                doc["response"] = encode_enums(doc["response"], self.response_spec)
        return doc


@dataclass(order=True)
class _Timer:
    due: float
    sequence: int
    action: Callable[[], None] = field(compare=False)


class State:
    """Every emulated resource, the operations and the timers, behind one lock.

    Nothing runs in the background: what is due (an operation completing, a monitoring job
    starting) happens at the start of the next API call, under the lock, so a reader never sees
    a change half made and the emulator needs no threads of its own."""

    def __init__(self, operation_delay: float) -> None:
        self.lock = threading.RLock()
        self.operation_delay = operation_delay
        self.models: dict[str, Any] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, Any] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        self.batch_jobs: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, Operation] = {}
        self._timers: list[_Timer] = []
        self._sequence = itertools.count()

    def clear(self) -> None:
        with self.lock:
            for store in (
                self.models,
                self.endpoints,
                self.jobs,
                self.schedules,
                self.batch_jobs,
                self.operations,
            ):
                store.clear()
            self._timers.clear()

    def new_id(self, taken: Mapping[str, Any] | None = None, prefix: str = "") -> str:
        """A numeric id the way Vertex makes them (19 digits): never one a user can choose, since
        user-chosen numeric ids have at most 9 digits."""
        while True:
            candidate = str(10**18 + secrets.randbelow(9 * 10**18))
            if taken is None or f"{prefix}{candidate}" not in taken:
                return candidate

    # ---- time --------------------------------------------------------------------------------------
    def after_delay(self, action: Callable[[], None]) -> float:
        """Run `action` (under the lock) once `operation_delay` has passed; returns when."""
        due = time.monotonic() + self.operation_delay
        heapq.heappush(self._timers, _Timer(due, next(self._sequence), action))
        return due

    def settle(self) -> None:
        """Run what is due, in the order it became due."""
        with self.lock:
            current = time.monotonic()
            while self._timers and self._timers[0].due <= current:
                heapq.heappop(self._timers).action()

    # ---- operations ---------------------------------------------------------------------------------
    def start_operation(
        self,
        call: Call,
        resource: str,
        metadata_type: str,
        response_type: str,
        complete: Callable[[], dict[str, Any]],
        response_spec: EnumSpec | None = None,
        holds: frozenset[str] = frozenset(),
        staged: bool = False,
    ) -> dict[str, Any]:
        """Start a long-running operation on `resource` and answer its first, not-done state.

        `complete` runs when the operation is due (after `operation_delay`): it re-checks what may
        have changed meanwhile, applies the effect and returns the response document (or raises
        ApiError, which the operation then carries). A failure injected through the settings
        makes the operation fail without running it."""
        op_name = f"{resource}/operations/{self.new_id(self.operations, f'{resource}/operations/')}"
        response_url = response_type if "/" in response_type else _TYPE_PREFIX + response_type
        operation = Operation(
            name=op_name,
            metadata_type=metadata_type,
            response_type=response_url,
            response_spec=response_spec or {},
            created=timestamp(now()),
            due=0.0,
            complete=complete,
            holds=holds,
            staged=staged,
            injected=call.operation_failure(),
        )
        self.operations[op_name] = operation
        operation.due = self.after_delay(lambda: self._finish(operation))
        self.settle()  # a zero delay completes at once
        return operation.document(call.int_enums)

    def _finish(self, operation: Operation) -> None:
        if operation.done:  # cancelled meanwhile
            return
        try:
            if operation.injected is not None:
                raise operation.injected
            result = operation.complete()
        except ApiError as exc:
            operation.error = exc.rpc_status()
        except Exception as exc:
            # A defect must not leave the operation running forever, nor fail whichever call
            # happened to settle it.
            _log.exception("operation %s failed", operation.name)
            operation.error = ApiError("INTERNAL", f"{type(exc).__name__}: {exc}").rpc_status()
        else:
            operation.response = {"@type": operation.response_type, **result}
        operation.done = True
        operation.updated = timestamp(now())

    def cancel(self, operation: Operation) -> None:
        if not operation.done:
            operation.error = ApiError("CANCELLED", "The operation was cancelled.").rpc_status()
            operation.done = True
            operation.updated = timestamp(now())

    def pending(self) -> Iterator[Operation]:
        return (operation for operation in self.operations.values() if not operation.done)

    def held(self, name: str) -> bool:
        """Whether an operation in flight is changing the resource `name`."""
        return any(name in operation.holds for operation in self.pending())
