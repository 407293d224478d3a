"""The Proposition aggregate (DESIGN §3): commands, refusals, derived status, Brier scores.

Pure functions only: no store, no database. The property test at the end checks the aggregate against a
reference model written here from the design text, independent of tracker.domain.proposition.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.domain.errors import DomainError, InvalidCommand, InvalidTransition, UnknownMatch
from tracker.domain.events import Event
from tracker.domain.proposition import (
    AmendProposition,
    ConfirmMatch,
    Match,
    Proposition,
    RegisterProposition,
    RejectMatch,
    ReopenProposition,
    ResolveProposition,
    RetractMatch,
    SuggestMatch,
    WithdrawProposition,
    brier_score,
    decide,
    derive_status,
    evolve,
)
from tracker.domain.registry import fold as fold_with

PID = "p-1"


def fold(state: Proposition | None, events: list[Event]) -> Proposition | None:
    return fold_with(evolve, events, state)


def register_command(kind: str = "prediction", probability: float | None = 0.8, **extra: Any) -> RegisterProposition:
    confidence = None if probability is None else {"phrase": "likely", "probability": probability}
    return RegisterProposition(
        proposition_id=PID, kind=kind, statement="Talks will stall before summer", source_id="s-1",
        actors=("Alpha", "Beta"), topics=("talks",), stated_confidence=confidence, **extra,
    )


def registered(kind: str = "prediction", probability: float | None = 0.8) -> Proposition:
    state = fold(None, decide(None, register_command(kind, probability)))
    assert state is not None
    return state


def apply(state: Proposition | None, *commands: Any) -> Proposition:
    """Run commands one after another, checking the folded status against derive_status each time."""
    for command in commands:
        state = fold(state, decide(state, command))
        assert state is not None
        assert state.status == derive_status(state)
    assert state is not None
    return state


def suggest(match_id: str, evidence_id: str | None = None, **extra: Any) -> SuggestMatch:
    return SuggestMatch(match_id=match_id, evidence_id=evidence_id or f"ev-{match_id}", score=0.7, **extra)


def refused(state: Proposition | None, command: Any, error: type[DomainError]) -> None:
    """decide refuses with exactly this error class and leaves the state as it was."""
    before = copy.deepcopy(state)
    with pytest.raises(error):
        decide(state, command)
    assert state == before


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


# ---- happy paths ------------------------------------------------------------------------------------

def test_register_emits_the_fields_and_starts_open() -> None:
    events = decide(None, register_command())
    assert types(events) == ["PropositionRegistered"]
    assert events[0].data["actors"] == ["Alpha", "Beta"]  # lists, as JSON will store them
    state = fold(None, events)
    assert state is not None
    assert state.status == "open" and state.resolution is None and state.matches == {}
    assert state.probability == 0.8


def test_amend_records_only_real_changes() -> None:
    state = registered()
    events = decide(state, AmendProposition(
        {"statement": "Talks will stall before autumn", "actors": ("Alpha", "Beta")}, reason="typo"
    ))
    assert types(events) == ["PropositionAmended"]
    assert events[0].data == {"changes": {"statement": "Talks will stall before autumn"}, "reason": "typo"}
    after = fold(state, events)
    assert after is not None
    assert after.statement == "Talks will stall before autumn" and after.actors == ("Alpha", "Beta")


def test_amend_actors_and_probability() -> None:
    state = apply(registered(), AmendProposition({"actors": ["Gamma"], "stated_confidence": {"probability": 0.3}}))
    assert state.actors == ("Gamma",)
    assert state.probability == 0.3


def test_suggest_raises_awaiting_review_without_moving_status() -> None:
    state = registered()
    events = decide(state, suggest("m1", explanation={"terms": ["talks"]}, suggested_stance="supports"))
    assert types(events) == ["MatchSuggested"]
    state = fold(state, events)
    assert state is not None
    assert state.matches["m1"] == Match(
        match_id="m1", evidence_id="ev-m1", state="suggested", score=0.7, explanation={"terms": ["talks"]},
        suggested_stance="supports",
    )
    assert state.counts() == {"supports": 0, "contradicts": 0, "context": 0, "awaiting_review": 1}
    assert state.status == "open"


def test_confirm_supports_moves_open_to_supported() -> None:
    state = apply(registered(), suggest("m1"))
    events = decide(state, ConfirmMatch("m1", "supports", note="fits", automatic=True))
    assert types(events) == ["MatchConfirmed", "StatusChanged"]
    assert events[1].data == {"from": "open", "to": "supported", "because": "MatchConfirmed"}
    state = fold(state, events)
    assert state is not None
    match = state.matches["m1"]
    assert (match.state, match.stance, match.note, match.automatic) == ("confirmed", "supports", "fits", True)
    assert state.counts() == {"supports": 1, "contradicts": 0, "context": 0, "awaiting_review": 0}


def test_reject_keeps_status_and_clears_review() -> None:
    state = apply(registered(), suggest("m1"))
    events = decide(state, RejectMatch("m1", reason="off topic"))
    assert types(events) == ["MatchRejected"]
    state = fold(state, events)
    assert state is not None
    assert state.matches["m1"].state == "rejected"
    assert state.counts()["awaiting_review"] == 0
    assert state.status == "open"


def test_retract_removes_the_evidence_from_the_status() -> None:
    state = apply(registered(), suggest("m1"), ConfirmMatch("m1", "contradicts"))
    assert state.status == "contradicted"
    events = decide(state, RetractMatch("m1", reason="story was corrected"))
    assert types(events) == ["MatchRetracted", "StatusChanged"]
    assert events[1].data["from"] == "contradicted" and events[1].data["to"] == "open"
    state = fold(state, events)
    assert state is not None
    assert state.matches["m1"].state == "retracted"
    assert state.counts()["contradicts"] == 0


@pytest.mark.parametrize("outcome", ["confirmed", "refuted", "annulled"])
def test_resolve_sets_terminal_status(outcome: str) -> None:
    state = apply(registered(), suggest("m1", "e1"), ConfirmMatch("m1", "supports"))
    events = decide(state, ResolveProposition(outcome, note="done", evidence_ids=("e1",)))
    assert types(events) == ["PropositionResolved", "StatusChanged"]
    assert events[0].data["evidence_ids"] == ["e1"]
    assert events[1].data == {"from": "supported", "to": outcome, "because": "PropositionResolved"}
    state = fold(state, events)
    assert state is not None
    assert state.status == outcome and state.resolution is not None
    assert state.resolution["outcome"] == outcome


def test_withdraw_then_reopen_returns_to_the_derived_status() -> None:
    state = apply(registered(), suggest("m1"), ConfirmMatch("m1", "supports"))
    events = decide(state, WithdrawProposition(reason="misread the article"))
    assert types(events) == ["PropositionWithdrawn", "StatusChanged"]
    assert events[1].data["to"] == "withdrawn"
    state = fold(state, events)
    assert state is not None
    events = decide(state, ReopenProposition(reason="it was right after all"))
    assert types(events) == ["PropositionReopened", "StatusChanged"]
    assert events[0].data["was"] == "withdrawn"
    assert events[1].data == {"from": "withdrawn", "to": "supported", "because": "PropositionReopened"}
    state = fold(state, events)
    assert state is not None
    assert state.status == "supported" and state.resolution is None


def test_evidence_can_still_be_reviewed_on_a_resolved_proposition() -> None:
    state = apply(registered(), suggest("m1"), ResolveProposition("confirmed"))
    events = decide(state, ConfirmMatch("m1", "contradicts"))
    assert types(events) == ["MatchConfirmed"]  # the resolution wins; status does not move
    state = apply(state, ConfirmMatch("m1", "contradicts"), ReopenProposition())
    assert state.status == "contradicted"


# ---- refusals ---------------------------------------------------------------------------------------

def test_register_twice_is_refused() -> None:
    refused(registered(), register_command(), InvalidTransition)


def test_commands_before_register_are_refused() -> None:
    refused(None, suggest("m1"), InvalidTransition)
    refused(None, WithdrawProposition(), InvalidTransition)


@pytest.mark.parametrize("command", [
    register_command(kind="opinion"),
    register_command(probability=1.5),
    register_command(probability=-0.1),
    register_command(probability=math.nan),
    register_command(probability=True),  # a bool is not a probability
    register_command(resolve_by="next spring"),
    RegisterProposition(proposition_id=PID, kind="claim", statement="   "),
    RegisterProposition(proposition_id=PID, kind="claim", statement="x" * 2001),
    RegisterProposition(proposition_id="", kind="claim", statement="A thing"),
    RegisterProposition(proposition_id=PID, kind="claim", statement="A thing", actors="Alpha"),  # type: ignore[arg-type]
    RegisterProposition(proposition_id=PID, kind="claim", statement="A thing", stated_confidence=0.5),  # type: ignore[arg-type]
])
def test_register_with_bad_fields_is_refused(command: RegisterProposition) -> None:
    refused(None, command, InvalidCommand)


def test_register_accepts_probability_bounds_and_iso_dates() -> None:
    assert registered(probability=0.0).probability == 0.0
    assert registered(probability=1).probability == 1
    state = fold(None, decide(None, register_command(resolve_by="2026-01-31")))
    assert state is not None and state.resolve_by == "2026-01-31"


def test_amend_refusals() -> None:
    state = registered()
    refused(state, AmendProposition({"statement": state.statement}), InvalidCommand)
    refused(state, AmendProposition({"actors": ["Alpha", "Beta"]}), InvalidCommand)  # same as stored tuple
    refused(state, AmendProposition({}), InvalidCommand)
    refused(state, AmendProposition({"status": "confirmed"}), InvalidCommand)
    refused(state, AmendProposition({"kind": "rumour"}), InvalidCommand)
    refused(state, AmendProposition({"stated_confidence": {"probability": 2}}), InvalidCommand)
    refused(state, AmendProposition({"resolve_by": "soon"}), InvalidCommand)


@pytest.mark.parametrize("terminal", [ResolveProposition("refuted"), WithdrawProposition()])
def test_amend_a_resolved_or_withdrawn_one_is_refused(terminal: Any) -> None:
    state = apply(registered(), terminal)
    refused(state, AmendProposition({"statement": "Something else entirely"}), InvalidTransition)


def test_suggest_refusals() -> None:
    state = apply(registered(), suggest("m1", "e1"), suggest("m2", "e2"), RejectMatch("m2"))
    refused(state, suggest("m9", "e1"), InvalidTransition)  # same evidence twice
    refused(state, suggest("m9", "e2"), InvalidTransition)  # a rejected pair is never suggested again
    refused(state, suggest("m1", "e9"), InvalidTransition)  # match id taken
    refused(state, suggest("m9", "e9", suggested_stance="maybe"), InvalidCommand)
    refused(state, SuggestMatch("m9", "e9", score=math.nan), InvalidCommand)
    refused(apply(state, ResolveProposition("annulled")), suggest("m9", "e9"), InvalidTransition)


def test_confirm_refusals() -> None:
    state = apply(registered(), suggest("m1"), suggest("m2"), ConfirmMatch("m2", "context"))
    refused(state, ConfirmMatch("ghost", "supports"), UnknownMatch)
    refused(state, ConfirmMatch("m2", "supports"), InvalidTransition)  # confirm twice
    refused(state, ConfirmMatch("m1", "agrees"), InvalidCommand)  # bad stance
    refused(apply(state, WithdrawProposition()), ConfirmMatch("m1", "supports"), InvalidTransition)


def test_reject_refusals() -> None:
    state = apply(registered(), suggest("m1"), suggest("m2"), ConfirmMatch("m1", "supports"), RejectMatch("m2"))
    refused(state, RejectMatch("ghost"), UnknownMatch)
    refused(state, RejectMatch("m1"), InvalidTransition)  # reject a confirmed match
    refused(state, RejectMatch("m2"), InvalidTransition)  # reject twice


def test_retract_refusals() -> None:
    state = apply(registered(), suggest("m1"), suggest("m2"), ConfirmMatch("m2", "supports"), RetractMatch("m2"))
    refused(state, RetractMatch("ghost"), UnknownMatch)
    refused(state, RetractMatch("m1"), InvalidTransition)  # retract a suggested one
    refused(state, RetractMatch("m2"), InvalidTransition)  # retract twice
    refused(state, ConfirmMatch("m2", "supports"), InvalidTransition)  # a retracted match stays retracted


def test_resolve_refusals() -> None:
    state = apply(registered(), suggest("m1", "e1"))
    refused(state, ResolveProposition("maybe"), InvalidCommand)
    refused(state, ResolveProposition("withdrawn"), InvalidCommand)  # withdrawal has its own command
    refused(state, ResolveProposition("confirmed", evidence_ids=("e1",)), InvalidCommand)  # only suggested
    refused(state, ResolveProposition("confirmed", evidence_ids=("e404",)), InvalidCommand)
    resolved = apply(state, ResolveProposition("confirmed"))
    refused(resolved, ResolveProposition("refuted"), InvalidTransition)
    withdrawn = apply(state, WithdrawProposition())
    refused(withdrawn, ResolveProposition("confirmed"), InvalidTransition)  # resolve a withdrawn proposition


def test_withdraw_and_reopen_refusals() -> None:
    state = registered()
    refused(state, ReopenProposition(), InvalidTransition)  # reopen an open one
    withdrawn = apply(state, WithdrawProposition())
    refused(withdrawn, WithdrawProposition(), InvalidTransition)
    resolved = apply(state, ResolveProposition("refuted"))
    refused(resolved, WithdrawProposition(), InvalidTransition)
    refused(apply(resolved, ReopenProposition()), ReopenProposition(), InvalidTransition)


# ---- StatusChanged ----------------------------------------------------------------------------------

def test_status_changed_follows_every_move_of_the_derived_status() -> None:
    steps: list[tuple[Any, tuple[str, str] | None]] = [
        (suggest("a"), None),
        (suggest("b"), None),
        (suggest("c"), None),
        (ConfirmMatch("c", "context"), None),  # context alone leaves it open
        (ConfirmMatch("a", "supports"), ("open", "supported")),
        (ConfirmMatch("b", "contradicts"), ("supported", "contested")),
        (RetractMatch("a"), ("contested", "contradicted")),
        (AmendProposition({"statement": "Talks will stall by June"}), None),
        (ResolveProposition("refuted"), ("contradicted", "refuted")),
        (ReopenProposition(), ("refuted", "contradicted")),
        (RetractMatch("b"), ("contradicted", "open")),
        (WithdrawProposition(), ("open", "withdrawn")),
        (ReopenProposition(), ("withdrawn", "open")),
    ]
    state = registered()
    for command, move in steps:
        events = decide(state, command)
        changes = [e for e in events if e.type == "StatusChanged"]
        if move is None:
            assert changes == [], command
        else:
            assert len(changes) == 1 and events[-1] is changes[0], command
            assert (changes[0].data["from"], changes[0].data["to"]) == move
        state = fold(state, events)
        assert state is not None
        assert state.status == derive_status(state)


# ---- Brier --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("probability", "outcome", "expected"), [
    (0.98, "confirmed", 0.0004),
    (0.98, "refuted", 0.9604),
    (0.3, "confirmed", 0.49),
    (0.3, "refuted", 0.09),
    (0.5, "confirmed", 0.25),
    (1.0, "confirmed", 0.0),
    (0.0, "confirmed", 1.0),
    (0.7, "annulled", None),
    (0.7, "withdrawn", None),
])
def test_brier_score(probability: float, outcome: str, expected: float | None) -> None:
    score = brier_score(probability, outcome)
    if expected is None:
        assert score is None
    else:
        assert score == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("outcome", "expected"), [("confirmed", 0.04), ("refuted", 0.64), ("annulled", None)])
def test_a_resolved_prediction_carries_its_brier_score(outcome: str, expected: float | None) -> None:
    state = apply(registered("prediction", 0.8), ResolveProposition(outcome))
    assert state.resolution is not None
    assert state.resolution["brier"] == (None if expected is None else pytest.approx(expected))


def test_withdrawn_predictions_and_claims_are_not_scored() -> None:
    withdrawn = apply(registered("prediction", 0.8), WithdrawProposition())
    assert withdrawn.resolution is not None and withdrawn.resolution.get("brier") is None
    for kind in ("claim", "prescription"):
        state = apply(registered(kind, 0.8), ResolveProposition("confirmed"))
        assert state.resolution is not None and state.resolution["brier"] is None
    unstated = apply(registered("prediction", None), ResolveProposition("refuted"))
    assert unstated.resolution is not None and unstated.resolution["brier"] is None


def test_brier_uses_the_probability_at_resolution_time() -> None:
    state = apply(
        registered("prediction", 0.8), AmendProposition({"stated_confidence": {"probability": 0.1}}),
        ResolveProposition("refuted"),
    )
    assert state.resolution is not None and state.resolution["brier"] == pytest.approx(0.01)


# ---- invariants ---------------------------------------------------------------------------------------

texts = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=30).filter(lambda s: s.strip() != "")
register_commands = st.builds(
    RegisterProposition,
    proposition_id=st.text(alphabet="abc123-", min_size=1, max_size=12).filter(lambda s: s.strip() != ""),
    kind=st.sampled_from(["claim", "prediction", "prescription"]),
    statement=texts,
    source_id=st.none() | st.just("s-1"),
    actors=st.lists(texts, max_size=3).map(tuple),
    topics=st.lists(texts, max_size=3).map(tuple),
    locator=st.none() | st.fixed_dictionaries({"paragraph": st.integers(0, 40), "sha256": st.just("0" * 64)}),
    stated_confidence=st.none() | st.fixed_dictionaries(
        {"phrase": texts, "probability": st.floats(0, 1, allow_nan=False)}
    ),
    condition=st.none() | texts,
    resolve_by=st.none() | st.dates().map(lambda d: d.isoformat()),
    resolution_criteria=st.none() | texts,
    match_profile=st.none() | st.fixed_dictionaries({"terms": st.lists(texts, max_size=3)}),
)


@settings(max_examples=100, deadline=None)
@given(register_commands)
def test_registered_event_round_trips_every_field(command: RegisterProposition) -> None:
    events = decide(None, command)
    stored = json.loads(json.dumps([e.data for e in events]))  # the store keeps payloads as JSON
    assert types(events) == ["PropositionRegistered"]
    for state in (evolve(None, events[0]), evolve(None, Event(events[0].type, stored[0]))):
        assert state is not None
        for name, value in vars(command).items():
            assert getattr(state, name) == value, name
        assert state.status == "open" and state.resolution is None and state.matches == {}


# ---- property: random command sequences against a reference model -----------------------------------

EVIDENCE_IDS = ["e0", "e1", "e2", "e3", "e4"]
STANCES = ["supports", "contradicts", "context"]


@dataclass
class Reference:
    """What the events say, tracked without the domain module: match lifecycles and the terminal outcome."""

    kind: str = ""
    probability: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    matches: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {state, stance, evidence}
    terminal: str | None = None

    def apply(self, event: Event) -> None:
        d = event.data
        if event.type == "PropositionRegistered":
            self.kind = d["kind"]
            self.probability = (d["stated_confidence"] or {}).get("probability")
            self.fields = {k: d[k] for k in ("statement", "kind", "actors", "stated_confidence")}
        elif event.type == "PropositionAmended":
            self.fields.update(d["changes"])
            self.kind = self.fields["kind"]
            self.probability = (self.fields["stated_confidence"] or {}).get("probability")
        elif event.type == "MatchSuggested":
            self.matches[d["match_id"]] = {"state": "suggested", "stance": None, "evidence": d["evidence_id"]}
        elif event.type == "MatchConfirmed":
            self.matches[d["match_id"]].update(state="confirmed", stance=d["stance"])
        elif event.type == "MatchRejected":
            self.matches[d["match_id"]]["state"] = "rejected"
        elif event.type == "MatchRetracted":
            self.matches[d["match_id"]]["state"] = "retracted"
        elif event.type == "PropositionResolved":
            self.terminal = d["outcome"]
        elif event.type == "PropositionWithdrawn":
            self.terminal = "withdrawn"
        elif event.type == "PropositionReopened":
            self.terminal = None
        # StatusChanged is derived; the reference ignores it on purpose.

    def status(self) -> str:
        if self.terminal is not None:
            return self.terminal
        leaning = {m["stance"] for m in self.matches.values() if m["state"] == "confirmed"}
        supports, contradicts = "supports" in leaning, "contradicts" in leaning
        if supports and contradicts:
            return "contested"
        if supports:
            return "supported"
        if contradicts:
            return "contradicted"
        return "open"

    def tallies(self) -> dict[str, int]:
        confirmed = [m["stance"] for m in self.matches.values() if m["state"] == "confirmed"]
        return {
            **{s: confirmed.count(s) for s in STANCES},
            "awaiting_review": sum(m["state"] == "suggested" for m in self.matches.values()),
        }

    def accepts(self, command: Any) -> bool:
        """Whether the design allows the command now (DESIGN §3 lifecycle rules)."""
        match = self.matches.get(getattr(command, "match_id", ""))
        withdrawn = self.terminal == "withdrawn"
        if isinstance(command, RegisterProposition):
            return False
        if isinstance(command, SuggestMatch):
            seen = {m["evidence"] for m in self.matches.values()}
            return self.terminal is None and match is None and command.evidence_id not in seen
        if isinstance(command, ConfirmMatch):
            return not withdrawn and match is not None and match["state"] == "suggested" and command.stance in STANCES
        if isinstance(command, RejectMatch):
            return not withdrawn and match is not None and match["state"] == "suggested"
        if isinstance(command, RetractMatch):
            return not withdrawn and match is not None and match["state"] == "confirmed"
        if isinstance(command, ResolveProposition):
            confirmed = {m["evidence"] for m in self.matches.values() if m["state"] == "confirmed"}
            return (
                self.terminal is None and command.outcome in ("confirmed", "refuted", "annulled")
                and set(command.evidence_ids) <= confirmed
            )
        if isinstance(command, WithdrawProposition):
            return self.terminal is None
        if isinstance(command, ReopenProposition):
            return self.terminal is not None
        if isinstance(command, AmendProposition):
            norm = {k: list(v) if isinstance(v, tuple) else v for k, v in command.changes.items()}
            return self.terminal is None and any(self.fields[k] != v for k, v in norm.items())
        raise AssertionError(command)

    def brier(self) -> float | None:
        if self.kind != "prediction" or self.probability is None or self.terminal not in ("confirmed", "refuted"):
            return None
        hit = 1.0 if self.terminal == "confirmed" else 0.0
        return (self.probability - hit) ** 2


EDITORIAL: dict[str, st.SearchStrategy[Any]] = {
    "resolve": st.builds(
        ResolveProposition, outcome=st.sampled_from(["confirmed", "refuted", "annulled", "withdrawn"]),
        evidence_ids=st.lists(st.sampled_from(EVIDENCE_IDS), max_size=2).map(tuple),
    ),
    "withdraw": st.builds(WithdrawProposition),
    "reopen": st.builds(ReopenProposition),
    "amend": st.builds(AmendProposition, changes=st.one_of(
        st.fixed_dictionaries({"statement": st.sampled_from(["Talks stall", "Talks resume"])}),
        st.fixed_dictionaries({"actors": st.sampled_from([("Alpha",), ("Alpha", "Beta")])}),
        st.fixed_dictionaries({"kind": st.sampled_from(["claim", "prediction"])}),
        st.fixed_dictionaries({"stated_confidence": st.sampled_from([{"probability": 0.2}, {"probability": 0.9}])}),
    )),
    "register": st.just(register_command()),
}
# Weights by repetition: review commands dominate; terminal ones are rarer since they freeze most of what follows.
OPERATIONS = (
    ["suggest"] * 5 + ["confirm"] * 6 + ["bad-stance", "reject", "retract", "retract"]
    + ["resolve", "withdraw", "reopen", "reopen", "amend", "register"]
)


def command_strategy(operation: str, matches: dict[str, dict[str, Any]]) -> st.SearchStrategy[Any]:
    """Commands that mostly name a match awaiting review, else any match the reference has seen, else none."""
    if operation in EDITORIAL:
        return EDITORIAL[operation]
    pending = [m for m, v in matches.items() if v["state"] == "suggested"]
    known = sorted(matches)
    any_known = st.sampled_from(known) if known else st.just("ghost")
    named = st.one_of(st.sampled_from(pending), st.sampled_from(pending), any_known) if pending else any_known
    match_id = st.one_of(named, named, named, st.just("ghost"))
    if operation == "suggest":
        fresh = st.just(f"m{len(known)}")
        return st.builds(
            SuggestMatch, match_id=st.one_of(fresh, fresh, fresh, any_known), evidence_id=st.sampled_from(EVIDENCE_IDS),
            score=st.floats(0, 1), suggested_stance=st.none() | st.sampled_from(STANCES),
        )
    if operation == "confirm":
        return st.builds(ConfirmMatch, match_id=match_id, stance=st.sampled_from(STANCES), automatic=st.booleans())
    if operation == "bad-stance":
        return st.builds(ConfirmMatch, match_id=match_id, stance=st.just("agrees"))
    if operation == "reject":
        return st.builds(RejectMatch, match_id=match_id)
    assert operation == "retract"
    return st.builds(RetractMatch, match_id=match_id)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["claim", "prediction"]),
    probability=st.none() | st.floats(0, 1),
    steps=st.integers(5, 40),
    data=st.data(),
)
def test_random_command_sequences_match_the_reference(
    kind: str, probability: float | None, steps: int, data: st.DataObject
) -> None:
    history = decide(None, register_command(kind, probability))
    state = fold(None, history)
    assert state is not None
    reference = Reference()
    for event in history:
        reference.apply(event)

    for _ in range(steps):
        operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
        command = data.draw(command_strategy(operation, reference.matches), label="command")
        expected = reference.accepts(command)
        before_state = copy.deepcopy(state)
        before_status = reference.status()
        try:
            events = decide(state, command)
        except DomainError:
            assert not expected, f"refused a valid {command}"
            assert state == before_state  # nothing emitted, nothing changed
            continue
        assert expected, f"accepted an invalid {command}"
        assert events, command
        assert state == before_state  # decide does not touch its input
        state = fold(state, events)  # folding what decide emitted never raises
        assert state is not None
        for event in events:
            reference.apply(event)
        history.extend(events)

        moves = [e for e in events if e.type == "StatusChanged"]
        if reference.status() == before_status:
            assert moves == []
        else:
            assert len(moves) == 1 and events[-1] is moves[0]
            assert moves[0].data["from"] == before_status and moves[0].data["to"] == reference.status()
        assert state.status == reference.status() == derive_status(state)
        assert state.counts() == reference.tallies()
        if isinstance(command, ResolveProposition):
            brier = state.resolution["brier"] if state.resolution else "missing"
            assert brier == (None if reference.brier() is None else pytest.approx(reference.brier(), abs=1e-6))

    # The store keeps payloads as JSON: replaying them must give the same state.
    stored = json.loads(json.dumps([[e.type, e.data] for e in history], allow_nan=False))
    assert fold(None, [Event(t, d) for t, d in stored]) == state
