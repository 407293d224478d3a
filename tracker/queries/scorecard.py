"""Track records per author and per source, and the facts a ClaimReview of a resolution is made from."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from tracker.projections.tables import propositions, sources
from tracker.repository.unit_of_work import NotFound, proposition_stream
from tracker.store import EventStore


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    propositions: int
    by_status: dict[str, int]
    resolved_predictions: int
    mean_brier: float | None
    brier_count: int


@dataclass(frozen=True, slots=True)
class Scorecard:
    authors: list[Record]
    sources: list[Record]


def _records(rows: list[Any], key: str) -> list[Record]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, key) or "(no source)"].append(row)
    records = []
    for name, members in sorted(groups.items()):
        statuses: dict[str, int] = defaultdict(int)
        for row in members:
            statuses[row.status] += 1
        scored = [r.brier for r in members if r.brier is not None]
        records.append(Record(
            name=name, propositions=len(members), by_status=dict(sorted(statuses.items())),
            resolved_predictions=sum(1 for r in members if r.kind == "prediction"
                                     and r.outcome in ("confirmed", "refuted")),
            mean_brier=round(sum(scored) / len(scored), 6) if scored else None, brier_count=len(scored),
        ))
    return records


def scorecard(engine: sa.Engine) -> Scorecard:
    """Per author and per source: propositions by status, resolved predictions, mean Brier score (and count)."""
    query = sa.select(
        propositions.c.status, propositions.c.kind, propositions.c.outcome, propositions.c.brier,
        sources.c.author, propositions.c.source_id,
    ).select_from(propositions.outerjoin(sources, sources.c.source_id == propositions.c.source_id))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return Scorecard(authors=_records(rows, "author"), sources=_records(rows, "source_id"))


@dataclass(frozen=True, slots=True)
class ReviewedClaim:
    """A proposition with its source, and (when resolved) the event that resolved it."""

    proposition_id: str
    statement: str
    status: str
    outcome: str | None
    author: str | None
    outlet: str | None
    title: str | None
    url: str | None
    published_at: str | None
    resolved_at: str | None = None  # recorded_at of the last PropositionResolved
    note: str | None = None


def reviewed_claim(store: EventStore, proposition_id: str, outcomes: frozenset[str]) -> ReviewedClaim:
    """The claim; its resolution is read from the stream only when `outcome` is one of `outcomes`."""
    with store.engine.connect() as connection:
        row = connection.execute(
            sa.select(propositions, sources.c.author, sources.c.outlet, sources.c.title, sources.c.url,
                      sources.c.published_at)
            .select_from(propositions.outerjoin(sources, sources.c.source_id == propositions.c.source_id))
            .where(propositions.c.proposition_id == proposition_id)
        ).first()
    if row is None:
        raise NotFound(f"no proposition {proposition_id}")
    claim = ReviewedClaim(
        proposition_id=proposition_id, statement=row.statement, status=row.status, outcome=row.outcome,
        author=row.author, outlet=row.outlet, title=row.title, url=row.url, published_at=row.published_at,
    )
    if row.outcome not in outcomes:
        return claim
    resolved = [e for e in store.read_stream(proposition_stream(proposition_id))
                if e.event_type == "PropositionResolved"][-1]
    return replace(claim, resolved_at=resolved.recorded_at, note=resolved.payload.get("note"))
