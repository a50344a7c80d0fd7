"""The hidden line that ties a pull-request comment to the plan it describes.

Every comment `mlops` renders starts with

    <!-- mlops-gitops plan: stack=fraud environment=prod digest=3f1c…(64 hex) -->

`stack` and `environment` (`-` for a stack without environments) say which sticky comment of a
pull request it is, so `mlops comment` updates that one and no other; `digest` names the plan, so
an apply job can tell whether the comment a reviewer approved describes the plan being applied.
The digest covers the plan document but for when it was made: two plans of the same change made
a minute apart have the same digest."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_LINE = re.compile(
    r"<!-- mlops-gitops plan: stack=(?P<stack>[^\s]+) environment=(?P<environment>[^\s]+) "
    r"digest=(?P<digest>[0-9a-f]{64}) -->"
)
NO_ENVIRONMENT = "-"


@dataclass(frozen=True)
class Marker:
    stack: str
    environment: str | None
    digest: str

    def line(self) -> str:
        env = self.environment or NO_ENVIRONMENT
        return f"<!-- mlops-gitops plan: stack={self.stack} environment={env} digest={self.digest} -->"

    def same_comment(self, other: Marker) -> bool:
        """Whether `other` marks the comment of the same stack and environment (any plan)."""
        return (self.stack, self.environment) == (other.stack, other.environment)


def plan_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 of the plan document in canonical JSON, without `created_at`."""
    body = {k: v for k, v in document.items() if k != "created_at"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def for_plan(document: Mapping[str, Any], environment: str | None) -> Marker:
    return Marker(str(document["stack"]["name"]), environment, plan_digest(document))


def find(text: str) -> Marker | None:
    """The first marker in `text` (a comment body), or None."""
    found = _LINE.search(text)
    if found is None:
        return None
    env = found["environment"]
    return Marker(found["stack"], None if env == NO_ENVIRONMENT else env, found["digest"])
