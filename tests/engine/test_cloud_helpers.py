"""What the core gives every provider besides retries: error mapping, SDK imports, ownership
markers, framework-image errors and `known`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlops_gitops import paths
from mlops_gitops.cloud_errors import AlreadyExistsError, NotFoundError, map_error, redact
from mlops_gitops.errors import MlopsError, ProviderError, StackError
from mlops_gitops.framework_images import ImageError, unknown_framework, unknown_version, unsupported
from mlops_gitops.ownership import TAGS, Markers
from mlops_gitops.provider import OWNERSHIP_TAG_PATHS, TAG_ADDRESS, TAG_STACK, UNKNOWN, known
from mlops_gitops.retry import Failure, RetryableError, failure_of
from mlops_gitops.sdk import MissingSdkError, import_sdk, install_hint


# ------------------------------------------------------------------------------- error mapping
def test_a_table_kind_picks_the_error_class() -> None:
    gone = map_error("DescribeModel m", "ValidationException", "Could not find model", NotFoundError)
    assert type(gone) is NotFoundError and gone.code == "ValidationException" and not gone.retryable
    assert str(gone) == "DescribeModel m: ValidationException: Could not find model"
    taken = map_error("CreateEndpoint e", "AlreadyExists", "exists", AlreadyExistsError)
    assert isinstance(taken, AlreadyExistsError)
    slow = map_error("GetModel m", "TooManyRequests", "quota", Failure.THROTTLED)
    assert isinstance(slow, RetryableError) and slow.retryable and failure_of(slow) is Failure.THROTTLED
    verdict = map_error("DeleteModel m", "FailedPrecondition", "deployed")
    assert type(verdict) is ProviderError and failure_of(verdict) is None


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET https://admin:hunter2@example.com/x failed", "hunter2"),
        ("https://b.s3.amazonaws.com/k?X-Amz-Signature=abcdef0123&X-Amz-Expires=60", "abcdef0123"),
        ('{"access_token": "tok-12345", "scope": "x"}', "tok-12345"),
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig", "eyJhbGciOiJSUzI1NiJ9"),
        ("key AKIAABCDEFGHIJKLMNOP is not valid", "AKIAABCDEFGHIJKLMNOP"),
        ("token ya29.a0AfH6SMBx-secret rejected", "ya29.a0AfH6SMBx-secret"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----", "MIIEv"),
    ],
)
def test_credentials_never_reach_the_message(text: str, secret: str) -> None:
    error = map_error("Call", "Code", text)
    assert secret not in str(error) and "***" in str(error)


def test_ordinary_messages_are_left_as_they_are() -> None:
    message = (
        "Could not find endpoint arn:aws:sagemaker:us-east-1:123456789012:endpoint/fraud-api "
        "(page_token=abc, ClientToken=1)"
    )
    assert redact(message) == message


# -------------------------------------------------------------------------------- SDK imports
def test_an_installed_sdk_is_imported() -> None:
    assert import_sdk("json", extra="sagemaker") is sys.modules["json"]


def test_a_missing_sdk_names_the_extra_to_install() -> None:
    with pytest.raises(MissingSdkError) as raised:
        import_sdk("no_such_cloud_sdk.v1", extra="acme", package="acme-cloud-sdk")
    assert isinstance(raised.value, MlopsError)
    assert str(raised.value) == "the acme provider needs acme-cloud-sdk: pip install 'mlops-gitops[acme]'"
    assert install_hint("acme") == "pip install 'mlops-gitops[acme]'"


def test_a_missing_dependency_of_the_sdk_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "half_installed_sdk.py").write_text("import no_such_dependency_of_it\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingSdkError, match=r"needs half_installed_sdk \(No module named 'no_such_dep"):
        import_sdk("half_installed_sdk", extra="acme", needed_by="framework images")


# ---------------------------------------------------------------------------- ownership markers
def test_tags_are_the_core_markers_as_they_are() -> None:
    assert TAGS.keys == (TAG_STACK, TAG_ADDRESS)
    assert TAGS.not_drift == OWNERSHIP_TAG_PATHS
    tags = TAGS.add({"team": "risk", TAG_ADDRESS: "forged"}, stack="fraud", address="model.xgb")
    assert tags == {"team": "risk", TAG_STACK: "fraud", TAG_ADDRESS: "model.xgb"}
    assert TAGS.user(tags) == {"team": "risk"}
    assert TAGS.owner(tags) == "model.xgb" and TAGS.owner({}) is None
    assert TAGS.owned_by(tags, address="model.xgb")
    assert TAGS.owned_by(tags, address="model.xgb", stack="fraud")
    assert not TAGS.owned_by(tags, address="model.xgb", stack="other")
    assert not TAGS.owned_by(tags, address="model.other")


def test_a_cloud_encoding_spells_the_markers_its_way() -> None:
    labels = Markers(
        "labels", encode_key=lambda k: k.replace(":", "-"), encode_value=lambda v: v.replace(".", "_")
    )
    marked = labels.of(stack="churn", address="endpoint.churn-api")
    assert marked == {"mlops-gitops-stack": "churn", "mlops-gitops-address": "endpoint_churn-api"}
    assert labels.owned_by(marked, stack="churn", address="endpoint.churn-api")
    assert not labels.owned_by(marked, stack="churn", address="endpoint.other")
    # The paths are in the diff's notation, so the engine matches them.
    assert labels.not_drift == ("labels.mlops-gitops-stack", "labels.mlops-gitops-address")
    assert all(paths.split(p)[0] == "labels" for p in labels.not_drift)


# ----------------------------------------------------------------------- framework-image errors
def test_image_errors_share_one_shape() -> None:
    framework = unknown_framework("Acme", "serving image", "xgbost", ["sklearn", "xgboost"])
    assert isinstance(framework, StackError) and isinstance(framework, ImageError)
    assert str(framework) == (
        "Acme has no prebuilt serving image for 'xgbost' (did you mean 'xgboost'?); known frameworks: "
        "sklearn, xgboost; or give the image URI instead"
    )
    version = unknown_version("Acme", "serving image", "xgboost", "1.77", ["1.5", "1.7"], where=" in mars-1")
    assert str(version) == (
        "Acme has no prebuilt serving image for xgboost 1.77 in mars-1 (did you mean '1.7'?); "
        "supported versions: 1.5, 1.7; or give the image URI instead"
    )
    other = unsupported("Acme", "serving image", "xgboost on GPU", "they are CPU only.")
    assert str(other).endswith("xgboost on GPU: they are CPU only; or give the image URI instead")


# ------------------------------------------------------------------------------------- known
def test_known_drops_unknown_values() -> None:
    attrs = {"arn": UNKNOWN, "variants": [{"model": UNKNOWN, "name": "a"}, UNKNOWN], "name": "x"}
    assert known(attrs) == {"variants": [{"name": "a"}], "name": "x"}
