"""What the kill-point suite shares: a small stack per provider (one model behind one endpoint),
its four paths (create, update in place, replace, delete), a sandbox per provider ("lane") that
is reset between runs, the count of a path's kill points, the choice of points to kill at, and
the emulator's inventory read with each cloud's real SDK.

A kill point (mlops_gitops/faults.py) is numbered in the order one process reaches them. The
applies this suite counts and kills run with `--parallelism 1`, so that the n-th point of the
counting run is the n-th point of the killed run: with steps in parallel, two requests in flight
would reach their points in either order."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from sandbox_kit import MLOPS, azureml_client

from mlops_gitops.errors import LockInfo, StateError
from mlops_gitops.faults import COUNT_VAR, KILL_AT_VAR
from mlops_gitops.sandbox import control
from mlops_gitops.state.backend import lock_from_json
from mlops_gitops.state.model import StateDoc

# Emulator delays kept small: a long operation still takes a few polls, each a kill point.
OPERATION_DELAY = 0.0
# MLOPS_KILL_POINTS: "all" kills at every point of every path; a number, at most that many
# points per path; by default DEFAULT_BUDGET, sized so the suite takes about five minutes.
KILL_POINTS_VAR = "MLOPS_KILL_POINTS"
DEFAULT_BUDGET = 6

SAGEMAKER_STACK = """\
apiVersion: mlops-gitops/v1
name: crash-sagemaker

provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/mlops-sandbox-sagemaker

# State on S3 (the sandbox's moto serves it): its uploads and lock calls are kill points too.
backend:
  s3: {bucket: crash-state, key: crash/state.json, region: us-east-1}

models:
  scorer:
    artifact: s3://crash-artifacts/scorer/v1/model.tar.gz
    image: {framework: xgboost, version: "1.7-1"}

endpoints:
  scorer-api:
    variants:
      - name: main
        model: scorer
        instance_type: ml.m5.large
        instance_count: 1
"""

VERTEX_STACK = """\
apiVersion: mlops-gitops/v1
name: crash-vertex

provider:
  vertex:
    project: acme-ml
    location: europe-west4

models:
  scorer:
    artifact: gs://acme-ml-artifacts/scorer/v1/
    image: {framework: xgboost, version: "1.7"}

endpoints:
  scorer-api:
    variants:
      - name: main
        model: scorer
        instance_type: n1-standard-2
        instance_count: 1
"""

AZUREML_STACK = """\
apiVersion: mlops-gitops/v1
name: crash-azureml

provider:
  azureml:
    subscription_id: 00000000-0000-0000-0000-000000000000
    resource_group: rg-crash
    workspace: crash-ws

models:
  scorer:
    artifact: azureml://datastores/workspaceblobstore/paths/scorer/v1/
    image: {framework: sklearn, version: "1.5"}
    azureml:
      conda_file: envs/serve.yaml

endpoints:
  scorer-api:
    variants:
      - name: main
        model: scorer
        instance_type: Standard_DS3_v2
        instance_count: 1
"""

AZUREML_CONDA = """\
name: scorer-serve
channels: [conda-forge]
dependencies:
  - python=3.11
  - pip:
      - scikit-learn==1.5.0
