"""Batch endpoints, their deployments, their invocation and the jobs it starts, as Azure ML
serves them; and the compute clusters batch deployments run on.

- `batchEndpoints/{E}` PUT/GET/DELETE/list with the ARM asynchronous protocol (as online
  endpoints): `properties.defaults.deploymentName` must name one of its deployments (400), and the
  `scoringUri` is the emulator's own `{url}{endpoint id}/jobs`, where the SDK POSTs an invocation
  (`ml.batch_endpoints.invoke`, with a bearer token) on loopback;
- `batchEndpoints/{E}/deployments/{D}` PUT/GET/DELETE/list: a `compute` that is a cluster of the
  workspace (400 if none by that name was made), a model (when an asset id, registered), a
  non-MLflow model needs a `codeConfiguration.scoringScript` (400), `outputAction` AppendRow or
  SummaryOnly (SummaryOnly takes no `outputFileName`, 400), `miniBatchSize`, `retrySettings`
  `{maxRetries, timeout}` and `resources.instanceCount` at least 1; no deletion of the deployment
  the endpoint's defaults name (400, as Azure refuses to delete the default deployment);
- `POST {endpoint}/jobs` (the invocation, operation `BatchEndpoints_Invoke`): a job of the
  workspace (`jobs/{name}`, jobType Pipeline, `properties.azureml.batchrun`) for the named or the
  default deployment (404/400 otherwise), named by the body's `name` (a repeated name is 409
  Conflict, "already exists"); answered 200 with the job as the batch data plane shows it. Its
  status moves NotStarted -> Running (after a quarter of `operation_delay_seconds`) -> Completed
  (after `operation_delay_seconds`), and its output `score` is the invocation's output path (or
  `azureml://datastores/workspaceblobstore/paths/azureml/{job}/score/`). A `fail_async` rule
  matching the invocation (`{"operation": "BatchEndpoints_Invoke"}`) makes the job end Failed
  instead, with the rule's code and message as its run's error;
- the run history's `GET /history/v1.0{workspace}/runs/{job}` (operation `Runs_Get`), where the
  SDK reads a run's `status` and `error` (`{"error": {"code", "message"}}`), of batch jobs and of
  the pipeline jobs submitted to the workspace (`schedules.put_job`);
- `computes/{C}` PUT (an AmlCompute cluster; `properties.properties.vmSize` among the known SKUs,
  `scaleSettings.maxNodeCount` at least 1) and DELETE, both asynchronous. (A GET of a compute
  never made still answers a made-up cluster, as before: pipelines name clusters the sandbox
  workspace is assumed to have.)"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from .arm import ML_PROVIDER, ArmError, State, bad_request, conflict, not_found, now_iso, system_data
from .arm_resources import (
    BUSY,
    Call,
    EndpointCollection,
    Reply,
    _body_properties,
    _delete,
    _props,
    _put_document,
    workspace,
    workspace_id,
)
from .resources import _check_asset

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]")
_COMPUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,14}[A-Za-z0-9]")
_OUTPUT_ACTIONS = {"appendrow": "AppendRow", "summaryonly": "SummaryOnly"}
JOB_EXTRA = "batch-job"  # the key of a batch job's timeline in state.extra


# ---- batch endpoints -----------------------------------------------------------------------------------


BATCH = EndpointCollection("batchEndpoints", "BatchEndpoint", "BatchDeployment", "batch endpoint")
endpoint_id = BATCH.endpoint_id
_endpoint = BATCH.endpoint
_deployments = BATCH.deployments
get_endpoint = BATCH.get_endpoint
list_endpoints = BATCH.list_endpoints
delete_endpoint = BATCH.delete_endpoint
deployment_id = BATCH.deployment_id
_deployment = BATCH.deployment
get_deployment = BATCH.get_deployment
list_deployments = BATCH.list_deployments


def _busy(document: dict[str, Any], doing: str) -> ArmError:
    return conflict(
        f"{document['name']} is being updated "
        f"(provisioningState {_props(document).get('provisioningState')}): "
        f"{doing} cannot start until the operation in progress finishes. Please retry later."
    )


def put_endpoint(state: State, call: Call) -> Reply:
    ws = workspace(state, call)
    key = endpoint_id(call)
    previous = state.get(key)
    if previous is not None and _props(previous).get("provisioningState") in BUSY:
        raise _busy(previous, "an update of the batch endpoint")
    name = previous["name"] if previous is not None else call.groups["endpoint"]
    if not _NAME.fullmatch(name):
        raise bad_request(
            f"Invalid batch endpoint name {name}: 3 to 32 characters, starting with a letter, letters, "
            "digits and '-' (not at the end).",
            target="name",
        )
    properties = _body_properties(call)
    auth = str(properties.get("authMode") or "AADToken")
    if auth.lower() != "aadtoken":
        raise bad_request(
            f"Batch endpoints support only AADToken authentication, not {auth}.", target="authMode"
        )
    properties["authMode"] = "AADToken"
    defaults = properties.get("defaults") or {}
    default = defaults.get("deploymentName") if isinstance(defaults, dict) else None
    if default and (previous is None or str(default).lower() not in _deployments(state, previous)):
        raise bad_request(
            f"The default deployment {default} of batch endpoint {name} does not exist: create the "
            "deployment first, then set it as the default.",
            target="defaults.deploymentName",
        )
    properties["defaults"] = {"deploymentName": default} if default else {}
    location = str(call.body.get("location") or "")
    if not location or location == "None":
        location = ws["location"]
    properties.update(
        {
            "scoringUri": f"{call.base_url}{previous['id'] if previous is not None else key}/jobs",
            "swaggerUri": None,
            "provisioningState": "Updating" if previous is not None else "Creating",
        }
    )
    properties.setdefault("description", None)
    properties.setdefault("properties", {})
    document = {
        "name": name,
        "type": f"{ML_PROVIDER}/workspaces/batchEndpoints",
        "location": location,
        "tags": copy.deepcopy(call.body.get("tags") or {}),
        "kind": call.body.get("kind"),
        "identity": call.body.get("identity") or {"type": "SystemAssigned"},
        "properties": properties,
    }
    return _put_document(state, call, key, previous, document)


# ---- batch deployments ---------------------------------------------------------------------------------


def _compute_name(reference: Any) -> str | None:
    if not isinstance(reference, str) or not reference:
        return None
    return reference.rstrip("/").rsplit("/", 1)[-1].removeprefix("azureml:")


def _model_type(state: State, reference: Any) -> str | None:
    if not isinstance(reference, str):
        return None
    found = state.get(reference)
    return None if found is None else str(_props(found).get("modelType") or "custom_model")


def put_deployment(state: State, call: Call) -> Reply:
    endpoint = _endpoint(state, call)
    key = deployment_id(call)
    previous = state.get(key)
    if _props(endpoint).get("provisioningState") in BUSY:
        raise _busy(endpoint, f"an operation on deployment {call.groups['deployment']}")
    if previous is not None and _props(previous).get("provisioningState") in BUSY:
        raise _busy(previous, "an update of the deployment")
    name = previous["name"] if previous is not None else call.groups["deployment"]
    if not _NAME.fullmatch(name):
        raise bad_request(f"Invalid batch deployment name {name}.", target="name")
    properties = _body_properties(call)
    compute = _compute_name(properties.get("compute"))
    if compute is None:
        raise bad_request("A batch deployment needs a compute cluster.", target="compute")
    cluster = state.get(f"{workspace_id(call)}/computes/{compute}")
    if cluster is None or _props(cluster).get("provisioningState") != "Succeeded":
        raise bad_request(
            f"Compute {compute} was not found in workspace {call.groups['workspace']}: create the compute "
            "cluster before the batch deployment.",
            target="compute",
        )
    model = (properties.get("model") or {}).get("assetId")
    _check_asset(state, call, model, "models")
    _check_asset(state, call, properties.get("environmentId"), "environments")
    model_type = _model_type(state, model)
    scoring = (properties.get("codeConfiguration") or {}).get("scoringScript")
    if model_type is not None and model_type.lower() != "mlflow_model" and not scoring:
        raise bad_request(
            "A batch deployment of a model that is not an MLflow model needs a scoring script "
            "(codeConfiguration.scoringScript) and an environment.",
            target="codeConfiguration",
        )
    action = str(properties.get("outputAction") or "AppendRow")
    if action.lower() not in _OUTPUT_ACTIONS:
        raise bad_request(f"Invalid outputAction {action}: AppendRow or SummaryOnly.", target="outputAction")
    properties["outputAction"] = _OUTPUT_ACTIONS[action.lower()]
    if properties["outputAction"] == "SummaryOnly" and properties.get("outputFileName"):
        raise bad_request(
            "outputFileName cannot be set when outputAction is SummaryOnly.", target="outputFileName"
        )
    if properties["outputAction"] == "AppendRow":
        properties["outputFileName"] = properties.get("outputFileName") or "predictions.csv"
    resources = properties.get("resources") or {}
    count = resources.get("instanceCount", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise bad_request(f"Invalid instance count {count!r}: at least 1.", target="resources.instanceCount")
    properties["resources"] = {**resources, "instanceCount": count}
    properties.setdefault("miniBatchSize", 10)
    properties.setdefault("maxConcurrencyPerInstance", 1)
    properties.setdefault("errorThreshold", -1)
    properties.setdefault("loggingLevel", "Info")
    properties["retrySettings"] = {
        "maxRetries": 3,
        "timeout": "PT30S",
        **(properties.get("retrySettings") or {}),
    }
    properties.setdefault("properties", {})
    properties["provisioningState"] = "Updating" if previous is not None else "Creating"
    document = {
        "name": name,
        "type": f"{ML_PROVIDER}/workspaces/batchEndpoints/deployments",
        "location": endpoint["location"],
        "tags": copy.deepcopy(call.body.get("tags") or {}),
        "properties": properties,
    }
    return _put_document(state, call, key, previous, document)


def delete_deployment(state: State, call: Call) -> Reply:
    endpoint = _endpoint(state, call)
    deployment = state.get(deployment_id(call))
    if deployment is None:
        return Reply(204)
    running = state.busy(deployment["id"])
    if running is not None and running.method == "DELETE":
        return _delete(state, call, deployment)
    if running is not None or _props(endpoint).get("provisioningState") in BUSY:
        raise _busy(deployment, "the deletion of the deployment")
    default = (_props(endpoint).get("defaults") or {}).get("deploymentName")
    if default and str(default).lower() == str(deployment["name"]).lower():
        raise bad_request(
            f"Deployment {deployment['name']} is the default deployment of batch endpoint {endpoint['name']} "
            "and cannot be deleted: delete the endpoint, or make another deployment the default first.",
            target="defaults.deploymentName",
        )
    return _delete(state, call, deployment)


# ---- invocation and jobs -------------------------------------------------------------------------------


def _uri(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("uri", "path"):
            if isinstance(value.get(key), str):
                return str(value[key])
        for inner in value.values():
            found = _uri(inner)
            if found:
                return found
    return None


def invoke(state: State, call: Call) -> Reply:
    """POST to a batch endpoint's scoring URI: a job of the workspace for one deployment."""
    endpoint = _endpoint(state, call)
    if _props(endpoint).get("provisioningState") != "Succeeded":
        raise _busy(endpoint, "an invocation")
    body = call.body.get("properties") if isinstance(call.body.get("properties"), dict) else call.body
    deployments = _deployments(state, endpoint)
    chosen = call.query.get("deployment") or (_props(endpoint).get("defaults") or {}).get("deploymentName")
    if not chosen:
        raise bad_request(
            f"Batch endpoint {endpoint['name']} has no default deployment: name a deployment to invoke.",
            target="azureml-model-deployment",
        )
    deployment = deployments.get(str(chosen).lower())
    if deployment is None or _props(deployment).get("provisioningState") != "Succeeded":
        raise not_found("BatchDeployment", str(chosen), f"batch endpoint {endpoint['name']}")
    input_uri = _uri(body.get("inputData"))
    if not input_uri:
        raise bad_request("A batch invocation needs input data (inputData).", target="inputData")
    name = str(body.get("name") or f"batchjob-{int(time.time() * 1000):x}")
    key = f"{workspace_id(call)}/jobs/{name}"
    if state.get(key) is not None:
        raise conflict(f"A job named {name} already exists in workspace {call.groups['workspace']}.")
    output = _uri(body.get("outputData")) or (
        f"azureml://datastores/{(body.get('outputDataset') or {}).get('datastoreId') or 'workspaceblobstore'}"
        f"/paths/{(body.get('outputDataset') or {}).get('path')}"
        if (body.get("outputDataset") or {}).get("path")
        else f"azureml://datastores/workspaceblobstore/paths/azureml/{name}/score/"
    )
    dprops = _props(deployment)
    document = {
        "id": key,
        "name": name,
        "type": f"{ML_PROVIDER}/workspaces/jobs",
        "properties": {
            "jobType": "Pipeline",
            "status": "NotStarted",
            "displayName": name,
            "experimentName": (body.get("properties") or {}).get("experimentName") or endpoint["name"],
            "description": None,
            "tags": {},
            "properties": {
                "azureml.batchrun": "true",
                "azureml.deploymentname": deployment["name"],
                "azureml.endpointname": endpoint["name"],
                "azureml.pipelineid": name,
            },
            "computeId": dprops.get("compute"),
            "inputs": {"input_data": {"jobInputType": "uri_folder", "uri": input_uri}},
            "outputs": {"score": {"jobOutputType": "uri_folder", "uri": output, "mode": "ReadWriteMount"}},
            "jobs": {},
            "settings": {},
            "services": {
                "Studio": {"jobServiceType": "Studio", "endpoint": f"{call.base_url}/studio/runs/{name}"}
            },
        },
        "systemData": system_data(),
    }
    state.put(document)
    state.extra[key.lower()] = {
        JOB_EXTRA: {
            "started": time.monotonic(),
            "delay": state.operation_delay,
            "failure": call.async_failure(),
            "start_time": now_iso(),
        }
    }
    advance(state, document)
    return Reply(200, _dataplane(document))


