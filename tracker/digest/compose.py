"""What one subscriber's digest of one week says. Pure: events and a subscriber in, a Digest out.

`snapshot` folds the log up to the end of the week (state as it stood when the week closed, so a preview
on Wednesday says what Monday's mail said) and collects the week's own events; `compose` filters that
to what one subscriber follows and groups it by proposition: one story per proposition, its changes in
the order they were recorded, each said in words (a status change is told with what caused it). The
review backlog (suggestions awaiting an editor) is for editors only. A week's events are those *recorded*
in [Monday 00:00, next Monday) in the tracker's time zone: when the tracker learnt of them, which never
changes once the week is over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tracker.digest.week import IsoWeek
from tracker.domain import proposition
from tracker.domain.events import Event
from tracker.domain.subscriber import FILTER_KEYS, Subscriber
from tracker.store.envelope import RecordedEvent, parse_iso

DUE_WINDOW_DAYS = 30
STANCE_ORDER = ("supports", "contradicts", "context")


# ---- the digest -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PropositionRef:
    proposition_id: str
    statement: str
    kind: str
    status: str


@dataclass(frozen=True)
class EvidenceRef:
    evidence_id: str
    title: str
    link: str | None
    published_at: str | None
    stance: str | None = None
    automatic: bool = False


@dataclass(frozen=True)
class StatusChange:
    proposition: PropositionRef
    old: str
    new: str
    at: str  # local date and time, for reading
    because: str  # the event type that moved it
    evidence: tuple[EvidenceRef, ...] = ()


@dataclass(frozen=True)
class NewEvidence:
    proposition: PropositionRef
    evidence: EvidenceRef
    at: str


@dataclass(frozen=True)
class Review:
    count: int
    oldest_proposition: PropositionRef | None = None
    oldest_evidence: EvidenceRef | None = None
    oldest_since: str | None = None


@dataclass(frozen=True)
class Due:
    proposition: PropositionRef
    resolve_by: str
    days: int  # from the digest date; negative when overdue


@dataclass(frozen=True)
class Resolved:
    proposition: PropositionRef
    outcome: str
    brier: float | None
    probability: float | None
    at: str


@dataclass(frozen=True)
class Change:
    """One thing that happened to a proposition this week, in words, for a reader."""

    at: str  # local date and time, for reading
    what: str  # e.g. "new evidence supports it", "reopened by an editor", "resolved: confirmed"
    old: str | None = None  # the status before, when this moved it
    new: str | None = None  # the status after
    evidence: tuple[EvidenceRef, ...] = ()
    detail: str | None = None  # e.g. "stated probability 0.30, Brier score 0.490"


@dataclass(frozen=True)
class Story:
    """A proposition and everything that happened to it this week, in order."""

    proposition: PropositionRef
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Digest:
    week: str
    first_day: date
    last_day: date
    timezone: str
    subscriber_id: str
    email: str
    name: str
    quiet_weeks: str
    filtered: bool
    status_changes: tuple[StatusChange, ...] = ()
    new_evidence: tuple[tuple[str, tuple[NewEvidence, ...]], ...] = ()  # (stance, items) in STANCE_ORDER
    review: Review = Review(0)
    due_soon: tuple[Due, ...] = ()
    overdue: tuple[Due, ...] = ()
    resolved: tuple[Resolved, ...] = ()
    stories: tuple[Story, ...] = ()  # what the mail shows: the week grouped by proposition
    editor: bool = False  # the reader is an editor: the review backlog is shown

    @property
    def quiet(self) -> bool:
        """Nothing happened this week (standing items such as overdue ones are not news)."""
        return not (self.stories or self.status_changes or self.new_evidence or self.resolved)

    @property
    def change_count(self) -> int:
        return sum(len(story.changes) for story in self.stories)

    @property
    def new_evidence_count(self) -> int:
        return sum(len(items) for _, items in self.new_evidence)


# ---- the week's facts, folded from the log --------------------------------------------------------

@dataclass(frozen=True)
class _Change:
    proposition_id: str
    old: str
    new: str
    at: str
    because: str
    evidence_ids: tuple[str, ...]


@dataclass(frozen=True)
class _Confirmation:
    proposition_id: str
    match_id: str
    evidence_id: str
    stance: str
    automatic: bool
    at: str


@dataclass(frozen=True)
class _Resolution:
    proposition_id: str
    outcome: str
    brier: float | None
    at: str


@dataclass
class _Fact:
    """One event of the week on a proposition, with the status change it caused (if any)."""

    proposition_id: str
    type: str
    at: str
    payload: dict[str, Any]
    evidence_ids: tuple[str, ...] = ()
    stance: str | None = None
    automatic: bool = False
    status: tuple[str, str] | None = None


@dataclass
class WeekSnapshot:
    week: IsoWeek
    timezone: str
    propositions: dict[str, proposition.Proposition] = field(default_factory=dict)
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    suggested_at: dict[tuple[str, str], str] = field(default_factory=dict)
    changes: list[_Change] = field(default_factory=list)
    confirmations: list[_Confirmation] = field(default_factory=list)
    resolutions: list[_Resolution] = field(default_factory=list)
    facts: list[_Fact] = field(default_factory=list)

    @property
    def digest_date(self) -> date:
        """The Monday after the week: 'due soon' and 'overdue' are counted from it."""
        return self.week.next_monday


def snapshot(week: IsoWeek, timezone: str, events: Iterable[RecordedEvent]) -> WeekSnapshot:
    """Fold every event recorded before the week's end; keep the week's own changes aside."""
    tz = ZoneInfo(timezone)
    start, end = week.bounds(tz)
    snap = WeekSnapshot(week, timezone)
    last_fact: dict[str, tuple[str, dict[str, Any]]] = {}
    last_week_fact: dict[str, _Fact] = {}  # the proposition's previous event, when it was a fact of the week
    for event in events:
        if event.recorded_at >= end:
            continue
        kind = event.stream_id.partition("-")[0]
        if kind == "evidence" and event.event_type == "EvidenceIngested":
            snap.evidence[event.payload["evidence_id"]] = event.payload
            continue
        if kind != "proposition":
            continue
        pid = event.stream_id.partition("-")[2]
        before = snap.propositions.get(pid)
        try:
            state = proposition.evolve(before, Event(event.event_type, event.payload))
        except (AssertionError, KeyError, ValueError):
            continue  # an event this fold does not know: leave the state as it was
        snap.propositions[pid] = state
        payload = event.payload
        if event.event_type == "MatchSuggested":
            snap.suggested_at[(pid, payload["match_id"])] = event.recorded_at
        in_week = event.recorded_at >= start
        if event.event_type != "StatusChanged":
            last_fact[pid] = (event.event_type, payload)
        cause_fact = last_week_fact.pop(pid, None)
        if not in_week:
            continue
        if event.event_type == "StatusChanged":
            cause_type, cause = last_fact.get(pid, (payload.get("because", ""), {}))
            snap.changes.append(_Change(
                pid, payload["from"], payload["to"], event.recorded_at, cause_type, _cause_evidence(state, cause),
            ))
            if cause_fact is None:  # the cause is not a fact of this week (should not happen: one append)
                cause_fact = _Fact(pid, payload.get("because", ""), event.recorded_at, {},
                                   _cause_evidence(state, cause))
                snap.facts.append(cause_fact)
            cause_fact.status = (payload["from"], payload["to"])
            continue
        last_week_fact[pid] = _fact(pid, state, event.event_type, payload, event.recorded_at)
        snap.facts.append(last_week_fact[pid])
        if event.event_type == "MatchConfirmed":
            match = state.matches[payload["match_id"]]
            snap.confirmations.append(_Confirmation(
                pid, match.match_id, match.evidence_id, payload["stance"], bool(payload.get("automatic")),
                event.recorded_at,
            ))
        elif event.event_type == "PropositionResolved":
            snap.resolutions.append(_Resolution(pid, payload["outcome"], payload.get("brier"), event.recorded_at))
    return snap


def _fact(pid: str, state: proposition.Proposition, kind: str, payload: dict[str, Any], at: str) -> _Fact:
    match = state.matches.get(payload.get("match_id", ""))
    if kind == "MatchConfirmed" and match is not None:
        return _Fact(pid, kind, at, payload, (match.evidence_id,), payload.get("stance"),
                     bool(payload.get("automatic")))
    if kind == "MatchRetracted" and match is not None:
        return _Fact(pid, kind, at, payload, (match.evidence_id,), match.stance)
    if kind == "PropositionResolved":
        return _Fact(pid, kind, at, payload, tuple(payload.get("evidence_ids") or ()))
    return _Fact(pid, kind, at, payload)


def _cause_evidence(state: proposition.Proposition, cause: dict[str, Any]) -> tuple[str, ...]:
    if "evidence_ids" in cause:
        return tuple(cause["evidence_ids"])
    match = state.matches.get(cause.get("match_id", ""))
    return (match.evidence_id,) if match else ()


# ---- one subscriber's view ------------------------------------------------------------------------

def follows(filters: dict[str, list[str]], state: proposition.Proposition) -> bool:
    """Named propositions always; otherwise every filter given must match (any of its values)."""
    if state.proposition_id in filters.get("propositions", ()):
        return True
    dimensions = {k: v for k, v in filters.items() if k != "propositions" and k in FILTER_KEYS and v}
    if not dimensions:
        return not filters.get("propositions")  # no filters at all: everything
    if "actors" in dimensions and not _overlap(dimensions["actors"], state.actors):
        return False
    if "topics" in dimensions and not _overlap(dimensions["topics"], state.topics):
        return False
    return "kinds" not in dimensions or state.kind in dimensions["kinds"]


def _overlap(wanted: list[str], have: tuple[str, ...]) -> bool:
    return bool({w.casefold() for w in wanted} & {h.casefold() for h in have})


def compose(snap: WeekSnapshot, subscriber: Subscriber) -> Digest:
    tz = ZoneInfo(snap.timezone)
    followed = {pid: s for pid, s in snap.propositions.items() if follows(subscriber.filters, s)}

    def ref(pid: str) -> PropositionRef:
        state = snap.propositions[pid]
        return PropositionRef(pid, state.statement, state.kind, state.status)

    def evidence(evidence_id: str, stance: str | None = None, automatic: bool = False) -> EvidenceRef:
        item = snap.evidence.get(evidence_id, {})
        return EvidenceRef(evidence_id, item.get("title") or evidence_id, item.get("link"),
                           item.get("published_at"), stance, automatic)

    def local(stamp: str) -> str:
        return parse_iso(stamp).astimezone(tz).strftime("%a %d %b %H:%M")

    changes = tuple(
        StatusChange(ref(c.proposition_id), c.old, c.new, local(c.at), c.because,
                     tuple(_with_stance(snap, c.proposition_id, e, evidence) for e in c.evidence_ids))
        for c in snap.changes if c.proposition_id in followed
    )
    by_stance: dict[str, list[NewEvidence]] = {}
    for c in snap.confirmations:
        state = followed.get(c.proposition_id)
        if state is None or state.matches[c.match_id].state != "confirmed":
            continue  # retracted again before the week ended
        by_stance.setdefault(c.stance, []).append(
            NewEvidence(ref(c.proposition_id), evidence(c.evidence_id, c.stance, c.automatic), local(c.at))
        )
    new_evidence = tuple((s, tuple(by_stance[s])) for s in STANCE_ORDER if s in by_stance)

    waiting = [
        (snap.suggested_at.get((pid, m.match_id), ""), pid, m.evidence_id)
        for pid, state in followed.items() for m in state.matches.values() if m.state == "suggested"
    ]
    review = Review(0)
    if waiting:
        since, pid, evidence_id = min(waiting)
        review = Review(len(waiting), ref(pid), evidence(evidence_id), local(since) if since else None)

    due_soon, overdue = _due(snap.digest_date, followed, ref)
    resolved = tuple(
        Resolved(ref(r.proposition_id), r.outcome, r.brier, snap.propositions[r.proposition_id].probability,
                 local(r.at))
        for r in snap.resolutions if r.proposition_id in followed
    )
    stories = _stories(snap, followed, ref, evidence, local)
    filtered = any(subscriber.filters.get(k) for k in FILTER_KEYS)
    return Digest(
        week=snap.week.label, first_day=snap.week.monday, last_day=snap.week.sunday, timezone=snap.timezone,
        subscriber_id=subscriber.subscriber_id, email=subscriber.email, name=subscriber.name,
        quiet_weeks=subscriber.quiet_weeks, filtered=filtered, status_changes=changes,
        new_evidence=new_evidence, review=review, due_soon=due_soon, overdue=overdue, resolved=resolved,
        stories=stories, editor=subscriber.editor,
    )


# Facts a reader is told about even when they moved no status; the others (a suggestion, a rejected one,
# the matcher's controls) are shown only when they did.
_STANCE_WORDS = {"supports": "supports it", "contradicts": "contradicts it", "context": "adds context"}


def _words(fact: _Fact) -> str | None:
    """What happened, in words; None for a fact readers are not told about on its own."""
    data = fact.payload
    match fact.type:
        case "PropositionRegistered":
            return "added to the record"
        case "MatchConfirmed":
            return f"new evidence {_STANCE_WORDS.get(fact.stance or '', 'was added')}"
        case "MatchRetracted":
            return "an editor withdrew evidence counted earlier"
        case "PropositionResolved":
            return f"resolved: {data.get('outcome', 'decided')}"
        case "PropositionReopened":
            return "reopened by an editor"
        case "PropositionWithdrawn":
            return "withdrawn by an editor"
        case "PropositionAmended":
            changed = data.get("changes") or {}
            return "reworded by an editor" if "statement" in changed else "details amended by an editor"
        case "MatchRejected":
            return "an editor set a suggested item aside" if fact.status else None
    return "updated" if fact.status else None


def _stories(snap: WeekSnapshot, followed: dict[str, proposition.Proposition], ref: Any, evidence: Any,
             local: Any) -> tuple[Story, ...]:
    changes: dict[str, list[Change]] = {}  # insertion order: the proposition's first change of the week
    for fact in snap.facts:
        if fact.proposition_id not in followed:
            continue
        what = _words(fact)
        if what is None:
            continue
        detail = None
        if fact.type == "PropositionResolved":
            detail = _scored(snap.propositions[fact.proposition_id], fact.payload)
        old, new = fact.status or (None, None)
        items = tuple(
            evidence(e, fact.stance, fact.automatic) if fact.stance else _with_stance(snap, fact.proposition_id, e,
                                                                                      evidence)
            for e in fact.evidence_ids
        )
        changes.setdefault(fact.proposition_id, []).append(Change(local(fact.at), what, old, new, items, detail))
    return tuple(Story(ref(pid), tuple(lines)) for pid, lines in changes.items())


def _scored(state: proposition.Proposition, payload: dict[str, Any]) -> str | None:
    if state.kind != "prediction":
        return "a claim or prescription: not scored"
    parts = []
    if state.probability is not None:
        parts.append(f"stated probability {state.probability:.2f}")
    brier = payload.get("brier")
    parts.append(f"Brier score {brier:.3f} (0 is a perfect forecast, 1 the worst)" if brier is not None
                 else "not scored")
    return ", ".join(parts)


def _with_stance(snap: WeekSnapshot, pid: str, evidence_id: str, make: Any) -> EvidenceRef:
    for match in snap.propositions[pid].matches.values():
        if match.evidence_id == evidence_id:
            return make(evidence_id, match.stance, match.automatic)
    return make(evidence_id)


def _due(
    today: date, followed: dict[str, proposition.Proposition], ref: Any
) -> tuple[tuple[Due, ...], tuple[Due, ...]]:
    soon: list[Due] = []
    late: list[Due] = []
    horizon = today + timedelta(days=DUE_WINDOW_DAYS)
    for pid, state in sorted(followed.items(), key=lambda item: (item[1].resolve_by or "", item[0])):
        if state.resolve_by is None or state.resolution is not None:
            continue
        when = date.fromisoformat(state.resolve_by)
        days = (when - today).days
        if when < today:
            late.append(Due(ref(pid), state.resolve_by, days))
        elif when <= horizon:
            soon.append(Due(ref(pid), state.resolve_by, days))
    return tuple(soon), tuple(late)


def everything(email: str = "preview@policy-tracker.invalid", *, editor: bool = False) -> Subscriber:
    """A subscriber with no filters: what an editor previews when no subscriber is named (as a reader sees
    it, or with editor=True as an editor subscriber sees it, review backlog included)."""
    return Subscriber("preview", email, "", {k: [] for k in FILTER_KEYS}, "note", editor=editor)

