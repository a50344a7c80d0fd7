"""What the kinds that are one Azure ML schedule share: `schedule` (a JobSchedule) and `monitor`
(a MonitorSchedule).

Both are one object of `ml.schedules`, named after the resource and PUT whole on every change;
they differ only in the entity they PUT. Getting it, creating it (refusing one someone else
made), putting it, enabling or disabling it and deleting it are the same, and live here once.

A subclass names its object in `schedule_noun` (for progress and errors) and supplies
`_entity()`."""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from mlops_azureml.client import NotFoundError
from mlops_azureml.kind import KindHandler
from mlops_gitops.handlers import S, T
from mlops_gitops.provider import ApplyContext, known


class MLScheduleHandler(KindHandler[S, T]):
    schedule_noun: ClassVar[str]  # "job schedule", "monitor schedule"

    @abstractmethod
    def _entity(self, desired: Mapping[str, Any]) -> Callable[[], Any]:
        """What builds the SDK entity to PUT. Called before the PUT is sent, so what it checks
        fails before any call; the entity itself is built within the call."""

    def _get(self, name: str) -> Any | None:
        ml = self.api.ml
        try:
            return self.api.call(
                lambda: ml.schedules.get(name), f"get {self.schedule_noun} {name}", idempotent=True
            )
        except NotFoundError:
            return None

    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        existing = self._get(desired["name"])
        if existing is not None and not self.owned(existing.tags, ctx.address):
            raise self.already_exists(ctx.address, desired["name"])
        return self._put(desired, ctx, checkpoint=True)

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        return self._put(desired, ctx, checkpoint=False)

    def _put(self, desired: Mapping[str, Any], ctx: ApplyContext, *, checkpoint: bool) -> dict[str, Any]:
        ml = self.api.ml
        name = desired["name"]
        entity = self._entity(desired)
        poller = self.api.call(
            lambda: ml.schedules.begin_create_or_update(entity()),
            f"setting {self.schedule_noun} {name}",
            idempotent=True,  # a PUT under our name
            cancel=ctx.cancel,
        )
        if checkpoint:
            ctx.checkpoint(known(dict(desired)))
        self.api.wait(poller, ctx, f"setting {self.schedule_noun} {name}")
        current = self.must_read(desired)
        # Enabled or disabled by a call of its own where the PUT did not leave it as asked.
        if current["enabled"] != desired["enabled"]:
            begin = ml.schedules.begin_enable if desired["enabled"] else ml.schedules.begin_disable
            self.api.start_and_wait(
                lambda: begin(name), ctx, f"{'enabling' if desired['enabled'] else 'disabling'} {name}"
            )
            current = self.must_read(desired)
        return current

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        ml = self.api.ml
        with contextlib.suppress(NotFoundError):
            self.api.start_and_wait(
                lambda: ml.schedules.begin_delete(prior["name"]),
                ctx,
                f"deleting {self.schedule_noun} {prior['name']}",
            )
