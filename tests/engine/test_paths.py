import pytest

from mlops_gitops import paths


def test_split_and_join_round_trip() -> None:
    for p in ["artifact", "variants[0].instance_count", 'tags["mlops-gitops:stack"]', "a.b[2].c"]:
        assert paths.join(list(paths.split(p))) == p


@pytest.mark.parametrize("bad", ["", ".a", "a..b", "a[x]", "a[", "[0]]"])
def test_split_rejects_bad_paths(bad: str) -> None:
    if bad == "":
        assert paths.split(bad) == ()
        return
    with pytest.raises(ValueError):
        paths.split(bad)


def test_pattern_matching_covers_descendants_and_wildcards() -> None:
    assert paths.matches("variants[*].instance_count", "variants[3].instance_count")
    assert not paths.matches("variants[*].instance_count", "variants[3].weight")
    assert paths.matches("environment", "environment.API_KEY")
    assert paths.matches("tags.*", "tags.team")
    assert not paths.matches("environment.X", "environment")


def test_leaves_keep_empty_containers() -> None:
    assert dict(paths.leaves({"a": {}, "b": [], "c": [{"d": 1}]})) == {"a": {}, "b": [], "c[0].d": 1}


def test_get_and_set() -> None:
    doc = {"v": [{"n": 1}], "t": {"k:x": "a"}}
    assert paths.get(doc, "v[0].n") == 1
    assert paths.get(doc, "v[5].n", "missing") == "missing"
    assert paths.set_(doc, 't["k:x"]', "b") and doc["t"]["k:x"] == "b"
    assert not paths.set_(doc, "nope.x", 1)
