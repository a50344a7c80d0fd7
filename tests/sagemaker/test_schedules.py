"""Retraining schedules on SageMaker.

Pure tests for definition digests and payloads (the cron conversion is tested in
test_aws_cron.py); then whole stacks planned and applied through StackHarness; then the provider
driven directly, for what a stack cannot easily provoke (a failure between two objects, a rule
edited in the console, a pipeline SageMaker keeps `Deleting`). All with the real boto3 against the
emulator."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from mlops_sagemaker import schedules_translate as st
from mlops_sagemaker.config import SageMakerConfig
from mlops_sagemaker.provider import SageMakerProvider
from mlops_sagemaker.schedules import ScheduleHandler, ScheduleSettings
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.errors import ProviderError, StackError
from mlops_gitops.provider import TAG_ADDRESS, UNKNOWN, SandboxEndpoints
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import ScheduleSpec
from mlops_gitops.state.model import ResourceState, StateDoc
from mlops_gitops.testing import RecordingContext
from mlops_gitops.testing.harness import StackHarness, actions

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/scheduler"
ADDRESS = "schedule.fraud-retrain"

DEFINITION: dict[str, Any] = {
    "Version": "2020-12-01",
    "Parameters": [
        {"Name": "epochs", "Type": "Integer", "DefaultValue": 10},
        {"Name": "instance_type", "Type": "String", "DefaultValue": "ml.m5.large"},
        {"Name": "full_retrain", "Type": "Boolean", "DefaultValue": False},
    ],
    "Steps": [
        {
            "Name": "Train",
            "Type": "Training",
            "Arguments": {
                "HyperParameters": {"epochs": {"Get": "Parameters.epochs"}},
                "ResourceConfig": {
                    "InstanceType": {"Get": "Parameters.instance_type"},
                    "InstanceCount": 1,
                    "VolumeSizeInGB": 30,
                },
            },
        },
        {
            "Name": "Register",
            "Type": "RegisterModel",
            "Arguments": {"ModelPackageGroupName": "fraud-detection"},
            "DependsOn": ["Train"],
        },
    ],
}

STACK = """\
apiVersion: mlops-gitops/v1
name: fraud
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/sagemaker
models:
  fraud-xgb:
    artifact: s3://ml/fraud/v7/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1
endpoints:
  fraud-api:
    variants:
      - {name: main, model: fraud-xgb, instance_type: ml.m5.large, instance_count: 1}
schedules:
  fraud-retrain:
    cron: "0 3 * * 1"
    timezone: Europe/Paris
    pipeline:
      definition: pipelines/train.json
      parameters: {epochs: 100, instance_type: ml.m5.xlarge}
    tags: {team: fraud}
