"""Google Cloud labels from the stack's tags.

Label keys and values are lowercase letters, digits, `_` and `-`, at most 63 characters, and keys
start with a letter; a resource has at most 64 labels. Tags are freer. A tag is turned into a
label deterministically (so what the cloud returns equals what the plan wanted); two tags that end
up as the same key, a key or value over 63 characters, and more than 62 tags (the provider adds
two labels of its own) are errors at validate time.

Every object the provider creates carries two ownership labels, the core's ownership markers
(`mlops_gitops.ownership`) spelled as labels allow (neither `:` nor `.`):

    mlops-gitops-stack:   the stack name                 (e.g. churn)
    mlops-gitops-address: the address, `.` written `_`   (e.g. endpoint_churn-api)

A retired model also carries the core's three retirement tags, spelled the same way (values
sanitized like any label value: lowercase, at most 63 characters, so a long reason is cut):

    mlops-gitops-retired-reason, mlops-gitops-retired-by, mlops-gitops-retired-at
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mlops_gitops.ownership import Markers
from mlops_gitops.stack.retire import TAG_AT, TAG_BY, TAG_REASON

_MAX = 63  # characters in a label key or value (Google Cloud's rule for every labelled resource)
MAX_LABELS = 64  # labels on one resource, the two ownership labels included
_INVALID = re.compile(r"[^a-z0-9_-]")
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def sanitize_value(value: str) -> str:
    return _INVALID.sub("_", value.lower())[:_MAX]


def sanitize_key(key: str) -> str:
    cleaned = sanitize_value(key)
    return cleaned if cleaned[:1].isalpha() else f"k{cleaned}"[:_MAX]


def address_value(address: str) -> str:
    """`endpoint.churn-api` -> `endpoint_churn-api`: names are `[a-z0-9-]`, so `_` is unambiguous.
    Not cut to 63 characters: `limits` refuses a longer one (cut, two could become one)."""
    return _INVALID.sub("_", address.replace(".", "_").lower())


# The ownership markers as labels: `mlops-gitops:stack` -> `mlops-gitops-stack`, values lowercased
# with `.` and other characters labels refuse written `_` (a stack name, like an address, fits).
MARKERS = Markers("labels", encode_key=lambda key: key.replace(":", "-"), encode_value=address_value)
LABEL_STACK = MARKERS.stack_key
LABEL_ADDRESS = MARKERS.address_key
MANAGED = MARKERS.keys
# The core's retirement tags (`stack/retire.py`) and the labels they become.
RETIREMENT_TAGS = (TAG_REASON, TAG_BY, TAG_AT)
RETIREMENT = tuple(MARKERS.encode_key(tag) for tag in RETIREMENT_TAGS)


def from_tags(tags: Mapping[str, str], *, stack: str, address: str) -> dict[str, str]:
    """The labels for a resource: its tags (sanitized) plus the ownership labels."""
    user = {sanitize_key(k): sanitize_value(v) for k, v in tags.items()}
    return MARKERS.add(user, stack=stack, address=address)


def split_retirement(tags: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the user's tags, the retirement labels) of a resource's tags: the core adds the
    retirement tags to a retired resource's tags; they are spelled as the ownership labels are,
    not as a user's tag would be."""
    user = {k: v for k, v in tags.items() if k not in RETIREMENT_TAGS}
    retired = {MARKERS.encode_key(k): sanitize_value(v) for k, v in tags.items() if k in RETIREMENT_TAGS}
    return user, retired


def collisions(tags: Mapping[str, str]) -> list[str]:
    """Messages for tags that would become the same label key (or an ownership label)."""
    seen: dict[str, str] = {}
    out = []
    for key in tags:
        label = sanitize_key(key)
        if label in MANAGED or label in RETIREMENT:
            out.append(f"tag {key!r} becomes label {label!r}, which the provider sets itself")
        elif label in seen:
            out.append(f"tags {seen[label]!r} and {key!r} both become label {label!r}")
        else:
            seen[label] = key
    return out


def limits(tags: Mapping[str, str], *, stack: str, address: str) -> list[tuple[str, str]]:
    """(message, path) for labels that would break Vertex's limits: a key or value longer than
    63 characters once turned into a label (cut short, two tags could silently become one label,
    and the cloud would hold something else than the stack says), or more labels than a resource
    may carry."""
    out = []
    for key, value in tags.items():
        where = f"tags.{key}" if _SIMPLE_KEY.match(key) else "tags"
        as_key = _INVALID.sub("_", key.lower())
        if len(as_key) + (0 if as_key[:1].isalpha() else 1) > _MAX:
            out.append(
                (f"tag key {key!r} is {len(key)} characters; a Vertex AI label key has at most {_MAX}", where)
            )
        if len(value) > _MAX:
            out.append(
                (
                    f"the value of tag {key!r} is {len(value)} characters; a Vertex AI label value "
                    f"has at most {_MAX}",
                    where,
                )
            )
    if len(tags) + len(MANAGED) > MAX_LABELS:
        out.append(
            (
                f"{len(tags)} tags, plus the provider's {len(MANAGED)} ownership labels, make "
                f"{len(tags) + len(MANAGED)} labels; a Vertex AI resource carries at most {MAX_LABELS}",
                "tags",
            )
        )
    for label, value in MARKERS.of(stack=stack, address=address).items():
        if len(value) > _MAX:
            out.append(
                (f"label {label} would be {value!r}, longer than {_MAX} characters: use a shorter name", "")
            )
    return out


def user_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels the stack's tags made: neither ownership nor retirement labels."""
    return {k: v for k, v in MARKERS.user(labels).items() if k not in RETIREMENT}


def owned_by(labels: Mapping[str, str], *, stack: str, address: str) -> bool:
    return MARKERS.owned_by(labels, stack=stack, address=address)
