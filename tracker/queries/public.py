"""Reads for the public reader pages: only facts fit to publish.

Confirmed evidence only (never suggestions, rejected or retracted matches), no notes or reasons of any kind
(confirm, reject, retract, resolve, withdraw, amend), no actors of events, no subscriber data. Every dataclass
here holds exactly what a page may show, so a template cannot print what it was never given.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from tracker.domain.registry import entity_of, proposition_stream
from tracker.projections.tables import evidence, matches, propositions, sources
from tracker.queries.paging import Page, SortKey, keyset_page
from tracker.queries.propositions import PropositionRow, filtered, is_overdue, today
from tracker.queries.propositions import _row as proposition_row
from tracker.store.eventstore import decode_payload
from tracker.store.schema import events

BY_ID = (SortKey(propositions.c.proposition_id, str),)
# Overdue first: 0 for a proposition past its resolve-by date and unresolved, 1 otherwise, then by id.
_LATE = sa.case(
    (sa.and_(propositions.c.resolve_by.is_not(None), propositions.c.outcome.is_(None),
             propositions.c.resolve_by < sa.bindparam("today_", type_=sa.String)), 0),
    else_=1,
).label("late_rank")
OVERDUE_FIRST = (SortKey(_LATE, int), SortKey(propositions.c.proposition_id, str))

# The events a public timeline is made of; a StatusChanged's cause is the event just before it (same command).
_TIMELINE_EVENTS = ("PropositionRegistered", "StatusChanged", "MatchConfirmed", "MatchRetracted",
                    "PropositionResolved", "PropositionWithdrawn", "PropositionReopened")
CAUSES = {
    "MatchConfirmed": "evidence",
    "MatchRetracted": "evidence-withdrawn",
    "PropositionResolved": "resolved",
    "PropositionWithdrawn": "withdrawn",
    "PropositionReopened": "reopened",
}


@dataclass(frozen=True, slots=True)
class PublicSource:
    id: str
    outlet: str
    author: str
    title: str
    published_at: str
    url: str | None


@dataclass(frozen=True, slots=True)
class PublicEvidence:
    id: str
    title: str
    link: str | None
    feed: str
    published_at: str
    stance: str


@dataclass(frozen=True, slots=True)
class Change:
    """One status change: when, from what to what, why (a CAUSES value) and the confirmed evidence behind it."""

    version: int
    event_id: str
    at: str
    from_status: str | None
    to_status: str
    cause: str
    evidence: list[PublicEvidence] = field(default_factory=list)
    withdrawn_evidence: bool = False  # the evidence that caused it was later withdrawn (so it is not shown)


@dataclass(frozen=True, slots=True)
class PublicProposition:
    id: str
    kind: str
    statement: str
    status: str
    actors: list[str]
    topics: list[str]
    paragraph: int | None
    confidence_phrase: str | None
    probability: float | None
    negated: bool
    condition: str | None
    resolution_criteria: str | None
    resolve_by: str | None
    overdue: bool
    outcome: str | None
    brier: float | None
    resolved_at: str | None
    decided_by: list[PublicEvidence]
    source: PublicSource | None
    evidence: dict[str, list[PublicEvidence]]
    timeline: list[Change]
    registered_at: str | None
    updated_at: str
    version: int


def _source(row: Any) -> PublicSource:
    return PublicSource(id=row.source_id, outlet=row.outlet, author=row.author, title=row.title,
                        published_at=row.published_at, url=row.url)


def _confirmed(connection: sa.Connection, proposition_id: str) -> dict[str, tuple[str, PublicEvidence]]:
    """match_id -> (evidence_id, item) for the proposition's confirmed matches, newest evidence first."""
    rows = connection.execute(
        sa.select(matches.c.match_id, matches.c.stance, evidence.c.evidence_id, evidence.c.title, evidence.c.link,
                  evidence.c.feed, evidence.c.published_at)
        .select_from(matches.join(evidence, evidence.c.evidence_id == matches.c.evidence_id))
        # coalesce() keeps SQLite (no ANALYZE statistics) from walking ix_matches_state, every confirmed match
        # of every proposition (17 ms at 100,000 events), instead of this proposition's few rows.
        .where(matches.c.proposition_id == proposition_id, sa.func.coalesce(matches.c.state, "") == "confirmed")
        .order_by(evidence.c.published_at.desc(), evidence.c.evidence_id)
    ).all()
    return {
        r.match_id: (r.evidence_id, PublicEvidence(id=r.evidence_id, title=r.title, link=r.link, feed=r.feed,
                                                   published_at=r.published_at, stance=r.stance or "context"))
        for r in rows
    }