"""


# ============================================================================================ pure
def test_definition_digest_is_semantic_and_names_the_changed_step() -> None:
    reordered = json.loads(json.dumps(DEFINITION, indent=4, sort_keys=True))
    assert st.definition_attributes(reordered) == st.definition_attributes(DEFINITION)

    changed = copy.deepcopy(DEFINITION)
    changed["Steps"][0]["Arguments"]["ResourceConfig"]["VolumeSizeInGB"] = 50
    before, after = st.definition_attributes(DEFINITION), st.definition_attributes(changed)
    assert before["sha256"] != after["sha256"]
    assert list(before["steps"]) == ["Train", "Register"]
    assert before["steps"]["Train"] != after["steps"]["Train"]
    assert before["steps"]["Register"] == after["steps"]["Register"]


def test_parameters_are_checked_against_their_declared_type() -> None:
    assert st.declared_parameters(DEFINITION) == {
        "epochs": "Integer",
        "instance_type": "String",
        "full_retrain": "Boolean",
    }
    assert [st.parameter_value(v) for v in (100, 0.5, True, "ml.m5.xlarge")] == [
        "100",
        "0.5",
        "true",
        "ml.m5.xlarge",
    ]
    assert st.parameter_problem(100, "Integer") is None
    assert st.parameter_problem("100", "Integer") is None
    assert st.parameter_problem(1.5, "Integer") is not None
    assert st.parameter_problem(True, "Integer") is not None
    assert st.parameter_problem("1e-3", "Float") is None
    assert st.parameter_problem("fast", "Float") is not None
    assert st.parameter_problem(False, "Boolean") is None
    assert st.parameter_problem("yes", "Boolean") is not None
    assert st.parameter_problem([1], "String") is not None


ATTRS: dict[str, Any] = {
    "name": "fraud-retrain",
    "pipeline_name": "fraud-retrain",
    "parameters": {"epochs": "100"},
    "cron": "0 3 * * 1",
    "timezone": "Europe/Paris",
    "enabled": False,
    "scheduler_role_arn": SCHEDULER_ROLE,
    "rule_name": "fraud-retrain-on-alarm",
    "also_on": {
        "fraud-drift": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:fraud-drift",
        "fraud-quality": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:fraud-quality",
    },
}
PIPELINE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/fraud-retrain"


def test_schedule_request_starts_the_pipeline_with_its_parameters() -> None:
    assert st.schedule_request(ATTRS, PIPELINE_ARN) == {
        "Name": "fraud-retrain",
        "GroupName": "default",
        "ScheduleExpression": "cron(0 3 ? * MON *)",
        "ScheduleExpressionTimezone": "Europe/Paris",
        "State": "DISABLED",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": PIPELINE_ARN,
            "RoleArn": SCHEDULER_ROLE,
            "SageMakerPipelineParameters": {"PipelineParameterList": [{"Name": "epochs", "Value": "100"}]},
        },
    }
    # No parameters: no parameter block at all (the pipeline's defaults apply).
    assert "SageMakerPipelineParameters" not in st.pipeline_target(PIPELINE_ARN, {**ATTRS, "parameters": {}})


def test_alarm_rule_matches_the_monitors_alarms_going_into_alarm() -> None:
    request = st.rule_request(ATTRS, [{"Key": "team", "Value": "fraud"}])
    assert json.loads(request.pop("EventPattern")) == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": sorted(ATTRS["also_on"].values()),
        "detail": {"state": {"value": ["ALARM"]}},
    }
    assert request == {
        "Name": "fraud-retrain-on-alarm",
        "State": "DISABLED",
        "Description": "Starts SageMaker pipeline fraud-retrain on ALARM of monitor.fraud-drift, "
        "monitor.fraud-quality",
        "Tags": [{"Key": "team", "Value": "fraud"}],
    }


def test_alarm_arns_read_back_under_the_monitor_names_state_knows() -> None:
    pattern = json.dumps(
        st.alarm_event_pattern([*ATTRS["also_on"].values(), "arn:aws:cloudwatch:r:1:alarm:manual"])
    )
    assert st.also_on_from_aws(st.alarm_arns(pattern), ATTRS["also_on"]) == {
        "fraud-drift": ATTRS["also_on"]["fraud-drift"],
        "fraud-quality": ATTRS["also_on"]["fraud-quality"],
        "manual": "arn:aws:cloudwatch:r:1:alarm:manual",
    }


# ======================================================================= whole stacks (harness)
@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "train.json").write_text(json.dumps(DEFINITION, indent=2))
    path = tmp_path / "stack.yaml"
    path.write_text(STACK)
    return path


@pytest.fixture
def harness(sm_emulator: SageMakerEmulator, stack_file: Path) -> StackHarness:
    return StackHarness(stack_file, SandboxEndpoints({"sagemaker": sm_emulator.url}))


@pytest.fixture
def aws(sm_client: Callable[..., Any]) -> dict[str, Any]:
    return {s: sm_client(s) for s in ("sagemaker", "scheduler", "events", "cloudwatch")}


def apply_ok(h: StackHarness) -> None:
    _, result = h.apply()
    assert result.ok, result.errors


def change_of(plan: Any, address: str = ADDRESS) -> Any:
    return next(c for c in plan.changes if c.address == address)


def state_attrs(h: StackHarness, address: str = ADDRESS) -> dict[str, Any]:
    state = h.state()
    assert state is not None and state.get(address) is not None
    return dict(state.get(address).attributes)  # type: ignore[union-attr]


def assert_next_runs(note: str, tz: str, weekdays: set[int], hour: int, minute: int) -> None:
    m = re.fullmatch(rf"next runs \({re.escape(tz)}\): (.+), (.+), (.+)", note)
    assert m, note
    zone = ZoneInfo(tz)
    runs = [datetime.strptime(t, "%Y-%m-%d %H:%M").replace(tzinfo=zone) for t in m.groups()]
    now = datetime.now(UTC)
    assert now - timedelta(minutes=1) < runs[0] <= now + timedelta(days=8)
    assert runs == sorted(set(runs))
    assert all(r.weekday() in weekdays and (r.hour, r.minute) == (hour, minute) for r in runs), runs


def test_stack_with_a_weekly_schedule_applies_and_plans_clean(
    harness: StackHarness, aws: dict[str, Any]
) -> None:
    plan = harness.plan()
    assert actions(plan) == {"model.fraud-xgb": "create", "endpoint.fraud-api": "create", ADDRESS: "create"}
    (note,) = change_of(plan).notes
    assert_next_runs(note, "Europe/Paris", {0}, 3, 0)  # Mondays 03:00 in Paris
    apply_ok(harness)

    pipeline = aws["sagemaker"].describe_pipeline(PipelineName="fraud-retrain")
    assert json.loads(pipeline["PipelineDefinition"]) == DEFINITION
    assert pipeline["RoleArn"] == ROLE
    tags = {
        t["Key"]: t["Value"] for t in aws["sagemaker"].list_tags(ResourceArn=pipeline["PipelineArn"])["Tags"]
    }
    assert tags["team"] == "fraud" and tags[TAG_ADDRESS] == ADDRESS

    schedule = aws["scheduler"].get_schedule(Name="fraud-retrain")
    assert schedule["ScheduleExpression"] == "cron(0 3 ? * MON *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["Arn"] == pipeline["PipelineArn"]
    assert schedule["Target"]["RoleArn"] == ROLE
    assert schedule["Target"]["SageMakerPipelineParameters"] == {
        "PipelineParameterList": [
            {"Name": "epochs", "Value": "100"},
            {"Name": "instance_type", "Value": "ml.m5.xlarge"},
        ]
    }

    attrs = state_attrs(harness)
    assert attrs["pipeline_arn"] == pipeline["PipelineArn"]
    assert attrs["schedule_arn"] == schedule["Arn"]
    assert attrs["definition"] == st.definition_attributes(DEFINITION)
    assert attrs["parameters"] == {"epochs": "100", "instance_type": "ml.m5.xlarge"}
    assert "rule_name" not in attrs  # no also_on: no rule

    plan = harness.plan()
    assert actions(plan) == {} and not plan.drift and not plan.has_changes


def test_changing_the_cron_is_one_in_place_update_with_the_next_runs(
    harness: StackHarness, aws: dict[str, Any]
) -> None:
    apply_ok(harness)
    before = state_attrs(harness)
    harness.edit(lambda s: s.replace('cron: "0 3 * * 1"', 'cron: "30 4 * * 2-4"'))
    plan = harness.plan()
    assert actions(plan) == {ADDRESS: "update"}
    change = change_of(plan)
    assert [(c.path, c.before, c.after) for c in change.changes] == [("cron", "0 3 * * 1", "30 4 * * 2-4")]
    (note,) = change.notes
    assert_next_runs(note, "Europe/Paris", {1, 2, 3}, 4, 30)  # Tuesday to Thursday, 04:30

    apply_ok(harness)
    schedule = aws["scheduler"].get_schedule(Name="fraud-retrain")
    assert schedule["ScheduleExpression"] == "cron(30 4 ? * TUE-THU *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert state_attrs(harness)["schedule_arn"] == before["schedule_arn"]
    assert actions(harness.plan()) == {}


def test_disabling_is_an_in_place_update(harness: StackHarness, aws: dict[str, Any]) -> None:
    apply_ok(harness)
    harness.edit(
        lambda s: s.replace("    tags: {team: fraud}", "    enabled: false\n    tags: {team: fraud}")
    )
    plan = harness.plan()
    assert actions(plan) == {ADDRESS: "update"}
    assert [(c.path, c.after) for c in change_of(plan).changes] == [("enabled", False)]
    assert change_of(plan).notes == ["disabled: neither the cron nor a monitor alarm starts the pipeline"]
    apply_ok(harness)
    schedule = aws["scheduler"].get_schedule(Name="fraud-retrain")
    assert schedule["State"] == "DISABLED"
    assert schedule["ScheduleExpression"] == "cron(0 3 ? * MON *)"  # the rest is kept
    assert actions(harness.plan()) == {}


def test_a_new_definition_updates_the_pipeline_in_place(
    harness: StackHarness, aws: dict[str, Any], stack_file: Path
) -> None:
    apply_ok(harness)
    created = aws["sagemaker"].describe_pipeline(PipelineName="fraud-retrain")
    definition_file = stack_file.parent / "pipelines" / "train.json"

    # Reformatted, same JSON: nothing to do.
    definition_file.write_text(json.dumps(DEFINITION, sort_keys=True, separators=(",", ":")))
    assert actions(harness.plan()) == {}

    changed = copy.deepcopy(DEFINITION)
    changed["Steps"][0]["Arguments"]["ResourceConfig"]["VolumeSizeInGB"] = 50
    definition_file.write_text(json.dumps(changed, indent=2))
    plan = harness.plan()
    assert actions(plan) == {ADDRESS: "update"}
    assert {c.path for c in change_of(plan).changes} == {"definition.sha256", "definition.steps.Train"}
    assert not any(c.forces_replacement for c in change_of(plan).changes)

    apply_ok(harness)
    updated = aws["sagemaker"].describe_pipeline(PipelineName="fraud-retrain")
    assert json.loads(updated["PipelineDefinition"]) == changed
    assert updated["PipelineArn"] == created["PipelineArn"]
    assert updated["CreationTime"] == created["CreationTime"]  # the same pipeline, not a new one
    assert actions(harness.plan()) == {}


def test_changing_parameters_updates_the_schedule_target(harness: StackHarness, aws: dict[str, Any]) -> None:
    apply_ok(harness)
    harness.edit(lambda s: s.replace("epochs: 100", "epochs: 200, full_retrain: true"))
    plan = harness.plan()
    assert actions(plan) == {ADDRESS: "update"}
    assert [(c.path, c.before, c.after) for c in change_of(plan).changes] == [
        ("parameters.epochs", "100", "200"),
        ("parameters.full_retrain", None, "true"),
    ]
    apply_ok(harness)
    target = aws["scheduler"].get_schedule(Name="fraud-retrain")["Target"]
    assert target["SageMakerPipelineParameters"]["PipelineParameterList"] == [
        {"Name": "epochs", "Value": "200"},
        {"Name": "full_retrain", "Value": "true"},
        {"Name": "instance_type", "Value": "ml.m5.xlarge"},
    ]
    assert actions(harness.plan()) == {}


def test_a_schedule_disabled_in_the_console_is_drift_and_is_restored(
    harness: StackHarness, aws: dict[str, Any]
) -> None:
    apply_ok(harness)
    scheduler = aws["scheduler"]
    live = scheduler.get_schedule(Name="fraud-retrain")
    scheduler.update_schedule(
        Name="fraud-retrain",
        ScheduleExpression=live["ScheduleExpression"],
        ScheduleExpressionTimezone=live["ScheduleExpressionTimezone"],
        FlexibleTimeWindow=live["FlexibleTimeWindow"],
        Target=live["Target"],
        State="DISABLED",
    )
    plan = harness.plan()
    assert [(d.address, [(c.path, c.after) for c in d.changes]) for d in plan.drift] == [
        (ADDRESS, [("enabled", False)])
    ]
    assert actions(plan) == {ADDRESS: "update"}
    apply_ok(harness)
    assert scheduler.get_schedule(Name="fraud-retrain")["State"] == "ENABLED"
    assert actions(harness.plan()) == {}


MONITORED = STACK.replace(
    "      - {name: main, model: fraud-xgb, instance_type: ml.m5.large, instance_count: 1}\n",
    "      - {name: main, model: fraud-xgb, instance_type: ml.m5.large, instance_count: 1}\n"
    "    data_capture: {destination: s3://ml-capture/fraud, sample_percent: 20}\n"
    "monitors:\n"
    "  fraud-drift:\n"
    "    endpoint: fraud-api\n"
    "    type: data_quality\n"
    "    baseline: s3://ml-baselines/fraud/v7/\n"
    "    alert: {metric: feature_baseline_drift_amount, threshold: 0.2}\n",
).replace("    tags: {team: fraud}", "    also_on: [fraud-drift]\n    tags: {team: fraud}")


def test_drift_alarm_of_a_monitor_in_the_stack_starts_retraining(
    harness: StackHarness, aws: dict[str, Any], stack_file: Path
) -> None:
    stack_file.write_text(MONITORED)
    plan = harness.plan()
    assert actions(plan)[ADDRESS] == "create"
    assert change_of(plan).after["also_on"] == {"fraud-drift": UNKNOWN}  # the alarm is made first
    assert change_of(plan).notes[1] == "also on ALARM of monitor.fraud-drift"
    apply_ok(harness)

    alarm_arn = state_attrs(harness, "monitor.fraud-drift")["alarm_arn"]
    assert aws["cloudwatch"].describe_alarms(AlarmNames=[alarm_arn.rsplit(":", 1)[-1]])["MetricAlarms"]
    events = aws["events"]
    rule = events.describe_rule(Name="fraud-retrain-on-alarm")
    assert rule["State"] == "ENABLED"
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [alarm_arn],
        "detail": {"state": {"value": ["ALARM"]}},
    }
    (target,) = events.list_targets_by_rule(Rule="fraud-retrain-on-alarm")["Targets"]
    assert target["Arn"] == state_attrs(harness)["pipeline_arn"]
    assert target["SageMakerPipelineParameters"]["PipelineParameterList"][0] == {
        "Name": "epochs",
        "Value": "100",
    }
    assert state_attrs(harness)["also_on"] == {"fraud-drift": alarm_arn}
    assert actions(harness.plan()) == {}

    # Dropping the trigger is an in-place update that deletes the rule.
    harness.edit(lambda s: s.replace("    also_on: [fraud-drift]\n", ""))
    assert actions(harness.plan()) == {ADDRESS: "update"}
    apply_ok(harness)
    assert events.list_rules()["Rules"] == []
    assert aws["scheduler"].get_schedule(Name="fraud-retrain")["State"] == "ENABLED"
    assert actions(harness.plan()) == {}


def test_destroy_leaves_no_schedule_rule_or_pipeline(
    harness: StackHarness, aws: dict[str, Any], stack_file: Path
) -> None:
    stack_file.write_text(MONITORED)
    apply_ok(harness)
    assert aws["scheduler"].list_schedules()["Schedules"] and aws["events"].list_rules()["Rules"]
    plan, result = harness.apply(mode="destroy")
    assert result.ok, result.errors
    assert actions(plan)[ADDRESS] == "delete"
    assert aws["sagemaker"].list_pipelines()["PipelineSummaries"] == []
    assert aws["scheduler"].list_schedules()["Schedules"] == []
    assert aws["events"].list_rules()["Rules"] == []


def test_a_failure_after_the_pipeline_leaves_state_naming_it(
    harness: StackHarness, aws: dict[str, Any], sm_emulator: SageMakerEmulator
) -> None:
    # The pipeline's tags are listed only when the new objects are read back, after they were made.
    fail = {"action": "ListTags", "name": PIPELINE_ARN, "message": "boom", "times": 1}
    sm_emulator.update_settings({"fail": [fail]})
    _, result = harness.apply()
    # The endpoint being created alongside may be cancelled too: only the schedule's error matters.
    assert "boom" in dict(result.errors)[ADDRESS]
    state = harness.state()
    assert state is not None
    recorded = state.get(ADDRESS)
    assert recorded is not None and recorded.status == "tainted"
    pipeline_arn = aws["sagemaker"].describe_pipeline(PipelineName="fraud-retrain")["PipelineArn"]
    assert recorded.attributes["pipeline_arn"] == pipeline_arn
    assert recorded.attributes["schedule_arn"] == aws["scheduler"].get_schedule(Name="fraud-retrain")["Arn"]

    # Everything was made and reads back as the stack asks: kept and recorded healthy, not
    # deleted and made again.
    assert actions(harness.plan())[ADDRESS] == "update"
    apply_ok(harness)
    assert harness.state().get(ADDRESS).status == "ok"  # type: ignore[union-attr]
    assert len(aws["sagemaker"].list_pipelines()["PipelineSummaries"]) == 1
    assert len(aws["scheduler"].list_schedules()["Schedules"]) == 1
    assert actions(harness.plan()) == {}


def test_someone_elses_schedule_of_the_same_name_is_not_taken_over(
    harness: StackHarness, aws: dict[str, Any]
) -> None:
    other = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/someone-else"
    aws["scheduler"].create_schedule(
        Name="fraud-retrain",
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": other, "RoleArn": ROLE},
    )
    _, result = harness.apply()
    ((address, message),) = result.errors
    assert address == ADDRESS
    assert "EventBridge Scheduler schedule 'fraud-retrain' already exist" in message
    assert "mlops import schedule.fraud-retrain fraud-retrain" in message
    assert aws["scheduler"].get_schedule(Name="fraud-retrain")["Target"]["Arn"] == other
    assert aws["sagemaker"].list_pipelines()["PipelineSummaries"] == []  # nothing made before refusing


def test_undeclared_parameters_are_a_validation_error_with_the_path(
    harness: StackHarness, aws: dict[str, Any]
) -> None:
    harness.edit(lambda s: s.replace("epochs: 100", "epoch: 100, full_retrain: maybe"))
    with pytest.raises(StackError) as info:
        harness.plan()
    errors = {d.path: d for d in info.value.diagnostics}
    assert set(errors) == {
        "schedules.fraud-retrain.pipeline.parameters.epoch",
        "schedules.fraud-retrain.pipeline.parameters.full_retrain",
    }
    undeclared = errors["schedules.fraud-retrain.pipeline.parameters.epoch"]
    assert "has no parameter 'epoch' (did you mean 'epochs'?)" in undeclared.message
    assert undeclared.position is not None and undeclared.position.line == 21
    assert "declares it Boolean" in errors["schedules.fraud-retrain.pipeline.parameters.full_retrain"].message
    assert aws["sagemaker"].list_pipelines()["PipelineSummaries"] == []  # no cloud call was made


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            lambda s: s.replace(
                "definition: pipelines/train.json", "template_uri: https://example.com/t.json"
            ),
            "schedules.fraud-retrain.pipeline.template_uri",
            "not from a template",
        ),
        (
            lambda s: s.replace("    tags: {team: fraud}", "    max_concurrent_runs: 2"),
            "schedules.fraud-retrain.max_concurrent_runs",
            "cannot limit concurrent executions",
        ),
        (
            lambda s: s.replace('"0 3 * * 1"', '"0 3 1 * 1"'),
            "schedules.fraud-retrain.cron",
            "both restricted",
        ),
        (
            lambda s: s.replace("role_arn: arn:aws:iam::123456789012:role/sagemaker", "profile: x"),
            "schedules.fraud-retrain.sagemaker.execution_role_arn",
            "a SageMaker pipeline needs an execution role",
        ),
    ],
)
def test_what_sagemaker_cannot_do_is_refused_at_validate(
    harness: StackHarness, edit: Callable[[str], str], path: str, message: str
) -> None:
    harness.edit(edit)
    with pytest.raises(StackError) as info:
        harness.workspace()
    assert [d.path for d in info.value.diagnostics if message in d.message] == [path], info.value.diagnostics


def test_a_definition_that_is_not_json_is_a_validation_error(harness: StackHarness, stack_file: Path) -> None:
    (stack_file.parent / "pipelines" / "train.json").write_text("{not json")
    with pytest.raises(StackError) as info:
        harness.workspace()
    (diag,) = info.value.diagnostics
    assert diag.path == "schedules.fraud-retrain.pipeline.definition"
    assert "is not JSON" in diag.message


def test_an_imported_schedule_regenerates_as_a_stack_that_plans_clean(
    sm_emulator: SageMakerEmulator, aws: dict[str, Any], tmp_path: Path
) -> None:
    # Made by hand, with numeric AWS weekdays, a role of its own and no ownership tags.
    pipeline = aws["sagemaker"].create_pipeline(
        PipelineName="legacy-train", PipelineDefinition=json.dumps(DEFINITION), RoleArn=ROLE
    )
    aws["scheduler"].create_schedule(
        Name="legacy-weekly",
        ScheduleExpression="cron(15 2 ? * 1 *)",
        ScheduleExpressionTimezone="America/New_York",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": pipeline["PipelineArn"],
            "RoleArn": SCHEDULER_ROLE,
            "SageMakerPipelineParameters": {"PipelineParameterList": [{"Name": "epochs", "Value": "7"}]},
        },
    )
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(STACK.split("models:")[0])
    h = StackHarness(stack_file, SandboxEndpoints({"sagemaker": sm_emulator.url}))
    provider = h.workspace().provider
    assert isinstance(provider, SageMakerProvider)

    imported = provider.import_resource("schedule", "legacy-weekly")
    assert imported["cron"] == "15 2 * * 0"
    assert imported["pipeline_arn"] == pipeline["PipelineArn"]
    spec = provider.to_spec("schedule", imported)
    assert spec == {
        "cron": "15 2 * * 0",
        "timezone": "America/New_York",
        "pipeline": {"definition": "legacy-train.json", "parameters": {"epochs": "7"}},
        "sagemaker": {"scheduler_role_arn": SCHEDULER_ROLE},
    }
    for relative, content in ScheduleHandler(provider).files(imported).items():
        (tmp_path / relative).write_text(content)
    stack_file.write_text(STACK.split("models:")[0] + "schedules:\n  legacy:\n" + _indent(spec, 4))

    backend = h.backend()
    state = backend.read() or StateDoc.new("fraud")
    state.put(
        ResourceState(
            address="schedule.legacy",
            kind="schedule",
            name="legacy",
            provider="sagemaker",
            attributes=imported,
            dependencies=[],
        )
    )
    backend.write(state)
    # Plans clean: ownership tags are written with the next change, not for their own sake.
    assert actions(h.plan()) == {}
    h.edit(lambda text: text.replace("epochs: '7'", "epochs: '8'"))
    apply_ok(h)
    assert actions(h.plan()) == {}
    schedule = aws["scheduler"].get_schedule(Name="legacy-weekly")
    assert schedule["ScheduleExpression"] == "cron(15 2 ? * SUN *)"
    assert schedule["Target"]["SageMakerPipelineParameters"]["PipelineParameterList"] == [
        {"Name": "epochs", "Value": "8"}
    ]
    tags = aws["sagemaker"].list_tags(ResourceArn=pipeline["PipelineArn"])["Tags"]
    assert {"Key": TAG_ADDRESS, "Value": "schedule.legacy"} in tags


def test_import_refuses_what_it_cannot_manage(sm_emulator: SageMakerEmulator, aws: dict[str, Any]) -> None:
    provider = _provider(sm_emulator)
    with pytest.raises(ProviderError, match="no EventBridge Scheduler schedule named 'nope'"):
        provider.import_resource("schedule", "nope")
    aws["scheduler"].create_schedule(
        Name="daily",
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": PIPELINE_ARN, "RoleArn": ROLE},
    )
    with pytest.raises(ProviderError, match=r"runs on rate\(1 day\)"):
        provider.import_resource("schedule", "daily")
    aws["scheduler"].create_schedule(
        Name="nightly-lambda",
        ScheduleExpression="cron(0 1 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": "arn:aws:lambda:us-east-1:123456789012:function:f", "RoleArn": ROLE},
    )
    with pytest.raises(ProviderError, match="does not start a SageMaker pipeline"):
        provider.import_resource("schedule", "nightly-lambda")


def _indent(spec: Mapping[str, Any], by: int) -> str:
    text = yaml.safe_dump(dict(spec), sort_keys=False)
    return "".join(" " * by + line + "\n" for line in text.splitlines())


# ============================================================================ the provider itself
def _provider(sm_emulator: SageMakerEmulator) -> SageMakerProvider:
    return SageMakerProvider(
        SageMakerConfig(region="us-east-1", role_arn=ROLE),
        stack="fraud",
        sandbox=SandboxEndpoints(urls={"sagemaker": sm_emulator.url}),
    )


def _schedule(tmp_path: Path, **spec: Any) -> Resource:
    (tmp_path / "train.json").write_text(json.dumps(DEFINITION))
    spec.setdefault("pipeline", {"definition": "train.json", "parameters": {"epochs": 5}})
    return Resource("schedule", "fraud-retrain", ScheduleSpec(**spec), base_dir=str(tmp_path))


def _alarm(cloudwatch: Any, name: str) -> str:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="aws/sagemaker/Endpoints/data-metrics",
        MetricName="feature_baseline_drift_total",
        Statistic="Maximum",
        Period=3600,
        EvaluationPeriods=1,
        Threshold=0.2,
        ComparisonOperator="GreaterThanThreshold",
    )
    return str(cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"])


def test_also_on_puts_a_rule_on_the_monitors_alarm(
    sm_emulator: SageMakerEmulator, aws: dict[str, Any], tmp_path: Path
) -> None:
    provider = _provider(sm_emulator)
    arn = _alarm(aws["cloudwatch"], "fraud-drift-violations")
    refs = {"monitor.fraud-drift": {"name": "fraud-drift", "alarm_arn": arn}}
    res = _schedule(tmp_path, also_on=["fraud-drift"])  # no cron: the alarm is the only trigger
    settings = ScheduleSettings(scheduler_role_arn=SCHEDULER_ROLE)

    # Before the monitor exists its alarm is unknown, and the plan says so.
    planned = provider.desired(res, settings, {"monitor.fraud-drift": {"alarm_arn": UNKNOWN}}, None)
    assert planned["also_on"] == {"fraud-drift": UNKNOWN}
    assert provider.notes("schedule", planned) == ["also on ALARM of monitor.fraud-drift"]

    desired = provider.desired(res, settings, refs, None)
    assert "cron" not in desired and "schedule_arn" not in desired
    ctx = RecordingContext(ADDRESS)
    created = provider.create("schedule", desired, ctx)
    assert created == {**desired, "pipeline_arn": created["pipeline_arn"]}
    assert provider.read("schedule", created) == created
    assert ctx.checkpoints[0]["pipeline_arn"] == created["pipeline_arn"]

    events = aws["events"]
    rule = events.describe_rule(Name="fraud-retrain-on-alarm")
    assert rule["State"] == "ENABLED"
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [arn],
        "detail": {"state": {"value": ["ALARM"]}},
    }
    (target,) = events.list_targets_by_rule(Rule="fraud-retrain-on-alarm")["Targets"]
    assert target["Arn"] == created["pipeline_arn"] and target["RoleArn"] == SCHEDULER_ROLE
    assert target["SageMakerPipelineParameters"] == {
        "PipelineParameterList": [{"Name": "epochs", "Value": "5"}]
    }
    assert aws["scheduler"].list_schedules()["Schedules"] == []

    # Disabling disables the rule; adding a cron adds a schedule; both in place.
    res = _schedule(tmp_path, also_on=["fraud-drift"], cron="0 3 * * 1", enabled=False)
    updated = provider.update(
        "schedule", created, provider.desired(res, settings, refs, created), RecordingContext(ADDRESS)
    )
    assert events.describe_rule(Name="fraud-retrain-on-alarm")["State"] == "DISABLED"
    assert aws["scheduler"].get_schedule(Name="fraud-retrain")["State"] == "DISABLED"
    assert updated["pipeline_arn"] == created["pipeline_arn"]

    # The schedule and the rule share `enabled`: the rule alone disabled in the console is drift.
    res = _schedule(tmp_path, also_on=["fraud-drift"], cron="0 3 * * 1")
    updated = provider.update(
        "schedule", updated, provider.desired(res, settings, refs, updated), RecordingContext(ADDRESS)
    )
    assert updated["enabled"] is True
    events.disable_rule(Name="fraud-retrain-on-alarm")
    assert provider.read("schedule", updated) == {**updated, "enabled": False}

    # Dropping also_on deletes the rule, targets first.
    res = _schedule(tmp_path, cron="0 3 * * 1")
    updated = provider.update(
        "schedule", updated, provider.desired(res, settings, refs, updated), RecordingContext(ADDRESS)
    )
    assert "rule_name" not in updated
    assert events.list_rules()["Rules"] == []

    provider.delete("schedule", updated, RecordingContext(ADDRESS))
    provider.delete("schedule", updated, RecordingContext(ADDRESS))  # already gone is success
    assert aws["sagemaker"].list_pipelines()["PipelineSummaries"] == []
    assert aws["scheduler"].list_schedules()["Schedules"] == []


def test_a_rule_failure_midway_is_checkpointed_and_delete_cleans_up(
    sm_emulator: SageMakerEmulator, aws: dict[str, Any], tmp_path: Path
) -> None:
    provider = _provider(sm_emulator)
    refs = {"monitor.fraud-drift": {"alarm_arn": _alarm(aws["cloudwatch"], "drift")}}
    desired = provider.desired(
        _schedule(tmp_path, cron="0 3 * * 1", also_on=["fraud-drift"]), None, refs, None
    )
    sm_emulator.update_settings({"fail": [{"action": "PutTargets", "message": "no"}]})
    ctx = RecordingContext(ADDRESS)
    with pytest.raises(ProviderError, match="PutTargets"):
        provider.create("schedule", desired, ctx)
    # Recorded as they were made: the pipeline, then the schedule.
    made = [[k for k in ("pipeline_arn", "schedule_arn") if k in c] for c in ctx.checkpoints]
    assert made == [["pipeline_arn"], ["pipeline_arn", "schedule_arn"]]
    last = ctx.checkpoints[-1]
    assert last["pipeline_arn"].endswith(":pipeline/fraud-retrain")
    assert last["schedule_arn"].endswith(":schedule/default/fraud-retrain")
    assert last["rule_name"] == "fraud-retrain-on-alarm"  # PutRule went through

    sm_emulator.update_settings({"fail": []})
    provider.delete("schedule", last, RecordingContext(ADDRESS))
    assert aws["sagemaker"].list_pipelines()["PipelineSummaries"] == []
    assert aws["scheduler"].list_schedules()["Schedules"] == []
    assert aws["events"].list_rules()["Rules"] == []


def test_a_monitor_without_an_alarm_cannot_trigger(sm_emulator: SageMakerEmulator, tmp_path: Path) -> None:
    provider = _provider(sm_emulator)
    res = _schedule(tmp_path, also_on=["fraud-drift"])
    with pytest.raises(StackError, match="monitor 'fraud-drift' has no alarm") as info:
        provider.desired(res, None, {"monitor.fraud-drift": {"name": "fraud-drift"}}, None)
    assert info.value.diagnostics[0].path == "schedules.fraud-retrain.also_on[0]"


def test_create_needs_the_definition_loaded_by_desired(
    sm_emulator: SageMakerEmulator, tmp_path: Path
) -> None:
    desired = _provider(sm_emulator).desired(_schedule(tmp_path, cron="0 3 * * 1"), None, {}, None)
    with pytest.raises(ProviderError, match="was not loaded"):
        _provider(sm_emulator).create("schedule", desired, RecordingContext(ADDRESS))


def test_delete_waits_while_sagemaker_is_deleting_the_pipeline(sm_emulator: SageMakerEmulator) -> None:
    # The emulator deletes pipelines at once; SageMaker may show them `Deleting` for a while.
    from botocore.stub import Stubber

    provider = _provider(sm_emulator)
    sm = provider.aws.sagemaker
    deleting = {"PipelineArn": PIPELINE_ARN, "PipelineName": "fraud-retrain", "PipelineStatus": "Deleting"}
    name = {"PipelineName": "fraud-retrain"}
    ctx = RecordingContext(ADDRESS)
    with Stubber(sm) as stub:
        stub.add_response("delete_pipeline", {"PipelineArn": PIPELINE_ARN})
        stub.add_response("describe_pipeline", deleting, name)
        stub.add_response("describe_pipeline", deleting, name)
        stub.add_client_error(
            "describe_pipeline", "ValidationException", "Could not find pipeline fraud-retrain", 400
        )
        provider.delete("schedule", {"name": "fraud-retrain", "pipeline_name": "fraud-retrain"}, ctx)
        stub.assert_no_pending_responses()
    assert ctx.messages == ["Deleting pipeline fraud-retrain… status=Deleting"] * 2

    with Stubber(sm) as stub:
        stub.add_response("delete_pipeline", {"PipelineArn": PIPELINE_ARN})
        stub.add_response("describe_pipeline", {**deleting, "PipelineStatus": "Active"}, name)
        with pytest.raises(ProviderError, match="still there"):
            provider.delete(
                "schedule",
                {"name": "fraud-retrain", "pipeline_name": "fraud-retrain"},
                RecordingContext(ADDRESS),
            )


def test_a_pipeline_whose_create_lost_its_reply_is_taken_as_made(
    sm_emulator: SageMakerEmulator, tmp_path: Path, aws: dict[str, Any]
) -> None:
    provider = _provider(sm_emulator)
    res = _schedule(tmp_path, cron="0 3 * * 1")
    sm_emulator.update_settings(
        {
            "fail": [
                {
                    "action": "CreatePipeline",
                    "code": "InternalFailure",
                    "status": 500,
                    "lose_reply": True,
                    "times": 1,
                }
            ]
        }
    )
    created = provider.create("schedule", provider.desired(res, None, {}, None), RecordingContext(ADDRESS))
    assert sm_emulator.settings["fail"] == []  # lost, and sent again
    pipelines = aws["sagemaker"].list_pipelines()["PipelineSummaries"]
    assert [p["PipelineName"] for p in pipelines] == ["fraud-retrain"]
    assert created["pipeline_arn"] == pipelines[0]["PipelineArn"]
