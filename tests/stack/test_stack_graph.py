"""References, dependency order and the semantic checks that need more than one field."""

from __future__ import annotations

from collections.abc import Callable

from mlops_gitops.stack import schema
from mlops_gitops.stack.graph import attribute_path, dependency_order
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.stack.model import Resource

Write = Callable[..., str]
Problems = Callable[..., list[str]]

OUT_OF_ORDER = """
    apiVersion: mlops-gitops/v1
    name: fraud
    provider: {sagemaker: {region: us-east-1}}
    schedules:
      retrain: {also_on: [drift], pipeline: {template_uri: gs://p/t.json}}
    monitors:
      drift: {endpoint: api-b, type: data_quality}
    endpoints:
      api-b:
        variants:
          - {name: blue, model: m-two, instance_type: ml.m5.large}
          - {name: green, model: m-two, instance_type: ml.m5.large}
        data_capture: {destination: s3://capture/}
      api-a:
        variants: [{name: blue, model: m-one, instance_type: ml.m5.large}]
    models:
      m-two: {artifact: s3://ml/2.tar.gz, image: "xgb:1"}
      m-one: {artifact: s3://ml/1.tar.gz, image: "xgb:1"}
      m-three: {artifact: s3://ml/3.tar.gz, image: "xgb:1"}
"""


def test_order_puts_dependencies_first_and_otherwise_keeps_file_order(write: Write) -> None:
    write(OUT_OF_ORDER)
    stack = load_stack("stack.yaml", environ={})
    assert list(stack.resources) == [
        "schedule.retrain",
        "monitor.drift",
        "endpoint.api-b",
        "endpoint.api-a",
        "model.m-two",
        "model.m-one",
        "model.m-three",
    ]
    # Each resource comes as early as its dependencies allow; ties go to the earlier in the file.
    assert stack.order == [
        "model.m-two",
        "endpoint.api-b",
        "monitor.drift",
        "schedule.retrain",
        "model.m-one",
        "endpoint.api-a",
        "model.m-three",
    ]
    assert stack.resources["endpoint.api-b"].depends_on == ["model.m-two"]  # two variants, one edge


def _model(name: str, *depends_on: str) -> Resource:
    spec = schema.ModelSpec(artifact=f"s3://ml/{name}", image="xgb:1")
    return Resource("model", name, spec, depends_on=list(depends_on))


def test_cycle_is_reported_from_its_first_resource_in_dependency_direction() -> None:
    resources = {r.address: r for r in (_model("aa"), _model("bb", "model.cc"), _model("cc", "model.dd"))}
    resources["model.dd"] = _model("dd", "model.bb")
    order, problems = dependency_order(resources)
    assert order == []
    assert [(d.path, d.message) for d in problems] == [
        ("models.bb", "dependency cycle: model.bb -> model.cc -> model.dd -> model.bb")
    ]


def test_reference_to_an_invalid_resource_is_not_called_dangling(problems: Problems) -> None:
    assert problems("""
        apiVersion: mlops-gitops/v1
        name: fraud
        provider: {sagemaker: {region: us-east-1}}
        models:
          fraud-xgb-v7: {artifact: not-a-uri, image: "xgb:1"}
        endpoints:
          fraud-api:
            variants: [{name: blue, model: fraud-xgb-v7, instance_type: ml.m5.large}]
    """) == [
        "stack.yaml:5:28: models.fraud-xgb-v7.artifact: must be a URI such as s3://bucket/path/model.tar.gz"
    ]


def test_disabled_data_capture(problems: Problems) -> None:
    assert problems("""
        apiVersion: mlops-gitops/v1
        name: fraud
        provider: {sagemaker: {region: us-east-1}}
        models:
          fraud-xgb-v7: {artifact: s3://ml/v7.tar.gz, image: "xgb:1"}
        endpoints:
          fraud-api:
            variants: [{name: blue, model: fraud-xgb-v7, instance_type: ml.m5.large}]
            data_capture: {destination: s3://capture/, enabled: false}
        monitors:
          fraud-drift: {endpoint: fraud-api, type: data_quality}
    """) == [
        "stack.yaml:11:27: monitors.fraud-drift.endpoint: endpoint 'fraud-api' has data capture "
        "disabled: set data_capture.enabled: true on it"
    ]


