"""The Proposition aggregate: decide(state, command) -> events and evolve(state, event) -> state.

Status is never set directly: after every command, decide() derives the status the new facts imply and
emits StatusChanged when it moved, so the history says exactly when and why it changed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from tracker.domain.errors import InvalidCommand, InvalidTransition, UnknownMatch
from tracker.domain.events import Event, fold

KINDS = ("claim", "prediction", "prescription")
STANCES = ("supports", "contradicts", "context")
OUTCOMES = ("confirmed", "refuted", "annulled")
TERMINAL = ("confirmed", "refuted", "annulled", "withdrawn")
AMENDABLE = (
    "statement", "kind", "actors", "topics", "condition", "resolve_by", "resolution_criteria",
    "match_profile", "stated_confidence",
)


# ---- commands -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegisterProposition:
    proposition_id: str
    kind: str
    statement: str
    source_id: str | None = None
    actors: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    locator: dict[str, Any] | None = None
    stated_confidence: dict[str, Any] | None = None
    condition: str | None = None
    resolve_by: str | None = None
    resolution_criteria: str | None = None
    match_profile: dict[str, Any] | None = None


@dataclass(frozen=True)
class AmendProposition:
    changes: dict[str, Any]
    reason: str = ""


@dataclass(frozen=True)
class SuggestMatch:
    match_id: str
    evidence_id: str
    score: float
    explanation: dict[str, Any] = field(default_factory=dict)
    suggested_stance: str | None = None


@dataclass(frozen=True)
class ConfirmMatch:
    match_id: str
    stance: str
    note: str = ""
    automatic: bool = False


@dataclass(frozen=True)
class RejectMatch:
    match_id: str
    reason: str = ""
    # Set when the rejection is one of a bulk reject: the queue filter that selected it, kept in the event.
    bulk_filter: dict[str, Any] | None = None


@dataclass(frozen=True)
class RetractMatch:
    match_id: str
    reason: str = ""


@dataclass(frozen=True)
class ResolveProposition:
    outcome: str
    note: str = ""
    evidence_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class WithdrawProposition:
    reason: str = ""


@dataclass(frozen=True)
class ReopenProposition:
    reason: str = ""


@dataclass(frozen=True)
class MuteMatching:
    """The matcher suggests nothing more for this proposition (its suggestions so far stay in the queue)."""

    reason: str = ""


@dataclass(frozen=True)
class UnmuteMatching:
    reason: str = ""


@dataclass(frozen=True)
class SetEvidenceWindow:
    """Only items published between these dates (ISO dates, both inclusive; None: open) are suggested.

    The window is replaced as a whole: both None clears it."""

    not_before: str | None = None
    not_after: str | None = None
    reason: str = ""


Command = (
    RegisterProposition | AmendProposition | SuggestMatch | ConfirmMatch | RejectMatch | RetractMatch
    | ResolveProposition | WithdrawProposition | ReopenProposition | MuteMatching | UnmuteMatching
    | SetEvidenceWindow
)


# ---- state ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Match:
    match_id: str
    evidence_id: str
    state: str  # suggested | confirmed | rejected | retracted
    score: float
    explanation: dict[str, Any]
    suggested_stance: str | None = None
    stance: str | None = None
    note: str = ""
    automatic: bool = False


@dataclass(frozen=True)
class Proposition:
    proposition_id: str
    kind: str
    statement: str
    source_id: str | None = None
    actors: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    locator: dict[str, Any] | None = None
    stated_confidence: dict[str, Any] | None = None
    condition: str | None = None
    resolve_by: str | None = None
    resolution_criteria: str | None = None
    match_profile: dict[str, Any] | None = None
    status: str = "open"
    resolution: dict[str, Any] | None = None
    # Editors' controls over the matcher: muted (no new suggestions) and the evidence window (ISO dates).
    muted: bool = False
    muted_reason: str = ""
    window_not_before: str | None = None
    window_not_after: str | None = None
    matches: dict[str, Match] = field(default_factory=dict)

    @property
    def probability(self) -> float | None:
        return (self.stated_confidence or {}).get("probability")

    def in_window(self, published_at: str | None) -> bool:
        """Whether an item published at this ISO time lies inside the evidence window (both ends inclusive,
        compared by UTC date). An item without a date is outside any window that has a bound."""
        if self.window_not_before is None and self.window_not_after is None:
            return True
        if not published_at:
            return False
        day = published_at[:10]
        return ((self.window_not_before is None or day >= self.window_not_before)
                and (self.window_not_after is None or day <= self.window_not_after))

    def counts(self) -> dict[str, int]:
        """Confirmed evidence by stance, plus suggestions awaiting review."""
        tally = {"supports": 0, "contradicts": 0, "context": 0, "awaiting_review": 0}
        for match in self.matches.values():
            if match.state == "confirmed" and match.stance:
                tally[match.stance] += 1
            elif match.state == "suggested":
                tally["awaiting_review"] += 1
        return tally


def derive_status(state: Proposition) -> str:
    """The status the facts imply: a resolution wins, else the stances of confirmed evidence."""
    if state.resolution is not None:
        return state.resolution["outcome"]
    stances = {m.stance for m in state.matches.values() if m.state == "confirmed"}
    if "supports" in stances and "contradicts" in stances:
        return "contested"
    if "supports" in stances:
        return "supported"
    if "contradicts" in stances:
        return "contradicted"
    return "open"


def brier_score(probability: float, outcome: str) -> float | None:
    """Squared error of the stated probability against what happened; None when not scored."""
    if outcome == "confirmed":
        return round((probability - 1.0) ** 2, 6)
    if outcome == "refuted":
        return round(probability**2, 6)
    return None


# ---- evolve ---------------------------------------------------------------------------------------

def evolve(state: Proposition | None, event: Event) -> Proposition:
    data = event.data
    if event.type == "PropositionRegistered":
        return Proposition(
            proposition_id=data["proposition_id"], kind=data["kind"], statement=data["statement"],
            source_id=data.get("source_id"), actors=tuple(data.get("actors", ())),
            topics=tuple(data.get("topics", ())), locator=data.get("locator"),
            stated_confidence=data.get("stated_confidence"), condition=data.get("condition"),
            resolve_by=data.get("resolve_by"), resolution_criteria=data.get("resolution_criteria"),
            match_profile=data.get("match_profile"),
        )
    assert state is not None, f"{event.type} before PropositionRegistered"
    match event.type:
        case "PropositionAmended":
            changes = {k: tuple(v) if k in ("actors", "topics") else v for k, v in data["changes"].items()}
            return replace(state, **changes)
        case "MatchSuggested":
            match = Match(
                match_id=data["match_id"], evidence_id=data["evidence_id"], state="suggested",
                score=data["score"], explanation=data.get("explanation", {}),
                suggested_stance=data.get("suggested_stance"),
            )
            return _with_match(state, match)
        case "MatchConfirmed":
            old = state.matches[data["match_id"]]
            return _with_match(state, replace(
                old, state="confirmed", stance=data["stance"], note=data.get("note", ""),
                automatic=data.get("automatic", False),
            ))
        case "MatchRejected":
            old = state.matches[data["match_id"]]
            return _with_match(state, replace(old, state="rejected", note=data.get("reason", "")))
        case "MatchRetracted":
            old = state.matches[data["match_id"]]
            return _with_match(state, replace(old, state="retracted", note=data.get("reason", "")))
        case "PropositionResolved":
            return replace(state, resolution=dict(data))
        case "PropositionWithdrawn":
            return replace(state, resolution={"outcome": "withdrawn", "note": data.get("reason", "")})
        case "PropositionReopened":
            return replace(state, resolution=None)
        case "MatchingMuted":
            return replace(state, muted=True, muted_reason=data.get("reason", ""))
        case "MatchingUnmuted":
            return replace(state, muted=False, muted_reason="")
        case "EvidenceWindowSet":
            return replace(state, window_not_before=data.get("not_before"), window_not_after=data.get("not_after"))
        case "StatusChanged":
            return replace(state, status=data["to"])
    raise ValueError(f"unknown event type {event.type}")


def _with_match(state: Proposition, match: Match) -> Proposition:
    # A new state equal to replace(state, matches=...), without replace()'s __init__ over every field (about
    # 20 us, most of the time a command spent folding a proposition's ~100 events: benchmarks/review_pages.py's
    # bulk_reject). The fields are copied as they are (the dataclass has no __post_init__ to rerun); the state
    # passed in is untouched.
    new = object.__new__(Proposition)
    fields = new.__dict__
    fields.update(state.__dict__)
    fields["matches"] = {**state.matches, match.match_id: match}
    return new


def evolve_owned(state: Proposition | None, event: Event) -> Proposition:
    """evolve() for a caller that owns `state` outright and never looks at an earlier state again (a replay).

    A match event updates state.matches in place instead of copying it: evolve's copy makes folding a
    stream of n matches cost n^2. Every other event goes through evolve(), whose replace() shares the
    matches dict with the new state, so a fold that starts from None owns its dict throughout. The state
    reached is equal to evolve()'s.
    """
    if state is None:
        return evolve(state, event)
    kind = event.type
    data = event.data
    if kind == "MatchSuggested":
        match = _match(
            data["match_id"], data["evidence_id"], "suggested", data["score"], data.get("explanation", {}),
            data.get("suggested_stance"), None, "", False,
        )
    elif kind == "MatchConfirmed":
        old = state.matches[data["match_id"]]
        match = _match(
            old.match_id, old.evidence_id, "confirmed", old.score, old.explanation, old.suggested_stance,
            data["stance"], data.get("note", ""), data.get("automatic", False),
        )
    elif kind == "MatchRejected" or kind == "MatchRetracted":
        old = state.matches[data["match_id"]]
        match = _match(
            old.match_id, old.evidence_id, "rejected" if kind == "MatchRejected" else "retracted", old.score,
            old.explanation, old.suggested_stance, old.stance, data.get("reason", ""), old.automatic,
        )
    else:
        return evolve(state, event)
    state.matches[match.match_id] = match
    return state


def _match(
    match_id: str, evidence_id: str, state: str, score: float, explanation: dict[str, Any],
    suggested_stance: str | None, stance: str | None, note: str, automatic: bool,
) -> Match:
    """Match(...) with every field given, without the frozen dataclass __init__ (an object.__setattr__ per
    field: half the cost of a match event in a fold). Match has no __post_init__, so the instance is the same."""
    match = object.__new__(Match)
    match.__dict__.update(
        match_id=match_id, evidence_id=evidence_id, state=state, score=score, explanation=explanation,
        suggested_stance=suggested_stance, stance=stance, note=note, automatic=automatic,
    )
    return match


# ---- decide ---------------------------------------------------------------------------------------

def decide(state: Proposition | None, command: Command) -> list[Event]:
    """The events a command produces, or a DomainError with nothing emitted."""
    events = _facts(state, command)
    after = fold(evolve, events, state)
    assert after is not None
    status = derive_status(after)
    if status != after.status:
        events.append(Event("StatusChanged", {
            "from": after.status, "to": status, "because": events[-1].type,
        }))
    return events


def _facts(state: Proposition | None, command: Command) -> list[Event]:
    if isinstance(command, RegisterProposition):
        if state is not None:
            raise InvalidTransition(f"proposition {command.proposition_id} is already registered")
        _check_fields(vars(command))
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(command).items()}
        return [Event("PropositionRegistered", data)]
    if state is None:
        raise InvalidTransition("no such proposition")
    match command:
        case AmendProposition(changes=changes, reason=reason):
            _refuse_if_terminal(state, "amend")
            unknown = set(changes) - set(AMENDABLE)
            if unknown:
                raise InvalidCommand(f"cannot amend {', '.join(sorted(unknown))}")
            _check_fields(changes)
            current = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(state).items()}
            real = {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in changes.items() if current.get(k) != (list(v) if isinstance(v, tuple) else v)
            }
            if not real:
                raise InvalidCommand("the amendment changes nothing")
            return [Event("PropositionAmended", {"changes": real, "reason": reason})]
        case SuggestMatch():
            _refuse_if_terminal(state, "suggest evidence for")
            if any(m.evidence_id == command.evidence_id for m in state.matches.values()):
                raise InvalidTransition(f"evidence {command.evidence_id} was already matched to this proposition")
            if command.match_id in state.matches:
                raise InvalidTransition(f"match {command.match_id} exists already")
            if command.suggested_stance is not None and command.suggested_stance not in STANCES:
                raise InvalidCommand(f"unknown stance {command.suggested_stance!r}")
            if not _is_number(command.score) or not math.isfinite(command.score):
                # NaN/inf cannot be stored as JSON (PostgreSQL jsonb refuses them).
                raise InvalidCommand("score must be a finite number")
            return [Event("MatchSuggested", {
                "match_id": command.match_id, "evidence_id": command.evidence_id,
                "score": command.score, "explanation": command.explanation,
                "suggested_stance": command.suggested_stance,
            })]
        case ConfirmMatch():
            _refuse_if_withdrawn(state)
            _match_in(state, command.match_id, "suggested", "confirm")
            if command.stance not in STANCES:
                raise InvalidCommand(f"stance must be one of {', '.join(STANCES)}")
            return [Event("MatchConfirmed", {
                "match_id": command.match_id, "stance": command.stance, "note": command.note,
                "automatic": command.automatic,
            })]
        case RejectMatch():
            _refuse_if_withdrawn(state)
            _match_in(state, command.match_id, "suggested", "reject")
            rejected: dict[str, Any] = {"match_id": command.match_id, "reason": command.reason}
            if command.bulk_filter is not None:
                rejected["bulk_filter"] = command.bulk_filter
            return [Event("MatchRejected", rejected)]
        case RetractMatch():
            _refuse_if_withdrawn(state)
            _match_in(state, command.match_id, "confirmed", "retract")
            return [Event("MatchRetracted", {"match_id": command.match_id, "reason": command.reason})]
        case ResolveProposition():
            _refuse_if_terminal(state, "resolve")
            if command.outcome not in OUTCOMES:
                raise InvalidCommand(f"outcome must be one of {', '.join(OUTCOMES)}")
            known = {m.evidence_id for m in state.matches.values() if m.state == "confirmed"}
            missing = [e for e in command.evidence_ids if e not in known]
            if missing:
                raise InvalidCommand(f"deciding evidence is not confirmed for this proposition: {missing[0]}")
            probability = state.probability
            brier = (
                brier_score(probability, command.outcome)
                if state.kind == "prediction" and probability is not None else None
            )
            return [Event("PropositionResolved", {
                "outcome": command.outcome, "note": command.note,
                "evidence_ids": list(command.evidence_ids), "brier": brier,
            })]
        case WithdrawProposition():
            _refuse_if_terminal(state, "withdraw")
            return [Event("PropositionWithdrawn", {"reason": command.reason})]
        case ReopenProposition():
            if state.resolution is None:
                raise InvalidTransition("only a resolved or withdrawn proposition can be reopened")
            return [Event("PropositionReopened", {"reason": command.reason, "was": state.status})]
        case MuteMatching():
            if state.muted:
                raise InvalidTransition("matching is already muted for this proposition")
            return [Event("MatchingMuted", {"reason": command.reason})]
        case UnmuteMatching():
            if not state.muted:
                raise InvalidTransition("matching is not muted for this proposition")
            return [Event("MatchingUnmuted", {"reason": command.reason})]
        case SetEvidenceWindow():
            not_before = _iso_date(command.not_before, "not_before")
            not_after = _iso_date(command.not_after, "not_after")
            if not_before is not None and not_after is not None and not_before > not_after:
                raise InvalidCommand(f"the window is empty: not_before {not_before} is after not_after {not_after}")
            if (not_before, not_after) == (state.window_not_before, state.window_not_after):
                raise InvalidCommand("the evidence window is already that")
            return [Event("EvidenceWindowSet", {
                "not_before": not_before, "not_after": not_after, "reason": command.reason,
            })]
    raise InvalidCommand(f"unknown command {type(command).__name__}")


def _refuse_if_terminal(state: Proposition, verb: str) -> None:
    if state.resolution is not None:
        raise InvalidTransition(f"cannot {verb} a proposition that is {state.status}")


def _refuse_if_withdrawn(state: Proposition) -> None:
    # Read the resolution, the fact itself, rather than the derived status field.
    if state.resolution is not None and state.resolution.get("outcome") == "withdrawn":
        raise InvalidTransition("the proposition is withdrawn")


def _match_in(state: Proposition, match_id: str, wanted: str, verb: str) -> Match:
    match = state.matches.get(match_id)
    if match is None:
        raise UnknownMatch(f"no match {match_id} on this proposition")
    if match.state != wanted:
        raise InvalidTransition(f"cannot {verb} a match that is {match.state}")
    return match


def _iso_date(value: Any, name: str) -> str | None:
    """A YYYY-MM-DD date, or None; anything else is refused."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise InvalidCommand(f"{name} must be an ISO date (YYYY-MM-DD)")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_fields(fields: dict[str, Any]) -> None:
    if "proposition_id" in fields:
        pid = fields["proposition_id"]
        if not isinstance(pid, str) or not pid.strip():
            raise InvalidCommand("proposition_id must not be empty")
    for name in ("actors", "topics"):
        # A bare string would be folded into a tuple of characters.
        value = fields.get(name, ())
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise InvalidCommand(f"{name} must be a list of strings")
    if "kind" in fields and fields["kind"] not in KINDS:
        raise InvalidCommand(f"kind must be one of {', '.join(KINDS)}")
    if "statement" in fields:
        statement = fields["statement"]
        if not isinstance(statement, str) or not statement.strip():
            raise InvalidCommand("statement must not be empty")
        if len(statement) > 2000:
            raise InvalidCommand("statement is longer than 2000 characters")
    confidence = fields.get("stated_confidence")
    if confidence is not None:
        if not isinstance(confidence, dict):
            raise InvalidCommand("stated_confidence must be a mapping with a probability")
        probability = confidence.get("probability")
        if not _is_number(probability) or not 0.0 <= probability <= 1.0:
            raise InvalidCommand("stated probability must be a number between 0 and 1")
    resolve_by = fields.get("resolve_by")
    if resolve_by is not None:
        try:
            date.fromisoformat(resolve_by)
        except (TypeError, ValueError):
            raise InvalidCommand("resolve_by must be an ISO date (YYYY-MM-DD)") from None


def match_id_for(proposition_id: str, evidence_id: str) -> str:
    """The id of the match between a proposition and an evidence item: the same pair always gets the same id,
    whether the matcher suggested it or an editor attached it by hand."""
    return hashlib.sha256(f"{proposition_id}|{evidence_id}".encode()).hexdigest()[:20]
