"""The review queue (matches in one state, best first), a filtered part of it, and which proposition a match
belongs to."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tracker.projections.tables import evidence, matches, propositions
from tracker.queries.paging import Page, SortKey, keyset_page

# Best first: highest score, then id, so equal scores still page in a fixed order.
BEST_FIRST = (SortKey(matches.c.score, float | int, descending=True), SortKey(matches.c.match_id, str))


@dataclass(frozen=True, slots=True)
class QueuedEvidence:
    id: str
    title: str | None
    link: str | None
    feed: str | None
    published_at: str | None


@dataclass(frozen=True, slots=True)
class QueuedProposition:
    id: str
    statement: str | None
    status: str | None
    version: int | None


@dataclass(frozen=True, slots=True)
class QueuedMatch:
    id: str
    state: str
    score: float
    suggested_stance: str | None
    stance: str | None
    automatic: bool
    explanation: dict[str, Any]
    evidence: QueuedEvidence
    proposition: QueuedProposition


def _match(row: Any) -> QueuedMatch:
    return QueuedMatch(
        id=row.match_id, state=row.state, score=row.score, suggested_stance=row.suggested_stance,
        stance=row.stance, automatic=bool(row.automatic), explanation=json.loads(row.explanation),
        evidence=QueuedEvidence(id=row.evidence_id, title=row.title, link=row.link, feed=row.feed,
                                published_at=row.published_at),
        proposition=QueuedProposition(id=row.proposition_id, statement=row.statement, status=row.status,
                                      version=row.version),
    )


def review_queue(
    engine: sa.Engine, *, state: str = "suggested", proposition_id: str | None = None, limit: int = 50,
    cursor: str | None = None,
) -> Page[QueuedMatch]:
    """Matches in `state`, best first, each with its evidence and proposition (outer joins: a row is never lost)."""
    query = (
        sa.select(matches, evidence.c.title, evidence.c.link, evidence.c.feed, evidence.c.published_at,
                  propositions.c.statement, propositions.c.status, propositions.c.version)
        .select_from(
            matches.outerjoin(evidence, evidence.c.evidence_id == matches.c.evidence_id)
            .outerjoin(propositions, propositions.c.proposition_id == matches.c.proposition_id)
        )
        .where(matches.c.state == state)
    )
    if proposition_id:
        query = query.where(matches.c.proposition_id == proposition_id)
    with engine.connect() as connection:
        return keyset_page(connection, query, BEST_FIRST, limit, cursor, _match)


def proposition_of_match(connection: sa.Connection, match_id: str) -> str | None:
    """The proposition a match belongs to (a match id is a hash of the pair, so the read model is asked)."""
    found: str | None = connection.execute(
        sa.select(matches.c.proposition_id).where(matches.c.match_id == match_id)
    ).scalar()
    return found


def propositions_of_matches(connection: sa.Connection, match_ids: list[str]) -> dict[str, str]:
    """proposition_of_match for several matches in one query: {match id: proposition id} of those that exist."""
    if not match_ids:
        return {}
    rows = connection.execute(sa.select(matches.c.match_id, matches.c.proposition_id)
                              .where(matches.c.match_id.in_(sorted(set(match_ids)))))
    return {match_id: proposition_id for match_id, proposition_id in rows}


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """A part of the review queue, as an editor narrows it for a bulk decision. Times are ISO strings:
    published_after is inclusive, published_before exclusive; max_score is inclusive."""

    proposition_id: str | None = None
    feed: str | None = None
    max_score: float | None = None
    published_after: str | None = None
    published_before: str | None = None
    state: str = "suggested"

    def is_empty(self) -> bool:
        """No narrowing at all: the filter would select the whole queue."""
        return all(getattr(self, name) is None for name in NARROWING)

    def given(self) -> dict[str, Any]:
        """The narrowing fields that were given, plus the state: what a bulk decision records."""
        return {"state": self.state, **{n: v for n in NARROWING if (v := getattr(self, n)) is not None}}


NARROWING = ("proposition_id", "feed", "max_score", "published_after", "published_before")


def queue_part(connection: sa.Connection, part: QueueFilter) -> list[tuple[str, str]]:
    """(match id, proposition id) of the matches in the filtered part of the queue, by proposition then match id.

    Read on the caller's connection, so a unit of work sees the queue as of its own transaction."""
    query = (
        sa.select(matches.c.match_id, matches.c.proposition_id)
        .select_from(matches.outerjoin(evidence, evidence.c.evidence_id == matches.c.evidence_id))
        .where(matches.c.state == part.state)
        .order_by(matches.c.proposition_id, matches.c.match_id)
    )
    if part.proposition_id is not None:
        query = query.where(matches.c.proposition_id == part.proposition_id)
    if part.feed is not None:
        query = query.where(evidence.c.feed == part.feed)
    if part.max_score is not None:
        query = query.where(matches.c.score <= part.max_score)
    if part.published_after is not None:
        query = query.where(evidence.c.published_at >= part.published_after)
    if part.published_before is not None:
        query = query.where(evidence.c.published_at < part.published_before)
    return [(match_id, proposition_id) for match_id, proposition_id in connection.execute(query)]
