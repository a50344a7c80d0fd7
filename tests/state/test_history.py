"""The state's history: events bounded and kept with the state, who and where from, and how
`mlops history` selects and prints them."""

from __future__ import annotations

from mlops_gitops.render.history import history_document, render_history
from mlops_gitops.state import history
from mlops_gitops.state.history import EVENT_LIMIT, Event
from mlops_gitops.state.model import StateDoc


def event(n: int, address: str = "endpoint.api", **kw: object) -> Event:
    return Event(at=f"2026-12-04T00:00:{n % 60:02d}Z", address=address, event="deployed", by="ci", **kw)  # type: ignore[arg-type]


def test_events_round_trip_with_the_state_and_the_oldest_go_beyond_the_limit() -> None:
    doc = StateDoc.new("s")
    for n in range(EVENT_LIMIT + 3):
        doc.add_event(event(n, detail={"n": n}))
    assert len(doc.events) == EVENT_LIMIT and doc.events[0].detail == {"n": 3}
    again = StateDoc.from_json(doc.to_json())
    assert again.events == doc.events


def test_who_and_where_from_come_from_the_ci() -> None:
    env = {
        "GITHUB_ACTOR": "octocat",
        "GITHUB_SHA": "abc123",
        "GITHUB_RUN_ID": "42",
        "GITHUB_REPOSITORY": "o/r",
    }
    assert history.actor(env) == "octocat"
    assert history.actor({**env, "MLOPS_ACTOR": "release-bot"}) == "release-bot"
    assert history.source(env) == {"commit": "abc123", "run": "https://github.com/o/r/actions/runs/42"}
    assert "@" in history.actor({})  # user@host outside CI
    assert history.source({}) == {}


def test_what_a_change_of_serving_means() -> None:
    def view(*rows: tuple[str, str, float]) -> dict[str, object]:
        return {"variants": [{"name": n, "model": m, "traffic_percent": p} for n, m, p in rows]}

    assert history.endpoint_event(None, view(("a", "m1", 100))) == "deployed"
    assert history.endpoint_event(view(("a", "m1", 100)), view(("a", "m2", 100))) == "deployed"
    assert (
        history.endpoint_event(view(("a", "m1", 90), ("b", "m2", 10)), view(("a", "m1", 50), ("b", "m2", 50)))
        == "promoted"
    )
    assert history.endpoint_event(view(("a", "m1", 100)), view(("a", "m1", 100))) == "updated"


def test_a_models_history_includes_the_endpoint_events_that_name_it() -> None:
    serving = [{"variant": "green", "model": "fraud-v7", "traffic_percent": 10.0}]
    events = [
        event(1, detail={"serving": serving}),  # type: ignore[dict-item]
        event(2, address="endpoint.other", detail={"serving": [{"variant": "a", "model": "x"}]}),  # type: ignore[dict-item]
        Event(
            at="2026-12-04T00:00:03Z",
            address="model.fraud-v7",
            event="retired",
            by="ci",
            reason="drifted",
            detail={"decided_by": "ml-platform", "archived": True},
        ),
    ]
    doc = history_document("s", None, events, "model.fraud-v7", None)
    assert [e["address"] for e in doc["events"]] == ["endpoint.api", "model.fraud-v7"]
    text = render_history(doc)
    assert text.index("model.fraud-v7  retired  by ci") < text.index("endpoint.api  deployed")
    assert "why: drifted" in text and "decided by: ml-platform; archived, artifacts kept" in text
    assert "serves: green fraud-v7 10%" in text
    assert history_document("s", None, events, None, 1)["events"][0]["address"] == "model.fraud-v7"
    assert "No history of model.x yet." in render_history(history_document("s", None, [], "model.x", None))
