"""Loading whole stack files: the valid example, and one test per kind of problem, each asserting
the exact line the CLI prints (`file:line:col: path: message`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest

from mlops_gitops import kinds
from mlops_gitops.errors import Position, StackError
from mlops_gitops.stack import schema
from mlops_gitops.stack.loader import load_stack

DATA = Path(__file__).parent / "data"
Write = Callable[..., str]
Problems = Callable[..., list[str]]

HEAD = """\
apiVersion: mlops-gitops/v1
name: fraud
provider: {sagemaker: {region: us-east-1}}
"""


def with_head(body: str) -> str:
    """A stack file whose first three lines are HEAD, then `body`: its first line is line 4."""
    return HEAD + dedent(body).lstrip("\n")


# ------------------------------------------------------------------------------ valid stack
@pytest.fixture
def full(workdir: Path) -> Path:
    shutil.copytree(DATA / "full", workdir / "full")
    return workdir / "full" / "stack.yaml"


def test_full_stack_loads(full: Path) -> None:
    stack = load_stack(full, cli_vars={"execution_role": "arn:aws:iam::1:role/sm"}, environ={})

    assert (stack.name, stack.provider) == ("fraud-detection", "sagemaker")
    assert stack.provider_config == {"region": "us-east-1", "role_arn": "arn:aws:iam::1:role/sm"}
    assert stack.backend.kind == "local"
    assert stack.tags == {"team": "risk", "env": "dev"}
    assert stack.base_dir == str(full.parent)
    assert stack.order == [
        "model.fraud-xgb-v7",
        "model.fraud-xgb-v8",
        "endpoint.fraud-api",
        "monitor.fraud-drift",
        "schedule.fraud-retrain",
    ]
    assert list(stack.resources) == stack.order  # already in dependency order in the file

    endpoint = stack.resources["endpoint.fraud-api"]
    assert isinstance(endpoint.spec, schema.EndpointSpec)
    assert [(v.name, v.model, v.weight, v.instance_count) for v in endpoint.spec.variants] == [
        ("blue", "fraud-xgb-v7", 90, 2),  # instance_count came from ${var.replicas}, as a number
        ("green", "fraud-xgb-v8", 10, 1),
    ]
    assert endpoint.spec.autoscaling is not None and endpoint.spec.autoscaling.max == 10
    assert endpoint.depends_on == ["model.fraud-xgb-v7", "model.fraud-xgb-v8"]
    assert endpoint.position == Position(str(full), 25, 3)
    assert stack.resources["monitor.fraud-drift"].depends_on == ["endpoint.fraud-api"]
    assert stack.resources["schedule.fraud-retrain"].depends_on == ["monitor.fraud-drift"]

    model = stack.resources["model.fraud-xgb-v7"]
    assert model.spec_json()["environment"] == {"API_KEY": "s3cr3t", "STAGE": "dev"}
    assert model.sensitive_paths == {"environment.API_KEY"}
    assert stack.sensitive_variables == {"api_key"}
    assert stack.variables == {
        "execution_role": "arn:aws:iam::1:role/sm",
        "env": "dev",
        "replicas": 2,
        "api_key": "s3cr3t",
    }

    # Resource attributes in outputs are left for the engine; variables are resolved.
    assert {name: out.value for name, out in stack.outputs.items()} == {
        "endpoint_name": "${endpoint.fraud-api.name}",
        "invoke_url": "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/"
        "${endpoint.fraud-api.name}/invocations",
        "environment": "dev",
    }
    assert stack.positions.values["endpoints.fraud-api.variants[1].weight"] == Position(str(full), 28, 99)
    assert stack.warnings == []


def test_digest_follows_file_variables_and_pipeline(full: Path) -> None:
    def digest(role: str = "r1") -> str:
        return load_stack(full, cli_vars={"execution_role": role}, environ={}).digest

    first = digest()
    assert digest() == first
    assert digest("r2") != first
    (full.parent / "pipelines" / "fraud-train.json").write_text('{"Steps": ["changed"]}')
    changed_pipeline = digest()
    assert changed_pipeline != first
    full.write_text(full.read_text() + "\n# a comment\n")
    assert digest() != changed_pipeline


def test_loading_imports_croniter_only_for_a_cron(write: Write) -> None:
    """`mlops validate` pays for croniter only when the stack holds a cron; jinja2 never."""
    write(with_head("""
        models:
          fraud-xgb-v7: {artifact: s3://ml/v7.tar.gz, image: "xgb:1"}
    """))
    write(with_head("""
        schedules:
          retrain: {cron: "0 3 * * 1", pipeline: {template_uri: gs://p/t.json}}
    """), "cron.yaml")
    probe = (
        "import sys; from mlops_gitops.stack.loader import load_stack; "
        "load_stack(sys.argv[1], environ={}); print('croniter' in sys.modules, 'jinja2' in sys.modules)"
    )

    def imported(file: str) -> str:
        run = subprocess.run([sys.executable, "-c", probe, file], capture_output=True, text=True, check=True)
        return run.stdout.strip()

    assert imported("stack.yaml") == "False False"
    assert imported("cron.yaml") == "True False"


# ------------------------------------------------------------------------ one per problem
def test_misspelt_model_reference(problems: Problems) -> None:
    assert problems(with_head("""
        models:
          fraud-xgb-v7:
            artifact: s3://ml/fraud/v7.tar.gz
            image: xgboost:1.7-1
        endpoints:
          fraud-api:
            variants:
              - name: blue
                model: fraud-xgb-v9
                instance_type: ml.m5.large
    """)) == [
        "stack.yaml:12:16: endpoints.fraud-api.variants[0].model: "
        "no model named 'fraud-xgb-v9' (did you mean 'fraud-xgb-v7'?)"
    ]


def test_unknown_field(problems: Problems) -> None:
    assert problems(with_head("""
        models:
          fraud-xgb-v7: {artifact: s3://ml/v7.tar.gz, image: "xgb:1"}
        endpoints:
          fraud-api:
            variants:
              - name: blue
                model: fraud-xgb-v7
                instnce_type: ml.m5.large
    """)) == [
        "stack.yaml:11:9: endpoints.fraud-api.variants[0].instnce_type: "
        "unknown field 'instnce_type' (did you mean 'instance_type'?)"
    ]


def test_unknown_top_level_field_suggests_the_alias(problems: Problems) -> None:
    assert problems("""
        apiVerison: mlops-gitops/v1
        name: fraud
        provider: {sagemaker: {}}
    """) == [
        "stack.yaml:1:1: missing required field 'apiVersion'",
        "stack.yaml:1:1: apiVerison: unknown field 'apiVerison' (did you mean 'apiVersion'?)",
    ]


def test_wrong_literal_lists_the_allowed_values(problems: Problems) -> None:
    assert problems(with_head("""
        monitors:
          fraud-drift:
            endpoint: fraud-api
            type: data_qualty
    """)) == [
        "stack.yaml:7:11: monitors.fraud-drift.type: must be 'data_quality', 'model_quality', 'bias' or "
        "'explainability'; got 'data_qualty' (did you mean 'data_quality'?)"
    ]


def test_missing_required_field_points_at_the_mapping(problems: Problems) -> None:
    assert problems(with_head("""
        models:
          fraud-xgb-v7:
            image: xgboost:1.7-1
    """)) == ["stack.yaml:6:5: models.fraud-xgb-v7: missing required field 'artifact'"]


def test_union_value_of_neither_shape_is_one_message(problems: Problems) -> None:
    assert problems(with_head("""
        models:
          fraud-xgb-v7: {artifact: s3://ml/v7.tar.gz, image: 5}
    """)) == ["stack.yaml:5:54: models.fraud-xgb-v7.image: must be a string or a mapping; got 5"]


def test_union_value_shaped_like_one_branch_reports_that_branch(problems: Problems) -> None:
    assert problems(with_head("""
        models:
          fraud-xgb-v7:
            artifact: s3://ml/v7.tar.gz
            image: {framework: xgboost, processor: tpu}
    """)) == [
        "stack.yaml:7:12: models.fraud-xgb-v7.image: missing required field 'version'",
        "stack.yaml:7:44: models.fraud-xgb-v7.image.processor: must be 'cpu' or 'gpu'; got 'tpu' "
        "(did you mean 'gpu'?)",
    ]


MONITORED = """
    models:
      fraud-xgb-v7: {artifact: s3://ml/v7.tar.gz, image: "xgb:1"}
    endpoints:
      fraud-api:
        variants: [{name: blue, model: fraud-xgb-v7, instance_type: ml.m5.large}]
        data_capture: {destination: s3://capture/}
    monitors:
      fraud-drift:
        endpoint: fraud-api
        type: data_quality
"""


@pytest.mark.parametrize(
    ("baseline", "expected"),
    [
        ("5", ["stack.yaml:14:15: monitors.fraud-drift.baseline: must be a string or a mapping; got 5"]),
        (
            "{datasets: s3://ml/train.csv}",
            [
                "stack.yaml:14:15: monitors.fraud-drift.baseline: missing required field 'dataset'",
                "stack.yaml:14:16: monitors.fraud-drift.baseline.datasets: unknown field 'datasets' "
                "(did you mean 'dataset'?)",
            ],
        ),
        (
            "{dataset: train.csv}",
            [
                "stack.yaml:14:25: monitors.fraud-drift.baseline.dataset: must be a URI such as "
                "s3://bucket/datasets/train.csv"
            ],
        ),
        (
            "{dataset: s3://ml/train.csv, format: parquet}",
            [
                "stack.yaml:14:52: monitors.fraud-drift.baseline.format: must be 'csv' or 'json'; "
                "got 'parquet'"
            ],
        ),
        (
            "{dataset: s3://ml/train.jsonl, format: json, header: false}",
            [
                "stack.yaml:14:68: monitors.fraud-drift.baseline.header: a json dataset has no header "
                "line: remove header"
            ],
        ),
    ],
)
def test_a_baseline_is_a_uri_or_a_baselining_job(
    problems: Problems, baseline: str, expected: list[str]
) -> None:
    assert problems(with_head(MONITORED) + f"    baseline: {baseline}\n") == expected


def test_a_baselining_job_reads_csv_with_a_header_by_default(write: Write) -> None:
    write(with_head(MONITORED) + "    baseline: {dataset: s3://ml/train.csv}\n")
    spec = load_stack("stack.yaml", environ={}).resources["monitor.fraud-drift"].spec
    assert isinstance(spec, schema.MonitorSpec)
    assert spec.baseline == schema.BaselineJob(dataset="s3://ml/train.csv", format="csv", header=True)


def test_validator_messages_lose_pydantic_prefix(problems: Problems) -> None:
    assert problems(with_head("""
        models:
          fraud-xgb-v7: {artifact: s3://ml/v7.tar.gz, image: "xgb:1"}
        endpoints:
          fraud-api:
            variants: [{name: blue, model: fraud-xgb-v7, instance_type: ml.m5.large}]
            autoscaling: {min: 5, max: 2}
    """)) == ["stack.yaml:9:18: endpoints.fraud-api.autoscaling: min (5) is greater than max (2)"]


def test_bad_resource_name(problems: Problems) -> None:
    assert problems(with_head("""
        models:
          Fraud_v7: {artifact: s3://ml/v7.tar.gz, image: "xgb:1"}
    """)) == [
        "stack.yaml:5:3: models.Fraud_v7: invalid name 'Fraud_v7': use lowercase letters, digits and "
        "hyphens (at most 48), starting with a letter, not ending in a hyphen"
    ]


def test_duplicate_key(problems: Problems) -> None:
    assert problems(with_head("""
        models:
          fraud-xgb-v7:
            artifact: s3://ml/v7.tar.gz
            image: xgb:1
          fraud-xgb-v7:
            artifact: s3://ml/v7b.tar.gz
            image: xgb:1
    """)) == ["stack.yaml:8:3: models.fraud-xgb-v7: duplicate key 'fraud-xgb-v7' (first defined on line 5)"]


def test_yaml_syntax_error(problems: Problems) -> None:
    assert problems(with_head("""
        models:
          fraud-xgb-v7:
            artifact: s3://ml/v7.tar.gz
           image: xgb:1
    """)) == [
        "stack.yaml:7:4: invalid YAML: did not find expected key (while parsing a block mapping)"
    ]


def test_top_level_must_be_a_mapping(problems: Problems) -> None:
    assert problems("- models\n- endpoints\n") == [
        "stack.yaml:1:1: expected a mapping of `key: value` lines at the top level, found a list"
    ]


def test_missing_file(workdir: Path) -> None:
    with pytest.raises(StackError, match=r"^nope.yaml: no such file$"):
        load_stack("nope.yaml", environ={})


def test_undefined_variable(problems: Problems) -> None:
    assert problems(with_head("""
        variables:
          region: {default: us-east-1}
        models:
          fraud-xgb-v7:
            artifact: s3://ml/v7.tar.gz
            image: xgb:1
            environment: {REGION: "${var.regoin}"}
    """)) == [
        "stack.yaml:10:27: models.fraud-xgb-v7.environment.REGION: "
        "undefined variable 'regoin' (did you mean 'region'?)"
    ]


def test_unset_variable_says_how_to_set_it(problems: Problems) -> None:
    assert problems("""
        apiVersion: mlops-gitops/v1
        name: fraud
        provider: {sagemaker: {role_arn: "${var.execution_role}"}}
        variables:
          execution_role: {description: IAM role}
    """) == [
        "stack.yaml:5:3: variables.execution_role: variable 'execution_role' has no value: pass "
        "--var execution_role=..., put it in a --var-file, or set MLOPS_VAR_execution_role in the environment"
    ]


def test_bad_number_variable_from_environment(problems: Problems) -> None:
    # The variable's use (instance_count) is not reported a second time.
    assert problems(with_head("""
        variables:
          replicas: {type: number, default: 2}
        models:
          fraud-xgb-v7: {artifact: s3://ml/v7.tar.gz, image: "xgb:1"}
        endpoints:
          fraud-api:
            variants:
              - name: blue
                model: fraud-xgb-v7
                instance_type: ml.m5.large
                instance_count: "${var.replicas}"
    """), environ={"MLOPS_VAR_replicas": "three"}) == [
        "stack.yaml:5:3: variables.replicas: MLOPS_VAR_replicas: expected a number, got 'three'"
    ]


CYCLE = with_head(MONITORED + """\
        tags: {after: fraud-retrain}
    schedules:
      fraud-retrain:
        cron: "0 3 * * 1"
        pipeline: {template_uri: gs://pipelines/train.json}
        also_on: [fraud-drift]
""")


def test_dependency_cycle(problems: Problems, monkeypatch: pytest.MonkeyPatch) -> None:
    # No built-in kinds can form a cycle yet; a kind registered later could. This one makes a
    # monitor wait for the schedule named in its `after` tag.
    monitor = kinds.KINDS["monitor"]

    def refs(spec: schema.MonitorSpec) -> list[kinds.Reference]:
        return [*monitor.references(spec), kinds.Reference("tags.after", "schedule", spec.tags["after"])]

    looping = kinds.Kind("monitor", "monitors", schema.MonitorSpec, refs)  # type: ignore[arg-type]
    monkeypatch.setitem(kinds.KINDS, "monitor", looping)
    monkeypatch.setitem(kinds.SECTIONS, "monitors", looping)

    assert problems(CYCLE) == [
        "stack.yaml:11:3: monitors.fraud-drift: "
        "dependency cycle: monitor.fraud-drift -> schedule.fraud-retrain -> monitor.fraud-drift"
    ]


def test_same_stack_without_the_extra_reference_has_no_cycle(write: Write) -> None:
    write(CYCLE)
    assert load_stack("stack.yaml", environ={}).order[-1] == "schedule.fraud-retrain"


def test_monitor_on_endpoint_without_data_capture(problems: Problems) -> None:
    assert problems(with_head("""
        models:
          fraud-xgb-v7: {artifact: s3://ml/v7.tar.gz, image: "xgb:1"}
        endpoints:
          fraud-api:
            variants: [{name: blue, model: fraud-xgb-v7, instance_type: ml.m5.large}]
        monitors:
          fraud-drift: {endpoint: fraud-api, type: data_quality}
    """)) == [
        "stack.yaml:10:27: monitors.fraud-drift.endpoint: endpoint 'fraud-api' has no data_capture: "
        "add data_capture: {destination: ..., sample_percent: ...} to it"
    ]


def test_bad_cron(problems: Problems) -> None:
    assert problems(with_head("""
        schedules:
          fraud-retrain:
            cron: "0 25 * * 1"
            pipeline: {template_uri: gs://pipelines/train.json}
    """)) == [
        "stack.yaml:6:11: schedules.fraud-retrain.cron: invalid cron expression '0 25 * * 1': out of range"
    ]


def test_cron_needs_five_fields(problems: Problems) -> None:
    assert problems(with_head("""
        schedules:
          fraud-retrain:
            cron: "0 0 3 * * 1"
            pipeline: {template_uri: gs://pipelines/train.json}
    """)) == [
        "stack.yaml:6:11: schedules.fraud-retrain.cron: invalid cron expression '0 0 3 * * 1': "
        "expected 5 fields (minute hour day-of-month month day-of-week), got 6"
    ]


def test_bad_timezone(problems: Problems) -> None:
    assert problems(with_head("""
        schedules:
          fraud-retrain:
            cron: "0 3 * * 1"
            timezone: Europe/Pari
            pipeline: {template_uri: gs://pipelines/train.json}
    """)) == [
        "stack.yaml:7:15: schedules.fraud-retrain.timezone: "
        "unknown time zone 'Europe/Pari' (did you mean 'Europe/Paris'?)"
    ]


def test_every_problem_is_reported_at_once_in_file_order(problems: Problems) -> None:
    assert problems(with_head("""
        variables:
          region: {default: us-east-1}
        tags: {region: "${var.regoin}"}
        models:
          fraud-xgb-v7:
            artifact: s3://ml/v7.tar.gz
            image: xgb:1
          fraud-xgb-v7:
            artifact: s3://ml/v7.tar.gz
            image: xgb:1
        endpoints:
          fraud-api:
            variants: [{name: blue, model: fraud-xgb-v9, instance_type: ml.m5.large}]
        monitors:
          fraud-drift: {endpoint: fraud-api, type: data_quality, evry: hourly}
        schedules:
          fraud-retrain: {cron: "0 3 * * 8", pipeline: {template_uri: gs://p/train.json}}
    """), cli_vars={"regon": "eu-west-1"}) == [
        "--var regon: no variable named 'regon' is declared (did you mean 'region'?)",
        "stack.yaml:6:16: tags.region: undefined variable 'regoin' (did you mean 'region'?)",
        "stack.yaml:11:3: models.fraud-xgb-v7: duplicate key 'fraud-xgb-v7' (first defined on line 8)",
        "stack.yaml:16:36: endpoints.fraud-api.variants[0].model: "
        "no model named 'fraud-xgb-v9' (did you mean 'fraud-xgb-v7'?)",
        "stack.yaml:18:58: monitors.fraud-drift.evry: unknown field 'evry' (did you mean 'every'?)",
        "stack.yaml:20:25: schedules.fraud-retrain.cron: invalid cron expression '0 3 * * 8': out of range",
    ]
