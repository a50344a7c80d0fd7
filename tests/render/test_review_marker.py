"""The hidden marker line of a plan comment (`mlops_gitops.review.marker`)."""

from __future__ import annotations

from mlops_gitops.review.marker import Marker, find, for_plan, plan_digest

DOC = {"stack": {"name": "fraud"}, "created_at": "2026-12-04T10:00:00Z", "resource_changes": []}


def test_the_digest_ignores_when_the_plan_was_made_and_nothing_else() -> None:
    later = {**DOC, "created_at": "2026-12-04T10:01:00Z"}
    assert plan_digest(DOC) == plan_digest(later)
    assert plan_digest(DOC) != plan_digest({**DOC, "resource_changes": [{"address": "model.m"}]})


def test_a_marker_round_trips_through_a_comment_body() -> None:
    marker = for_plan(DOC, "prod")
    body = f"{marker.line()}\n## Plan: fraud (prod)\n"
    assert find(body) == marker
    plain = for_plan(DOC, None)
    assert "environment=-" in plain.line() and find(plain.line()) == plain
    assert find("no marker here") is None


def test_comments_are_the_same_sticky_one_by_stack_and_environment() -> None:
    a, b = Marker("fraud", "prod", "0" * 64), Marker("fraud", "prod", "1" * 64)
    assert a.same_comment(b) and not a.same_comment(Marker("fraud", "dev", "0" * 64))
