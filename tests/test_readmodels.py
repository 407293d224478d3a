"""Read models: written in the append's transaction, rebuilt from the events, checked against a rebuild.

Runs on both backends through the `tracker` fixture; the API half reads the same tables over HTTP.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tracker.api.app import create_app
from tracker.domain.errors import UnknownMatch
from tracker.domain.proposition import (
    ConfirmMatch,
    RegisterProposition,
    RejectMatch,
    ResolveProposition,
    SuggestMatch,
)
from tracker.projections import rebuild
from tracker.projections.tables import history, matches, propositions
from tracker.repository.unit_of_work import Tracker
from tracker.service.users import add_user
from tracker.store import EventStore

EDITOR = "user:editor"


def _register(tracker: Tracker, pid: str, **fields: Any) -> None:
    command = RegisterProposition(
        proposition_id=pid,
        kind=fields.pop("kind", "prediction"),
        statement=fields.pop("statement", f"Test statement for {pid}"),
        actors=fields.pop("actors", ("Russia",)),
        topics=fields.pop("topics", ("ceasefire",)),
        stated_confidence=fields.pop("stated_confidence", {"phrase": "very likely", "probability": 0.9}),
        **fields,
    )
    tracker.execute(pid, command, actor="system:seed", expected_version=0)


def _suggest(tracker: Tracker, pid: str, match_id: str, score: float = 0.7) -> None:
    tracker.execute(
        pid, SuggestMatch(match_id, f"ev-{match_id}", score, {"terms": ["truce"]}, "supports"), actor="system:matcher"
    )


def _row(store: EventStore, table: sa.Table, **where: Any) -> dict[str, Any]:
    query = sa.select(table).where(*(table.c[k] == v for k, v in where.items()))
    with store.engine.connect() as connection:
        return dict(connection.execute(query).mappings().one())


def _all(store: EventStore, table: sa.Table) -> list[dict[str, Any]]:
    keys = [c for c in table.primary_key.columns]
    with store.engine.connect() as connection:
        return [dict(r) for r in connection.execute(sa.select(table).order_by(*keys)).mappings()]


def _counts(row: dict[str, Any]) -> tuple[str, int, int, int, int, int]:
    return (
        row["status"], row["supports"], row["contradicts"], row["context"], row["awaiting_review"], row["version"]
    )


def _build_story(tracker: Tracker) -> None:
    """p1 gathers evidence both ways and is resolved; p2 keeps one suggestion pending."""
    _register(tracker, "p1")
    _register(tracker, "p2", kind="claim", stated_confidence=None)
    for match_id in ("m1", "m2", "m3", "m4"):
        _suggest(tracker, "p1", match_id)
    tracker.execute("p1", ConfirmMatch("m1", "supports", note="fits"), actor=EDITOR)
    tracker.execute("p1", ConfirmMatch("m2", "contradicts"), actor=EDITOR)
    tracker.execute("p1", ConfirmMatch("m3", "context"), actor=EDITOR)
    tracker.execute("p1", RejectMatch("m4", reason="off topic"), actor=EDITOR)
    tracker.execute("p1", ResolveProposition("confirmed", evidence_ids=("ev-m1",)), actor=EDITOR)
    _suggest(tracker, "p2", "m5")


def test_live_rows_follow_every_command(tracker: Tracker) -> None:
    store = tracker.store
    _register(tracker, "p1")
    assert _counts(_row(store, propositions, proposition_id="p1")) == ("open", 0, 0, 0, 0, 1)
    _suggest(tracker, "p1", "m1")
    _suggest(tracker, "p1", "m2")
    assert _counts(_row(store, propositions, proposition_id="p1")) == ("open", 0, 0, 0, 2, 3)
    tracker.execute("p1", ConfirmMatch("m1", "supports"), actor=EDITOR)  # + StatusChanged
    assert _counts(_row(store, propositions, proposition_id="p1")) == ("supported", 1, 0, 0, 1, 5)
    tracker.execute("p1", ConfirmMatch("m2", "contradicts"), actor=EDITOR)
    assert _counts(_row(store, propositions, proposition_id="p1")) == ("contested", 1, 1, 0, 0, 7)

    m1 = _row(store, matches, match_id="m1")
    assert (m1["proposition_id"], m1["evidence_id"], m1["state"]) == ("p1", "ev-m1", "confirmed")
    assert m1["stance"] == "supports"
    assert m1["automatic"] is False and json.loads(m1["explanation"]) == {"terms": ["truce"]}

    tracker.execute("p1", ResolveProposition("refuted"), actor=EDITOR)
    row = _row(store, propositions, proposition_id="p1")
    assert _counts(row) == ("refuted", 1, 1, 0, 0, 9)
    assert row["outcome"] == "refuted" and row["brier"] == pytest.approx(0.81)
    assert json.loads(row["actors"]) == ["Russia"] and row["probability"] == pytest.approx(0.9)

    rows = [r for r in _all(store, history) if r["stream_id"] == "proposition-p1"]
    assert [r["stream_version"] for r in rows] == list(range(1, 10))
    assert [r["event_type"] for r in rows] == [
        "PropositionRegistered", "MatchSuggested", "MatchSuggested", "MatchConfirmed", "StatusChanged",
        "MatchConfirmed", "StatusChanged", "PropositionResolved", "StatusChanged",
    ]
    assert [r["actor"] for r in rows][:2] == ["system:seed", "system:matcher"]
    assert [r["position"] for r in rows] == [e.position for e in store.read_stream("proposition-p1")]


def test_refused_command_leaves_read_models_alone(tracker: Tracker) -> None:
    _register(tracker, "p1")
    before = _all(tracker.store, propositions), _all(tracker.store, history)
    with pytest.raises(UnknownMatch):
        tracker.execute("p1", ConfirmMatch("nope", "supports"), actor=EDITOR)
    assert (_all(tracker.store, propositions), _all(tracker.store, history)) == before


def test_replay_rebuilds_identical_tables_and_check_finds_tampering(tracker: Tracker) -> None:
    store = tracker.store
    _build_story(tracker)
    assert rebuild.check(store) == []
    live = {t.name: _all(store, t) for t in (propositions, matches, history)}
    assert len(live["matches"]) == 5 and len(live["history"]) == store.head()

    progress: list[int] = []
    assert rebuild.replay(store, progress=progress.append) == store.head()
    assert sum(progress) == store.head()
    assert {t.name: _all(store, t) for t in (propositions, matches, history)} == live

    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE propositions SET status = 'refuted' WHERE proposition_id = 'p1'"))
    differences = rebuild.check(store)
    assert len(differences) == 1, differences
    assert "propositions" in differences[0] and "'p1'" in differences[0] and "status" in differences[0]
    assert "'refuted'" in differences[0] and "'confirmed'" in differences[0]

    rebuild.replay(store)
    assert rebuild.check(store) == []
    assert _row(store, propositions, proposition_id="p1")["status"] == "confirmed"


def test_check_notices_missing_and_extra_rows(tracker: Tracker) -> None:
    store = tracker.store
    _build_story(tracker)
    with store.engine.begin() as connection:
        connection.execute(sa.delete(matches).where(matches.c.match_id == "m5"))
        connection.execute(sa.delete(history).where(history.c.position == 1))
    differences = rebuild.check(store)
    assert len(differences) == 2, differences
    assert any("matches" in d and "'m5'" in d and "missing" in d for d in differences)
    assert any("history" in d and "(1,)" in d and "missing" in d for d in differences)


def test_replay_to_a_position_stops_there(tracker: Tracker) -> None:
    store = tracker.store
    _build_story(tracker)
    head = store.head()
    assert rebuild.replay(store, to=3) == 3
    assert [r["position"] for r in _all(store, history)] == [1, 2, 3]
    # positions 1-3: p1 registered, p2 registered, first suggestion on p1
    assert _counts(_row(store, propositions, proposition_id="p1")) == ("open", 0, 0, 0, 1, 2)
    assert _all(store, matches)[0]["match_id"] == "m1" and len(_all(store, matches)) == 1
    assert rebuild.check(store) != []  # the live tables now lag the log
    assert rebuild.replay(store) == head
    assert rebuild.check(store) == []


# ---- through the API ------------------------------------------------------------------------------

@pytest.fixture
def client(tracker: Tracker) -> TestClient:
    """A client that reads as a real user: every request carries a reader's bearer token."""
    token = add_user(tracker.store.engine, "reader", "reader")
    return TestClient(create_app(tracker.store), headers={"Authorization": f"Bearer {token}"})


