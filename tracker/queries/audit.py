"""The raw log for auditors: events after a position, one stream, each as stored (the exact hashed text)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tracker.store.schema import events

# The events table's columns in their order (the order of tracker/audit/export.FIELDS); `payload` is given as
# `payload_json`, the exact text that was hashed.
FIELDS = tuple("payload_json" if c.name == "payload" else c.name for c in events.columns)
_COLUMNS = tuple(events.columns)


@dataclass(frozen=True, slots=True)
class LogPage:
    events: list[dict[str, Any]]
    head: int


def _envelope(row: Any) -> dict[str, Any]:
    """The event as stored: `payload_json` is the exact hashed text, `payload` the same decoded (not upcast)."""
    data = dict(zip(FIELDS, row, strict=True))
    data["payload"] = json.loads(data["payload_json"])
    return data


def events_after(engine: sa.Engine, after: int, limit: int) -> LogPage:
    """Up to `limit` events with position > after, in position order, and the log's head."""
    query = sa.select(*_COLUMNS).where(events.c.position > after).order_by(events.c.position).limit(limit)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        head = connection.execute(sa.select(sa.func.max(events.c.position))).scalar() or 0
    return LogPage([_envelope(row) for row in rows], head)


def stream_events(engine: sa.Engine, stream_id: str) -> list[dict[str, Any]]:
    """Every event of one stream in version order (empty for an unknown stream)."""
    query = sa.select(*_COLUMNS).where(events.c.stream_id == stream_id).order_by(events.c.stream_version)
    with engine.connect() as connection:
        return [_envelope(row) for row in connection.execute(query).all()]