def test_monitor_every(problems: Problems) -> None:
    assert problems("""
        apiVersion: mlops-gitops/v1
        name: fraud
        provider: {sagemaker: {region: us-east-1}}
        models:
          fraud-xgb-v7: {artifact: s3://ml/v7.tar.gz, image: "xgb:1"}
        endpoints:
          fraud-api:
            variants: [{name: blue, model: fraud-xgb-v7, instance_type: ml.m5.large}]
            data_capture: {destination: s3://capture/}
        monitors:
          ok-cron: {endpoint: fraud-api, type: data_quality, every: "30 */2 * * *"}
          typo: {endpoint: fraud-api, type: data_quality, every: dayly}
          bad-cron: {endpoint: fraud-api, type: data_quality, every: "0 0 * * * *"}
    """) == [
        "stack.yaml:12:58: monitors.typo.every: must be hourly, daily or a five-field cron expression; "
        "got 'dayly' (did you mean 'daily'?)",
        "stack.yaml:13:62: monitors.bad-cron.every: invalid cron expression '0 0 * * * *': "
        "expected 5 fields (minute hour day-of-month month day-of-week), got 6",
    ]


def test_pipeline_definition_must_exist(problems: Problems, write: Write) -> None:
    write("{}", "pipelines/train.json")
    assert problems("""
        apiVersion: mlops-gitops/v1
        name: fraud
        provider: {sagemaker: {region: us-east-1}}
        schedules:
          retrain: {cron: "0 3 * * 1", pipeline: {definition: pipelines/trian.json}}
    """) == [
        "stack.yaml:5:55: schedules.retrain.pipeline.definition: no file 'pipelines/trian.json' "
        "(relative to the stack file's directory) (did you mean 'pipelines/train.json'?)"
    ]


def test_ignore_changes_paths(problems: Problems) -> None:
    assert problems("""
        apiVersion: mlops-gitops/v1
        name: fraud
        provider: {sagemaker: {region: us-east-1}}
        models:
          fraud-xgb-v7: {artifact: s3://ml/v7.tar.gz, image: "xgb:1"}
        endpoints:
          fraud-api:
            variants: [{name: blue, model: fraud-xgb-v7, instance_type: ml.m5.large}]
            lifecycle:
              ignore_changes:
                - variants[*].instance_count
                - tags["team.name"]
                - variants[0]..weight
                - variant[*].weight
    """) == [
        "stack.yaml:13:11: endpoints.fraud-api.lifecycle.ignore_changes[2]: 'variants[0]..weight' is not "
        "an attribute path such as variants[*].instance_count or tags.team",
        "stack.yaml:14:11: endpoints.fraud-api.lifecycle.ignore_changes[3]: "
        "endpoint has no field 'variant' (did you mean 'variants'?)",
    ]


def test_attribute_path_quotes_keys_that_are_not_plain_names() -> None:
    assert attribute_path(["environment", "API_KEY"]) == "environment.API_KEY"
    assert attribute_path(["variants", 0, "model"]) == "variants[0].model"
    assert attribute_path(["tags", 'a.b"c']) == 'tags["a.b\\"c"]'


MOVED_BASE = """
    apiVersion: mlops-gitops/v1
    name: fraud
    provider: {sagemaker: {region: us-east-1}}
    models:
      m: {artifact: s3://a/m.tar.gz, image: img}
    endpoints:
      fraud-api:
        variants: [{name: blue, model: m, instance_type: ml.m5.large}]
"""


def test_moved_blocks_load_as_address_pairs(write: Write) -> None:
    write(MOVED_BASE + "    moved:\n      - {from: endpoint.fraud, to: endpoint.fraud-api}\n")
    assert load_stack("stack.yaml", environ={}).moved == [("endpoint.fraud", "endpoint.fraud-api")]


def test_a_move_keeps_the_kind_and_changes_the_address(problems: Problems) -> None:
    found = problems(
        MOVED_BASE
        + """    moved:
      - {from: endpoint.fraud-api, to: endpoint.fraud-api}
      - {from: model.m, to: endpoint.fraud-api}
"""
    )
    assert [f.split(": ", 1)[1] for f in found] == [
        "moved[0]: from and to are the same address",
        "moved[1]: model.m and endpoint.fraud-api are of different kinds: a move keeps the kind",
    ]


def test_moved_blocks_name_one_old_and_one_declared_address(problems: Problems) -> None:
    found = problems(
        MOVED_BASE
        + """    moved:
      - {from: endpoint.fraud, to: endpoint.fraud-apl}
      - {from: endpoint.fraud-api, to: endpoint.x}
      - {from: endpoint.old, to: endpoint.fraud-api}
      - {from: endpoint.old, to: endpoint.fraud-api}
"""
    )
    assert [f.split(": ", 1)[1] for f in found] == [
        "moved[0].to: no resource endpoint.fraud-apl in this stack (did you mean 'endpoint.fraud-api'?)",
        "moved[1].from: endpoint.fraud-api is still declared: a moved resource's old address must be gone "
        "from the stack",
        "moved[1].to: no resource endpoint.x in this stack (did you mean 'endpoint.fraud-api'?)",
        "moved[3].from: endpoint.old is moved more than once",
        "moved[3].to: two resources are moved to endpoint.fraud-api",
    ]
