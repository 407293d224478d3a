"""The Tracker's cache of committed aggregate states: never stale, never holding uncommitted work.

Two Trackers on one store stand for two processes; each has its own cache. Runs on both backends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.domain.errors import InvalidTransition
from tracker.domain.proposition import AmendProposition, ConfirmMatch, RegisterProposition, SuggestMatch
from tracker.projections import rebuild
from tracker.repository.unit_of_work import Tracker, proposition_stream
from tracker.store import ConcurrencyError, EventStore
from tracker.store.engine import make_engine
from tracker.store.migrate import upgrade


def _register(tracker: Tracker, pid: str) -> None:
    tracker.execute(pid, RegisterProposition(pid, "prediction", f"Statement {pid}"), actor="system:test")


def test_a_second_writer_is_seen_through_the_cache(tracker: Tracker) -> None:
    other = Tracker(tracker.store)
    _register(tracker, "p1")
    tracker.execute("p1", SuggestMatch("m1", "e1", 0.5), actor="user:a")
    assert tracker.cache.get(proposition_stream("p1")) is not None
    other.execute("p1", ConfirmMatch("m1", "supports"), actor="user:b")  # tracker's cached state is now behind
    with pytest.raises(InvalidTransition):  # m1 is confirmed, so it can no longer be confirmed
        tracker.execute("p1", ConfirmMatch("m1", "contradicts"), actor="user:a")
    recorded = tracker.execute("p1", AmendProposition({"statement": "Changed"}), actor="user:a")
    assert recorded[0].stream_version == 5  # registered, suggested, confirmed, status changed, amended
    state, version, digest = tracker.cache.get(proposition_stream("p1"))  # type: ignore[misc]
    assert (state.status, state.statement, version, digest) == ("supported", "Changed", 5, recorded[0].hash)
    assert tracker.proposition("p1").state == state
    assert rebuild.check(tracker.store) == []


def test_a_rolled_back_unit_leaves_the_cache_alone(tracker: Tracker) -> None:
    _register(tracker, "p1")
    before = tracker.cache.get(proposition_stream("p1"))
    with pytest.raises(RuntimeError), tracker.unit_of_work(actor="user:a") as uow:
        uow.execute(proposition_stream("p1"), SuggestMatch("m1", "e1", 0.5))
        raise RuntimeError("abandon the unit")
    assert tracker.cache.get(proposition_stream("p1")) == before
    recorded = tracker.execute("p1", SuggestMatch("m1", "e1", 0.5), actor="user:a", expected_version=1)
    assert recorded[0].stream_version == 2
    with pytest.raises(ConcurrencyError):
        tracker.execute("p1", SuggestMatch("m2", "e2", 0.5), actor="user:a", expected_version=1)
    assert set(tracker.proposition("p1").state.matches) == {"m1"}


def test_a_cached_state_from_another_log_is_dropped(tracker: Tracker, tmp_path: Path) -> None:
    _register(tracker, "p1")
    tracker.execute("p1", SuggestMatch("m1", "e1", 0.5), actor="user:a")
    url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(url)
    other_store = EventStore(make_engine(url))  # same stream id, different events and hashes
    moved = Tracker(other_store)
    moved.cache = tracker.cache
    _register(Tracker(other_store), "p1")
    recorded = moved.execute("p1", SuggestMatch("m9", "e9", 0.5), actor="user:a")
    assert recorded[0].stream_version == 2
    assert set(moved.proposition("p1").state.matches) == {"m9"}
    other_store.engine.dispose()
