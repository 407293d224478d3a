"""Evidence reads: the searchable list (newest first) and an item found by its canonical link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tracker.projections.tables import evidence
from tracker.queries.paging import Page, SortKey, keyset_page

NEWEST_FIRST = (SortKey(evidence.c.published_at, str, descending=True), SortKey(evidence.c.evidence_id, str))


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    id: str
    title: str
    link: str | None
    summary: str
    published_at: str
    feed: str
    language: str | None
    sightings: int


def _row(r: Any) -> EvidenceRow:
    return EvidenceRow(id=r.evidence_id, title=r.title, link=r.link, summary=r.summary,
                       published_at=r.published_at, feed=r.feed, language=r.language, sightings=r.sightings)


def list_evidence(engine: sa.Engine, *, q: str | None = None, limit: int = 50,
                  cursor: str | None = None) -> Page[EvidenceRow]:
    """Evidence items, newest first; `q` searches titles and summaries."""
    query = sa.select(evidence)
    if q:
        query = query.where(sa.or_(evidence.c.title.icontains(q, autoescape=True),
                                   evidence.c.summary.icontains(q, autoescape=True)))
    with engine.connect() as connection:
        return keyset_page(connection, query, NEWEST_FIRST, limit, cursor, _row)


def evidence_id_for_link(connection: sa.Connection, link: str) -> str | None:
    """An item already known under this canonical link, if any."""
    found: str | None = connection.execute(
        sa.select(evidence.c.evidence_id).where(evidence.c.link == link).limit(1)
    ).scalar()
    return found
