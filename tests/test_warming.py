"""Tracker.warm and the Warmer: states folded ahead of a command, outside the append lock, are the states a cold
load gives; a write made after the warm-up is still seen by the command (the cached version's hash is checked)."""

from __future__ import annotations

import threading

from tests.test_uow_preload import _fill
from tracker.domain import proposition as p
from tracker.projections import rebuild
from tracker.repository.unit_of_work import Tracker, _fold, proposition_stream
from tracker.repository.warming import Warmer


def test_store_reads_many_streams_as_the_transaction_does(tracker: Tracker) -> None:
    ids = _fill(tracker)
    streams = [proposition_stream(pid) for pid in [*ids, "never"]]
    with tracker.store.transaction() as tx:
        expected = tx.read_stream_rows(streams)
    assert tracker.store.read_stream_rows(streams) == expected
    assert tracker.store.read_stream_rows([]) == {}


def test_warmed_states_equal_a_cold_load(tracker: Tracker) -> None:
    ids = _fill(tracker)
    streams = [proposition_stream(pid) for pid in [*ids, "never"]]
    tracker.cache.clear()
    assert tracker.warm([*streams, "digest-ledger", streams[0]]) == len(ids)  # no state for "never" or a ledger
    assert tracker.cache.get(proposition_stream("never")) is None
    for pid, stream in zip(ids, streams, strict=False):
        state, version, digest = tracker.cache.get(stream)  # type: ignore[misc]
        recorded = tracker.store.read_stream(stream)
        assert (state, version, digest) == (_fold(stream, recorded).state, recorded[-1].stream_version,
                                            recorded[-1].hash)
        assert tracker.proposition(pid).state == state
    assert tracker.warm(streams) == 0  # all cached already: nothing read


def test_a_command_after_a_warm_up_sees_later_writes(tracker: Tracker) -> None:
    ids = _fill(tracker)
    tracker.cache.clear()
    tracker.warm([proposition_stream(pid) for pid in ids])
    other = Tracker(tracker.store)  # another process's writes, after this one warmed its cache
    other.execute(ids[0], p.SuggestMatch("later", "e8", 0.4), actor="user:b")
    with tracker.unit_of_work(actor="user:a") as uow:
        uow.preload([proposition_stream(pid) for pid in ids])
        assert uow.load(proposition_stream(ids[0])) == other.proposition(ids[0])
        uow.execute(proposition_stream(ids[0]), p.RejectMatch("later", "no"),
                    expected_version=other.proposition(ids[0]).version)
    assert rebuild.check(tracker.store) == []


def test_warmer_warms_in_the_background_and_survives_a_failure(tracker: Tracker) -> None:
    ids = _fill(tracker)
    tracker.cache.clear()
    failing = threading.Event()
    original = tracker.warm

    def warm(stream_ids: list[str]) -> int:
        if not failing.is_set():
            failing.set()
            raise RuntimeError("database gone for a moment")
        return original(stream_ids)

    tracker.warm = warm  # type: ignore[method-assign]
    warmer = Warmer(tracker)
    try:
        warmer.request([proposition_stream(ids[0])])
        assert warmer.wait_idle(10)
        assert tracker.cache.get(proposition_stream(ids[0])) is None  # that request failed, and was dropped
        warmer.request([proposition_stream(pid) for pid in ids])
        assert warmer.wait_idle(10)
        assert all(tracker.cache.get(proposition_stream(pid)) is not None for pid in ids)
    finally:
        warmer.close()
    warmer.request([proposition_stream(ids[0])])  # after close: ignored, no error
