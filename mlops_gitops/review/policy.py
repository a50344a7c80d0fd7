"""Guard rules on the plan document: `mlops policy --policy FILE PLAN` and `mlops plan --policy FILE`.

A policy file is YAML: a list of rules, each one check and, optionally, where it applies.

    # .mlops-policy.yaml
    rules:
      - deny: destroy_serving_endpoint      # no delete of an endpoint that serves
      - deny: replace_serving_endpoint      # no delete-first replacement of one
        environments: [prod]                # only in these environments of the stack
      - deny_risk: traffic_shift            # no plan carrying this risk code
        except: [endpoint.canary-*]         # addresses (globs) the rule leaves alone
      - max_instances: 20                   # no endpoint variant above 20 instances (count or max)
      - approved_models_only: true          # no variant serving an unapproved registry version
      - approved_models: [fraud-*, churn-xgb]   # the models endpoints may serve, by name (globs)
      - required_tags: [team, cost-center]  # every resource created or changed carries these
        only: [endpoint.*, model.*]         # addresses (globs) the rule applies to
        message: ask #ml-platform for a cost center   # said with each violation

The checks (one per rule):

* `deny: destroy_serving_endpoint`: an endpoint that serves is deleted (risk code
  `serving_destroyed`; without risk codes in the document, a resource change with `action: delete`
  of kind `endpoint`, or with a `serving` part, that has a `before`).
* `deny: replace_serving_endpoint`: such an endpoint is replaced by deleting it first (risk code
  `serving_replaced`; else `action: replace` with `replace_order: delete_before_create`).
* `deny: destroy`: any resource is deleted or replaced (an endpoint retired too: it is deleted),
  and any deposed object deleted. A retired endpoint is not `destroy_serving_endpoint`: its
  retirement is written in the stack on purpose; `deny_risk: serving_retired` refuses it.
* `deny_risk: CODE`: a risk with this `code`. Plans whose risks carry no codes yet are read from
  their resource changes for `serving_destroyed`, `serving_replaced`, `traffic_shift` (a variant's
  `traffic_percent` changes), `capacity_to_zero` (a variant going to 0 instances) and
  `monitor_removed` (a monitor deleted); any other code cannot be checked on such a plan, which
  fails the rule rather than pass it unseen.
* `max_instances: N`: a variant in `serving.after` whose `instance_count` or `max_instances` is
  above N.
* `approved_models_only: true`: a risk with code `unapproved_model`, or an endpoint's `after`
  variant with `allow_unapproved: true` (the one way a registry version that is not Approved gets
  deployed: the provider refuses it otherwise).
* `approved_models: [GLOB, ...]`: a variant in `serving.after` whose `model` matches none of the
  globs. That is the model as the cloud names it (mlops adds a suffix to a stack model's name,
  `fraud-v1-1a2b3c4d`: write `fraud-v1-*` or `fraud-*`), or `group@version` of a registry.
* `required_tags: [KEY, ...]`: a resource created, updated or replaced without one of these tags
  (the resource change's `tags`, the stack's own view; else the provider's `after.tags` or
  `after.labels`).

Each violation is one line naming the resource and the rule; any violation fails the check."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops_gitops.errors import MlopsError

DEFAULT_FILE = ".mlops-policy.yaml"
Deny = Literal["destroy_serving_endpoint", "replace_serving_endpoint", "destroy"]
CHECKS = ("deny", "deny_risk", "max_instances", "approved_models_only", "approved_models", "required_tags")
# Risk codes a plan without codes can still be checked for, from its resource changes.
FALLBACK_CODES = (
    "serving_destroyed",
    "serving_replaced",
    "traffic_shift",
    "capacity_to_zero",
    "monitor_removed",
)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    deny: Deny | None = None
    deny_risk: str | None = Field(None, min_length=1)
    max_instances: int | None = Field(None, ge=0)
    approved_models_only: bool | None = None
    approved_models: list[str] | None = None
    required_tags: list[str] | None = None
    only: list[str] = Field(default_factory=list, description="address globs the rule applies to")
    except_: list[str] = Field(default_factory=list, alias="except", description="address globs left alone")
    environments: list[str] = Field(default_factory=list, description="the stack environments it applies in")
    message: str | None = None

    @model_validator(mode="after")
    def _one_check(self) -> Rule:
        given = [name for name in CHECKS if getattr(self, name) is not None]
        if len(given) != 1:
            listed = ", ".join(CHECKS)
            raise ValueError(f"a rule is one check ({listed}); this one has {', '.join(given) or 'none'}")
        return self

    @field_validator("required_tags", "approved_models")
    @classmethod
    def _not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("give at least one")
        return value

    @property
    def check(self) -> str:
        return next(name for name in CHECKS if getattr(self, name) is not None)

    @property
    def label(self) -> str:
        """The rule as the policy file writes it, for violations."""
        value = getattr(self, self.check)
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, list):
            value = "[" + ", ".join(value) + "]"
        return f"{self.check}: {value}"

    def applies_to(self, address: str, environment: str | None) -> bool:
        if self.environments and environment not in self.environments:
            return False
        if self.only and not any(fnmatch.fnmatchcase(address, p) for p in self.only):
            return False
        return not any(fnmatch.fnmatchcase(address, p) for p in self.except_)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    rules: list[Rule]


@dataclass(frozen=True)
class Violation:
    rule: int  # its index in the policy file, from 1
    label: str
    address: str
    what: str
    message: str | None = None

    def line(self) -> str:
        extra = f" ({self.message})" if self.message else ""
        return f"{self.address}: {self.what} [rule {self.rule}: {self.label}]{extra}"


# ------------------------------------------------------------------------------ reading the file
def load_policy(path: Path) -> Policy:
    """The policy in `path`, or one located `Error:` line saying what is wrong with it."""
    import yaml

    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MlopsError(f"{shown}: cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        node = yaml.compose(text)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark is not None else shown
        problem = getattr(exc, "problem", None) or str(exc)
        raise MlopsError(f"{where}: not YAML: {' '.join(str(problem).split())}") from None
    if not isinstance(doc, dict):
        raise MlopsError(f"{shown}:1:1: a policy file is a mapping with `rules:` (a list of rules)")
    try:
        return Policy.model_validate(doc)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line, column = _position(node, loc, key=error["type"] == "extra_forbidden")
        path_text = _path_text(loc)
        message = error["msg"].removeprefix("Value error, ")
        where = f"{shown}:{line}:{column}" + (f": {path_text}" if path_text else "")
        raise MlopsError(f"{where}: {message}") from None


def _path_text(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _position(node: Any, loc: tuple[Any, ...], *, key: bool = False) -> tuple[int, int]:
    """The line and column (1-based) of the YAML node at `loc` (of its key, with `key`), or of
    the deepest one found."""
    import yaml

    found = node
    for part in loc:
        nxt = None
        if isinstance(found, yaml.MappingNode):
            for name, value in found.value:
                if name.value == part:
                    nxt = name if key and part == loc[-1] else value
                    break
        elif isinstance(found, yaml.SequenceNode) and isinstance(part, int) and part < len(found.value):
            nxt = found.value[part]
        if nxt is None:
            break
        found = nxt
    if found is None:
        return 1, 1
    return found.start_mark.line + 1, found.start_mark.column + 1


# ------------------------------------------------------------------------------------- checking
def evaluate(policy: Policy, document: Mapping[str, Any]) -> list[Violation]:
    """Every violation of `policy` by the plan `document`, in rule order."""
    environment = document.get("environment")
    out: list[Violation] = []
    for index, rule in enumerate(policy.rules, start=1):
        seen: set[tuple[str, str]] = set()
        for address, what in _CHECKERS[rule.check](rule, document):
            if (address, what) in seen or not rule.applies_to(address, environment):
                continue
            seen.add((address, what))
            out.append(Violation(index, rule.label, address, what, rule.message))
    return out


def _changes(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [c for c in document.get("resource_changes") or [] if isinstance(c, dict)]


def _risks(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [r for r in document.get("risks") or [] if isinstance(r, dict)]


def _coded(document: Mapping[str, Any]) -> bool:
    """Whether the document's risks carry codes (a plan of an mlops that gives them)."""
    return any("code" in r for r in _risks(document))


