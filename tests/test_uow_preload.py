"""UnitOfWork.preload and Transaction.read_stream_rows: many streams in one query, folded to the same states and
versions as one load() each (the event envelope read stream by stream), and appends still version-checked."""

from __future__ import annotations

import pytest

from tracker.domain import proposition as p
from tracker.domain.events import Event
from tracker.domain.registry import fold
from tracker.projections import rebuild
from tracker.repository.unit_of_work import NotFound, Tracker, _fold, proposition_stream
from tracker.store import ConcurrencyError


def _fill(tracker: Tracker) -> list[str]:
    """Propositions that went through every kind of proposition event (and one that never existed)."""
    ids = []
    for n in range(6):
        pid = f"p{n}"
        ids.append(pid)
        commands: list[p.Command] = [
            p.RegisterProposition(pid, "prediction", f"Statement {n}", actors=("a", "b"), topics=("t",),
                                  stated_confidence={"probability": 0.25 + n / 10}, resolve_by="2030-01-01"),
            p.SuggestMatch(f"{pid}-m1", "e1", 0.5 + n / 100, {"terms": ["x"], "parts": [0.1, 0.2]}, "supports"),
            p.SuggestMatch(f"{pid}-m2", "e2", 0.61),
            p.SuggestMatch(f"{pid}-m3", "e3", 0.7, {}, "contradicts"),
            p.ConfirmMatch(f"{pid}-m1", "supports", "a note", automatic=n % 2 == 0),
            p.RejectMatch(f"{pid}-m2", "off topic", bulk_filter={"all": True}),
            p.AmendProposition({"statement": f"Changed {n}", "topics": ["u", "v"]}),
        ]
        if n % 3 == 1:
            commands += [p.RetractMatch(f"{pid}-m1", "wrong"), p.MuteMatching("noisy"),
                         p.SetEvidenceWindow("2025-01-01", "2026-01-01"), p.ResolveProposition("refuted", "gone")]
        if n % 3 == 2:
            commands += [p.MuteMatching(), p.UnmuteMatching("back"), p.ConfirmMatch(f"{pid}-m3", "contradicts"),
                         p.ResolveProposition("confirmed"), p.ReopenProposition("new facts"), p.WithdrawProposition()]
        for command in commands:
            tracker.execute(pid, command, actor="user:test")
    return ids


def test_preloaded_states_equal_one_load_each(tracker: Tracker) -> None:
    ids = _fill(tracker)
    streams = [proposition_stream(pid) for pid in [*ids, "never"]]
    tracker.cache.clear()  # every stream read from its beginning
    with tracker.store.transaction() as tx:
        expected = {s: _fold(s, tx.read_stream(s)) for s in streams}
        rows = tx.read_stream_rows(streams)
        assert list(rows) == streams and rows[proposition_stream("never")] == []
        for s in ids:
            stream = proposition_stream(s)
            recorded = tx.read_stream(stream)
            assert [(r.event_type, r.stream_version, r.payload, r.hash) for r in recorded] == rows[stream]
    with tracker.unit_of_work(actor="user:test") as uow:
        uow.preload([*reversed(streams), streams[0]])
        for s in streams:
            assert uow.load(s) == expected[s]
            if expected[s].state is not None:  # the owned fold equals the pure one
                assert uow.load(s).state == fold(p.evolve, (Event(r.event_type, r.payload)
                                                              for r in tracker.store.read_stream(s)))
        with pytest.raises(NotFound):
            uow.execute(proposition_stream("never"), p.SuggestMatch("m", "e", 0.5))
        with pytest.raises(ConcurrencyError):  # the version preloaded is the one checked
            uow.execute(streams[0], p.SuggestMatch("late", "e9", 0.5),
                        expected_version=expected[streams[0]].version - 1)
        uow.execute(streams[0], p.SuggestMatch("late", "e9", 0.5), expected_version=expected[streams[0]].version)
    assert rebuild.check(tracker.store) == []


def test_preload_uses_cached_states_and_sees_other_writers(tracker: Tracker) -> None:
    ids = _fill(tracker)
    other = Tracker(tracker.store)
    other.execute(ids[0], p.SuggestMatch("other", "e8", 0.4), actor="user:b")  # tracker's cached p0 is behind
    tracker.cache.discard(proposition_stream(ids[1]))
    with tracker.unit_of_work(actor="user:a") as uow:
        uow.preload([proposition_stream(pid) for pid in ids], chunk=2)
        for pid in ids:
            assert uow.load(proposition_stream(pid)) == other.proposition(pid)
        uow.execute(proposition_stream(ids[0]), p.RejectMatch("other", "no"))
    assert tracker.proposition(ids[0]).state.matches["other"].state == "rejected"
    assert rebuild.check(tracker.store) == []
