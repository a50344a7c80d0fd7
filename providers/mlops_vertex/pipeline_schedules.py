"""What the kinds that own a Vertex AI Schedule share: `schedule` and `batch_job`.

Both own one Schedule (ID assigned by Vertex) that creates a PipelineJob on a cron; they differ in
the PipelineJob it creates (a stack's compiled pipeline, or the provider's batch-predict one) and
so in how a Schedule reads back as attributes. How a Schedule is found, created without making a
second one, updated, paused or resumed, and deleted is the same, and lives here once.

A subclass passes its own body and read-back function (`parse`: a ListSchedules / GetSchedule
item to attributes, None for a schedule that is not of its kind)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from mlops_gitops.handlers import S, T
from mlops_gitops.provider import ApplyContext, known
from mlops_vertex import labels
from mlops_vertex.client import NotFoundError, to_dict
from mlops_vertex.kind import KindHandler

Parse = Callable[[Mapping[str, Any]], "dict[str, Any] | None"]


class PipelineScheduleHandler(KindHandler[S, T]):
    def _get_schedule(self, schedule_id: str) -> dict[str, Any] | None:
        """The Schedule as GetSchedule returns it, None if it is gone."""
        try:
            found = self.api.call(
                self.api.schedules.get_schedule,
                f"GetSchedule {schedule_id}",
                name=self.name("schedules", schedule_id),
            )
        except NotFoundError:
            return None
        return to_dict(found)

    def _find_own_schedule(self, display_name: str, address: str, parse: Parse) -> dict[str, Any] | None:
        """A schedule this resource made that state does not record (its create died after
        Vertex made it): same display name, and this resource's labels on the runs it creates."""
        found = self.api.collect(
            self.api.schedules.list_schedules,
            "ListSchedules",
            parent=self.api.parent,
            filter=f'display_name="{display_name}"',
        )
        for item in found:
            attrs = parse(item)
            if attrs is not None and labels.owned_by(attrs["labels"], stack=self.stack, address=address):
                return attrs
        return None

    def _create_schedule(
        self, desired: Mapping[str, Any], ctx: ApplyContext, body: Mapping[str, Any], parse: Parse
    ) -> dict[str, Any]:
        """Create the Schedule, pause it if `desired` is disabled, and read it back."""
        created = self.api.call(
            self.api.schedules.create_schedule,
            f"CreateSchedule {desired['display_name']}",
            # Vertex names schedules itself, so a repeat would make a second one: after a failure
            # that may hide a success, look for the schedule first.
            recover=lambda: self._find_own_schedule(desired["display_name"], ctx.address, parse),
            parent=self.api.parent,
            schedule=body,
        )
        created_id = created["id"] if isinstance(created, dict) else str(created.name).rsplit("/", 1)[-1]
        attrs = {**desired, "id": created_id}
        ctx.checkpoint(known(attrs))
        if not desired["enabled"]:
            self._set_enabled(created_id, False)
        return self.must_read(attrs)

    def _update_schedule(
        self, current: Mapping[str, Any], attrs: Mapping[str, Any], body: Mapping[str, Any], mask: list[str]
    ) -> dict[str, Any]:
        """Send the `mask` fields of `body`, pause or resume as `attrs` says, and read it back."""
        if mask:
            self.api.call(
                self.api.schedules.update_schedule,
                f"UpdateSchedule {attrs['id']}",
                idempotent=True,  # sets the masked fields: twice is once
                schedule={"name": self.name("schedules", attrs["id"]), **{k: body[k] for k in mask}},
                update_mask={"paths": mask},
            )
        if current["enabled"] != attrs["enabled"]:
            self._set_enabled(attrs["id"], attrs["enabled"])
        return self.must_read(attrs)

    def _set_enabled(self, schedule_id: str, enabled: bool) -> None:
        name = self.name("schedules", schedule_id)

        def recover() -> bool | None:
            """Vertex refuses to pause a paused schedule: after a lost answer, look instead."""
            found = self.read({"id": schedule_id})
            return True if found is not None and found["enabled"] == enabled else None

        if enabled:
            # Runs missed while paused are skipped: a burst of retrainings helps nobody.
            self.api.call(
                self.api.schedules.resume_schedule,
                f"ResumeSchedule {schedule_id}",
                recover=recover,
                name=name,
                catch_up=False,
            )
        else:
            self.api.call(
                self.api.schedules.pause_schedule, f"PauseSchedule {schedule_id}", recover=recover, name=name
            )

    def _delete_schedule(self, schedule_id: str, ctx: ApplyContext) -> None:
        with contextlib.suppress(NotFoundError):
            self.api.call_and_wait(
                self.api.schedules.delete_schedule,
                ctx,
                f"deleting schedule {schedule_id}",
                idempotent=True,  # a repeat finds it gone
                name=self.name("schedules", schedule_id),
            )
