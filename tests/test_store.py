"""The event store on SQLite and PostgreSQL: envelope, concurrency, immutability, reading, upcasting."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tracker.audit.verify import verify_store
from tracker.store import ConcurrencyError, EventStore, NewEvent
from tracker.store.hashing import GENESIS_HASH


def _events(n: int, kind: str = "Thing") -> list[NewEvent]:
    return [NewEvent(kind, {"n": i, "text": f"é{i}"}) for i in range(n)]


def test_append_fills_the_envelope_and_chains_hashes(store: EventStore) -> None:
    first = store.append("thing-a", 0, _events(2), actor="user:ann", causation_id="c1", correlation_id="r1")
    second = store.append("thing-b", 0, _events(1), actor="system:seed")
    assert [e.position for e in first + second] == [1, 2, 3]
    assert [e.stream_version for e in first] == [1, 2]
    assert first[0].prev_hash == GENESIS_HASH
    assert first[1].prev_hash == first[0].hash
    assert second[0].prev_hash == first[1].hash
    assert first[0].actor == "user:ann" and first[0].causation_id == "c1" and first[0].correlation_id == "r1"
    assert len({e.event_id for e in first + second}) == 3
    read = list(store.read_all())
    assert [e.hash for e in read] == [e.hash for e in first + second]
    assert read[0].payload == {"n": 0, "text": "é0"}
    assert verify_store(store).ok


def test_stale_expected_version_raises_and_writes_nothing(store: EventStore) -> None:
    store.append("thing-a", 0, _events(1), actor="user:ann")
    with pytest.raises(ConcurrencyError) as caught:
        store.append("thing-a", 0, _events(3), actor="user:bob")
    assert caught.value.actual == 1
    assert store.head() == 1
    assert len(store.read_stream("thing-a")) == 1


def test_projection_failure_rolls_back_the_events(store: EventStore) -> None:
    # The unit of work writes read models inside the append's transaction: a failure there leaves no event.
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.append("thing-a", 0, _events(2), actor="user:ann")
        raise RuntimeError("read model update failed")
    assert store.head() == 0


def test_database_refuses_update_and_delete_of_events(store: EventStore) -> None:
    store.append("thing-a", 0, _events(2), actor="user:ann")
    for statement in ("UPDATE events SET actor = 'user:mallory'", "DELETE FROM events WHERE position = 1"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with store.engine.begin() as connection:
                connection.execute(sa.text(statement))
    assert [e.actor for e in store.read_all()] == ["user:ann", "user:ann"]
    assert store.head() == 2


def test_read_all_pages_and_bounds(store: EventStore) -> None:
    for i in range(7):
        store.append(f"thing-{i}", 0, _events(3), actor="user:ann")
    pages = list(store.read_pages(0, page_size=4))
    assert [len(p) for p in pages] == [4, 4, 4, 4, 4, 1]
    assert [e.position for e in store.read_all(after=5, to=9, page_size=2)] == [6, 7, 8, 9]


def test_read_stream_as_of_position_and_time(store: EventStore) -> None:
    first = store.append("thing-a", 0, _events(2), actor="user:ann")
    store.append("thing-b", 0, _events(1), actor="user:ann")
    later = store.append("thing-a", 2, _events(1), actor="user:ann")
    assert [e.stream_version for e in store.read_stream("thing-a")] == [1, 2, 3]
    assert [e.stream_version for e in store.read_stream("thing-a", to_position=3)] == [1, 2]
    assert [e.stream_version for e in store.read_stream("thing-a", as_of=first[-1].recorded_at)] == [1, 2]
    assert len(store.read_stream("thing-a", as_of=later[0].recorded_at)) == 3


def test_old_schema_versions_are_upcast_on_read(store: EventStore) -> None:
    old = NewEvent(
        "PropositionRegistered",
        {"proposition_id": "p1", "kind": "prediction", "statement": "x", "probability": 0.9, "hedge": "very likely"},
        schema_version=1,
    )
    store.append("proposition-p1", 0, [old], actor="system:seed")
    (event,) = store.read_stream("proposition-p1")
    assert event.schema_version == 2
    assert event.payload["stated_confidence"] == {"phrase": "very likely", "probability": 0.9}
    assert "probability" not in event.payload
    with store.engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT schema_version, payload FROM events")).one()
    assert stored[0] == 1 and json.loads(stored[1])["probability"] == 0.9  # the row itself is untouched
