"""The hot reads answer from the read model and encode once: their bodies must equal what the response models made
from the folded stream (the old path), on SQLite and PostgreSQL."""

from __future__ import annotations

from tracker.api.propositions import detail_from_state
from tracker.api.schemas import PropositionDetail
from tracker.domain import proposition as domain

from .conftest import Api, register, suggest


def _folded(api: Api, pid: str) -> dict:
    loaded = api.tracker.proposition(pid)
    return detail_from_state(loaded.state, loaded.version, None).model_dump(mode="json")


def test_detail_from_the_read_model_equals_the_folded_stream(api_any: Api) -> None:
    t = api_any.tracker
    register(t, "plain")
    register(t, "bare", kind="claim", statement="Bare claim: no confidence at all")
    t.execute("bare", domain.AmendProposition({"stated_confidence": None}), actor="user:test")
    register(t, "full", statement="Prices will fall «quickly»", actors=("Ukraine", "Russia"), topics=("energy",),
             resolve_by="2020-01-01", condition="if talks resume", resolution_criteria="a signed text",
             locator={"paragraph": 3}, match_profile={"must": ["energy"]}, source_id=None)
    suggest(t, "full", "m1", 0.9)
    suggest(t, "full", "m2", 0.8)
    suggest(t, "full", "m3", 0.7)
    t.execute("full", domain.ConfirmMatch("m1", "supports"), actor="user:test")
    t.execute("full", domain.ConfirmMatch("m2", "contradicts"), actor="user:test")
    t.execute("full", domain.MuteMatching("noisy"), actor="user:test")
    t.execute("full", domain.SetEvidenceWindow("2019-01-01", "2020-06-30"), actor="user:test")
    register(t, "done", resolve_by="2020-01-01")
    suggest(t, "done", "d1", 0.9, evidence_id="ev-d1")
    t.execute("done", domain.ConfirmMatch("d1", "supports"), actor="user:test")
    t.execute("done", domain.ResolveProposition("confirmed", "it happened", ("ev-d1",)), actor="user:test")
    register(t, "unmuted")
    t.execute("unmuted", domain.MuteMatching(), actor="user:test")
    t.execute("unmuted", domain.UnmuteMatching(), actor="user:test")
    t.execute("unmuted", domain.SetEvidenceWindow("2019-01-01", None), actor="user:test")
    t.execute("unmuted", domain.SetEvidenceWindow(None, None), actor="user:test")
    for pid in ("plain", "bare", "full", "done", "unmuted"):
        answer = api_any.client.get(f"/propositions/{pid}", headers=api_any.auth("reader"))
        assert answer.status_code == 200, answer.text
        expected = _folded(api_any, pid)
        assert answer.json() == expected, pid
        assert list(answer.json()) == list(expected)  # the model's field order, too
        assert PropositionDetail.model_validate_json(answer.content).model_dump(mode="json") == expected
        assert answer.headers["etag"] == f'"{expected["version"]}"'
        assert answer.headers["content-type"] == "application/json"
    full = _folded(api_any, "full")
    assert full["muted"] and full["evidence"] == {"supports": 1, "contradicts": 1, "context": 0}
    assert full["awaiting_review"] == 1 and full["overdue"]
    assert _folded(api_any, "done")["resolution"]["outcome"] == "confirmed"


def test_detail_of_an_unknown_proposition_is_a_problem(api_any: Api) -> None:
    answer = api_any.client.get("/propositions/nope", headers=api_any.auth("reader"))
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/not-found")
