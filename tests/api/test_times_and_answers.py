"""Every time the API accepts is one the store writes fixed width and reads back; implausible ones are 422.
As-of before a proposition existed says so; confirm names its evidence; a failed follow-up reaches the caller."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Api, register, suggest
from tracker.domain import evidence as evidence_domain
from tracker.projections.tables import evidence
from tracker.repository.unit_of_work import evidence_stream
from tracker.store.envelope import iso, parse_iso

FIXED_WIDTH = len("2025-04-01T08:00:00.000000Z")
_numbers = itertools.count()


def attach(api: Api, pid: str, published_at: str, **changes: str) -> object:
    n = next(_numbers)
    body = {"url": f"https://news.example.org/item-{n}", "title": f"Strikes on substations number {n}",
            "published_at": published_at, "stance": "supports", **changes}
    return api.client.post(f"/propositions/{pid}/evidence", json=body, headers=api.auth("editor"))


@pytest.mark.parametrize("published_at", [
    "0539-09-19T15:45:09Z", "1899-12-31T23:59:59Z", "1900-01-01T01:00:00+02:00", "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:00:00-05:00",
])
def test_implausible_published_times_are_422(api: Api, published_at: str) -> None:
    register(api.tracker, "p1")
    head = api.head()
    answer = attach(api, "p1", published_at)
    assert answer.status_code == 422, answer.text
    assert "published_at" in answer.json()["detail"]
    assert api.head() == head


def test_a_publication_more_than_a_day_ahead_is_422(api: Api) -> None:
    register(api.tracker, "p1")
    ahead = datetime.now(UTC) + timedelta(days=2)
    assert attach(api, "p1", ahead.isoformat()).status_code == 422
    assert attach(api, "p1", (ahead - timedelta(days=1, hours=2)).isoformat()).status_code == 201


@pytest.mark.parametrize("published_at", ["0539-09-19", "1899-01-01", "2999-01-01"])
def test_a_source_with_an_implausible_date_is_422_not_500(api: Api, published_at: str) -> None:
    answer = api.client.post("/sources", json={
        "title": "An old text", "outlet": "Example Daily", "published_at": published_at,
        "text": "Moscow will almost certainly reject the offer."}, headers=api.auth("editor"))
    assert answer.status_code == 422, answer.text


def test_deadlines_before_1900_are_422_and_far_ones_are_kept(api: Api) -> None:
    body = {"kind": "prediction", "statement": "The truce will hold for a very long time."}
    old = api.client.post("/propositions", json={**body, "id": "old", "resolve_by": "0539-09-19"},
                          headers=api.auth("editor"))
    assert old.status_code == 422, old.text
    far = api.client.post("/propositions", json={**body, "id": "far", "resolve_by": "2999-12-31"},
                          headers=api.auth("editor"))
    assert far.status_code == 201, far.text
    assert api.client.get("/propositions/far", headers=api.auth("reader")).json()["resolve_by"] == "2999-12-31"


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moment=st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime.now() - timedelta(days=1),
                           timezones=st.one_of(st.none(), offsets)))
def test_every_accepted_time_round_trips_through_store_and_read_models(api_any: Api, moment: datetime) -> None:
    api = api_any
    if api.tracker.load("proposition-rt").state is None:
        register(api.tracker, "rt")
    answer = attach(api, "rt", moment.isoformat())
    assert answer.status_code == 201, answer.text
    expected = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    evidence_id = answer.json()["evidence_id"]
    with api.store.engine.connect() as connection:
        stored = connection.execute(
            sa.select(evidence.c.published_at).where(evidence.c.evidence_id == evidence_id)).scalar_one()
    assert stored == iso(expected) and len(stored) == FIXED_WIDTH
    assert parse_iso(stored) == expected
    events = api.tracker.store.read_stream(evidence_stream(evidence_id))
    assert events[0].payload["published_at"] == stored and events[0].occurred_at == stored
    queue = api.client.get("/matches", params={"state": "confirmed", "proposition_id": "rt", "limit": 200},
                           headers=api.auth("reader")).json()["items"]
    assert stored in {item["evidence"]["published_at"] for item in queue}


def test_as_of_before_the_proposition_was_recorded_says_not_yet_recorded(api: Api) -> None:
    register(api.tracker, "p1")
    first = api.tracker.store.read_stream("proposition-p1")[0].recorded_at
    for as_of in ("2001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "1000-06-01"):
        answer = api.client.get("/propositions/p1", params={"as_of": as_of}, headers=api.auth("reader"))
        assert answer.status_code == 404, answer.text
        problem = answer.json()
        assert problem["type"].endswith("/not-yet-recorded") and problem["recorded_at"] == first
        assert "not yet recorded" in problem["detail"]
    later = api.client.get("/propositions/p1", params={"as_of": "9999-12-31T23:59:59Z"}, headers=api.auth("reader"))
    assert later.status_code == 200 and later.json()["id"] == "p1"
    unknown = api.client.get("/propositions/nope", params={"as_of": "2001-01-01T00:00:00Z"},
                             headers=api.auth("reader"))
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("/not-found")


def test_confirm_reject_and_retract_name_their_evidence(api: Api) -> None:
    register(api.tracker, "p1")
    suggest(api.tracker, "p1", "m1", 0.9, evidence_id="ev-one")
    suggest(api.tracker, "p1", "m2", 0.8, evidence_id="ev-two")
    confirmed = api.client.post("/matches/m1/confirm", json={"stance": "supports"}, headers=api.auth("editor"))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["evidence_id"] == "ev-one" and confirmed.json()["match_id"] == "m1"
    retracted = api.client.post("/matches/m1/retract", headers=api.auth("editor"))
    assert retracted.json()["evidence_id"] == "ev-one"
    rejected = api.client.post("/matches/m2/reject", headers=api.auth("editor"))
    assert rejected.json()["evidence_id"] == "ev-two"


def test_a_failed_backfill_is_reported_to_the_caller(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("matcher exploded")

    monkeypatch.setattr("tracker.suggestions.backfill", broken)
    answer = api.client.post("/propositions", json={"kind": "claim", "statement": "Talks took place in Riyadh."},
                             headers=api.auth("editor"))
    assert answer.status_code == 201, answer.text
    (warning,) = answer.json()["warnings"]
    assert "backfill" in warning and "RuntimeError" in warning and "matcher exploded" not in warning
    assert answer.headers["Tracker-Warning"] == warning
    monkeypatch.undo()
    fine = api.client.post("/propositions", json={"kind": "claim", "statement": "Talks took place in Jeddah."},
                           headers=api.auth("editor"))
    assert fine.status_code == 201 and fine.json()["warnings"] == [] and "Tracker-Warning" not in fine.headers


def test_an_old_short_year_in_the_store_no_longer_breaks_the_backfill(api: Api) -> None:
    """Before iso() padded years, a year-539 time was stored as '539-09-19...'; the backfill after every new
    proposition then failed to read it. Such a row still reads back."""
    link = "https://news.example.org/babylon"
    with api.tracker.unit_of_work(actor="user:test") as uow:
        uow.execute(evidence_stream("old-short"), evidence_domain.IngestEvidence(
            evidence_id="old-short", title="Cyrus takes Babylon without a fight", link=link, summary="",
            published_at="539-09-19T15:45:09.000000Z", published_is_fetch_time=False, feed="manual", guid=link,
            language=None, content_hash=hashlib.sha256(b"x").hexdigest()))
    answer = api.client.post("/propositions", json={"kind": "claim", "statement": "Babylon fell without a fight."},
                             headers=api.auth("editor"))
    assert answer.status_code == 201 and answer.json()["warnings"] == [], answer.text