"""

VERTEX_PARENT = "projects/acme-ml/locations/europe-west4"
VERTEX_KMS = "projects/acme-ml/locations/europe-west4/keyRings/ml/cryptoKeys/models"
AZURE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} is not once in the stack"
    return text.replace(old, new)


def _without_resources(text: str) -> str:
    """The stack with its models and endpoints taken out: applying it deletes them."""
    return text[: text.index("models:\n")]


# ---- inventories, read with each cloud's SDK ----------------------------------------------------

Inventory = dict[str, list[str]]


def _sagemaker_inventory(lane: Lane) -> Inventory:
    kw: dict[str, Any] = {
        "region_name": "us-east-1",
        "endpoint_url": lane.url,
        "aws_access_key_id": "sandbox",
        "aws_secret_access_key": "sandbox",
    }
    sm = boto3.client("sagemaker", **kw)
    scaling = boto3.client("application-autoscaling", **kw)
    targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    return {
        "models": sorted(m["ModelName"] for m in sm.list_models()["Models"]),
        "endpoint_configs": sorted(
            c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]
        ),
        "endpoints": sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]),
        "scalable_targets": sorted(t["ResourceId"] for t in targets),
    }


def _vertex_inventory(lane: Lane) -> Inventory:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1 as v1

    def client(cls: Any) -> Any:
        return cls(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": lane.url}
        )

    models, endpoints = client(v1.ModelServiceClient), client(v1.EndpointServiceClient)
    versions = []
    for model in models.list_models(parent=VERTEX_PARENT):
        for version in models.list_model_versions(name=model.name):
            versions.append(f"{model.name.rsplit('/', 1)[1]}@{version.version_id}")
    deployed, listed = [], []
    for endpoint in endpoints.list_endpoints(parent=VERTEX_PARENT):
        endpoint_id = endpoint.name.rsplit("/", 1)[1]
        listed.append(endpoint_id)
        traffic = dict(endpoint.traffic_split)
        for dm in endpoint.deployed_models:
            # The deployed model's ID is the server's choice: its display name, model version and
            # traffic say what it is.
            model = f"{dm.model.rsplit('/', 1)[1]}@{dm.model_version_id}"
            deployed.append(f"{endpoint_id}/{dm.display_name}:{model}:{traffic.get(dm.id, 0)}%")
    return {
        "model_versions": sorted(versions),
        "endpoints": sorted(listed),
        "deployed_models": sorted(deployed),
    }


def _azureml_inventory(lane: Lane) -> Inventory:
    ml = azureml_client(lane.url, lane.settings["tls_ca_file"], AZURE_SUBSCRIPTION, "rg-crash", "crash-ws")
    endpoints, deployments = [], []
    for endpoint in ml.online_endpoints.list():
        endpoints.append(endpoint.name)
        traffic = {k: int(v) for k, v in (ml.online_endpoints.get(endpoint.name).traffic or {}).items()}
        for d in ml.online_deployments.list(endpoint.name):
            deployments.append(f"{endpoint.name}/{d.name}:{d.model}:{traffic.get(d.name, 0)}%")
    # Versions, not only names: an upload repeated by a re-apply is a second version.
    models = [f"{m.name}:{v.version}" for m in ml.models.list() for v in ml.models.list(name=m.name)]
    environments = [
        f"{e.name}:{v.version}"
        for e in ml.environments.list()
        if not e.name.startswith("AzureML-")  # the workspace's curated environments
        for v in ml.environments.list(name=e.name)
    ]
    return {
        "endpoints": sorted(endpoints),
        "deployments": sorted(deployments),
        "model_versions": sorted(models),
        "environment_versions": sorted(environments),
    }


def _sagemaker_normalized(inventory: Inventory, state: StateDoc | None) -> Inventory:
    """SageMaker's EndpointConfig names carry the time they were made: the one the state records
    is called `<recorded>`, any other (an orphan) keeps its name."""
    resources = state.resources.values() if state else []
    recorded = {r.attributes.get("endpoint_config_name") for r in resources if r.kind == "endpoint"}
    out = dict(inventory)
    out["endpoint_configs"] = sorted(
        "<recorded>" if c in recorded else c for c in inventory["endpoint_configs"]
    )
    return out


def _as_is(inventory: Inventory, state: StateDoc | None) -> Inventory:
    return inventory


# ---- providers and paths ------------------------------------------------------------------------


@dataclass(frozen=True)
class Path_:
    """A change a stack goes through: from `start` (None: an empty cloud and no state) to
    `target`, as one `mlops apply`."""

    name: str
    start: str | None
    target: str


@dataclass(frozen=True)
class Provider:
    name: str  # the emulator's, and the provider's
    stack: str
    files: dict[str, str]
    update: Callable[[str], str]  # the stack after an in-place change
    replace: Callable[[str], str]  # the stack after a change that replaces what serves
    inventory: Callable[[Lane], Inventory]
    normalized: Callable[[Inventory, StateDoc | None], Inventory]
    s3_state: bool = False  # state on the sandbox's S3, else the local file

    def paths(self) -> dict[str, Path_]:
        return {
            "create": Path_("create", None, self.stack),
            "update": Path_("update", self.stack, self.update(self.stack)),
            "replace": Path_("replace", self.stack, self.replace(self.stack)),
            "delete": Path_("delete", self.stack, _without_resources(self.stack)),
        }


PROVIDERS: dict[str, Provider] = {
    "sagemaker": Provider(
        "sagemaker",
        SAGEMAKER_STACK,
        {},
        # A new EndpointConfig, UpdateEndpoint, then the old config deleted.
        update=lambda t: _edit(t, "instance_count: 1", "instance_count: 2"),
        # SageMaker models are immutable: a new artifact replaces the model, the endpoint moves.
        replace=lambda t: _edit(t, "/scorer/v1/", "/scorer/v2/"),
        inventory=_sagemaker_inventory,
        normalized=_sagemaker_normalized,
        s3_state=True,
    ),
    "vertex": Provider(
        "vertex",
        VERTEX_STACK,
        {},
        update=lambda t: _edit(t, "instance_count: 1", "instance_count: 2"),
        # A model's key cannot change on Vertex: a new model replaces it, the endpoint moves.
        replace=lambda t: _edit(
            t,
            '    image: {framework: xgboost, version: "1.7"}\n',
            f'    image: {{framework: xgboost, version: "1.7"}}\n'
            f"    vertex:\n      kms_key_name: {VERTEX_KMS}\n",
        ),
        inventory=_vertex_inventory,
        normalized=_as_is,
    ),
    "azureml": Provider(
        "azureml",
        AZUREML_STACK,
        {"envs/serve.yaml": AZUREML_CONDA},
        update=lambda t: _edit(t, "instance_count: 1", "instance_count: 2"),
        # A new model version: a new deployment beside the old, the traffic moves, the old goes.
        replace=lambda t: _edit(t, "/scorer/v1/", "/scorer/v2/"),
        inventory=_azureml_inventory,
        normalized=_as_is,
    ),
}
PATHS = ("create", "update", "replace", "delete")


# ---- lanes: one sandbox per provider ------------------------------------------------------------


@dataclass
class Lane:
    """A provider's stack directory with its sandbox up, reset between runs."""

    provider: Provider
    directory: Path
    url: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def sandbox(self) -> Path:
        return self.directory / ".mlops" / "sandbox"

    def up(self) -> None:
        for name, text in self.provider.files.items():
            (self.directory / name).parent.mkdir(parents=True, exist_ok=True)
            (self.directory / name).write_text(text)
        self.write(self.provider.stack)
        res = self.mlops("sandbox", "up", "--operation-delay", str(OPERATION_DELAY))
        assert res.returncode == 0, res.stdout + res.stderr
        info = json.loads((self.sandbox / "sandbox.json").read_text())
        self.url = info["urls"][self.provider.name]
        self.settings = info["settings"][self.provider.name]

    def down(self) -> None:
        self.mlops("sandbox", "down")

    def reset(self) -> None:
        """An empty cloud and no state: the emulator reset (settings included, back to those it
        was started with), the local state files removed."""
        control.reset(self.url)
        for stale in self.sandbox.glob("state*"):
            stale.unlink()
        (self.directory / "trace.txt").unlink(missing_ok=True)

    def write(self, stack: str) -> None:
        (self.directory / "stack.yaml").write_text(stack)

    def mlops(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if k not in (KILL_AT_VAR, COUNT_VAR)}
        environ.update(env or {})
        return subprocess.run(
            [MLOPS, *args], cwd=self.directory, capture_output=True, text=True, timeout=timeout, env=environ
        )

    def apply(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.mlops("--sandbox", "apply", "--auto-approve", "--no-color", *extra, env=env)

    def traced_apply(self, kill_at: int | None) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        """An apply one step at a time, its kill points traced (and the process killed at the
        `kill_at`-th): the result and the labels of the points it reached."""
        trace = self.directory / "trace.txt"
        trace.unlink(missing_ok=True)
        env = {COUNT_VAR: str(trace)}
        if kill_at is not None:
            env[KILL_AT_VAR] = str(kill_at)
        res = self.apply("--parallelism", "1", env=env)
        lines = trace.read_text().splitlines() if trace.exists() else []
        return res, [self.label(line.split("\t", 1)[1]) for line in lines]

    def label(self, raw: str) -> str:
        """A point's label with the emulator's address (a port chosen at start) named."""
        host = self.url.split("://", 1)[1]
        return raw.replace(f" {host}/", f" {self.provider.name}/")

    # -- state, as stored ---------------------------------------------------------------------
    def _s3(self) -> Any:
        return boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=self.url,
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )

    def _stored(self, name: str) -> bytes | None:
        """A stored state object: `state.json`, `state.json.backup` or the lock."""
        if self.provider.s3_state:
            s3 = self._s3()
            try:
                return bytes(s3.get_object(Bucket="crash-state", Key=f"crash/{name}")["Body"].read())
            except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
                return None
        path = self.sandbox / name
        return path.read_bytes() if path.exists() else None

    def states(self) -> dict[str, StateDoc | StateError | None]:
        """The stored state and its backup, parsed (or the reason they do not parse)."""
        out: dict[str, StateDoc | StateError | None] = {}
        for name in ("state.json", "state.json.backup"):
            text = self._stored(name)
            try:
                out[name] = None if text is None else StateDoc.from_json(text)
            except StateError as err:
                out[name] = err
        return out

    def lock(self) -> LockInfo | None:
        text = self._stored("state.json.lock" if self.provider.s3_state else "state.lock.json")
        return None if text is None else lock_from_json(text)

    def lock_label(self) -> str | None:
        """The path the lock object is written at, as kill-point labels name it (None: the local
        lock file, taken before any kill point)."""
        return f"{self.provider.name}/crash-state/crash/state.json.lock" if self.provider.s3_state else None

    def inventory(self) -> Inventory:
        state = self.states()["state.json"]
        return self.provider.normalized(
            self.provider.inventory(self), state if isinstance(state, StateDoc) else None
        )


