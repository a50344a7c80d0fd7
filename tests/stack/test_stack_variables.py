"""Variables: sources and their precedence, typing, interpolation, escapes and sensitivity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mlops_gitops.errors import Diagnostic, Position
from mlops_gitops.stack import schema
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.stack.model import Stack
from mlops_gitops.stack.variables import coerce

Write = Callable[..., str]
Problems = Callable[..., list[str]]

MODEL = """
    apiVersion: mlops-gitops/v1
    name: fraud
    provider: {sagemaker: {region: us-east-1}}
    variables:
      env: {default: from-default}
    tags: {env: "${var.env}"}
"""


@pytest.mark.parametrize(
    ("env", "files", "cli", "expected"),
    [
        ({}, [], {}, "from-default"),
        ({"MLOPS_VAR_env": "from-env"}, [], {}, "from-env"),
        ({"MLOPS_VAR_env": "from-env"}, ["env: from-file"], {}, "from-file"),
        ({}, ["env: first-file", "env: second-file"], {}, "second-file"),
        ({}, ["env: first-file", "other: 1"], {}, "first-file"),
        ({"MLOPS_VAR_env": "from-env"}, ['{"env": "from-json"}'], {"env": "from-cli"}, "from-cli"),
    ],
)
def test_precedence_default_env_file_cli(
    write: Write, env: dict[str, str], files: list[str], cli: dict[str, str], expected: str
) -> None:
    write(MODEL)
    names = [write(text, f"vars/{i}.yaml") for i, text in enumerate(files)]
    stack = load_stack("stack.yaml", cli_vars=cli, var_files=names, environ=env)
    assert stack.tags == {"env": expected}
    assert stack.variables == {"env": expected}


TYPED = """
    apiVersion: mlops-gitops/v1
    name: fraud
    provider: {sagemaker: {region: us-east-1}}
    variables:
      replicas: {type: number}
      weight: {type: number, default: "2.5"}
      enabled: {type: bool}
      port: {type: string}
      emails: {}
    models:
      fraud-xgb-v7:
        artifact: s3://ml/v7.tar.gz
        image: xgb:1
        description: "${var.replicas} replicas, enabled=${var.enabled}, to ${var.emails}"
        environment: {PORT: "${var.port}"}
    endpoints:
      fraud-api:
        variants:
          - {name: blue, model: fraud-xgb-v7, instance_type: ml.m5.large, instance_count: "${var.replicas}"}
          - {name: green, model: fraud-xgb-v7, instance_type: ml.m5.large, weight: "${var.weight}"}
        data_capture: {destination: s3://capture/}
    monitors:
      fraud-drift:
        endpoint: fraud-api
        type: data_quality
        enabled: "${var.enabled}"
        alert: {notify: "${var.emails}"}
"""


def test_whole_string_reference_takes_the_typed_value(write: Write) -> None:
    write(TYPED)
    write("emails: [a@example.com, b@example.com]\nport: 8080\n", "vars.yaml")
    stack = load_stack(
        "stack.yaml",
        cli_vars={"replicas": "3"},
        var_files=["vars.yaml"],
        environ={"MLOPS_VAR_enabled": "False"},
    )
    endpoint = stack.resources["endpoint.fraud-api"].spec
    assert isinstance(endpoint, schema.EndpointSpec)
    assert [(v.instance_count, v.weight) for v in endpoint.variants] == [(3, 1), (1, 2.5)]
    monitor = stack.resources["monitor.fraud-drift"].spec
    assert isinstance(monitor, schema.MonitorSpec)
    assert monitor.enabled is False
    assert monitor.alert is not None and monitor.alert.notify == ["a@example.com", "b@example.com"]
    assert stack.variables == {
        "replicas": 3,
        "weight": 2.5,
        "enabled": False,
        "port": "8080",
        "emails": ["a@example.com", "b@example.com"],
    }
    # Inside longer text values are stringified (JSON for non-strings).
    model = stack.resources["model.fraud-xgb-v7"].spec_json()
    assert model["description"] == '3 replicas, enabled=false, to ["a@example.com", "b@example.com"]'
    assert model["environment"] == {"PORT": "8080"}


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("number", "3", 3),
        ("number", " -2.5 ", -2.5),
        ("number", 7, 7),
        ("bool", "TRUE", True),
        ("bool", False, False),
        ("string", 8080, "8080"),
        ("string", True, "true"),
        ("any", "3", "3"),
        ("any", [1], [1]),
    ],
)
def test_coerce(type_: str, value: Any, expected: Any) -> None:
    result = coerce(value, type_)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("type_", "value", "message"),
    [
        ("number", "three", "expected a number"),
        ("number", True, "expected a number"),
        ("number", "nan", "expected a number"),
        ("bool", "yes", "expected true or false"),
        ("string", ["a"], "expected a string"),
    ],
)
def test_coerce_refuses(type_: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        coerce(value, type_)


BAD_VALUES = """
    apiVersion: mlops-gitops/v1
    name: fraud
    provider: {sagemaker: {region: us-east-1}}
    variables:
      replicas: {type: number, default: many}
      enabled: {type: bool}
      token: {type: number, sensitive: true}
"""


def test_bad_values_point_at_their_source(problems: Problems, write: Write) -> None:
    write("token: not-a-number\n", "secrets.yaml")
    assert problems(BAD_VALUES, cli_vars={"enabled": "maybe"}, var_files=["secrets.yaml"]) == [
        "secrets.yaml:1:8: token: expected a number",  # sensitive: the value is not echoed
        "stack.yaml:5:37: variables.replicas.default: expected a number, got 'many'",
        "stack.yaml:6:3: variables.enabled: --var enabled: expected true or false, got 'maybe'",
    ]


def test_unknown_cli_variable_is_an_error(problems: Problems) -> None:
    assert problems(MODEL, cli_vars={"evn": "prod"}) == [
        "--var evn: no variable named 'evn' is declared (did you mean 'env'?)"
    ]


def test_unknown_var_file_entry_is_a_warning(write: Write) -> None:
    write(MODEL)
    write("env: prod\nregion: eu-west-1\n", "prod.yaml")
    stack = load_stack("stack.yaml", var_files=["prod.yaml"], environ={})
    assert stack.tags == {"env": "prod"}
    assert stack.warnings == [
        Diagnostic(
            "no variable named 'region' is declared in the stack",
            "region",
            Position("prod.yaml", 2, 1),
            severity="warning",
        )
    ]


def test_var_file_problems(problems: Problems, write: Write) -> None:
    write("env: [unclosed\n", "broken.yaml")
    assert problems(MODEL, var_files=["missing.yaml", "broken.yaml"]) == [
        "--var-file missing.yaml: no such file",
        "broken.yaml:2:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence)",
    ]


ESCAPES = """
    apiVersion: mlops-gitops/v1
    name: fraud
    provider: {sagemaker: {region: us-east-1}}
    variables:
      env: {default: "prod-${x}"}
    models:
      fraud-xgb-v7:
        artifact: s3://ml/v7.tar.gz
        image: xgb:1
        environment: {CMD: "echo $${HOME} in ${var.env}"}
    outputs:
      banner: {value: "$${literal} ${var.env} ${model.fraud-xgb-v7.arn}"}
      whole: {value: "${var.env}"}
"""


def test_escapes_and_outputs(write: Write) -> None:
    write(ESCAPES)
    stack = load_stack("stack.yaml", environ={})
    env = stack.resources["model.fraud-xgb-v7"].spec_json()["environment"]
    assert env == {"CMD": "echo ${HOME} in prod-${x}"}
    # Outputs are interpolated again by the engine: escapes stay escapes, and a variable's own
    # `${` is escaped so it stays literal there too.
    assert stack.outputs["banner"].value == "$${literal} prod-$${x} ${model.fraud-xgb-v7.arn}"
    assert stack.outputs["whole"].value == "prod-$${x}"


def test_only_variables_are_interpolated_outside_outputs(problems: Problems) -> None:
    assert problems("""
        apiVersion: mlops-gitops/v1
        name: fraud
        provider: {sagemaker: {region: us-east-1}}
        tags:
          arn: "${endpoint.fraud-api.arn}"
          open: "${var.env"
    """) == [
        "stack.yaml:5:8: tags.arn: cannot resolve ${endpoint.fraud-api.arn} here: only ${var.NAME} is "
        "allowed outside outputs (write $${ for a literal ${)",
        "stack.yaml:6:9: tags.open: '${' is never closed by '}' (write $${ for a literal ${)",
    ]


def test_output_references_must_name_existing_resources(problems: Problems) -> None:
    assert problems("""
        apiVersion: mlops-gitops/v1
        name: fraud
        provider: {sagemaker: {region: us-east-1}}
        models:
          fraud-xgb-v7: {artifact: s3://ml/v7.tar.gz, image: "xgb:1"}
        outputs:
          a: {value: "${model.fraud-xgb-v8.arn}"}
          b: {value: "${modle.fraud-xgb-v7.arn}"}
          c: {value: "${model.fraud-xgb-v7}"}
          d: {value: "${model.fraud-xgb-v7.arn}"}
    """) == [
        "stack.yaml:7:14: outputs.a.value: no model named 'fraud-xgb-v8' (did you mean 'fraud-xgb-v7'?)",
        "stack.yaml:8:14: outputs.b.value: cannot resolve ${modle.fraud-xgb-v7.arn}: outputs may use "
        "${var.NAME} or ${<kind>.<name>.<attribute>} (did you mean 'model'?)",
        "stack.yaml:9:14: outputs.c.value: ${model.fraud-xgb-v7} needs an attribute after the name, "
        "e.g. ${model.fraud-xgb-v7.arn}",
    ]


SENSITIVE = """
    apiVersion: mlops-gitops/v1
    name: fraud
    provider: {sagemaker: {region: us-east-1}}
    variables:
      api_key: {sensitive: true}
      headers: {sensitive: true, default: {X-Key: abc}}
      stage: {default: prod}
    models:
      fraud-xgb-v7:
        artifact: s3://ml/v7.tar.gz
        image: xgb:1
        description: "key ${var.api_key} for ${var.stage}"
        environment:
          API_KEY: "${var.api_key}"
          STAGE: "${var.stage}"
          odd.name: "${var.api_key}"
        tags: "${var.headers}"
      fraud-xgb-v8:
        artifact: s3://ml/v8.tar.gz
        image: xgb:1
        environment: {STAGE: "${var.stage}"}
    outputs:
      key: {value: "${var.api_key}", sensitive: true}
"""


def test_sensitive_paths_are_tracked(write: Write) -> None:
    write(SENSITIVE)
    stack: Stack = load_stack("stack.yaml", cli_vars={"api_key": "k-123"}, environ={})
    assert stack.sensitive_variables == {"api_key", "headers"}
    assert stack.resources["model.fraud-xgb-v7"].sensitive_paths == {
        "description",
        "environment.API_KEY",
        'environment["odd.name"]',  # the engine's path syntax for a key that is not a plain name
        "tags",
    }
    assert stack.resources["model.fraud-xgb-v8"].sensitive_paths == set()


def test_output_showing_a_sensitive_variable_must_be_marked(problems: Problems) -> None:
    text = SENSITIVE.replace('{value: "${var.api_key}", sensitive: true}', '{value: "${var.api_key}"}')
    assert text != SENSITIVE
    assert problems(text, cli_vars={"api_key": "k-123"}) == [
        "stack.yaml:23:3: outputs.key: output 'key' shows a sensitive variable: add sensitive: true to it"
    ]


def test_sensitive_value_is_not_echoed_by_schema_errors(problems: Problems) -> None:
    text = """
        apiVersion: mlops-gitops/v1
        name: fraud
        provider: {sagemaker: {region: us-east-1}}
        variables:
          secret: {sensitive: true}
          plain: {}
        outputs:
          a: {value: 1, sensitive: "${var.secret}"}
          b: {value: 1, sensitive: "${var.plain}"}
    """
    assert problems(text, cli_vars={"secret": "hunter2", "plain": "visible"}) == [
        "stack.yaml:8:28: outputs.a.sensitive: must be true or false",
        "stack.yaml:9:28: outputs.b.sensitive: must be true or false; got 'visible'",
    ]
