"""An `ApplyContext` for calling a provider's create/update/delete directly, outside an apply.

The engine hands a provider a context that records checkpoints into state and forwards progress
to the terminal. A test of the provider alone needs the same surface and wants to look at what
was told afterwards: `RecordingContext` keeps every checkpoint and message, in order.

    ctx = RecordingContext("endpoint.fraud-api", stack="fraud")
    provider.create("endpoint", desired, ctx)
    assert ctx.checkpoints[0]["endpoint_config_name"] == ...
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordingContext:
    """Implements `mlops_gitops.provider.ApplyContext`. Set `cancel` to act as an interrupted
    apply; `destroying=True` to act as `mlops destroy`."""

    address: str = "model.test"
    stack: str = "test"
    destroying: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def checkpoint(self, attributes: Mapping[str, Any]) -> None:
        # A deep copy: the provider may go on mutating the dict it checkpointed, and what the
        # engine wrote to state at that moment must not change with it.
        self.checkpoints.append(copy.deepcopy(dict(attributes)))

    def progress(self, message: str) -> None:
        self.messages.append(message)

    @property
    def last_checkpoint(self) -> dict[str, Any] | None:
        return self.checkpoints[-1] if self.checkpoints else None

    def recorded(self, before: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The attributes state would hold after these checkpoints, starting from `before` (the
        resource's attributes when the change began; nothing for a create): each checkpoint is
        merged over the previous ones, as the applier merges them into a recorded resource."""
        attrs = copy.deepcopy(dict(before or {}))
        for checkpoint in self.checkpoints:
            attrs.update(copy.deepcopy(checkpoint))
        return attrs