def proposition(engine: sa.Engine, proposition_id: str) -> PublicProposition | None:
    """Everything the proposition's public page shows, in three reads; None for an unknown id."""
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(propositions, sources.c.outlet, sources.c.author, sources.c.title, sources.c.published_at,
                      sources.c.url)
            .select_from(propositions.outerjoin(sources, sources.c.source_id == propositions.c.source_id))
            .where(propositions.c.proposition_id == proposition_id)
        ).first()
        if row is None:
            return None
        confirmed = _confirmed(connection, proposition_id)
        stream = connection.execute(
            sa.select(events.c.stream_version, events.c.event_id, events.c.event_type, events.c.schema_version,
                      events.c.recorded_at, events.c.payload)
            .where(events.c.stream_id == proposition_stream(proposition_id),
                   events.c.event_type.in_(_TIMELINE_EVENTS))
            .order_by(events.c.stream_version)
        ).all()
    state = json.loads(row.state)
    by_evidence = {evidence_id: item for evidence_id, item in confirmed.values()}
    timeline, registered_at, resolved_at, decided = _timeline(stream, confirmed, by_evidence)
    grouped: dict[str, list[PublicEvidence]] = {"supports": [], "contradicts": [], "context": []}
    for _, item in confirmed.values():
        grouped.setdefault(item.stance, []).append(item)
    confidence = state.get("stated_confidence") or {}
    locator = state.get("locator") or {}
    return PublicProposition(
        id=row.proposition_id, kind=row.kind, statement=row.statement, status=row.status,
        actors=json.loads(row.actors), topics=json.loads(row.topics), paragraph=locator.get("paragraph"),
        confidence_phrase=confidence.get("phrase"), probability=row.probability,
        negated=bool(confidence.get("negated")), condition=state.get("condition"),
        resolution_criteria=state.get("resolution_criteria"), resolve_by=row.resolve_by,
        overdue=is_overdue(row.resolve_by, row.outcome), outcome=row.outcome, brier=row.brier,
        resolved_at=resolved_at if row.outcome else None, decided_by=decided if row.outcome else [],
        source=None if row.outlet is None else PublicSource(
            id=row.source_id, outlet=row.outlet, author=row.author, title=row.title,
            published_at=row.published_at, url=row.url),
        evidence=grouped, timeline=timeline, registered_at=registered_at, updated_at=row.updated_at,
        version=row.version,
    )


def _timeline(
    stream: list[Any], confirmed: dict[str, tuple[str, PublicEvidence]], by_evidence: dict[str, PublicEvidence]
) -> tuple[list[Change], str | None, str | None, list[PublicEvidence]]:
    """Status changes, each with its cause; also when it was registered and the last resolution."""
    changes: list[Change] = []
    registered_at = resolved_at = None
    decided: list[PublicEvidence] = []
    previous: tuple[int, str, dict[str, Any]] | None = None
    for version, event_id, event_type, schema_version, recorded_at, text in stream:
        if event_type == "PropositionRegistered":
            registered_at = recorded_at
            previous = None
            continue
        if event_type == "StatusChanged":
            payload = decode_payload(event_type, schema_version, text)[1]
            cause_type = previous[1] if previous and previous[0] == version - 1 else payload.get("because", "")
            cause_payload = previous[2] if previous and previous[0] == version - 1 else {}
            items: list[PublicEvidence] = []
            withdrawn = False
            if cause_type == "MatchConfirmed":
                found = confirmed.get(cause_payload.get("match_id", ""))
                if found is None:
                    withdrawn = True  # confirmed then, retracted since: not shown
                else:
                    items = [found[1]]
            elif cause_type == "PropositionResolved":
                items = [by_evidence[e] for e in cause_payload.get("evidence_ids", []) if e in by_evidence]
            changes.append(Change(version=version, event_id=event_id, at=recorded_at,
                                  from_status=payload.get("from"), to_status=payload["to"],
                                  cause=CAUSES.get(cause_type, "other"), evidence=items,
                                  withdrawn_evidence=withdrawn))
            previous = None
            continue
        # Only the fields a public page may use are kept from a cause's payload (never its note or reason).
        payload = decode_payload(event_type, schema_version, text)[1]
        kept = {k: payload[k] for k in ("match_id", "evidence_ids", "outcome") if k in payload}
        previous = (version, event_type, kept)
        if event_type == "PropositionResolved":
            resolved_at = recorded_at
            decided = [by_evidence[e] for e in kept.get("evidence_ids", []) if e in by_evidence]
    return changes, registered_at, resolved_at, decided


# ---- lists ----------------------------------------------------------------------------------------

def list_propositions(
    engine: sa.Engine, *, status: str | None = None, kind: str | None = None, actor: str | None = None,
    topic: str | None = None, q: str | None = None, source_id: str | None = None, overdue_first: bool = False,
    limit: int = 50, cursor: str | None = None,
) -> Page[PropositionRow]:
    """Propositions filtered, in id order or overdue first, one keyset page at a time (BadCursor on a bad one)."""
    # Unlike the API's search, only CONFIRMED evidence counts: a suggestion's title must not find anything.
    query = filtered(sa.select(propositions, _LATE) if overdue_first else sa.select(propositions),
                     status=status, kind=kind, actor=actor, topic=topic, q=q,
                     q_evidence=matches.c.state == "confirmed")
    if source_id is not None:
        query = query.where(propositions.c.source_id == source_id)
    order = OVERDUE_FIRST if overdue_first else BY_ID
    if overdue_first:
        query = query.params(today_=today())
    with engine.connect() as connection:
        return keyset_page(connection, query, order, limit, cursor, proposition_row)