def _variants(serving: Any, side: str) -> list[dict[str, Any]]:
    part = serving.get(side) if isinstance(serving, dict) else None
    variants = part.get("variants") if isinstance(part, dict) else None
    return [v for v in variants or [] if isinstance(v, dict)]


def _serves(change: Mapping[str, Any]) -> bool:
    return change.get("kind") == "endpoint" or change.get("serving") is not None


def _fallback(code: str, document: Mapping[str, Any]) -> Iterator[str]:
    """The addresses a plan without risk codes would have flagged with `code`."""
    for c in _changes(document):
        address, action, reason = str(c.get("address")), c.get("action"), c.get("reason_code")
        serves = _serves(c) and c.get("before") is not None
        if code == "serving_destroyed":
            if action == "delete" and serves and reason not in ("leftovers", "already_deleted"):
                yield address
        elif code == "serving_replaced":
            first = c.get("replace_order") == "delete_before_create"
            if action == "replace" and serves and first and reason != "tainted":
                yield address
        elif code == "traffic_shift":
            before = {v.get("name"): v.get("traffic_percent") for v in _variants(c.get("serving"), "before")}
            after = {v.get("name"): v.get("traffic_percent") for v in _variants(c.get("serving"), "after")}
            if before and after and before != after:
                yield address
        elif code == "capacity_to_zero":
            if any(
                0 in (v.get("instance_count"), v.get("max_instances"))
                for v in _variants(c.get("serving"), "after")
            ):
                yield address
        elif code == "monitor_removed" and action == "delete" and c.get("kind") == "monitor":
            yield address


