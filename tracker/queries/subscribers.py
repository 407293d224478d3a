"""Subscriber reads: the list (by address) and one subscriber."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tracker.projections.tables import subscribers


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    id: str
    email: str
    name: str
    filters: dict[str, list[str]]
    quiet_weeks: str
    editor: bool
    active: bool
    subscription: int
    version: int


def _row(row: Any) -> SubscriberRow:
    return SubscriberRow(
        id=row.subscriber_id, email=row.email, name=row.name, filters=json.loads(row.filters),
        quiet_weeks=row.quiet_weeks, editor=bool(row.editor), active=bool(row.active), subscription=row.subscription,
        version=row.version,
    )


def list_subscribers(engine: sa.Engine, *, include_removed: bool = False) -> list[SubscriberRow]:
    """Subscribers in address order; removed ones only when asked."""
    query = sa.select(subscribers).order_by(subscribers.c.email)
    if not include_removed:
        query = query.where(subscribers.c.active.is_(True))
    with engine.connect() as connection:
        return [_row(row) for row in connection.execute(query)]


def subscriber(connection: sa.Connection, subscriber_id: str) -> SubscriberRow | None:
    row = connection.execute(sa.select(subscribers).where(subscribers.c.subscriber_id == subscriber_id)).first()
    return None if row is None else _row(row)
