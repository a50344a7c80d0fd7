"""Every use the provider makes of private members of `azure-ai-ml`, in one place.

Each is here because the public SDK (1.35) has no call that does the same; the comment on each
says what is missing. Everything else goes through public calls (`online_endpoints.get` for an
endpoint's state, `MLClient`'s own workspace and resource group, the `azure.ai.ml.entities`
exports). `PRIVATE_MEMBERS` lists them for `missing`, which a test runs against the installed SDK
so that a release that drops or renames one fails loudly, naming the attribute, instead of a
destroy failing half way in a user's workspace."""

from __future__ import annotations

import importlib
from typing import Any

POLLING_MODULE = "azure.ai.ml._utils._azureml_polling"

# (where, attribute path): `ml` is an `MLClient`, `module:` an SDK module.
PRIVATE_MEMBERS: tuple[tuple[str, str], ...] = (
    # The public ModelOperations can archive a version, not delete it (no `delete`): its REST
    # client, ModelVersionsOperations, has the DELETE of a version.
    ("ml", "models._model_versions_operation.delete"),
    # Same for EnvironmentOperations (archive/restore only): EnvironmentVersionsOperations.delete.
    ("ml", "environments._version_operations.delete"),
    # Same for DataOperations (archive/restore only): DataVersionsOperations.delete, for the data
    # assets the SDK registers for a deployment's data collector.
    ("ml", "data._operation.delete"),
    # A job's error (why a batch job failed) is in the run history only: JobOperations reads runs
    # through its RunOperations, with no public call that returns a run's error.
    ("ml", "jobs._runs_operations.get_run"),
    # BatchEndpoint takes its default deployment as the REST model BatchEndpointDefaults, which
    # azure.ai.ml.entities does not export.
    ("module:azure.ai.ml._restclient.arm_ml_service.models", "BatchEndpointDefaults"),
    # The SDK's poller prints a dot per poll with the builtin `print`, even with
    # show_progress=False; no option turns it off: the name is shadowed in that module.
    (f"module:{POLLING_MODULE}", "print"),
)


def _resolve(root: Any, path: str) -> Any:
    node = root
    for part in path.split("."):
        node = getattr(node, part)
    return node


def missing(ml: Any) -> list[str]:
    """The private members of `PRIVATE_MEMBERS` that the installed SDK lacks, as
    `where.attribute` (empty: all present). `ml` is an MLClient (no call is made)."""
    out = []
    for where, path in PRIVATE_MEMBERS:
        if where.startswith("module:"):
            name = where.removeprefix("module:")
            try:
                root: Any = importlib.import_module(name)
            except ImportError:
                out.append(f"{name} (module)")
                continue
            if path == "print":
                continue  # shadowed by us, not read: the module is what must exist
            if not hasattr(root, path):
                out.append(f"{name}.{path}")
            continue
        else:
            root = ml
        try:
            _resolve(root, path)
        except AttributeError:
            out.append(f"{where}.{path}")
    return out


def delete_model_version(ml: Any, resource_group: str, workspace: str, name: str, version: str) -> None:
    ml.models._model_versions_operation.delete(
        resource_group_name=resource_group, workspace_name=workspace, name=name, version=version
    )


def delete_environment_version(ml: Any, resource_group: str, workspace: str, name: str, version: str) -> None:
    ml.environments._version_operations.delete(
        resource_group_name=resource_group, workspace_name=workspace, name=name, version=version
    )


def delete_data_version(ml: Any, resource_group: str, workspace: str, name: str, version: str) -> None:
    ml.data._operation.delete(
        resource_group_name=resource_group, workspace_name=workspace, name=name, version=version
    )


def silence_poller(module: Any) -> None:
    """Shadow `print` in the SDK's polling module (`azure.ai.ml._utils._azureml_polling`)."""
    module.print = lambda *args, **kwargs: None


def run_error(ml: Any, job: str) -> Any:
    """The run history's error of a job (`.error.code`, `.error.message`), None if it has none."""
    run = ml.jobs._runs_operations.get_run(job)
    return getattr(getattr(run, "error", None), "error", None)


def batch_endpoint_defaults(deployment: str) -> Any:
    """What `BatchEndpoint.defaults` takes: the REST model naming its default deployment."""
    models = importlib.import_module("azure.ai.ml._restclient.arm_ml_service.models")
    return models.BatchEndpointDefaults(deployment_name=deployment)
