"""Editors' controls over the matcher on the Proposition aggregate: mute, unmute, the evidence window, and a
rejection that records the bulk filter. Pure functions only."""

from __future__ import annotations

import pytest

from tracker.domain.errors import InvalidCommand, InvalidTransition
from tracker.domain.events import Event
from tracker.domain.proposition import (
    MuteMatching,
    Proposition,
    RegisterProposition,
    RejectMatch,
    SetEvidenceWindow,
    SuggestMatch,
    UnmuteMatching,
    decide,
    evolve,
    evolve_owned,
)
from tracker.domain.registry import fold


def run(state: Proposition | None, *commands: object) -> tuple[Proposition, list[Event]]:
    events: list[Event] = []
    for command in commands:
        new = decide(state, command)  # type: ignore[arg-type]
        state = fold(evolve, new, state)
        events += new
    assert state is not None
    return state, events


def registered() -> Proposition:
    state, _ = run(None, RegisterProposition(proposition_id="p-1", kind="claim", statement="Talks stalled"))
    return state


def test_mute_and_unmute_are_events_and_refuse_repeats() -> None:
    state, events = run(registered(), MuteMatching("too noisy"))
    assert [(e.type, e.data) for e in events] == [("MatchingMuted", {"reason": "too noisy"})]
    assert state.muted and state.muted_reason == "too noisy"
    with pytest.raises(InvalidTransition, match="already muted"):
        decide(state, MuteMatching())
    state, events = run(state, UnmuteMatching("back"))
    assert [(e.type, e.data) for e in events] == [("MatchingUnmuted", {"reason": "back"})]
    assert not state.muted and state.muted_reason == ""
    with pytest.raises(InvalidTransition, match="not muted"):
        decide(state, UnmuteMatching())


def test_the_window_is_set_whole_checked_and_cleared() -> None:
    state, events = run(registered(), SetEvidenceWindow("2025-04-01", "2025-04-30", "the truce month"))
    assert events[0].type == "EvidenceWindowSet"
    assert events[0].data == {"not_before": "2025-04-01", "not_after": "2025-04-30", "reason": "the truce month"}
    assert (state.window_not_before, state.window_not_after) == ("2025-04-01", "2025-04-30")
    assert state.in_window("2025-04-01T00:00:00.000000Z") and state.in_window("2025-04-30T23:59:59.999999Z")
    assert not state.in_window("2025-03-31T23:59:59.999999Z") and not state.in_window("2025-05-01T00:00:00.000000Z")
    assert not state.in_window(None)
    with pytest.raises(InvalidCommand, match="already"):
        decide(state, SetEvidenceWindow("2025-04-01", "2025-04-30"))
    state, _ = run(state, SetEvidenceWindow(None, "2025-04-30"))  # the start is opened: the window is replaced
    assert (state.window_not_before, state.window_not_after) == (None, "2025-04-30")
    assert state.in_window("2020-01-01T00:00:00.000000Z")
    state, _ = run(state, SetEvidenceWindow())
    assert state.in_window(None) and state.in_window("2030-01-01T00:00:00.000000Z")


@pytest.mark.parametrize("window", [("2025-05-01", "2025-04-01"), ("2025-4-1", None), (None, "tomorrow"),
                                    ("2025-02-30", None), (None, 20250401)])
def test_a_bad_window_is_refused(window: tuple[object, object]) -> None:
    with pytest.raises(InvalidCommand):
        decide(registered(), SetEvidenceWindow(*window))  # type: ignore[arg-type]


def test_a_bulk_rejection_keeps_the_single_payload_and_adds_the_filter() -> None:
    state, _ = run(registered(), SuggestMatch("m-1", "e-1", 0.4), SuggestMatch("m-2", "e-2", 0.5))
    _, single = run(state, RejectMatch("m-1", "off topic"))
    assert single[0].data == {"match_id": "m-1", "reason": "off topic"}  # unchanged for a single reject
    after, bulk = run(state, RejectMatch("m-2", "noise", bulk_filter={"max_score": 0.5}))
    assert bulk[0].data == {"match_id": "m-2", "reason": "noise", "bulk_filter": {"max_score": 0.5}}
    assert after.matches["m-2"].state == "rejected" and after.matches["m-2"].note == "noise"


def test_the_owned_fold_gives_the_same_state() -> None:
    _, events = run(None, RegisterProposition(proposition_id="p-1", kind="claim", statement="Talks stalled"),
                    MuteMatching("x"), SetEvidenceWindow("2025-01-01", None), SuggestMatch("m-1", "e-1", 0.4),
                    RejectMatch("m-1", bulk_filter={"all": True}), UnmuteMatching())
    assert fold(evolve_owned, events) == fold(evolve, events)
