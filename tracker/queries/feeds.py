"""Feed reads: the list (by id) and one feed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tracker.projections.tables import feeds
from tracker.queries.paging import Page, SortKey, keyset_page

BY_ID = (SortKey(feeds.c.feed_id, str),)


@dataclass(frozen=True, slots=True)
class FeedRow:
    id: str
    name: str
    url: str | None
    interval_minutes: int
    tags: list[str]
    enabled: bool
    disabled_reason: str | None
    version: int


def _row(row: Any) -> FeedRow:
    return FeedRow(id=row.feed_id, name=row.name, url=row.url, interval_minutes=row.interval_minutes,
                   tags=json.loads(row.tags), enabled=bool(row.enabled), disabled_reason=row.disabled_reason,
                   version=row.version)


def list_feeds(engine: sa.Engine, *, limit: int = 100, cursor: str | None = None) -> Page[FeedRow]:
    with engine.connect() as connection:
        return keyset_page(connection, sa.select(feeds), BY_ID, limit, cursor, _row)


def feed(connection: sa.Connection, feed_id: str) -> FeedRow | None:
    """One feed as its read model holds it (inside a unit of work: as this unit left it)."""
    row = connection.execute(sa.select(feeds).where(feeds.c.feed_id == feed_id)).first()
    return None if row is None else _row(row)


def feed_exists(engine: sa.Engine, feed_id: str) -> bool:
    with engine.connect() as connection:
        return connection.execute(sa.select(feeds.c.path).where(feeds.c.feed_id == feed_id)).first() is not None