class Lanes:
    """The session's sandboxes, one per provider, started on first use."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mlops-crash-"))
        self._lanes: dict[str, Lane] = {}

    def get(self, provider: str) -> Lane:
        """The provider's lane; each provider's is made in one thread only (its counting's)."""
        if provider not in self._lanes:
            lane = Lane(PROVIDERS[provider], self.root / provider)
            lane.directory.mkdir()
            lane.up()
            self._lanes[provider] = lane
        return self._lanes[provider]

    def close(self) -> None:
        for lane in self._lanes.values():
            lane.down()
        self._lanes.clear()
        shutil.rmtree(self.root, ignore_errors=True)


# ---- counting and choosing points ---------------------------------------------------------------


@dataclass(frozen=True)
class Counted:
    """A path run once without a kill: the labels of its points, and what the cloud held after."""

    points: list[str]
    inventory: Inventory


def start(lane: Lane, path: Path_) -> None:
    """The path's starting state: an empty cloud, then the start stack applied (no kill points)."""
    lane.reset()
    if path.start is not None:
        lane.write(path.start)
        res = lane.apply()
        assert res.returncode == 0, f"applying the start of {path.name}: {res.stdout}\n{res.stderr}"
    lane.write(path.target)


def count(lane: Lane, path: Path_) -> Counted:
    start(lane, path)
    res, points = lane.traced_apply(None)
    assert res.returncode == 0, f"the {path.name} path without a kill: {res.stdout}\n{res.stderr}"
    plan = lane.mlops("--sandbox", "plan", "--detailed-exitcode", "--no-color")
    assert plan.returncode == 0, f"the {path.name} path does not converge: {plan.stdout}\n{plan.stderr}"
    return Counted(points, lane.inventory())


def is_write(label: str) -> bool:
    """Whether the point ends something that changed the cloud or the stored state: the response
    of a request that is no read (GET, HEAD, an AWS Describe/List/Get action, a `:list...` verb
    such as Azure's listKeys), or a state write (for the local file; on S3 its PUTs are
    requests)."""
    if label == "state-after":
        return True
    if not label.startswith("http-after "):
        return False
    _, method, rest = label.split(" ", 2)
    where, _, action = rest.partition(" ")
    verb = action.rsplit(".", 1)[-1] if action else where.rsplit("/", 1)[-1].rpartition(":")[2]
    return method not in ("GET", "HEAD") and not verb.startswith(("Describe", "List", "Get", "list", "get"))


def chosen(points: list[str], budget: int | None, state_store: str | None = None) -> list[int]:
    """The 1-based points to kill at: all of them (`budget` None), or at most `budget` chosen
    deterministically among those that meet a different state of the cloud and the stored state:
    the first point (nothing done yet), the last, and the point just after each write (a process
    killed anywhere until the next write leaves the same cloud and state behind: only reads lie
    between). Writes to the cloud come first, then state writes (a local write, or an upload to
    `state_store`: on S3 a write is two, backup then state, and a kill between them is one of
    these points), each tier taken evenly along the path."""
    n = len(points)
    if budget is None or n <= 2:
        return list(range(1, n + 1))
    picks = {1, n}
    cloud, state = [], []
    for i, label in enumerate(points, start=1):
        if i in picks or not is_write(label):
            continue
        to_state = label == "state-after" or (state_store is not None and state_store in label)
        (state if to_state else cloud).append(i)
    for tier in (cloud, state):
        room = budget - len(picks)
        if room <= 0:
            break
        picks |= set(_evenly(tier, room))
    return sorted(picks)


def _evenly(items: list[int], count: int) -> list[int]:
    """`count` of `items` spread evenly, the first and the last included."""
    if count >= len(items):
        return items
    if count == 1:
        return [items[len(items) // 2]]
    return [items[round(j * (len(items) - 1) / (count - 1))] for j in range(count)]


def lock_expected(points: list[str], lock_label: str | None) -> bool:
    """Whether a process killed after reaching `points` (the last one is where it died) leaves
    the lock: with the local file, always (it is taken before any point, and released after the
    last); with a lock object, from the moment its create came back until its delete is sent."""
    if lock_label is None:
        return True
    held = False
    for label in points:
        if label.startswith("http-after PUT ") and label.endswith(lock_label):
            held = True
        elif label.startswith("http-after DELETE ") and label.endswith(lock_label):
            held = False
    return held


# ---- the test cases -------------------------------------------------------------------------------

LANES = Lanes()


@dataclass(frozen=True)
class KillCase:
    provider: str
    path: str
    k: int  # the kill point, 1-based
    label: str  # its label in the counting run
    counted: Counted | None
    error: str | None = None  # why the path could not be counted

    @property
    def id(self) -> str:
        return f"{self.provider}-{self.path}-{self.k:03d}-{short(self.label)}"


def short(label: str) -> str:
    """A test ID's part for a point: `state-before`, or `http-after-PUT-onlineEndpoints`: the
    action of an AWS call, else the request's verb (`:undeployModel`) or last collection name
    in its path (names and IDs of objects left out: they differ from run to run)."""
    if not label.startswith("http-"):
        return label
    side, method, rest = label.split(" ", 2)
    where, _, action = rest.partition(" ")
    if action:
        return f"{side}-{method}-{action.rsplit('.', 1)[-1]}"
    names: list[str] = []
    for segment in reversed(where.split("/")[1:]):
        if ":" in segment and not names:
            return f"{side}-{method}-{segment.rsplit(':', 1)[1]}"
        if re.fullmatch(r"[A-Za-z][A-Za-z.]*", segment):
            names.insert(0, segment)
            # Versions and deployments of what: the collection they belong to says.
            if names[-1] not in ("versions", "deployments") or len(names) == 2:
                return f"{side}-{method}-{'.'.join(names)}"
    return f"{side}-{method}" + (f"-{names[0]}" if names else "")


def budget() -> int | None:
    """How many points per path MLOPS_KILL_POINTS asks for (None: all)."""
    raw = os.environ.get(KILL_POINTS_VAR, "").strip().lower()
    if raw == "all":
        return None
    return int(raw) if raw else DEFAULT_BUDGET


def kill_cases(per_path: int | None) -> list[KillCase]:
    """Count every path of every provider, each provider on its own lane in its own thread (the
    work is in the `mlops` processes), then list the chosen points of each path."""
    with ThreadPoolExecutor(max_workers=len(PROVIDERS)) as pool:
        counted = dict(zip(PROVIDERS, pool.map(_count_paths, PROVIDERS), strict=True))
    cases: list[KillCase] = []
    for provider, paths in counted.items():
        for name, result in paths.items():
            if isinstance(result, str):
                # One failing test per path rather than an error that stops the collection.
                cases.append(KillCase(provider, name, 0, "count", None, result))
                continue
            store = LANES.get(provider).lock_label()
            for k in chosen(result.points, per_path, store and store.removesuffix(".json.lock")):
                cases.append(KillCase(provider, name, k, result.points[k - 1], result))
    return cases


def _count_paths(provider: str) -> dict[str, Counted | str]:
    out: dict[str, Counted | str] = {}
    for name in PATHS:
        try:
            lane = LANES.get(provider)
            out[name] = count(lane, lane.provider.paths()[name])
        except (AssertionError, OSError, subprocess.SubprocessError, ValueError) as exc:
            out[name] = f"counting the kill points of {provider} {name}: {exc}"
    return out


class Runner:
    """Runs the selected cases ahead of the tests that report them: one worker per provider's
    lane, so the three sandboxes work at once while each test waits for its own case."""

    def __init__(self, cases: list[KillCase], scenario: Callable[[Lane, KillCase], None]) -> None:
        self._pools = {p: ThreadPoolExecutor(max_workers=1) for p in {c.provider for c in cases}}
        self._futures: dict[str, Future[None]] = {}
        for case in cases:
            if case.error is None:
                lane = LANES.get(case.provider)
                self._futures[case.id] = self._pools[case.provider].submit(scenario, lane, case)

    def result(self, case: KillCase) -> None:
        """The case's outcome: returns if it passed, raises what it raised."""
        self._futures[case.id].result(timeout=900)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
