"""Editors' controls over the matcher through the API: mute, unmute, the evidence window, bulk reject."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.api.conftest import Api, register
from tracker.domain import evidence as evidence_domain
from tracker.domain import proposition as domain
from tracker.repository.unit_of_work import evidence_stream, proposition_stream
from tracker.store.schema import events

PROBLEM = "application/problem+json"


def item(api: Api, pid: str, evidence_id: str, score: float, *, feed: str = "wire",
         published: str = "2025-04-01T08:00:00.000000Z") -> str:
    """An ingested item suggested to `pid` with `score`; returns the match id."""
    match_id = domain.match_id_for(pid, evidence_id)
    with api.tracker.unit_of_work(actor="system:test") as uow:
        if uow.load(evidence_stream(evidence_id)).state is None:
            uow.execute(evidence_stream(evidence_id), evidence_domain.IngestEvidence(
                evidence_id=evidence_id, title=f"Item {evidence_id}", link=f"https://news.example.org/{evidence_id}",
                summary="", published_at=published, published_is_fetch_time=False, feed=feed, guid=evidence_id,
                language="en", content_hash=evidence_id,
            ))
        uow.execute(proposition_stream(pid), domain.SuggestMatch(
            match_id=match_id, evidence_id=evidence_id, score=score, suggested_stance="supports"))
    return match_id


def queue(api: Api, state: str = "suggested") -> set[str]:
    page = api.client.get("/matches", params={"state": state, "limit": 200}, headers=api.auth("reader"))
    return {m["id"] for m in page.json()["items"]}


def test_mute_unmute_and_window_show_in_the_detail_with_if_match(api_any: Api) -> None:
    api = api_any
    register(api.tracker, "p1")
    detail = api.client.get("/propositions/p1", headers=api.auth("reader"))
    assert detail.json()["muted"] is False and detail.json()["muted_reason"] is None
    assert detail.json()["evidence_window"] == {"not_before": None, "not_after": None}
    etag = detail.headers["etag"]

    muted = api.client.post("/propositions/p1/mute", json={"reason": "too noisy"},
                            headers=api.auth("editor", if_match=etag))
    assert muted.status_code == 200, muted.text
    assert muted.json()["proposition"]["muted"] is True
    assert muted.json()["proposition"]["muted_reason"] == "too noisy"
    assert [e["event_type"] for e in muted.json()["events"]] == ["MatchingMuted"]
    stale = api.client.post("/propositions/p1/unmute", headers=api.auth("editor", if_match=etag))
    assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
    again = api.client.post("/propositions/p1/mute", headers=api.auth("editor"))
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    assert "already muted" in again.json()["detail"]
    assert api.client.get("/propositions/p1", headers=api.auth("reader")).json()["muted"] is True

    unmuted = api.client.post("/propositions/p1/unmute", headers=api.auth("editor", if_match=muted.headers["etag"]))
    assert unmuted.status_code == 200, unmuted.text
    assert unmuted.json()["proposition"]["muted"] is False
    assert api.client.post("/propositions/p1/unmute", headers=api.auth("editor")).status_code == 409

    window = api.client.post("/propositions/p1/evidence-window",
                             json={"not_before": "2025-04-01", "not_after": "2025-04-30", "reason": "the pause"},
                             headers=api.auth("editor"))
    assert window.status_code == 200, window.text
    assert window.json()["proposition"]["evidence_window"] == {"not_before": "2025-04-01", "not_after": "2025-04-30"}
    shown = api.client.get("/propositions/p1", headers=api.auth("reader")).json()
    assert shown["evidence_window"] == {"not_before": "2025-04-01", "not_after": "2025-04-30"}
    opened = api.client.post("/propositions/p1/evidence-window", json={"not_after": "2025-05-31"},
                             headers=api.auth("editor"))
    assert opened.json()["proposition"]["evidence_window"] == {"not_before": None, "not_after": "2025-05-31"}
    history = api.client.get("/propositions/p1/history", headers=api.auth("reader")).json()
    assert [(h["event_type"], h["actor"]) for h in history][-4:] == [
        ("MatchingMuted", "user:editor"), ("MatchingUnmuted", "user:editor"),
        ("EvidenceWindowSet", "user:editor"), ("EvidenceWindowSet", "user:editor")]


def test_controls_refuse_bad_requests_as_problems(api: Api) -> None:
    register(api.tracker, "p1")
    cases = [
        ("/propositions/p1/evidence-window", {"not_before": "2025-05-01", "not_after": "2025-04-01"}, 422),
        ("/propositions/p1/evidence-window", {"not_before": "not a date"}, 422),
        ("/propositions/p1/evidence-window", {"bogus": 1}, 422),
        ("/propositions/p1/evidence-window", {}, 422),  # the window is open already: changes nothing
        ("/propositions/nope/mute", {}, 404),
        ("/propositions/nope/evidence-window", {"not_after": "2025-04-01"}, 404),
    ]
    for path, body, status in cases:
        response = api.client.post(path, json=body, headers=api.auth("editor"))
        assert response.status_code == status, (path, body, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert api.client.post("/propositions/p1/mute", headers=api.auth("reader")).status_code == 403
    assert api.client.post("/propositions/p1/mute").status_code == 401
    assert api.client.post("/matches/reject", json={"feed": "wire"}, headers=api.auth("reader")).status_code == 403


def _rejections(api: Api) -> list[tuple[int, str, str | None, dict]]:
    with api.store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(events.c.position, events.c.stream_id, events.c.correlation_id, events.c.payload)
            .where(events.c.event_type == "MatchRejected").order_by(events.c.position)
        ).all()
    return [(p, s, c, json.loads(x) if isinstance(x, str) else x) for p, s, c, x in rows]


def test_bulk_reject_rejects_exactly_the_filtered_part_in_one_transaction(api_any: Api) -> None:
    api = api_any
    register(api.tracker, "p1")
    register(api.tracker, "p2", "Kyiv will get more air defence")
    low_wire = item(api, "p1", "e1", 0.30)
    low_wire_late = item(api, "p1", "e2", 0.35, published="2025-05-02T08:00:00.000000Z")
    high_wire = item(api, "p1", "e3", 0.90)
    low_other_feed = item(api, "p1", "e4", 0.20, feed="tass")
    other_proposition = item(api, "p2", "e5", 0.25)
    confirmed = item(api, "p1", "e6", 0.10)
    api.tracker.execute("p1", domain.ConfirmMatch(confirmed, "supports"), actor="user:test")

    body = {"proposition_id": "p1", "feed": "wire", "max_score": 0.5, "published_before": "2025-05-01T00:00:00Z",
            "reason": "wire noise"}
    preview = api.client.post("/matches/reject", json={**body, "dry_run": True}, headers=api.auth("editor"))
    assert preview.status_code == 200, preview.text
    assert preview.json()["match_ids"] == [low_wire] and preview.json()["rejected"] == 0
    assert preview.json()["events"] == [] and not _rejections(api)

    version = api.client.get("/propositions/p1", headers=api.auth("reader")).headers["etag"]
    done = api.client.post("/matches/reject", json=body, headers=api.auth("editor", if_match=version,
                                                                           x_request_id="bulk-1"))
    assert done.status_code == 200, done.text
    assert done.json()["rejected"] == 1 and done.json()["match_ids"] == [low_wire]
    assert done.json()["correlation_id"] == "bulk-1"
    assert done.headers["etag"] == f'"{int(version.strip(chr(34))) + 1}"'
    recorded_filter = {"state": "suggested", "proposition_id": "p1", "feed": "wire", "max_score": 0.5,
                       "published_before": "2025-05-01T00:00:00.000000Z"}
    assert done.json()["filter"] == recorded_filter
    assert queue(api) == {low_wire_late, high_wire, low_other_feed, other_proposition}

    # across propositions: every low score, whatever the feed
    wide = api.client.post("/matches/reject", json={"max_score": 0.4, "reason": "low"},
                           headers=api.auth("editor", x_request_id="bulk-2"))
    assert wide.status_code == 200, wide.text
    assert sorted(wide.json()["match_ids"]) == sorted([low_wire_late, low_other_feed, other_proposition])
    assert queue(api) == {high_wire}
    assert queue(api, "confirmed") == {confirmed}  # a confirmed match is not in the queue: untouched

    rejections = _rejections(api)
    assert [r[3]["match_id"] for r in rejections][0] == low_wire
    second = [r for r in rejections if r[2] == "bulk-2"]
    positions = [r[0] for r in second]
    assert len(second) == 3 and positions == list(range(positions[0], positions[0] + 3))  # contiguous
    assert {r[1] for r in second} == {"proposition-p1", "proposition-p2"}
    assert all(r[3]["bulk_filter"] == {"state": "suggested", "max_score": 0.4} and r[3]["reason"] == "low"
               for r in second)
    assert [e["position"] for e in wide.json()["events"]] == positions


def test_bulk_reject_refuses_an_empty_filter_unless_all(api: Api) -> None:
    register(api.tracker, "p1")
    a, b = item(api, "p1", "e1", 0.3), item(api, "p1", "e2", 0.8)
    head = api.head()
    for body in ({}, {"reason": "everything"}, {"all": False}):
        refused = api.client.post("/matches/reject", json=body, headers=api.auth("editor"))
        assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"].endswith("/empty-filter")
    bad = [{"state": "confirmed", "feed": "wire"}, {"max_score": "high"}, {"feed": "wire", "extra": 1},
           {"published_before": "yesterday"}]
    for body in bad:
        assert api.client.post("/matches/reject", json=body, headers=api.auth("editor")).status_code == 422
    no_proposition = api.client.post("/matches/reject", json={"feed": "wire"},
                                     headers=api.auth("editor", if_match='"3"'))
    assert no_proposition.status_code == 422
    assert no_proposition.json()["type"].endswith("/if-match-not-applicable")
    assert api.client.post("/matches/reject", json={"proposition_id": "nope"},
                           headers=api.auth("editor")).status_code == 404
    stale = api.client.post("/matches/reject", json={"proposition_id": "p1"},
                            headers=api.auth("editor", if_match='"1"'))
    assert stale.status_code == 412
    assert api.head() == head
    everything = api.client.post("/matches/reject", json={"all": True}, headers=api.auth("editor"))
    assert everything.status_code == 200, everything.text
    assert sorted(everything.json()["match_ids"]) == sorted([a, b])
    assert everything.json()["filter"] == {"state": "suggested", "all": True}
    nothing_left = api.client.post("/matches/reject", json={"all": True}, headers=api.auth("editor"))
    assert nothing_left.json()["rejected"] == 0 and nothing_left.json()["events"] == []


def test_a_bulk_reject_is_idempotent_with_a_key(api: Api) -> None:
    register(api.tracker, "p1")
    item(api, "p1", "e1", 0.3)
    first = api.client.post("/matches/reject", json={"feed": "wire"}, headers=api.auth("editor", idempotency_key="k1"))
    head = api.head()
    second = api.client.post("/matches/reject", json={"feed": "wire"}, headers=api.auth("editor", idempotency_key="k1"))
    assert second.json() == first.json() and second.headers.get("idempotent-replayed") == "true"
    assert api.head() == head
