"""Wire the pure matcher to the store: which propositions are open, and backfill of recent evidence."""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa

from tracker.config import Settings
from tracker.domain import proposition
from tracker.domain.errors import InvalidTransition
from tracker.matching.matcher import ItemInput, Matcher, Suggestion
from tracker.matching.profile import Exemplar, PropositionInput
from tracker.matching.settings import matcher_options
from tracker.projections.tables import evidence, matches, propositions, sources
from tracker.repository.unit_of_work import Tracker, UnitOfWork, evidence_stream, proposition_stream
from tracker.store.envelope import iso, parse_iso


class EvidenceLike(Protocol):
    evidence_id: str
    title: str
    summary: str
    published: datetime
    language: str | None


Suggester = Callable[[EvidenceLike], Sequence[Suggestion]]
MATCHER = "system:matcher"


def decided_exemplars(connection: sa.Connection, only: Iterable[str] | None = None) -> dict[str, list[Exemplar]]:
    """Per proposition, the items editors confirmed (with their stance) or rejected, with the evidence's title and
    summary: the matcher's exemplars. Read from the read models, which a replay rebuilds identically from the
    review events, so the matcher's learnt state is a fold of those events. Retracted matches teach nothing."""
    query = (
        sa.select(matches.c.proposition_id, matches.c.evidence_id, matches.c.state, matches.c.stance,
                  evidence.c.title, evidence.c.summary)
        .select_from(matches.join(evidence, matches.c.evidence_id == evidence.c.evidence_id))
        .where(matches.c.state.in_(("confirmed", "rejected")))
        .order_by(evidence.c.published_at, matches.c.match_id)
    )
    if only is not None:
        query = query.where(matches.c.proposition_id.in_(list(only)))
    found: dict[str, list[Exemplar]] = {}
    for pid, evidence_id, state, stance, title, summary in connection.execute(query):
        found.setdefault(pid, []).append(Exemplar(
            evidence_id, title or "", summary or "", (stance or "context") if state == "confirmed" else None))
    return found


def open_propositions(connection: sa.Connection, only: Iterable[str] | None = None) -> list[PropositionInput]:
    """Propositions that can still take evidence, with the date their source was published and the editors'
    decisions so far (exemplars)."""
    only = list(only) if only is not None else None
    query = (
        sa.select(propositions.c.state, sources.c.published_at)
        .select_from(propositions.outerjoin(sources, propositions.c.source_id == sources.c.source_id))
        .where(propositions.c.outcome.is_(None))
    )
    if only is not None:
        query = query.where(propositions.c.proposition_id.in_(list(only)))
    decided = decided_exemplars(connection, only)
    inputs = []
    for state_json, published in connection.execute(query):
        state: dict[str, Any] = json.loads(state_json)
        if state.get("muted"):
            continue  # an editor muted its matching: no new suggestions (record_suggestion checks again)
        # Evidence counts from the later of the source's publication and the start of the editors' window;
        # the window's end is enforced in record_suggestion (the matcher has no upper cut-off).
        starts = [parse_iso(published if "T" in published else f"{published}T00:00:00Z")] if published else []
        if state.get("window_not_before"):
            starts.append(parse_iso(f"{state['window_not_before']}T00:00:00Z"))
        inputs.append(PropositionInput(
            proposition_id=state["proposition_id"], statement=state["statement"],
            match_profile=state.get("match_profile"), topics=tuple(state.get("topics") or ()),
            actors=tuple(state.get("actors") or ()),
            not_before=max(starts, default=None),
            exemplars=tuple(decided.get(state["proposition_id"], ())),
        ))
    return inputs


def _options(settings: Settings) -> dict[str, Any]:
    # The threshold comes from the precision target unless TRACKER_MATCH_SUGGEST overrides it.
    options = matcher_options(precision=settings.match_precision, auto_threshold=settings.match_auto)
    if settings.match_suggest is not None:
        options["suggest_threshold"] = settings.match_suggest
    if options["auto_threshold"] is not None and options["auto_threshold"] < options["suggest_threshold"]:
        raise ValueError(f"TRACKER_MATCH_AUTO ({options['auto_threshold']}) is below the suggest threshold "
                         f"({options['suggest_threshold']}) that TRACKER_MATCH_PRECISION gives")
    return options


def _matcher(tracker: Tracker, settings: Settings, only: Iterable[str] | None = None) -> Matcher:
    with tracker.store.engine.connect() as connection:
        inputs = open_propositions(connection, only)
    return Matcher(inputs, **_options(settings))


def _item(item: EvidenceLike) -> ItemInput:
    return ItemInput(item.evidence_id, item.title, item.summary, item.published, item.language)


@dataclass
class _Built:
    inputs: list[PropositionInput]
    options: dict[str, Any]
    matcher: Matcher
    lock: threading.Lock  # one match at a time on a shared matcher (scheduler jobs run in threads)


# Per Tracker, the last matcher built and what it was built from. Building one (profiles, BM25 indexes, embeddings
# of every written example) costs seconds with 200 propositions; its inputs, read from the read models, cost
# milliseconds. So a pass whose inputs are unchanged (no proposition registered, amended, resolved or muted, no
# editor's decision since) reuses the matcher: scheduler jobs run one feed per pass, and rebuilt it every time.
_built: weakref.WeakKeyDictionary[Tracker, _Built] = weakref.WeakKeyDictionary()
_built_lock = threading.Lock()