@dataclass(frozen=True, slots=True)
class Choices:
    """The values the index's filters offer (the ones that occur)."""

    statuses: list[str]
    kinds: list[str]
    actors: list[str]
    topics: list[str]


def choices(engine: sa.Engine) -> Choices:
    with engine.connect() as connection:
        statuses = connection.execute(sa.select(propositions.c.status).distinct()).scalars().all()
        kinds = connection.execute(sa.select(propositions.c.kind).distinct()).scalars().all()
        actor_lists = connection.execute(sa.select(propositions.c.actors).distinct()).scalars().all()
        topic_lists = connection.execute(sa.select(propositions.c.topics).distinct()).scalars().all()
    return Choices(
        statuses=sorted(statuses), kinds=sorted(kinds),
        actors=sorted({a for text in actor_lists for a in json.loads(text)}, key=str.casefold),
        topics=sorted({t for text in topic_lists for t in json.loads(text)}, key=str.casefold),
    )


def source(engine: sa.Engine, source_id: str) -> PublicSource | None:
    with engine.connect() as connection:
        row = connection.execute(sa.select(sources).where(sources.c.source_id == source_id)).first()
    return None if row is None else _source(row)


def list_sources(engine: sa.Engine) -> list[PublicSource]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(sources).order_by(sources.c.published_at.desc(), sources.c.source_id))
        return [_source(r) for r in rows]


def sources_by_id(engine: sa.Engine, ids: set[str]) -> dict[str, PublicSource]:
    if not ids:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(sa.select(sources).where(sources.c.source_id.in_(sorted(ids))))
        return {r.source_id: _source(r) for r in rows}


# ---- calibration ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Bin:
    low: float
    high: float
    count: int
    mean_stated: float
    observed: float  # the share that came true


@dataclass(frozen=True, slots=True)
class Calibration:
    name: str
    predictions: int
    bins: list[Bin]


def calibration(engine: sa.Engine, bins: int = 5) -> list[Calibration]:
    """Per author: resolved predictions (confirmed or refuted) binned by stated probability, with how many came
    true in each bin. A well calibrated author's points lie on the diagonal."""
    query = (
        sa.select(sources.c.author, propositions.c.probability, propositions.c.outcome)
        .select_from(propositions.outerjoin(sources, sources.c.source_id == propositions.c.source_id))
        .where(propositions.c.kind == "prediction", propositions.c.probability.is_not(None),
               propositions.c.outcome.in_(("confirmed", "refuted")))
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    groups: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for author, probability, outcome in rows:
        groups[author or "(no source)"].append((probability, outcome == "confirmed"))
    found = []
    for name, scored in sorted(groups.items()):
        binned: dict[int, list[tuple[float, bool]]] = defaultdict(list)
        for probability, came_true in scored:
            binned[min(bins - 1, int(probability * bins))].append((probability, came_true))
        found.append(Calibration(name=name, predictions=len(scored), bins=[
            Bin(low=i / bins, high=(i + 1) / bins, count=len(members),
                mean_stated=round(sum(p for p, _ in members) / len(members), 4),
                observed=round(sum(1 for _, t in members if t) / len(members), 4))
            for i, members in sorted(binned.items())
        ]))
    return found


# ---- the feed -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FeedEntry:
    proposition_id: str
    statement: str
    change: Change


def recent_changes(engine: sa.Engine, limit: int = 50) -> list[FeedEntry]:
    """The newest status changes across every proposition (the causes are named, their evidence is not)."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(events.c.stream_id, events.c.stream_version, events.c.event_id, events.c.schema_version,
                      events.c.recorded_at, events.c.payload)
            .where(events.c.event_type == "StatusChanged", events.c.stream_id.startswith("proposition-"))
            .order_by(events.c.position.desc()).limit(limit)
        ).all()
        ids = {entity_of(r.stream_id) for r in rows}
        statements = dict(connection.execute(
            sa.select(propositions.c.proposition_id, propositions.c.statement)
            .where(propositions.c.proposition_id.in_(sorted(ids)))
        ).all()) if ids else {}
    entries = []
    for r in rows:
        payload = decode_payload("StatusChanged", r.schema_version, r.payload)[1]
        pid = entity_of(r.stream_id)
        entries.append(FeedEntry(pid, statements.get(pid, pid), Change(
            version=r.stream_version, event_id=r.event_id, at=r.recorded_at, from_status=payload.get("from"),
            to_status=payload["to"], cause=CAUSES.get(payload.get("because", ""), "other"))))
    return entries
