"""SQLAlchemy Core implementation of the event store (SQLite and PostgreSQL side by side).

Appends are serialised: SQLite by its write lock (BEGIN IMMEDIATE), PostgreSQL by a transaction-level
advisory lock. Holding that lock, the writer reads the head of the log and numbers its events from
there, so positions are gapless and in commit order, and each event's prev_hash is the hash of the
event before it, whatever the number of writer processes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from tracker.store.engine import WRITE, is_sqlite
from tracker.store.envelope import NewEvent, RecordedEvent, iso, utc_now
from tracker.store.errors import ConcurrencyError
from tracker.store.hashing import GENESIS_HASH, canonical_json, event_hash
from tracker.store.schema import events
from tracker.store.upcasters import upcast

# Any constant will do, as long as every writer uses the same one.
APPEND_LOCK_KEY = 0x7472_6163  # "trac"

Projector = Callable[[sa.Connection, list[RecordedEvent]], None]

_COLUMNS = (
    events.c.position, events.c.event_id, events.c.stream_id, events.c.stream_version,
    events.c.event_type, events.c.schema_version, events.c.occurred_at, events.c.recorded_at,
    events.c.actor, events.c.causation_id, events.c.correlation_id, events.c.payload,
    events.c.prev_hash, events.c.hash,
)


def _decode(row: Sequence[Any]) -> RecordedEvent:
    version, payload = upcast(row[4], row[5], json.loads(row[11]))
    return RecordedEvent(
        row[0], row[1], row[2], row[3], row[4], version, row[6], row[7], row[8], row[9], row[10],
        payload, row[12], row[13],
    )


class Transaction:
    """One write transaction holding the append lock; several streams may be appended to."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self._head: tuple[int, str] | None = None

    def _log_head(self) -> tuple[int, str]:
        if self._head is None:
            row = self.connection.execute(
                sa.select(events.c.position, events.c.hash).order_by(events.c.position.desc()).limit(1)
            ).first()
            self._head = (row[0], row[1]) if row else (0, GENESIS_HASH)
        return self._head

    def stream_version(self, stream_id: str) -> int:
        version = self.connection.execute(
            sa.select(sa.func.max(events.c.stream_version)).where(events.c.stream_id == stream_id)
        ).scalar()
        return version or 0

    def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        """One stream as this transaction sees it (under the append lock: nobody else can add to it)."""
        query = sa.select(*_COLUMNS).where(events.c.stream_id == stream_id).order_by(events.c.stream_version)
        return [_decode(row) for row in self.connection.execute(query)]

    def append(
        self,
        stream_id: str,
        expected_version: int | None,
        new_events: Sequence[NewEvent],
        *,
        actor: str,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> list[RecordedEvent]:
        """Append to one stream; expected_version None skips the check, 0 means a new stream."""
        version = self.stream_version(stream_id)
        if expected_version is not None and version != expected_version:
            raise ConcurrencyError(stream_id, expected_version, version)
        position, prev_hash = self._log_head()
        recorded_at = iso(utc_now())
        rows: list[dict[str, Any]] = []
        recorded: list[RecordedEvent] = []
        for new in new_events:
            position += 1
            version += 1
            occurred_at = iso(new.occurred_at) if new.occurred_at else recorded_at
            payload_json = canonical_json(new.payload)
            fields = {
                "position": position,
                "event_id": str(uuid.uuid4()),
                "stream_id": stream_id,
                "stream_version": version,
                "event_type": new.event_type,
                "schema_version": new.schema_version,
                "occurred_at": occurred_at,
                "recorded_at": recorded_at,
                "actor": actor,
                "causation_id": causation_id,
                "correlation_id": correlation_id,
            }
            digest = event_hash(prev_hash, payload_json=payload_json, **fields)
            rows.append({**fields, "payload": payload_json, "prev_hash": prev_hash, "hash": digest})
            recorded.append(RecordedEvent(**fields, payload=new.payload, prev_hash=prev_hash, hash=digest))
            prev_hash = digest
        if rows:
            try:
                self.connection.execute(events.insert(), rows)
            except IntegrityError as error:  # a writer that bypassed the lock; never expected
                raise ConcurrencyError(stream_id, expected_version or 0, version) from error
            self._head = (position, prev_hash)
        return recorded


class EventStore:
    """Append events and read them back: the global log, one stream, or the state as of a moment."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = is_sqlite(engine)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction: everything appended and projected inside commits together or not at all."""
        with self.engine.connect().execution_options(**WRITE) as connection, connection.begin():
            if not self._sqlite:
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})
            yield Transaction(connection)

    def append(
        self,
        stream_id: str,
        expected_version: int | None,
        new_events: Sequence[NewEvent],
        *,
        actor: str,
        causation_id: str | None = None,
        correlation_id: str | None = None,
        project: Projector | None = None,
    ) -> list[RecordedEvent]:
        """Append one command's events; `project` updates read models in the same transaction."""
        with self.transaction() as tx:
            recorded = tx.append(
                stream_id, expected_version, new_events,
                actor=actor, causation_id=causation_id, correlation_id=correlation_id,
            )
            if project is not None:
                project(tx.connection, recorded)
        return recorded

    def head(self) -> int:
        """The highest position in the log (0 when empty)."""
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.max(events.c.position))).scalar() or 0

    def read_all(
        self, after: int = 0, *, to: int | None = None, page_size: int = 2000
    ) -> Iterator[RecordedEvent]:
        """Every event after `after` (up to `to`), in position order, fetched in pages."""
        for page in self.read_pages(after, to=to, page_size=page_size):
            yield from page

    def read_pages(
        self, after: int = 0, *, to: int | None = None, page_size: int = 2000
    ) -> Iterator[list[RecordedEvent]]:
        for rows in self.raw_pages(after, to=to, page_size=page_size):
            yield [_decode(row) for row in rows]

    def raw_pages(
        self, after: int = 0, *, to: int | None = None, page_size: int = 2000
    ) -> Iterator[Sequence[sa.Row[Any]]]:
        """Undecoded rows in pages (keyset on position, so memory stays flat)."""
        with self.engine.connect() as connection:
            while True:
                query = sa.select(*_COLUMNS).where(events.c.position > after)
                if to is not None:
                    query = query.where(events.c.position <= to)
                rows = connection.execute(query.order_by(events.c.position).limit(page_size)).all()
                if not rows:
                    return
                yield rows
                after = rows[-1][0]
                connection.rollback()  # end the read snapshot between pages

    def read_stream(
        self,
        stream_id: str,
        *,
        to_position: int | None = None,
        as_of: datetime | str | None = None,
    ) -> list[RecordedEvent]:
        """One stream in version order; optionally only what was recorded up to a position or a time."""
        query = sa.select(*_COLUMNS).where(events.c.stream_id == stream_id)
        if to_position is not None:
            query = query.where(events.c.position <= to_position)
        if as_of is not None:
            query = query.where(events.c.recorded_at <= (as_of if isinstance(as_of, str) else iso(as_of)))
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(events.c.stream_version)).all()
        return [_decode(row) for row in rows]

    def stream_ids(self, prefix: str) -> list[str]:
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    sa.select(events.c.stream_id).where(events.c.stream_id.startswith(prefix, autoescape=True))
                    .distinct()
                ).scalars()
            )