def build_suggester(tracker: Tracker, settings: Settings) -> MatchSuggester:
    """A function scoring one evidence item against every open proposition, as the read models stand now.

    The matcher is reused while its inputs (open propositions with their profiles, windows and editors'
    decisions) and options are equal to those it was built from; matching is a pure function of them."""
    with tracker.store.engine.connect() as connection:
        inputs = open_propositions(connection)
    options = _options(settings)
    with _built_lock:
        built = _built.get(tracker)
    if built is None or built.inputs != inputs or built.options != options:
        built = _Built(inputs, options, Matcher(inputs, **options), threading.Lock())
        with _built_lock:
            _built[tracker] = built
    return MatchSuggester(built.matcher, built.lock)


class MatchSuggester:
    """The suggester `build_suggester` returns: one item at a time, and `prepare` for the items about to come."""

    def __init__(self, matcher: Matcher, lock: threading.Lock) -> None:
        self.matcher = matcher
        self.lock = lock

    def __call__(self, item: EvidenceLike) -> Sequence[Suggestion]:
        with self.lock:
            return self.matcher.match(_item(item))

    def prepare(self, items: Iterable[EvidenceLike]) -> None:
        """Embed the items now, together (Matcher.prepare): the suggestions are the same, the CPU less."""
        with self.lock:
            self.matcher.prepare([_item(item) for item in items])


def lazy_suggester(tracker: Tracker, settings: Settings) -> Suggester:
    """`build_suggester`, run when the first item needs matching: a pass whose feeds are not due, not modified
    or hold nothing new reads no matcher inputs and builds nothing."""
    return LazySuggester(tracker, settings)


class LazySuggester:
    def __init__(self, tracker: Tracker, settings: Settings) -> None:
        self.tracker = tracker
        self.settings = settings
        self.built: MatchSuggester | None = None
        self.pending: list[EvidenceLike] = []  # prepared before the matcher was built: prepared when it is

    def __call__(self, item: EvidenceLike) -> Sequence[Suggestion]:
        if self.built is None:
            self.built = build_suggester(self.tracker, self.settings)
        if self.pending:
            self.built.prepare(self.pending)
            self.pending = []
        return self.built(item)

    def prepare(self, items: Iterable[EvidenceLike]) -> None:
        if self.built is None:
            self.pending = list(items)  # builds nothing until an item needs matching
        else:
            self.built.prepare(items)


def backfill(
    tracker: Tracker, settings: Settings, proposition_ids: Sequence[str], *, now: datetime | None = None
) -> int:
    """Score recent evidence against new or amended propositions; returns the suggestions made."""
    matcher = _matcher(tracker, settings, proposition_ids)
    if not matcher.profiles:
        return 0
    since = iso((now or datetime.now(UTC)) - timedelta(days=settings.backfill_days))
    made = 0
    with tracker.store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(evidence.c.evidence_id, evidence.c.title, evidence.c.summary, evidence.c.published_at,
                      evidence.c.language)
            .where(evidence.c.published_at >= since).order_by(evidence.c.published_at)
        ).all()
    with tracker.unit_of_work(actor="system:matcher", correlation_id="backfill") as uow:
        for evidence_id, title, summary, published, language in rows:
            item = ItemInput(evidence_id, title, summary, parse_iso(published), language)
            for suggestion in matcher.match(item):
                made += record_suggestion(uow, evidence_id, suggestion).suggested
    return made


@dataclass(frozen=True)
class Recorded:
    suggested: bool = False
    confirmed: bool = False  # by the matcher itself, above the auto threshold


def record_suggestion(uow: UnitOfWork, evidence_id: str, suggestion: Suggestion) -> Recorded:
    """Suggest (and above the auto threshold confirm) one match inside the caller's unit of work."""
    stream_id = proposition_stream(suggestion.proposition_id)
    state: proposition.Proposition | None = uow.load(stream_id).state
    if state is None or state.resolution is not None or state.muted:
        return Recorded()
    if state.window_not_before or state.window_not_after:
        item = uow.load(evidence_stream(evidence_id)).state
        if not state.in_window(item.published_at if item is not None else None):
            return Recorded()  # published outside the editors' evidence window
    match_id = proposition.match_id_for(suggestion.proposition_id, evidence_id)
    if match_id in state.matches:
        return Recorded()  # suggested before, or rejected by an editor: never again
    try:
        uow.execute(stream_id, proposition.SuggestMatch(
            match_id=match_id, evidence_id=evidence_id, score=round(suggestion.score, 4),
            explanation=suggestion.explanation, suggested_stance=suggestion.suggested_stance,
        ), defer_read_models=True)
    except InvalidTransition:
        return Recorded()  # the same evidence was attached by hand under another match id: nothing to suggest
    if not suggestion.automatic:
        return Recorded(suggested=True)
    uow.execute(stream_id, proposition.ConfirmMatch(
        match_id=match_id, stance=suggestion.suggested_stance or "context",
        note="confirmed by the matcher above the auto threshold", automatic=True,
    ), actor=MATCHER, defer_read_models=True)
    return Recorded(suggested=True, confirmed=True)