def _dataplane(job: dict[str, Any]) -> dict[str, Any]:
    """The job as the batch data plane answers an invocation."""
    props = _props(job)
    return {
        "id": job["id"],
        "name": job["name"],
        "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints/jobs",
        "properties": {
            "status": props.get("status"),
            "outputDataset": {"path": props["outputs"]["score"]["uri"]},
            "interactionEndpoints": props.get("services"),
        },
        "systemData": job.get("systemData"),
    }


def advance(state: State, job: dict[str, Any]) -> None:
    """A batch job's status as time has moved on: NotStarted, Running, then Completed or Failed."""
    timeline = (state.extra.get(str(job["id"]).lower()) or {}).get(JOB_EXTRA)
    props = _props(job)
    if timeline is None or props.get("status") in ("Completed", "Failed", "Canceled"):
        return
    elapsed = time.monotonic() - timeline["started"]
    delay = timeline["delay"]
    # A submitted pipeline job (schedules.put_job) keeps its own pace.
    if elapsed >= timeline.get("done_after", delay):
        props["status"] = "Failed" if timeline["failure"] is not None else "Completed"
        timeline["end_time"] = now_iso()
    elif elapsed >= timeline.get("running_after", delay / 4):
        props["status"] = "Running"


def run_history(state: State, call: Call) -> Reply:
    """The run history's record of a job: its status and, when it failed, its error."""
    workspace(state, call)
    key = f"{workspace_id(call)}/jobs/{call.groups['run']}"
    job = state.get(key)
    if job is None:
        raise not_found("Run", call.groups["run"], f"workspace {call.groups['workspace']}")
    advance(state, job)
    props = _props(job)
    timeline = (state.extra.get(key.lower()) or {}).get(JOB_EXTRA) or {}
    document: dict[str, Any] = {
        "runId": job["name"],
        "runUuid": job["name"],
        "displayName": props.get("displayName"),
        "status": props.get("status"),
        "experimentId": props.get("experimentName"),
        "runType": "azureml.PipelineRun",
        "properties": dict(props.get("properties") or {}),
        "tags": dict(props.get("tags") or {}),
        "startTimeUtc": timeline.get("start_time"),
        "endTimeUtc": timeline.get("end_time"),
        "error": None,
    }
    failure: ArmError | None = timeline.get("failure")
    if props.get("status") == "Failed" and failure is not None:
        document["error"] = {
            "error": {"code": failure.code, "message": failure.message},
            "time": timeline.get("end_time"),
            "componentName": timeline.get("component", "BatchScoring"),
        }
    return Reply(200, document)


