from mlops_gitops.engine.diff import compare, decide, drift
from mlops_gitops.provider import UNKNOWN, ResourceType

MODEL = ResourceType("model", force_new=("artifact", "image"), computed=("arn",))
ENDPOINT = ResourceType(
    "endpoint", computed=("arn", "config"), not_drift=("current_count",), create_before_destroy=False
)


def prior_model() -> dict:
    return {"name": "m-1", "arn": "arn:1", "artifact": "s3://a", "image": "img", "tags": {"team": "x"}}


def test_create_shows_every_field_and_unknowns() -> None:
    d = decide(MODEL, None, {"name": "m", "arn": UNKNOWN, "artifact": "s3://a"})
    assert d.action == "create"
    assert {c.path: c.after for c in d.changes} == {"name": "m", "arn": UNKNOWN, "artifact": "s3://a"}


def test_identical_is_noop_and_computed_carried_over() -> None:
    desired = {**prior_model(), "arn": UNKNOWN}
    d = decide(MODEL, prior_model(), desired)
    assert d.action == "noop" and d.changes == []
    assert d.after["arn"] == "arn:1"


def test_force_new_field_replaces_and_marks_the_field() -> None:
    desired = {**prior_model(), "arn": UNKNOWN, "artifact": "s3://b", "name": "m-2"}
    d = decide(MODEL, prior_model(), desired)
    assert d.action == "replace"
    by_path = {c.path: c for c in d.changes}
    assert by_path["artifact"].forces_replacement
    assert by_path["name"].forces_replacement  # the id attribute: a new name is a new object
    assert by_path["arn"].after is UNKNOWN  # a new object gets a new ARN


def test_a_new_id_alone_replaces_never_renames_in_place() -> None:
    # After `state mv` an endpoint's desired name may differ from the object's: an update in
    # place would ask the cloud to change an object by a name it does not have.
    d = decide(
        ENDPOINT, {"name": "a", "arn": "x", "config": "c"}, {"name": "b", "arn": UNKNOWN, "config": UNKNOWN}
    )
    assert d.action == "replace"
    assert [c.path for c in d.changes if c.forces_replacement] == ["name"]


def test_tag_change_is_in_place() -> None:
    desired = {**prior_model(), "arn": UNKNOWN, "tags": {"team": "y"}}
    d = decide(MODEL, prior_model(), desired)
    assert d.action == "update"
    assert [(c.path, c.before, c.after) for c in d.changes] == [("tags.team", "x", "y")]


def test_ignore_changes_keeps_prior_value() -> None:
    prior = {"name": "e", "arn": "a", "config": "c1", "variants": [{"count": 2, "weight": 1.0}]}
    desired = {"name": "e", "arn": UNKNOWN, "config": UNKNOWN, "variants": [{"count": 5, "weight": 1.0}]}
    d = decide(ENDPOINT, prior, desired, ignore_changes=["variants[*].count"])
    assert d.action == "noop"
    assert d.after["variants"][0]["count"] == 2


def test_not_drift_fields_never_compared() -> None:
    recorded = {"name": "e", "current_count": 2}
    actual = {"name": "e", "current_count": 7}
    assert drift(ENDPOINT, recorded, actual) == []
    assert [c.path for c in drift(ENDPOINT, recorded, {"name": "f", "current_count": 2})] == ["name"]


def test_tainted_forces_replace_even_without_changes() -> None:
    d = decide(MODEL, prior_model(), {**prior_model(), "arn": UNKNOWN}, tainted=True)
    assert d.action == "replace"


def test_removed_list_item_and_sensitive_marking() -> None:
    changes = compare({"v": [1, 2], "env": {"K": "s"}}, {"v": [1], "env": {"K": "t"}}, sensitive=["env"])
    by_path = {c.path: c for c in changes}
    assert by_path["v[1]"].kind == "remove"
    assert by_path["env.K"].sensitive
    assert by_path["env.K"].document()["before"] == "(sensitive)"
