"""The state document: what `mlops` recorded about the cloud after its last apply.

One document per stack. `lineage` names the state for its whole life (so a stack pointed at the
wrong state file is refused), `serial` counts writes (so a plan made from an older read is
refused), and each resource keeps every physical id the provider recorded under its logical
address, plus a few previous attribute sets for rollback.

The JSON form is meant to be read in code review and diffed: keys sorted, two-space indent, one
trailing newline. Resources are written as a list in insertion (apply) order, because a JSON
object written with sorted keys would lose that order."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from mlops_gitops.errors import StateError
from mlops_gitops.state.history import EVENT_LIMIT, Event

STATE_VERSION = 1
_ORJSON = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
HISTORY_LIMIT = 5  # previous attribute sets kept per resource, newest first

Attributes = dict[str, JsonValue]


def utc_now() -> str:
    """The current time as ISO 8601 UTC with a `Z` suffix, to the second: the form every state
    and lock timestamp uses, so they compare and read the same everywhere."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _canonical(value: Any) -> str:
    # Compare attribute sets by their JSON text, not with `==`: Python holds 1 == 1.0 == True,
    # but a cloud API does not treat them alike, so a change between them is a real change.
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _check_output(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    if set(value) != {"value", "sensitive"} or not isinstance(value["sensitive"], bool):
        raise ValueError('an output must be {"value": ..., "sensitive": true|false}')
    return value


# JSON has no NaN or Infinity: refuse them when recorded rather than write a file no JSON
# reader accepts.
_Strict = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
_ATTRIBUTES: TypeAdapter[Attributes] = TypeAdapter(Attributes, config=ConfigDict(allow_inf_nan=False))


class ResourceState(BaseModel):
    """One logical resource as last applied: its address, and everything the provider recorded
    about it (including the ids of every cloud object it owns)."""

    model_config = _Strict

    address: str
    kind: str
    name: str
    provider: str
    attributes: Attributes = Field(default_factory=dict)
    dependencies: list[str] = Field(default_factory=list)
    # "tainted": creation failed or stopped half way; the next plan replaces the resource.
    status: Literal["ok", "tainted"] = "ok"
    updated_at: str = Field(default_factory=utc_now)
    history: list[Attributes] = Field(default_factory=list)
    # Objects this resource replaced that still exist (create-before-destroy, or a replacement
    # that failed half way): each is the attribute set to delete it by, once nothing uses it.
    deposed: list[Attributes] = Field(default_factory=list)
    # Set by `mlops rollback` (who, when, from which attributes) so plans can say the resource
    # runs an earlier configuration than the stack asks for; cleared by the next apply of it.
    rolled_back: dict[str, JsonValue] | None = None
    # Attribute paths that held sensitive values when last applied. Redaction also reads them
    # from here, so a resource that has left the stack (a delete, `state show`) still hides them.
    sensitive_paths: list[str] = Field(default_factory=list)
    # `lifecycle.prevent_destroy` as last applied: protection does not vanish with the key when
    # the resource is renamed or removed from the stack file.
    protected: bool = False
    # A write-ahead record of a change in progress ({"action", "since", "recorded"}), cleared
    # when it ends. Still set on the next run means the apply was killed part way: the plan says
    # so (not "changed outside mlops") and finishes the change, cleaning up what it left.
    pending: dict[str, JsonValue] | None = None
    # Set when a `retired:` block was applied ({"reason", "by", "at"}): the resource is out of
    # production, its record kept (see stack/retire.py); cleared if the block is taken back.
    retired: dict[str, JsonValue] | None = None

    @model_validator(mode="after")
    def _address_matches(self) -> ResourceState:
        if self.address != f"{self.kind}.{self.name}":
            raise ValueError(
                f"address {self.address!r} does not match kind {self.kind!r} and name {self.name!r}"
            )
        return self

    @field_validator("history")
    @classmethod
    def _bounded_history(cls, history: list[Attributes]) -> list[Attributes]:
        if len(history) > HISTORY_LIMIT:
            raise ValueError(f"at most {HISTORY_LIMIT} history entries are kept, got {len(history)}")
        return history

    def record(self, attributes: Mapping[str, Any]) -> bool:
        """Make `attributes` the current set. When they differ from the current ones, the current
        set goes to the front of `history` (oldest dropped beyond HISTORY_LIMIT) and `updated_at`
        moves. Returns whether anything changed.

        An empty current set is not kept: it is a resource being created, and there is no
        earlier version of it to roll back to."""
        # Validate before comparing or touching anything: a non-JSON value must leave this
        # resource as it was, not half-updated.
        new = _ATTRIBUTES.validate_python(dict(attributes))
        if _canonical(new) == _canonical(self.attributes):
            return False
        previous = self.attributes
        self.attributes = new
        if previous:
            self.history = [previous, *self.history][:HISTORY_LIMIT]
        self.updated_at = utc_now()
        return True


class StateDoc(BaseModel):
    """The whole state of one stack."""

    model_config = _Strict

    version: int = STATE_VERSION
    lineage: str = Field(min_length=1)
    serial: int = Field(default=0, ge=0)
    stack: str
    resources: dict[str, ResourceState] = Field(default_factory=dict)  # address -> state, in apply order
    outputs: dict[str, Annotated[dict[str, JsonValue], AfterValidator(_check_output)]] = Field(
        default_factory=dict
    )
    # What was deployed, promoted, rolled back, retired: oldest first (see state/history.py).
    events: list[Event] = Field(default_factory=list)
    _text: str | None = PrivateAttr(None)  # see freeze_text

    @classmethod
    def new(cls, stack: str) -> StateDoc:
        """Fresh state for `stack`: a new lineage, nothing written yet (serial 0)."""
        return cls(lineage=str(uuid.uuid4()), stack=stack)

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version > STATE_VERSION:
            raise ValueError(
                f"state version {version} was written by a newer mlops (this one reads up to "
                f"{STATE_VERSION}); upgrade mlops"
            )
        if version < 1:
            raise ValueError(f"state version must be at least 1, got {version}")
        return version

    @field_validator("resources", mode="before")
    @classmethod
    def _resources_from_list(cls, value: Any) -> Any:
        # The JSON form is a list (see the module docstring); index it by address, refusing
        # duplicates that a dict would silently collapse.
        if not isinstance(value, list):
            return value
        indexed: dict[str, Any] = {}
        for item in value:
            address = item.get("address") if isinstance(item, dict) else getattr(item, "address", None)
            if not isinstance(address, str):
                raise ValueError("every resource needs an address")
            if address in indexed:
                raise ValueError(f"resource {address} appears twice")
            indexed[address] = item
        return indexed

    @field_validator("resources")
    @classmethod
    def _keys_are_addresses(cls, resources: dict[str, ResourceState]) -> dict[str, ResourceState]:
        for key, resource in resources.items():
            if key != resource.address:
                raise ValueError(f"resource {resource.address} is filed under {key!r}")
        return resources

    @field_serializer("resources")
    def _resources_as_list(self, resources: dict[str, ResourceState]) -> list[dict[str, Any]]:
        return [resource.model_dump(mode="json") for resource in resources.values()]

    def get(self, address: str) -> ResourceState | None:
        return self.resources.get(address)

    def put(self, resource: ResourceState) -> None:
        """Add `resource`, or replace the one at its address (keeping that one's position)."""
        self.resources[resource.address] = resource

    def remove(self, address: str) -> ResourceState:
        try:
            return self.resources.pop(address)
        except KeyError:
            raise StateError(f"no resource {address} in state") from None

    def addresses(self) -> list[str]:
        return list(self.resources)

    def add_event(self, event: Event) -> None:
        """Record `event`, dropping the oldest beyond EVENT_LIMIT."""
        self.events.append(event)
        if len(self.events) > EVENT_LIMIT:
            del self.events[: len(self.events) - EVENT_LIMIT]

    def plain(self) -> dict[str, Any]:
        """`model_dump(mode="json")`, built directly: every field already holds JSON values
        (attributes are validated when recorded), and pydantic's serializer, which checks each
        value of a JSON-typed field again, took most of the time of a write of a large state."""
        return {
            **self.__dict__,
            "resources": [dict(r.__dict__) for r in self.resources.values()],
            "events": [dict(e.__dict__) for e in self.events],
        }

    def freeze_text(self) -> None:
        """Render the JSON text now and keep it: `to_json` returns it from then on, whatever
        becomes of the objects this (shallow) copy shares with the document it was made from."""
        self._text = None
        self._text = self.to_json()

    def to_json(self) -> str:
        if self._text is not None:
            return self._text
        data = self.plain()
        try:
            # orjson writes the same text as json.dumps(indent=2, sort_keys=True) (floats in
            # their shortest form) tens of times faster: apply writes state after every change.
            return orjson.dumps(data, option=_ORJSON).decode()
        except TypeError:  # an integer beyond 64 bits, which only the json module writes
            return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> StateDoc:
        """Parse a state document. Raises StateError describing what is wrong (not where the text
        came from: the backend adds that)."""
        if not text.strip():
            raise StateError("the document is empty")
        try:
            data = json.loads(text)
        # ValueError beyond JSONDecodeError: an integer of more digits than Python reads (4300).
        except (ValueError, UnicodeDecodeError) as err:
            raise StateError(f"not JSON ({err})") from None
        except RecursionError:
            raise StateError("it nests too deeply") from None
        if not isinstance(data, dict):
            raise StateError(f"expected a JSON object, found {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise StateError(_describe(err)) from None
        except RecursionError:
            raise StateError("it nests too deeply") from None


def _describe(err: ValidationError, limit: int = 3) -> str:
    problems = []
    for item in err.errors()[:limit]:
        where = ".".join(str(part) for part in item["loc"])
        problems.append(f"{where}: {item['msg']}" if where else item["msg"])
    more = err.error_count() - limit
    if more > 0:
        problems.append(f"and {more} more")
    return "; ".join(problems)