def _risk_hits(code: str, document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if _coded(document):
        for r in _risks(document):
            if r.get("code") == code:
                yield str(r.get("address")), str(r.get("message") or code)
        return
    if code in FALLBACK_CODES:
        for address in _fallback(code, document):
            yield address, _FALLBACK_TEXT[code]
    elif _risks(document):
        yield "plan", f"its risks carry no codes, so risk {code} cannot be checked (re-plan with this mlops)"


_FALLBACK_TEXT = {
    "serving_destroyed": "destroys a serving endpoint",
    "serving_replaced": "replaces a serving endpoint by deleting it first",
    "traffic_shift": "shifts traffic between variants",
    "capacity_to_zero": "takes a variant to zero instances",
    "monitor_removed": "removes a monitor",
}


def _deny(rule: Rule, document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if rule.deny == "destroy_serving_endpoint":
        for address, _ in _risk_hits("serving_destroyed", document):
            yield address, "destroys a serving endpoint"
    elif rule.deny == "replace_serving_endpoint":
        for address, _ in _risk_hits("serving_replaced", document):
            yield address, "replaces a serving endpoint by deleting it first"
    else:
        for c in _changes(document):
            if c.get("action") in ("delete", "replace"):
                yield str(c.get("address")), "deletes it" if c["action"] == "delete" else "replaces it"
            elif c.get("action") == "retire" and c.get("after") is None:
                yield str(c.get("address")), "retires it, which deletes it"
        for d in document.get("deposed") or []:
            if isinstance(d, dict):
                yield str(d.get("address")), f"deletes its deposed object {d.get('id')}"


def _deny_risk(rule: Rule, document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    code = str(rule.deny_risk)
    for address, message in _risk_hits(code, document):
        yield address, f"risk {code}: {message}"


def _max_instances(rule: Rule, document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    limit = int(rule.max_instances or 0)
    for c in _changes(document):
        if c.get("action") == "delete":
            continue
        for v in _variants(c.get("serving"), "after"):
            for key in ("instance_count", "max_instances"):
                value = v.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool) and value > limit:
                    yield (
                        str(c.get("address")),
                        f"variant {v.get('name')} has {key} {value:g}, above the {limit:g} allowed",
                    )


def _approved_models_only(rule: Rule, document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if not rule.approved_models_only:
        return
    for r in _risks(document):
        if r.get("code") == "unapproved_model":
            yield str(r.get("address")), f"serves an unapproved model: {r.get('message')}"
    for c in _changes(document):
        after = c.get("after")
        if c.get("action") == "delete" or not isinstance(after, dict):
            continue
        for v in after.get("variants") or []:
            if isinstance(v, dict) and v.get("allow_unapproved"):
                package = v.get("model_package") or v.get("model") or "?"
                yield (
                    str(c.get("address")),
                    f"variant {v.get('name')} deploys {package} with allow_unapproved: true",
                )


def _approved_models(rule: Rule, document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    patterns = rule.approved_models or []
    for c in _changes(document):
        if c.get("action") == "delete":
            continue
        for v in _variants(c.get("serving"), "after"):
            model = v.get("model")
            if model is not None and not any(fnmatch.fnmatchcase(str(model), p) for p in patterns):
                yield str(c.get("address")), f"variant {v.get('name')} serves {model}, not an approved model"


def _required_tags(rule: Rule, document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for c in _changes(document):
        if c.get("action") not in ("create", "update", "replace"):
            continue
        tags = c.get("tags")
        if not isinstance(tags, dict):
            after = c.get("after") if isinstance(c.get("after"), dict) else {}
            tags = after.get("tags") if isinstance(after.get("tags"), dict) else after.get("labels")
        tags = tags if isinstance(tags, dict) else {}
        missing = [t for t in rule.required_tags or [] if t not in tags]
        if missing:
            yield str(c.get("address")), f"has no tag {', '.join(missing)}"


_CHECKERS = {
    "deny": _deny,
    "deny_risk": _deny_risk,
    "max_instances": _max_instances,
    "approved_models_only": _approved_models_only,
    "approved_models": _approved_models,
    "required_tags": _required_tags,
}


def report(violations: list[Violation], policy_file: str) -> list[str]:
    """The lines `mlops policy` prints: one per violation, then the verdict."""
    if not violations:
        return [f"Policy {policy_file}: the plan passes every rule."]
    rules = len({v.rule for v in violations})
    return [
        *(f"Violation: {v.line()}" for v in violations),
        f"Policy {policy_file}: {len(violations)} violation{'s' if len(violations) != 1 else ''} "
        f"of {rules} rule{'s' if rules != 1 else ''}.",
    ]
