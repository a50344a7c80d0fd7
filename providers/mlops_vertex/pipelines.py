"""Pure translation for retraining schedules: compiled pipeline specs, cron with a time zone, and
the Vertex Schedule that creates a PipelineJob.

The plan shows a pipeline definition as a digest of the whole plus a short digest per task of the
root DAG (`pipeline.definition.tasks.train`), not as JSON. Vertex stores the spec as a
protobuf Struct, which turns every number into a double: specs are normalised (integral floats
to ints) on both sides before hashing, so a spec read back hashes like the file it came from.

No I/O beyond reading the spec file and no SDK import. Checking a cron and its next run times
are cloud-neutral: see `mlops_gitops.cron`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# KFP parameter types (PipelineSpec `parameterType`) and the Python values each accepts.
_PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (int, float),
    "BOOLEAN": (bool,),
    "LIST": (list,),
    "STRUCT": (dict,),
}
_TZ_PREFIX = re.compile(r"^(?:CRON_)?TZ=(\S+)\s+(.*)$")
PAUSED = "PAUSED"  # a Schedule state


class SpecError(Exception):
    """The pipeline spec file cannot be used (unreadable, not JSON/YAML, not a pipeline spec)."""


# ----------------------------------------------------------------------------------------- specs
def load_spec(path: Path) -> dict[str, Any]:
    """A compiled KFP pipeline spec, JSON or YAML (as `kfp compiler` writes either)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {path.name!r}: {exc}") from exc
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            body = yaml.safe_load(text)
        else:
            body = json.loads(text)
    except ValueError as exc:  # yaml.YAMLError is a ValueError too
        raise SpecError(
            f"{path.name!r} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {exc}"
        ) from exc
    if not isinstance(body, dict) or not isinstance(body.get("root"), dict):
        raise SpecError(f"{path.name!r} is not a compiled pipeline spec (no `root` component)")
    return normalise(body)


def normalise(value: Any) -> Any:
    """Integral floats as ints, everywhere in a JSON value (see the module docstring)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def _digest(value: Any) -> str:
    text = json.dumps(normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def definition_attributes(spec: Mapping[str, Any]) -> dict[str, Any]:
    tasks = ((spec.get("root") or {}).get("dag") or {}).get("tasks") or {}
    return {
        "sha256": _digest(spec),
        "tasks": {name: _digest(task)[:12] for name, task in sorted(tasks.items())},
    }


def declared_parameters(spec: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Parameter name -> its declaration (`parameterType`, `defaultValue`, `isOptional`)."""
    return dict(((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {})


def parameter_problems(parameters: Mapping[str, Any], declared: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Why these values cannot start the pipeline: unknown names, wrong types, missing values."""
    problems = []
    for name, value in parameters.items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            problems.append(f"{name}: the pipeline declares no such parameter (it has: {known})")
            continue
        kind = str(declared[name].get("parameterType", "STRING"))
        accepted = _PARAMETER_TYPES.get(kind, (object,))
        wrong_bool = isinstance(value, bool) and bool not in accepted
        if wrong_bool or not isinstance(value, accepted):
            problems.append(f"{name}: the pipeline declares it {kind}; got {value!r}")
    for name, declaration in declared.items():
        if name not in parameters and "defaultValue" not in declaration and not declaration.get("isOptional"):
            problems.append(f"{name}: the pipeline requires this parameter and has no default for it")
    return problems


# ------------------------------------------------------------------------------------------ cron
def vertex_cron(cron: str, timezone: str) -> str:
    """`TZ=Europe/Paris 0 3 * * 1`: Vertex takes the time zone as a prefix of the cron."""
    return f"TZ={timezone} {cron}"


def split_cron(text: str) -> tuple[str, str]:
    """(cron, timezone) of a Vertex cron; UTC when it names none."""
    m = _TZ_PREFIX.match(text.strip())
    return (m.group(2).strip(), m.group(1)) if m else (text.strip(), "UTC")


# ------------------------------------------------------------------------------------- schedules
def schedule_body(attrs: Mapping[str, Any], parent: str, spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """A Schedule creating a PipelineJob from `spec` (the compiled definition) or the template."""
    runtime: dict[str, Any] = {"parameter_values": dict(attrs["parameters"])}
    if attrs.get("pipeline_root"):
        runtime["gcs_output_directory"] = attrs["pipeline_root"]
    job: dict[str, Any] = {
        "display_name": attrs["display_name"],
        "runtime_config": runtime,
        "labels": dict(attrs.get("labels", {})),
    }
    if spec is not None:
        job["pipeline_spec"] = dict(spec)
    else:
        job["template_uri"] = attrs["pipeline"]["template_uri"]
    if attrs.get("service_account"):
        job["service_account"] = attrs["service_account"]
    return {
        "display_name": attrs["display_name"],
        "cron": vertex_cron(attrs["cron"], attrs["timezone"]),
        "max_concurrent_run_count": attrs["max_concurrent_runs"],
        "create_pipeline_job_request": {"parent": parent, "pipeline_job": job},
    }


# Schedule fields an update may change, and the attributes each one holds.
UPDATABLE = {
    "display_name": ("display_name",),
    "cron": ("cron", "timezone"),
    "max_concurrent_run_count": ("max_concurrent_runs",),
    "create_pipeline_job_request": ("pipeline", "parameters", "pipeline_root", "service_account", "labels"),
}


def update_mask(current: Mapping[str, Any], desired: Mapping[str, Any]) -> list[str]:
    return [field for field, keys in UPDATABLE.items() if any(current.get(k) != desired.get(k) for k in keys)]


def schedule_from_api(schedule: Mapping[str, Any]) -> dict[str, Any]:
    request = schedule.get("create_pipeline_job_request") or {}
    job = request.get("pipeline_job") or {}
    runtime = job.get("runtime_config") or {}
    cron, timezone = split_cron(str(schedule.get("cron", "")))
    if job.get("template_uri"):
        pipeline: dict[str, Any] = {"template_uri": job["template_uri"]}
    else:
        pipeline = {"definition": definition_attributes(normalise(job.get("pipeline_spec") or {}))}
    attrs: dict[str, Any] = {
        "id": str(schedule["name"]).rsplit("/", 1)[-1],
        "display_name": schedule.get("display_name", ""),
        "cron": cron,
        "timezone": timezone,
        "pipeline": pipeline,
        "parameters": normalise(dict(runtime.get("parameter_values") or {})),
        "max_concurrent_runs": int(schedule.get("max_concurrent_run_count", 0)),
        "enabled": schedule.get("state") != PAUSED,
    }
    if runtime.get("gcs_output_directory"):
        attrs["pipeline_root"] = runtime["gcs_output_directory"]
    if job.get("service_account"):
        attrs["service_account"] = job["service_account"]
    attrs["labels"] = dict(job.get("labels") or {})
    return attrs