def test_overdue_flag_and_filter(tracker: Tracker, client: TestClient) -> None:
    _register(tracker, "late", resolve_by="2020-01-01")
    _register(tracker, "future", resolve_by="2999-12-31")
    _register(tracker, "undated")
    _register(tracker, "late-but-resolved", resolve_by="2020-01-01")
    tracker.execute("late-but-resolved", ResolveProposition("annulled"), actor=EDITOR)

    everything = {p["id"]: p for p in client.get("/propositions").json()["items"]}
    assert {k: v["overdue"] for k, v in everything.items()} == {
        "future": False, "late": True, "late-but-resolved": False, "undated": False,
    }
    assert [p["id"] for p in client.get("/propositions", params={"overdue": "true"}).json()["items"]] == ["late"]
    on_time = client.get("/propositions", params={"overdue": "false"}).json()["items"]
    assert sorted(p["id"] for p in on_time) == ["future", "late-but-resolved", "undated"]
    assert client.get("/propositions/late").json()["overdue"] is True


def test_list_reports_counts_from_the_read_model(tracker: Tracker, client: TestClient) -> None:
    _build_story(tracker)
    items = {p["id"]: p for p in client.get("/propositions").json()["items"]}
    assert items["p1"]["status"] == "confirmed"
    assert items["p1"]["evidence"] == {"supports": 1, "contradicts": 1, "context": 1}
    assert (items["p2"]["status"], items["p2"]["awaiting_review"]) == ("open", 1)
    assert [p["id"] for p in client.get("/propositions", params={"status": "confirmed"}).json()["items"]] == ["p1"]


def test_one_proposition_has_an_etag_and_an_earlier_state(tracker: Tracker, client: TestClient) -> None:
    _register(tracker, "p1")
    _suggest(tracker, "p1", "m1")
    between = tracker.store.read_stream("proposition-p1")[-1].recorded_at
    time.sleep(0.002)  # the next command must be recorded strictly later
    tracker.execute("p1", ConfirmMatch("m1", "supports"), actor=EDITOR)

    now = client.get("/propositions/p1")
    assert now.status_code == 200 and now.headers["etag"] == '"4"'
    assert (now.json()["status"], now.json()["version"], now.json()["evidence"]["supports"]) == ("supported", 4, 1)

    earlier = client.get("/propositions/p1", params={"as_of": between})
    assert earlier.status_code == 200 and earlier.headers["etag"] == '"2"'
    body = earlier.json()
    assert (body["status"], body["version"], body["awaiting_review"], body["as_of"]) == ("open", 2, 1, between)

    history_body = client.get("/propositions/p1/history").json()
    assert [h["stream_version"] for h in history_body] == [1, 2, 3, 4]


def test_unknown_proposition_is_a_404_problem(tracker: Tracker, client: TestClient) -> None:
    for path in ("/propositions/nope", "/propositions/nope/history"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 404 and "nope" in response.json()["detail"]