# ---- compute clusters ----------------------------------------------------------------------------------


def compute_id(call: Call) -> str:
    return f"{workspace_id(call)}/computes/{call.groups['compute']}"


def put_compute(state: State, call: Call) -> Reply:
    ws = workspace(state, call)
    key = compute_id(call)
    previous = state.get(key)
    if previous is not None and _props(previous).get("provisioningState") in BUSY:
        raise _busy(previous, "an update of the compute")
    name = previous["name"] if previous is not None else call.groups["compute"]
    if not _COMPUTE_NAME.fullmatch(name):
        raise bad_request(
            f"Invalid compute name {name}: 3 to 16 characters, starting with a letter, letters, digits "
            "and '-'.",
            target="name",
        )
    properties = _body_properties(call)
    kind = str(properties.get("computeType") or "")
    if kind != "AmlCompute":
        raise bad_request(
            f"The emulator makes AmlCompute clusters, not {kind or 'nothing'}.", target="computeType"
        )
    inner = properties.get("properties") or {}
    size = inner.get("vmSize")
    known = {sku.lower(): sku for sku in call.settings.instance_types}
    if not isinstance(size, str) or size.lower() not in known:
        raise bad_request(
            f"The VM size {size} is not available in {ws['location']}: one of "
            f"{', '.join(call.settings.instance_types)}.",
            target="properties.vmSize",
            code="InvalidVMSize",
        )
    scale = inner.get("scaleSettings") or {}
    high = scale.get("maxNodeCount")
    if isinstance(high, bool) or not isinstance(high, int) or high < 1:
        raise bad_request(f"Invalid maxNodeCount {high!r}: at least 1.", target="scaleSettings.maxNodeCount")
    inner.setdefault("vmPriority", "Dedicated")
    inner.setdefault("osType", "Linux")
    inner.update({"currentNodeCount": 0, "targetNodeCount": 0, "allocationState": "Steady"})
    properties["properties"] = inner
    properties["computeLocation"] = ws["location"]
    properties["provisioningState"] = "Updating" if previous is not None else "Creating"
    document = {
        "name": name,
        "type": f"{ML_PROVIDER}/workspaces/computes",
        "location": ws["location"],
        "tags": copy.deepcopy(call.body.get("tags") or {}),
        "identity": call.body.get("identity") or {"type": "None"},
        "properties": properties,
    }
    return _put_document(state, call, key, previous, document)


def delete_compute(state: State, call: Call) -> Reply:
    workspace(state, call)
    found = state.get(compute_id(call))
    if found is None:
        return Reply(204)
    return _delete(state, call, found)
