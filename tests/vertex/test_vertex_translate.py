"""Pure translation of the Vertex AI provider: traffic arithmetic, image URIs, labels, cron, and
payloads. Payloads are checked by building the SDK's own request types from them (unknown fields
or wrong types fail there), and resources by a round trip through those types."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1 as v1
from mlops_vertex import images, labels, monitoring, pipelines, traffic, translate
from mlops_vertex.client import to_dict
from mlops_vertex.rollout import match

from mlops_gitops.provider import UNKNOWN
from mlops_gitops.stack.schema import FrameworkImage

PARENT = "projects/acme-ml/locations/europe-west4"
SPEC_FILE = Path(__file__).parents[2] / "stacks" / "vertex-churn" / "pipelines" / "churn-train.json"


# ------------------------------------------------------------------------------------- traffic
@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"blue": 80, "green": 20}, {"blue": 80, "green": 20}),
        ({"blue": 4, "green": 1}, {"blue": 80, "green": 20}),
        ({"a": 1, "b": 1, "c": 1}, {"a": 34, "b": 33, "c": 33}),
        ({"a": 2, "b": 1}, {"a": 67, "b": 33}),
        ({"a": 0.1, "b": 0.2, "c": 0.7}, {"a": 10, "b": 20, "c": 70}),
        ({"a": 1, "b": 0}, {"a": 100, "b": 0}),
        (
            {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1},
            {"a": 17, "b": 17, "c": 17, "d": 17, "e": 16, "f": 16},
        ),
        # The point left over goes to the largest remainder, wherever it is...
        ({"a": 0.331, "b": 0.336, "c": 0.333}, {"a": 33, "b": 34, "c": 33}),
        # ...and on a tie (12.5 and 37.5) to the earlier variant.
        ({"a": 1, "b": 3, "c": 4}, {"a": 13, "b": 37, "c": 50}),
    ],
)
def test_percentages_largest_remainder(weights: dict[str, float], expected: dict[str, int]) -> None:
    assert traffic.percentages(weights) == expected


def test_percentages_always_sum_to_100_and_stay_within_one_point() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        weights = {
            f"v{i}": rng.choice([0, rng.random() * 1000, rng.randint(1, 9)]) for i in range(rng.randint(1, 8))
        }
        if sum(weights.values()) <= 0:
            continue
        shares = traffic.percentages(weights)
        total = sum(weights.values())
        assert sum(shares.values()) == 100
        assert all(abs(shares[k] - w * 100 / total) < 1 for k, w in weights.items())


def test_percentages_refuses_weights_summing_to_zero() -> None:
    with pytest.raises(ValueError, match="positive sum"):
        traffic.percentages({"a": 0, "b": 0})


def test_blend_moves_part_of_the_way_and_drops_empty_entries() -> None:
    start = {"old": 100}
    end = {"new": 100}
    assert traffic.blend(start, end, 0.1) == {"old": 90, "new": 10}
    assert traffic.blend(start, end, 1.0) == {"new": 100}
    # Only the changed variant's share moves: blue stays at 80 throughout.
    start = {"blue": 80, "green": 20}
    end = {"blue": 80, "green2": 20}
    assert traffic.blend(start, end, 0.5) == {"blue": 80, "green": 10, "green2": 10}
    for fraction in (0.01, 0.33, 0.5, 0.77, 0.99):
        assert sum(traffic.blend(start, end, fraction).values()) == 100


def test_rollout_steps() -> None:
    assert traffic.steps(None) == [traffic.Step(1.0, 0.0)]
    assert traffic.steps({"strategy": "all_at_once", "bake_minutes": 5}) == [traffic.Step(1.0, 5.0)]
    assert traffic.steps({"strategy": "canary", "canary_percent": 10, "bake_minutes": 15}) == [
        traffic.Step(0.1, 15.0),
        traffic.Step(1.0, 0.0),
    ]
    linear = traffic.steps(
        {"strategy": "linear", "step_percent": 30, "bake_minutes": 5, "interval_minutes": 2}
    )
    assert linear == [
        traffic.Step(0.3, 2.0),
        traffic.Step(0.6, 2.0),
        traffic.Step(0.9, 2.0),
        traffic.Step(1.0, 2.0),
    ]
    # The interval defaults to the bake; termination_wait_minutes extends the last watch.
    assert traffic.steps(
        {"strategy": "linear", "step_percent": 50, "bake_minutes": 3, "termination_wait_minutes": 4}
    ) == [traffic.Step(0.5, 3.0), traffic.Step(1.0, 7.0)]


# -------------------------------------------------------------------------------------- images
@pytest.mark.parametrize(
    ("image", "location", "uri"),
    [
        (
            FrameworkImage(framework="sklearn", version="1.3"),
            "us-central1",
            "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest",
        ),
        (
            FrameworkImage(framework="xgboost", version="1.7-1"),
            "europe-west4",
            "europe-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.1-7:latest",
        ),
        (
            FrameworkImage(framework="tensorflow", version="2.15", processor="gpu"),
            "asia-southeast1",
            "asia-docker.pkg.dev/vertex-ai/prediction/tf2-gpu.2-15:latest",
        ),
        (
            FrameworkImage(framework="tensorflow", version="1.15"),
            "us-east1",
            "us-docker.pkg.dev/vertex-ai/prediction/tf-cpu.1-15:latest",
        ),
        (
            FrameworkImage(framework="pytorch", version="2.1.0"),
            "australia-southeast1",
            "asia-docker.pkg.dev/vertex-ai/prediction/pytorch-cpu.2-1:latest",
        ),
        (
            FrameworkImage(framework="scikit-learn", version="1-0"),
            "me-west1",
            "europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-0:latest",
        ),
    ],
)
def test_framework_images_resolve_to_prebuilt_containers(
    image: FrameworkImage, location: str, uri: str
) -> None:
    assert images.resolve(image, location) == uri


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (
            FrameworkImage(framework="huggingface", version="4.28"),
            "no prebuilt prediction container for 'huggingface'",
        ),
        (FrameworkImage(framework="xgboost", version="1.7", processor="gpu"), "CPU only"),
        (FrameworkImage(framework="sklearn", version="0.19"), "supported versions: 0.20, 0.22"),
    ],
)
def test_framework_images_that_do_not_exist_are_refused(image: FrameworkImage, message: str) -> None:
    with pytest.raises(images.ImageError, match=message):
        images.resolve(image, "us-central1")


# -------------------------------------------------------------------------------------- labels
def test_labels_are_sanitised_and_carry_ownership() -> None:
    got = labels.from_tags(
        {"Team": "Risk ML", "cost.center": "42", "1st": "x" * 80}, stack="churn", address="endpoint.churn-api"
    )
    assert got == {
        "team": "risk_ml",
        "cost_center": "42",
        "k1st": "x" * 63,
        "mlops-gitops-stack": "churn",
        "mlops-gitops-address": "endpoint_churn-api",
    }
    assert labels.owned_by(got, stack="churn", address="endpoint.churn-api")
    assert not labels.owned_by(got, stack="churn", address="endpoint.other")
    assert labels.user_labels(got) == {"team": "risk_ml", "cost_center": "42", "k1st": "x" * 63}
    # Sanitising is idempotent, so labels imported as tags come back the same.
    assert labels.from_tags(labels.user_labels(got), stack="churn", address="endpoint.churn-api") == got


def test_label_collisions_are_reported() -> None:
    assert labels.collisions({"Team": "a", "team": "b", "mlops-gitops-stack": "c"}) == [
        "tags 'Team' and 'team' both become label 'team'",
        "tag 'mlops-gitops-stack' becomes label 'mlops-gitops-stack', which the provider sets itself",
    ]


# -------------------------------------------------------------------------------------- models
def model_attrs(**over: Any) -> dict[str, Any]:
    attrs = {
        "id": "churn-xgb-0a1b2c3d",
        "display_name": "churn-xgb",
        "version_id": "1",
        "artifact": "gs://acme-ml/churn/v7/",
        "image": "europe-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.1-7:latest",
        "environment": {"THRESHOLD": "0.42"},
        "description": "Churn classifier",
        "aliases": ["champion", "default"],
        "kms_key_name": "projects/acme-ml/locations/europe-west4/keyRings/ml/cryptoKeys/models",
        "labels": {
            "team": "growth",
            "mlops-gitops-stack": "churn",
            "mlops-gitops-address": "model_churn-xgb",
        },
    }
    return {**attrs, **over}


def test_object_ids_are_deterministic_per_stack_and_basis() -> None:
    a = translate.object_id("churn", "churn-xgb", {"kms_key_name": None})
    assert a == translate.object_id("churn", "churn-xgb", {"kms_key_name": None})
    assert a.startswith("churn-xgb-") and len(a) == len("churn-xgb-") + 8
    assert a != translate.object_id("other-stack", "churn-xgb", {"kms_key_name": None})
    assert a != translate.object_id(
        "churn", "churn-xgb", {"kms_key_name": "projects/p/locations/l/keyRings/r/cryptoKeys/k"}
    )
    assert len(translate.object_id("s", "x" * 48, {})) <= 63


def test_upload_request_is_a_valid_request_and_reads_back() -> None:
    attrs = model_attrs()
    first = translate.upload_request(PARENT, attrs, parent_model=None)
    request = v1.UploadModelRequest(**first)
    assert request.model_id == attrs["id"] and not request.parent_model
    assert request.model.container_spec.env[0].name == "THRESHOLD"
    assert request.model.encryption_spec.kms_key_name == attrs["kms_key_name"]
    version = v1.UploadModelRequest(
        **translate.upload_request(PARENT, attrs, parent_model=f"{PARENT}/models/x")
    )
    assert version.parent_model == f"{PARENT}/models/x" and not version.model_id

    # What Vertex returns for that upload: the resource name (with the project number) and the
    # version; the request gave the version its aliases, `default` among them.
    assert list(request.model.version_aliases) == ["champion", "default"]
    served = v1.Model(
        request.model, name=f"projects/123456789/locations/europe-west4/models/{attrs['id']}", version_id="1"
    )
    assert translate.model_from_api(to_dict(served)) == attrs


def test_alias_changes() -> None:
    assert translate.alias_changes(["default"], ["champion", "default"]) == ["champion"]
    assert translate.alias_changes(["default", "old"], ["default"]) == ["-old"]
    assert translate.model_aliases(["champion"]) == ["champion", "default"]


# ----------------------------------------------------------------------------------- endpoints
def variant(name: str, **over: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "model": "churn-xgb-0a1b2c3d",
        "model_version": "2",
        "machine_type": "n1-standard-4",
        "min_replicas": 1,
        "max_replicas": 3,
        "traffic_percent": 50,
        "deployed_model_id": f"{name}-id",
    }
    return {**base, **over}


def test_deployed_model_is_valid_and_reads_back_as_the_variant() -> None:
    want = variant("blue", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1, traffic_percent=80)
    body = translate.deployed_model(PARENT, want)
    assert body["model"] == f"{PARENT}/models/churn-xgb-0a1b2c3d@2"
    dm = v1.DeployedModel(body, id="blue-id", model_version_id="2")
    dm.model = f"projects/123456789/locations/europe-west4/models/{want['model']}"  # as Vertex says it
    assert translate.variant_from_api(to_dict(dm), {"blue-id": 80}) == want


def test_endpoint_reads_back_in_the_prior_order_with_its_rollout() -> None:
    endpoint = v1.Endpoint(
        name="projects/123/locations/europe-west4/endpoints/churn-api-0a1b2c3d",
        display_name="churn-api",
        deployed_models=[
            v1.DeployedModel(
                translate.deployed_model(PARENT, variant("green")), id="green-id", model_version_id="2"
            ),
            v1.DeployedModel(
                translate.deployed_model(PARENT, variant("blue")), id="blue-id", model_version_id="2"
            ),
        ],
        traffic_split={"blue-id": 80, "green-id": 20},
        labels={"team": "growth"},
        predict_request_response_logging_config={
            "enabled": True,
            "sampling_rate": 0.2,
            "bigquery_destination": {"output_uri": "bq://acme-ml.serving.churn"},
        },
    )
    prior = {
        "variants": [variant("blue"), variant("green")],
        "rollout": {"strategy": "canary", "canary_percent": 10},
    }
    got = translate.endpoint_from_api(to_dict(endpoint), prior)
    assert got == {
        "id": "churn-api-0a1b2c3d",
        "display_name": "churn-api",
        "variants": [variant("blue", traffic_percent=80), variant("green", traffic_percent=20)],
        "request_logging": {
            "destination": "bq://acme-ml.serving.churn",
            "sample_percent": 20,
            "enabled": True,
        },
        "rollout": {"strategy": "canary", "canary_percent": 10},
        "labels": {"team": "growth"},
    }
    assert translate.live_split(to_dict(endpoint)) == {"blue-id": 80, "green-id": 20}


def test_endpoint_body_and_patch_are_valid() -> None:
    desired = {
        "id": "churn-api-0a1b2c3d",
        "display_name": "churn-api",
        "description": "Churn scoring",
        "variants": [],
        "request_logging": {
            "destination": "bq://acme-ml.serving.churn",
            "sample_percent": 20,
            "enabled": True,
        },
        "labels": {"team": "growth"},
    }
    v1.CreateEndpointRequest(
        parent=PARENT, endpoint=translate.endpoint_body(desired), endpoint_id=desired["id"]
    )
    prior = {**desired, "labels": {"team": "ads"}, "description": "old"}
    body, mask = translate.endpoint_patch(prior, desired)
    assert mask == ["description", "labels"]
    v1.UpdateEndpointRequest(endpoint=body, update_mask={"paths": mask})
    # A field dropped from the stack is in the mask but not the body: Vertex clears it.
    body, mask = translate.endpoint_patch(
        desired, {k: v for k, v in desired.items() if k != "request_logging"}
    )
    assert mask == ["predict_request_response_logging_config"] and body == {}


def test_match_keeps_unchanged_deployments_and_redeploys_changed_ones() -> None:
    live = [
        variant("blue", traffic_percent=80),
        variant("green", traffic_percent=20),
        variant("green", deployed_model_id="stray", traffic_percent=0),  # left by an interrupted apply
        variant("gone", traffic_percent=0),
    ]
    desired = [
        variant("blue", traffic_percent=70),
        variant("green", model_version="3", deployed_model_id=UNKNOWN),
    ]
    fleet = match(live, desired)
    assert fleet.keep == {"blue": "blue-id"}
    assert [v["name"] for v in fleet.deploy] == ["green"]
    assert fleet.retire == ["green-id", "stray", "gone-id"]


# ----------------------------------------------------------------------------------- monitors
def monitor_attrs(**over: Any) -> dict[str, Any]:
    attrs = {
        "id": "4242",
        "display_name": "churn-drift",
        "endpoint": "churn-api-0a1b2c3d",
        "deployed_models": {"champion": "111", "challenger": "222"},
        "interval": "hourly",
        "sample_rate": 0.2,
        "drift": {"default_threshold": 0.2, "thresholds": {"country": 0.4, "tenure_days": 0.3}},
        "skew": {
            "training_dataset": "gs://acme-ml/churn/train/v7.csv",
            "data_format": "csv",
            "target_field": "churned",
            "default_threshold": 0.2,
            "thresholds": {"tenure_days": 0.25},
        },
        "notify": ["ml-oncall@acme.example"],
        "enabled": True,
        "labels": {"mlops-gitops-stack": "churn"},
    }
    return {**attrs, **over}


def test_monitoring_job_round_trips_through_the_sdk_type() -> None:
    attrs = monitor_attrs()
    body = monitoring.job_body(attrs, f"{PARENT}/endpoints/{attrs['endpoint']}")
    job = v1.ModelDeploymentMonitoringJob(
        body, name=f"{PARENT}/modelDeploymentMonitoringJobs/4242", state="JOB_STATE_RUNNING"
    )
    assert job.model_deployment_monitoring_schedule_config.monitor_interval.total_seconds() == 3600
    names = {"111": "champion", "222": "challenger"}
    assert monitoring.job_from_api(to_dict(job), attrs, names) == attrs
    paused = v1.ModelDeploymentMonitoringJob(job, state="JOB_STATE_PAUSED")
    assert monitoring.job_from_api(to_dict(paused), attrs, names)["enabled"] is False
    bigquery = monitor_attrs(skew={**attrs["skew"], "training_dataset": "bq://acme-ml.churn.train"})
    bigquery["skew"].pop("data_format")
    job = v1.ModelDeploymentMonitoringJob(monitoring.job_body(bigquery, "e"), name="j/4242", endpoint="e")
    assert monitoring.job_from_api(to_dict(job), bigquery, names)["skew"] == bigquery["skew"]


def test_monitoring_read_shows_the_objective_that_drifted() -> None:
    attrs = monitor_attrs(skew=None)
    del attrs["skew"]
    job = to_dict(v1.ModelDeploymentMonitoringJob(monitoring.job_body(attrs, "e"), name="j/4242"))
    job["model_deployment_monitoring_objective_configs"][1]["objective_config"][
        "prediction_drift_detection_config"
    ]["default_drift_threshold"]["value"] = 0.9
    assert monitoring.job_from_api(job, attrs, {})["drift"]["default_threshold"] == 0.9


def test_monitored_deployed_models_are_named_by_variant_where_known() -> None:
    attrs = monitor_attrs(deployed_models={"champion": "111", "challenger": "222", "x": "333"})
    job = to_dict(v1.ModelDeploymentMonitoringJob(monitoring.job_body(attrs, "e"), name="j/4242"))
    assert monitoring.watched(job) == ["111", "222", "333"]
    # A deployed model nobody named, or a second one with a taken name, is keyed by its id.
    got = monitoring.job_from_api(job, attrs, {"111": "champion", "222": "champion"})["deployed_models"]
    assert got == {"champion": "111", "222": "222", "333": "333"}


def test_thresholds_for_every_feature_or_for_the_one_a_metric_names() -> None:
    assert monitoring.metric_feature(None) is None and monitoring.metric_feature("accuracy") is None
    assert monitoring.metric_feature("feature_baseline_drift_tenure_days") == "tenure_days"
    assert monitoring.metric_feature("feature_baseline_drift_") is None
    assert monitoring.thresholds(0.3, None, {"country": 0.4}) == {
        "default_threshold": 0.3,
        "thresholds": {"country": 0.4},
    }
    # One named feature: no default (the others are not watched); per-feature values win.
    assert monitoring.thresholds(0.2, "tenure_days", {"country": 0.4}) == {
        "thresholds": {"country": 0.4, "tenure_days": 0.2}
    }
    assert monitoring.thresholds(0.2, "country", {"country": 0.4}) == {"thresholds": {"country": 0.4}}


def test_a_job_without_default_thresholds_round_trips() -> None:
    attrs = monitor_attrs(
        drift={"thresholds": {"tenure_days": 0.2}},
        skew={"training_dataset": "bq://acme-ml.churn.train", "thresholds": {"tenure_days": 0.2}},
    )
    job = v1.ModelDeploymentMonitoringJob(monitoring.job_body(attrs, "e"), name="j/4242", endpoint="e")
    config = job.model_deployment_monitoring_objective_configs[0].objective_config
    assert "default_drift_threshold" not in config.prediction_drift_detection_config
    assert "default_skew_threshold" not in config.training_prediction_skew_detection_config
    read = monitoring.job_from_api(to_dict(job), attrs, {"111": "champion", "222": "challenger"})
    assert (read["drift"], read["skew"]) == (attrs["drift"], attrs["skew"])


def test_monitoring_update_mask_names_only_changed_fields() -> None:
    before = monitor_attrs()
    after = monitor_attrs(deployed_models={"champion": "111", "challenger": "333"}, interval="daily")
    assert monitoring.update_mask(before, after) == [
        "model_deployment_monitoring_objective_configs",
        "model_deployment_monitoring_schedule_config",
    ]
    assert (
        monitoring.data_format("gs://b/t.jsonl") == "jsonl" and monitoring.data_format("bq://p.d.t") is None
    )


# ---------------------------------------------------------------------------------- schedules
def test_cron_with_time_zone_round_trips() -> None:
    assert pipelines.vertex_cron("0 3 * * 1", "Europe/Paris") == "TZ=Europe/Paris 0 3 * * 1"
    assert pipelines.split_cron("TZ=Europe/Paris 0 3 * * 1") == ("0 3 * * 1", "Europe/Paris")
    assert pipelines.split_cron("CRON_TZ=America/New_York 30 2 1 * *") == ("30 2 1 * *", "America/New_York")
    assert pipelines.split_cron("0 3 * * *") == ("0 3 * * *", "UTC")


def test_spec_digests_survive_the_struct_round_trip() -> None:
    spec = pipelines.load_spec(SPEC_FILE)
    definition = pipelines.definition_attributes(spec)
    assert set(definition["tasks"]) == {"extract", "train", "evaluate"}
    # Vertex stores the spec as a Struct: every number comes back a float.
    back = to_dict(v1.PipelineJob(pipeline_spec=spec))["pipeline_spec"]
    assert back["root"]["inputDefinitions"]["parameters"]["max_depth"]["defaultValue"] == 6.0
    assert pipelines.definition_attributes(pipelines.normalise(back)) == definition
    changed = pipelines.normalise(back)
    changed["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]["max_depth"] = {
        "runtimeValue": {"constant": 8}
    }
    after = pipelines.definition_attributes(changed)
    assert after["sha256"] != definition["sha256"]
    assert {k for k in after["tasks"] if after["tasks"][k] != definition["tasks"][k]} == {"train"}


def test_yaml_specs_load_like_json(tmp_path: Path) -> None:
    import json

    import yaml

    spec = json.loads(SPEC_FILE.read_text())
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(spec))
    assert pipelines.load_spec(tmp_path / "train.yaml") == pipelines.load_spec(SPEC_FILE)
    (tmp_path / "bad.json").write_text('{"pipelineInfo": {}}')
    with pytest.raises(pipelines.SpecError, match="not a compiled pipeline spec"):
        pipelines.load_spec(tmp_path / "bad.json")


def test_parameter_problems() -> None:
    declared = pipelines.declared_parameters(pipelines.load_spec(SPEC_FILE))
    assert pipelines.parameter_problems({"training_table": "bq://p.d.t", "max_depth": 8}, declared) == []
    assert pipelines.parameter_problems(
        {"max_depth": "eight", "learning_rate": True, "epochs": 3}, declared
    ) == [
        "max_depth: the pipeline declares it NUMBER_INTEGER; got 'eight'",
        "learning_rate: the pipeline declares it NUMBER_DOUBLE; got True",
        "epochs: the pipeline declares no such parameter "
        "(it has: learning_rate, max_depth, min_auc, training_table)",
        "training_table: the pipeline requires this parameter and has no default for it",
    ]


def test_schedule_body_is_valid_and_reads_back() -> None:
    spec = pipelines.load_spec(SPEC_FILE)
    attrs = {
        "id": "987",
        "display_name": "churn-retrain",
        "cron": "0 3 * * 1",
        "timezone": "Europe/Paris",
        "pipeline": {"definition": pipelines.definition_attributes(spec)},
        "parameters": {
            "training_table": "bq://acme-ml.churn.sessions",
            "max_depth": 8,
            "learning_rate": 0.05,
        },
        "max_concurrent_runs": 1,
        "enabled": True,
        "pipeline_root": "gs://acme-ml-staging/pipeline-root",
        "service_account": "pipelines@acme-ml.iam.gserviceaccount.com",
        "labels": {"mlops-gitops-stack": "churn"},
    }
    schedule = v1.Schedule(
        pipelines.schedule_body(attrs, PARENT, spec), name=f"{PARENT}/schedules/987", state="ACTIVE"
    )
    assert schedule.cron == "TZ=Europe/Paris 0 3 * * 1"
    assert pipelines.schedule_from_api(to_dict(schedule)) == attrs
    templated = {
        **attrs,
        "pipeline": {"template_uri": "https://europe-west4-kfp.pkg.dev/acme-ml/pipelines/churn-train/v3"},
    }
    schedule = v1.Schedule(pipelines.schedule_body(templated, PARENT, None), name="s/987", state="PAUSED")
    assert pipelines.schedule_from_api(to_dict(schedule)) == {**templated, "enabled": False}
    assert pipelines.update_mask(attrs, {**attrs, "timezone": "UTC", "parameters": {}}) == [
        "cron",
        "create_pipeline_job_request",
    ]
