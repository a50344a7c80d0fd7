"""The calls on one online endpoint, its deployments and their autoscale settings, through the
SDK, each run by the retry policy and waited on until Azure is done with it.

Azure answers 409 to a write on an endpoint (or deployment) that is still Creating or Updating:
every write here first waits for the endpoint to settle (`Clients.settle`, polling with backoff),
then waits for its own long-running operation; a 409 that still comes (someone else's write in
between) is retried by the policy like throttling. Every write is a PUT or DELETE of an object we
name, so repeating one after a lost answer is harmless (`idempotent=True`).

Endpoint keys are never read: nothing here calls `get_keys` / `listKeys`."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from mlops_azureml import autoscale, names, sdk_private, translate
from mlops_azureml.client import Clients, NotFoundError
from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import ApplyContext


class OnlineEndpoint:
    def __init__(self, api: Clients, name: str, ctx: ApplyContext | None) -> None:
        self.api = api
        self.name = name
        self.ctx = ctx
        self.id = f"{api.workspace_id}/onlineEndpoints/{name}"

    # ---- reads -------------------------------------------------------------------------------
    def get(self) -> Any | None:
        ml = self.api.ml
        try:
            return self.api.call(
                lambda: ml.online_endpoints.get(self.name), f"get endpoint {self.name}", idempotent=True
            )
        except NotFoundError:
            return None

    def must_get(self) -> Any:
        endpoint = self.get()
        if endpoint is None:
            raise ProviderError(f"Azure ML endpoint {self.name!r} disappeared", code="NotFound")
        return endpoint

    def deployments(self) -> list[Any]:
        ml = self.api.ml
        try:
            return self.api.call(
                lambda: list(ml.online_deployments.list(self.name)),
                f"list deployments of endpoint {self.name}",
                idempotent=True,
            )
        except NotFoundError:
            return []

    def deployment(self, name: str) -> Any | None:
        ml = self.api.ml
        try:
            return self.api.call(
                lambda: ml.online_deployments.get(name, self.name),
                f"get deployment {self.name}/{name}",
                idempotent=True,
            )
        except NotFoundError:
            return None

    def settle(self) -> str | None:
        """Wait until the endpoint is neither Creating nor Updating; its state (None: gone)."""

        return self.api.settle(self._raw_state, self.ctx, f"endpoint {self.name}")

    def _raw_state(self) -> str | None:
        found = self.get()
        return None if found is None else str(found.provisioning_state or "")

    # ---- endpoint writes -----------------------------------------------------------------------
    def put(self, attrs: Mapping[str, Any], traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
        """PUT the endpoint with this whole traffic and mirror split, and wait for it."""
        ml = self.api.ml
        self.settle()
        self.api.start_and_wait(
            # A new entity per attempt: the SDK edits the one it sends.
            lambda: ml.online_endpoints.begin_create_or_update(
                translate.endpoint_entity(attrs, traffic, mirror)
            ),
            self.ctx,
            f"updating endpoint {self.name}",
        )

    def delete(self) -> None:
        ml = self.api.ml
        if self.settle() is None:
            return
        with contextlib.suppress(NotFoundError):
            self.api.start_and_wait(
                lambda: ml.online_endpoints.begin_delete(name=self.name),
                self.ctx,
                f"deleting endpoint {self.name}",
            )

    # ---- deployment writes --------------------------------------------------------------------
    def put_deployment(self, variant: Mapping[str, Any], tags: Mapping[str, str]) -> Any:
        """Create or update the deployment of a variant, wait until it is provisioned, and
        return it as read; ProviderError if Azure could not provision it."""
        ml = self.api.ml
        self.settle()
        name = variant["deployment"]
        self.api.start_and_wait(
            # A new entity per attempt: the SDK edits the one it sends (its data collector).
            lambda: ml.online_deployments.begin_create_or_update(
                translate.deployment_entity(self.name, variant, tags), skip_script_validation=True
            ),
            self.ctx,
            f"provisioning deployment {self.name}/{name} (variant {variant['name']})",
        )
        found = self.deployment(name)
        if found is None:
            raise ProviderError(
                f"deployment {self.name}/{name} disappeared once provisioned", code="NotFound"
            )
        if found.provisioning_state != "Succeeded":
            raise ProviderError(
                f"deployment {self.name}/{name} (variant {variant['name']}) is {found.provisioning_state}",
                code="DeploymentFailed",
            )
        return found

    def delete_deployment(self, name: str) -> None:
        ml = self.api.ml
        self.delete_autoscale(name)
        self.settle()
        with contextlib.suppress(NotFoundError):
            self.api.start_and_wait(
                lambda: ml.online_deployments.begin_delete(name=name, endpoint_name=self.name),
                self.ctx,
                f"deleting deployment {self.name}/{name}",
            )
        self.delete_collected_data(name)

    def delete_collected_data(self, deployment: str) -> None:
        """The data assets the SDK registered for the deployment's data collector (named
        `<endpoint>-<deployment>-<collection>`, version 1): they go with the deployment."""
        ml = self.api.ml
        group, workspace = self.api.config.resource_group, self.api.config.workspace
        for collection in ("model_inputs", "model_outputs"):
            asset = f"{self.name}-{deployment}-{collection}"
            with contextlib.suppress(NotFoundError):
                self.api.call(
                    lambda asset=asset: sdk_private.delete_data_version(ml, group, workspace, asset, "1"),
                    f"deleting data asset {asset}",
                    idempotent=True,
                )

    # ---- autoscale ------------------------------------------------------------------------------
    def deployment_id(self, deployment: str) -> str:
        return f"{self.id}/deployments/{deployment}"

    def get_autoscale(self, deployment: str) -> dict[str, Any] | None:
        monitor = self.api.monitor
        name = names.autoscale_name(self.name, deployment)
        try:
            found = self.api.call(
                lambda: monitor.autoscale_settings.get(self.api.config.resource_group, name),
                f"get autoscale setting {name}",
                idempotent=True,
            )
        except NotFoundError:
            return None
        return autoscale.scaling_from_api(found)

    def put_autoscale(self, deployment: str, scaling: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        monitor = self.api.monitor
        name = names.autoscale_name(self.name, deployment)
        entity = autoscale.setting_entity(scaling, self.deployment_id(deployment), self.location(), tags)
        self.api.call(
            lambda: monitor.autoscale_settings.create_or_update(self.api.config.resource_group, name, entity),
            f"setting autoscale {name}",
            idempotent=True,
        )

    def delete_autoscale(self, deployment: str) -> None:
        monitor = self.api.monitor
        name = names.autoscale_name(self.name, deployment)
        with contextlib.suppress(NotFoundError):
            self.api.call(
                lambda: monitor.autoscale_settings.delete(self.api.config.resource_group, name),
                f"deleting autoscale setting {name}",
                idempotent=True,
            )

    def location(self) -> str:
        return self.api.location()
