"""What the loader says about bad input: keys that are not names, values refused by the parser
(reported once), long values (cut short), secrets (never repeated), and paths that lead out of
the stack's directory."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_gitops.stack.loader import load_stack
from mlops_gitops.stack.suggest import shown

Write = Callable[..., str]
Problems = Callable[..., list[str]]

HEAD = "apiVersion: mlops-gitops/v1\nname: fraud\nprovider: {sagemaker: {region: us-east-1}}\n"
MODEL = "    artifact: s3://ml/model.tar.gz\n    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/x:1\n"


# ------------------------------------------------------------------------------ keys
def test_keys_that_read_as_numbers_or_booleans_are_refused_each_once(problems: Problems) -> None:
    assert problems(HEAD + "tags: {1: a, true: b, on: c, ~: d}\n") == [
        "stack.yaml:4:8: tags: a key must be a name, but 1 reads as a number: quote it ('1')",
        "stack.yaml:4:14: tags: a key must be a name, but true reads as true or false: quote it ('true')",
        "stack.yaml:4:23: tags: a key must be a name, but on reads as true or false: quote it ('on')",
        "stack.yaml:4:30: tags: a key must be a name, but ~ reads as null: quote it ('~')",
    ]


def test_quoted_keys_are_names_and_duplicates_compare_as_written(problems: Problems, write: Write) -> None:
    write(HEAD + "tags: {'1': a, 'true': b}\n")
    assert load_stack("stack.yaml", environ={}).tags == {"1": "a", "true": "b"}
    assert problems(HEAD + "tags: {team: a, 'team': b}\n") == [
        "stack.yaml:4:17: tags.team: duplicate key 'team' (first defined on line 4)"
    ]


# ------------------------------------------------------------------------------ refused once
def test_a_value_the_parser_refuses_is_reported_once(problems: Problems) -> None:
    assert problems(HEAD + "models:\n  m:\n    artifact: !!binary aGk=\n    image: x\n") == [
        "stack.yaml:6:15: models.m.artifact: unsupported YAML tag !!binary"
    ]


def test_a_refused_variable_default_is_reported_once(problems: Problems) -> None:
    text = HEAD + "variables: {env: {default: !Ref x}}\ntags: {env: '${var.env}'}\n"
    assert problems(text) == ["stack.yaml:4:28: variables.env.default: unsupported YAML tag !Ref"]


def test_a_refused_var_file_value_is_reported_once(problems: Problems, write: Write) -> None:
    write("env: !!int abc\n", "vars.yaml")
    text = HEAD + "variables: {env: {type: number}}\ntags: {env: '${var.env}'}\n"
    assert problems(text, var_files=["vars.yaml"]) == ["vars.yaml:1:6: env: the value is not a valid !!int"]


def test_an_unreadable_var_file_is_one_line(problems: Problems, workdir: Path) -> None:
    (workdir / "dir").mkdir()
    text = HEAD + "variables: {env: {}}\ntags: {env: '${var.env}'}\n"
    # Not also "variable 'env' has no value": the file may have held it.
    assert problems(text, var_files=["dir"]) == ["--var-file dir: is a directory"]
    assert problems(text, var_files=["missing.yaml"]) == ["--var-file missing.yaml: no such file"]


# ------------------------------------------------------------------------------ long values
def test_a_long_value_is_cut_short(problems: Problems) -> None:
    [line] = problems(HEAD + "description: " + "9" * 4000 + "\n")
    assert line == f"stack.yaml:4:14: description: must be a string; got {'9' * 59}…"
    [line] = problems(
        HEAD + "models:\n  m:\n    artifact: s3://a\n    image: {framework: " + "x" * 500 + "}\n"
    )
    assert "x" * 60 not in line and len(line) < 200


def test_a_number_python_cannot_read_is_refused_without_echo(problems: Problems) -> None:
    assert problems(HEAD + "description: " + "9" * 5000 + "\n") == [
        "stack.yaml:4:14: description: this number has too many digits: quote it if it is text"
    ]


def test_a_long_key_is_cut_short(problems: Problems) -> None:
    [line] = problems(HEAD + "x" * 1000 + ": 1\n")  # libyaml takes keys of up to 1024 characters
    assert line.startswith("stack.yaml:4:1: ") and line.endswith(f"unknown field {shown('x' * 1000)}")
    assert len(line.split(": ")[-1]) < 80


def test_shown_values() -> None:
    assert shown("abc") == "'abc'"
    assert shown(True) == "true"
    assert shown(None) == "null"
    assert shown({"a": 1}) == "a mapping"
    assert shown("x" * 100) == "'" + "x" * 58 + "…"
    assert len(shown(10**5000)) == 60
    assert shown(-(10**5000)).startswith("-1000")


# ------------------------------------------------------------------------------ secrets
SECRET = "hunter2-very-secret"


def test_provider_block_values_are_never_repeated(problems: Problems) -> None:
    text = (
        "apiVersion: mlops-gitops/v1\nname: fraud\nprovider: {sagemaker: " + SECRET + "}\n"
        "models:\n  m:\n" + MODEL + "    sagemaker: " + SECRET + "\n"
    )
    lines = problems(text)
    assert lines == [
        "stack.yaml:3:23: provider.sagemaker: must be a mapping",
        "stack.yaml:8:16: models.m.sagemaker: must be a mapping",
    ]


def test_a_sensitive_value_is_not_repeated_by_a_validator(problems: Problems) -> None:
    # The schema's own message for a bad model_package quotes what it got.
    text = HEAD + (
        "variables: {pkg: {sensitive: true}}\n"
        "models:\n  m:\n" + MODEL + "endpoints:\n  e:\n    variants:\n"
        "      - {name: a, model_package: '${var.pkg}', instance_type: ml.m5.large}\n"
    )
    [line] = problems(text, cli_vars={"pkg": SECRET})
    assert SECRET not in line
    assert "endpoints.e.variants[0].model_package: must be <group>@<version>" in line


def test_a_sensitive_value_gets_no_did_you_mean(problems: Problems) -> None:
    text = HEAD + "variables: {t: {sensitive: true}}\nmonitors:\n  m: {endpoint: e, type: '${var.t}'}\n"
    lines = problems(text, cli_vars={"t": "data_qualty"})
    assert not any("did you mean" in line or "data_qualty" in line for line in lines)


# ------------------------------------------------------------------------------ paths
def schedule(path: object) -> str:
    return HEAD + f"schedules:\n  retrain:\n    cron: '0 3 * * 1'\n    pipeline: {{definition: {path}}}\n"


OUTSIDE = "it must name a path inside the directory of the stack file (set MLOPS_ALLOW_OUTSIDE_PATHS=1"


@pytest.fixture
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outside") / "secret.json"
    path.write_text("{}")
    return path


def test_an_absolute_pipeline_definition_outside_is_refused(problems: Problems, secret_file: Path) -> None:
    assert problems(schedule(secret_file)) == [
        f"stack.yaml:7:28: schedules.retrain.pipeline.definition: is an absolute path outside the "
        f"stack's directory: {OUTSIDE} to allow paths outside it)"
    ]


def test_a_relative_path_out_of_the_directory_is_refused_once(problems: Problems) -> None:
    # Not also "no file ...": the file is not looked for outside.
    assert problems(schedule("../../../etc/passwd")) == [
        "stack.yaml:7:28: schedules.retrain.pipeline.definition: leads out of the stack's directory: "
        f"{OUTSIDE} to allow paths outside it)"
    ]


def test_a_symbolic_link_out_of_the_directory_is_refused(
    problems: Problems, workdir: Path, secret_file: Path
) -> None:
    (workdir / "pipelines").symlink_to(secret_file.parent)
    assert problems(schedule("pipelines/secret.json")) == [
        "stack.yaml:7:28: schedules.retrain.pipeline.definition: leads out of the stack's directory "
        f"through a symbolic link: {OUTSIDE} to allow paths outside it)"
    ]


def test_paths_inside_the_directory_are_fine(write: Write, workdir: Path) -> None:
    write("{}", "pipelines/train.json")
    write(schedule("pipelines/../pipelines/train.json"))
    assert "schedule.retrain" in load_stack("stack.yaml", environ={}).resources
    write(schedule(workdir / "pipelines" / "train.json"))
    assert "schedule.retrain" in load_stack("stack.yaml", environ={}).resources


def test_outside_paths_can_be_allowed(write: Write, secret_file: Path) -> None:
    write(schedule(secret_file))
    stack = load_stack("stack.yaml", environ={"MLOPS_ALLOW_OUTSIDE_PATHS": "1"})
    assert "schedule.retrain" in stack.resources


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/tmp/state", "is an absolute path outside the stack's directory"),
        ("../state", "leads out of the stack's directory"),
    ],
)
def test_local_state_outside_the_directory_is_refused(problems: Problems, path: str, why: str) -> None:
    assert problems(HEAD + f"backend: {{local: {{path: {path}}}}}\n") == [
        f"stack.yaml:4:25: backend.local.path: {why}: {OUTSIDE} to allow paths outside it)"
    ]


def test_local_state_through_a_symbolic_link_is_refused(
    problems: Problems, workdir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    os.symlink(tmp_path_factory.mktemp("elsewhere"), workdir / ".mlops")
    # The default `.mlops` is not written in the file: what holds it is pointed at.
    expected = (
        "backend.local.path: leads out of the stack's directory through a symbolic link: "
        f"{OUTSIDE} to allow paths outside it)"
    )
    assert problems(HEAD + "backend: {local: {}}\n") == [f"stack.yaml:4:18: {expected}"]
    assert problems(HEAD) == [f"stack.yaml:1:1: {expected}"]
