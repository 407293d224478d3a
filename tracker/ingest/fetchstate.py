"""Per-feed polling bookkeeping: validators for conditional GET, error count, next check.

This is operational state, not a read model: it is not derived from events (a 304 is not a fact worth
recording forever). Facts that matter (a feed moved, a feed was disabled) are events on the feed stream.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

feed_fetch_state = sa.Table(
    "feed_fetch_state",
    metadata,
    sa.Column("feed_id", sa.String(200), primary_key=True),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("last_fetch_at", sa.String(32)),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_result", sa.String(30)),
    sa.Column("last_error", sa.Text),
    sa.Column("warning", sa.Text),
    sa.Column("error_count", sa.Integer, nullable=False),
    sa.Column("next_check_at", sa.String(32)),
    sa.Column("items_total", sa.Integer, nullable=False),
)


@dataclass
class FetchState:
    feed_id: str
    etag: str | None = None
    last_modified: str | None = None
    last_fetch_at: str | None = None
    last_status: int | None = None
    last_result: str | None = None
    last_error: str | None = None
    warning: str | None = None
    error_count: int = 0
    next_check_at: str | None = None
    items_total: int = 0


def load(connection: sa.Connection, feed_id: str) -> FetchState:
    query = sa.select(feed_fetch_state).where(feed_fetch_state.c.feed_id == feed_id)
    row = connection.execute(query).mappings().first()
    return FetchState(**row) if row else FetchState(feed_id)


def load_all(connection: sa.Connection) -> dict[str, FetchState]:
    return {row["feed_id"]: FetchState(**row) for row in connection.execute(sa.select(feed_fetch_state)).mappings()}


def save(connection: sa.Connection, state: FetchState) -> None:
    values: dict[str, Any] = asdict(state)
    connection.execute(sa.delete(feed_fetch_state).where(feed_fetch_state.c.feed_id == state.feed_id))
    connection.execute(feed_fetch_state.insert().values(**values))
