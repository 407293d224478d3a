"""Replay with a tiny memory bound: states are written out early and read back when their stream returns.

The rebuilt tables must equal the live ones exactly as with everything held in memory. Both backends.
"""

from __future__ import annotations

import pytest

from tracker.domain.proposition import ConfirmMatch, RegisterProposition, RejectMatch, SuggestMatch
from tracker.projections import rebuild
from tracker.repository.unit_of_work import Tracker


def _interleaved(tracker: Tracker, streams: int, rounds: int) -> None:
    """Round-robin over the streams, so every stream keeps coming back after others were folded."""
    for n in range(streams):
        tracker.execute(f"p{n}", RegisterProposition(f"p{n}", "prediction", f"Statement {n}"), actor="system:test")
    for r in range(rounds):
        for n in range(streams):
            tracker.execute(f"p{n}", SuggestMatch(f"p{n}-m{r}", f"e{r}", 0.5, {"r": r}, "supports"), actor="user:t")
        for n in range(streams):
            command = ConfirmMatch(f"p{n}-m{r}", "supports" if r % 2 else "contradicts") if (n + r) % 3 \
                else RejectMatch(f"p{n}-m{r}", "off topic")
            tracker.execute(f"p{n}", command, actor="user:t")


@pytest.mark.parametrize("hold", [1, 5, 40])
def test_bounded_replay_equals_the_live_tables(tracker: Tracker, monkeypatch: pytest.MonkeyPatch, hold: int) -> None:
    _interleaved(tracker, streams=6, rounds=4)
    assert rebuild.check(tracker.store) == []  # default bound: everything held
    monkeypatch.setattr(rebuild, "HOLD_EVENTS", hold)
    monkeypatch.setattr(rebuild, "PAGE_SIZE", 4)  # the bound is enforced between pages
    assert rebuild.check(tracker.store) == []
    assert rebuild.replay(tracker.store) == tracker.store.head()
    monkeypatch.setattr(rebuild, "HOLD_EVENTS", 100_000)
    monkeypatch.setattr(rebuild, "PAGE_SIZE", 5000)
    assert rebuild.check(tracker.store) == []


def test_bounded_replay_to_a_position(tracker: Tracker, monkeypatch: pytest.MonkeyPatch) -> None:
    _interleaved(tracker, streams=4, rounds=3)
    head = tracker.store.head()
    rebuild.replay(tracker.store, to=head - 7)
    expected = rebuild.check(tracker.store)  # live tables now stop at head - 7: these rows differ
    assert expected
    monkeypatch.setattr(rebuild, "HOLD_EVENTS", 2)
    monkeypatch.setattr(rebuild, "PAGE_SIZE", 3)
    rebuild.replay(tracker.store, to=head - 7)
    monkeypatch.setattr(rebuild, "HOLD_EVENTS", 100_000)
    monkeypatch.setattr(rebuild, "PAGE_SIZE", 5000)
    assert rebuild.check(tracker.store) == expected


def test_evolve_owned_reaches_the_same_state_as_evolve() -> None:
    from tracker.domain import proposition as p

    commands: list[p.Command] = [
        p.RegisterProposition("x", "prediction", "Statement", stated_confidence={"probability": 0.8}),
        p.SuggestMatch("m1", "e1", 0.5, {"terms": ["a"]}, "supports"),
        p.SuggestMatch("m2", "e2", 0.6, {}, None),
        p.SuggestMatch("m3", "e3", 0.7),
        p.ConfirmMatch("m1", "supports", "note", automatic=True),
        p.RejectMatch("m2", "off topic"),
        p.AmendProposition({"statement": "Changed", "topics": ("t",)}),
        p.RetractMatch("m1", "wrong"),
        p.ConfirmMatch("m3", "contradicts"),
        p.ResolveProposition("refuted"),
        p.ReopenProposition("new facts"),
        p.WithdrawProposition("gone"),
    ]
    pure = owned = None
    for command in commands:
        for event in p.decide(pure, command):
            pure = p.evolve(pure, event)
            owned = p.evolve_owned(owned, event)
            assert owned == pure
    assert owned is not None and owned.status == "withdrawn" and owned.matches["m1"].state == "retracted"
