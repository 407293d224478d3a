"""SQLAlchemy Core implementation of the event store (SQLite and PostgreSQL side by side).

Appends are serialised: SQLite by its write lock (BEGIN IMMEDIATE), PostgreSQL by a transaction-level
advisory lock. Holding that lock, the writer reads the head of the log and numbers its events from
there, so positions are gapless and in commit order, and each event's prev_hash is the hash of the
event before it, whatever the number of writer processes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tracker.store.engine import WRITE, is_sqlite
from tracker.store.envelope import NewEvent, RecordedEvent, iso, utc_now
from tracker.store.errors import ConcurrencyError
from tracker.store.hashing import GENESIS_HASH, canonical_json, chain_hash, header_json
from tracker.store.schema import events
from tracker.store.upcasters import UPCASTERS, upcast
from tracker.store.writer_queue import WriterQueue

# Any constant will do, as long as every writer uses the same one.
APPEND_LOCK_KEY = 0x7472_6163  # "trac"
LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"

_COLUMNS = (
    events.c.position, events.c.event_id, events.c.stream_id, events.c.stream_version,
    events.c.event_type, events.c.schema_version, events.c.occurred_at, events.c.recorded_at,
    events.c.actor, events.c.causation_id, events.c.correlation_id, events.c.payload,
    events.c.prev_hash, events.c.hash,
)
_FIELDS = tuple(RecordedEvent.__dataclass_fields__)
_COLUMN_LIST = ", ".join(c.name for c in _COLUMNS)

# The hot paths talk to the DBAPI cursor of the SQLAlchemy connection they are given (same transaction):
# SQLAlchemy's per-statement overhead was most of an append's cost. Written with "?" placeholders and
# turned into "%s" for psycopg.
_STATEMENTS = {
    "head": "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1",
    "version": "SELECT max(stream_version) FROM events WHERE stream_id = ?",
    "insert": f"INSERT INTO events ({_COLUMN_LIST}) VALUES ({', '.join('?' * len(_COLUMNS))})",
    "stream_from": f"SELECT {_COLUMN_LIST} FROM events WHERE stream_id = ? AND stream_version >= ?"
                   " ORDER BY stream_version",
    "page": f"SELECT {_COLUMN_LIST} FROM events WHERE position > ? ORDER BY position LIMIT ?",
    "page_to": f"SELECT {_COLUMN_LIST} FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?",
}
_SQL: dict[bool, dict[str, str]] = {
    True: _STATEMENTS,
    False: {name: text.replace("?", "%s") for name, text in _STATEMENTS.items()},
}


def sql_for(connection: sa.Connection) -> dict[str, str]:
    return _SQL[connection.dialect.name == "sqlite"]


def dbapi_cursor(connection: sa.Connection) -> Any:
    """A DBAPI cursor on the SQLAlchemy connection's own driver connection (so in its transaction)."""
    return connection.connection.driver_connection.cursor()  # type: ignore[union-attr]


_new = object.__new__
_STREAMS_SQL: dict[tuple[str, int], str] = {}  # read_stream_rows's statement, per placeholder and stream count
_scan = json.JSONDecoder().scan_once


def loads_payload(text: str) -> Any:
    """json.loads for the canonical payload text, minus its whitespace skipping and wrapper calls."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        return json.loads(text)  # not one plain JSON value: let json.loads raise its usual error
    return value


def make_recorded(
    position: int, event_id: str, stream_id: str, stream_version: int, event_type: str, schema_version: int,
    occurred_at: str, recorded_at: str, actor: str, causation_id: str | None, correlation_id: str | None,
    payload: dict[str, Any], prev_hash: str, hash: str,
) -> RecordedEvent:
    """A RecordedEvent without the frozen dataclass __init__ (one object.__setattr__ per field)."""
    event = _new(RecordedEvent)
    event.__dict__.update({
        "position": position, "event_id": event_id, "stream_id": stream_id, "stream_version": stream_version,
        "event_type": event_type, "schema_version": schema_version, "occurred_at": occurred_at,
        "recorded_at": recorded_at, "actor": actor, "causation_id": causation_id,
        "correlation_id": correlation_id, "payload": payload, "prev_hash": prev_hash, "hash": hash,
    })
    return event


def decode_payload(event_type: str, schema_version: int, text: str) -> tuple[int, dict[str, Any]]:
    """The one decoder of a stored payload: parse its canonical JSON and lift it to the current schema."""
    payload = loads_payload(text)
    if (event_type, schema_version) in UPCASTERS:
        return upcast(event_type, schema_version, payload)
    return schema_version, payload


def _decode(row: Sequence[Any]) -> RecordedEvent:
    version, payload = decode_payload(row[4], row[5], row[11])
    return make_recorded(
        row[0], row[1], row[2], row[3], row[4], version, row[6], row[7], row[8], row[9], row[10],
        payload, row[12], row[13],
    )


def decode_rows(rows: Sequence[Sequence[Any]]) -> list[RecordedEvent]:
    return [_decode(row) for row in rows]


def streams_sql(mark: str, count: int) -> str:
    """The statement reading `count` whole streams in version order (cached per placeholder and count)."""
    text = _STREAMS_SQL.get((mark, count))
    if text is None:
        text = _STREAMS_SQL[(mark, count)] = (
            "SELECT stream_id, event_type, stream_version, schema_version, payload, hash FROM events"
            f" WHERE stream_id IN ({', '.join([mark] * count)}) ORDER BY stream_id, stream_version"
        )
    return text


def stream_rows(rows: Sequence[Sequence[Any]], stream_ids: Sequence[str]) -> dict[str, list[tuple[str, int, Any, str]]]:
    """streams_sql's rows grouped per stream as (event_type, stream_version, payload, hash), payloads decoded;
    every stream asked for is in the answer (empty if it has no events)."""
    found: dict[str, list[tuple[str, int, Any, str]]] = {stream_id: [] for stream_id in stream_ids}
    for stream_id, event_type, version, schema_version, payload, digest in rows:
        found[stream_id].append((event_type, version, decode_payload(event_type, schema_version, payload)[1], digest))
    return found


def new_event_ids(count: int) -> list[str]:
    """Time-ordered UUIDs (the version 7 layout: 48-bit Unix milliseconds, version, variant, random bits).

    Consecutive ids sort in append order, so the unique index on event_id grows at its right edge
    instead of touching a random page per event. Within one call the 74 random bits start at a random
    value (top bit clear, so it cannot wrap) and count up.
    """
    millis = time.time_ns() // 1_000_000
    start = int.from_bytes(os.urandom(10), "big") >> 7  # 73 random bits
    return _event_ids(millis, start, count)


def _event_ids(millis: int, start: int, count: int) -> list[str]:
    """The ids for counters start..start+count-1: the text before the last 12 hex digits (48 bits) is the same
    for long runs of the counter, so it is formatted once per run."""
    ids = []
    run = -1
    prefix = ""
    for n in range(start, start + count):
        if n >> 48 != run:
            run = n >> 48
            value = (millis << 80) | 0x7 << 76 | (n >> 62) << 64 | 0b10 << 62 | (n & 0x3FFF_FFFF_FFFF_FFFF)
            h = f"{value:032x}"
            prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-"
        ids.append(f"{prefix}{n & 0xFFFF_FFFF_FFFF:012x}")
    return ids


class Transaction:
    """One write transaction holding the append lock; several streams may be appended to.

    On PostgreSQL the advisory lock is taken with the transaction's first statement, in one round trip with
    it (psycopg pipeline: BEGIN, the lock, the head of the log and, when a stream is read first, that stream):
    before anything else runs in the transaction, since `connection` and `cursor` take it first too.
    """

    def __init__(self, connection: sa.Connection, *, lock_pending: bool = False) -> None:
        self._connection = connection
        self._lock_pending = lock_pending
        self._head: tuple[int, str] | None = None
        self._sql = sql_for(connection)
        self._cursor: Any = None
        # Stream versions learnt in this transaction; valid while it holds the append lock.
        self._versions: dict[str, int] = {}
        self._appending: tuple[str, int, int] = ("", 0, 0)  # the last append, for a conflict found at a sync

    @property
    def connection(self) -> sa.Connection:
        """The transaction's connection, holding the append lock."""
        if self._lock_pending:
            self._lock()
        return self._connection

    @property
    def cursor(self) -> Any:
        if self._lock_pending:
            self._lock()
        if self._cursor is None:
            self._cursor = dbapi_cursor(self._connection)
        return self._cursor

    def _lock(self, query: str | None = None, params: Sequence[Any] = ()) -> Any:
        """Take the append lock and read the head of the log, with `query` after them, in one round trip;
        returns the cursor of `query` (results fetched)."""
        driver = self._connection.connection.driver_connection
        assert driver is not None
        with driver.pipeline():
            driver.cursor().execute(LOCK_SQL, (APPEND_LOCK_KEY,))
            head = driver.cursor()
            head.execute(self._sql["head"])
            extra = None
            if query is not None:
                extra = driver.cursor()
                extra.execute(query, params)
        self._lock_pending = False
        row = head.fetchone()
        self._head = (row[0], row[1]) if row else (0, GENESIS_HASH)
        return extra

    def _query(self, name: str, params: Sequence[Any]) -> Any:
        """Run one of the store's statements under the append lock; the cursor holding its rows."""
        return self._query_text(self._sql[name], params)

    def _query_text(self, text: str, params: Sequence[Any]) -> Any:
        if self._lock_pending:
            return self._lock(text, params)
        cursor = self.cursor
        cursor.execute(text, params)
        return cursor

    @contextmanager
    def pipelined(self) -> Iterator[None]:
        """Statements inside go to PostgreSQL together (one round trip for an append and its read models).

        Only DBAPI cursors may run inside (no SQLAlchemy statement: it would not see its results); a
        statement whose rows are fetched inside is sent at once with those before it. A write that fails
        raises when the block ends: a duplicate (stream, version) or position as ConcurrencyError, as in
        append(). On SQLite this does nothing.
        """
        if self._connection.dialect.name == "sqlite":
            yield
            return
        if self._lock_pending:
            self._lock()
        driver = self._connection.connection.driver_connection
        assert driver is not None
        try:
            with driver.pipeline():
                yield
        except self._connection.dialect.loaded_dbapi.IntegrityError as error:
            if getattr(getattr(error, "diag", None), "table_name", None) != "events":
                raise
            stream_id, expected, version = self._appending
            raise ConcurrencyError(stream_id, expected, version) from error

    def _log_head(self) -> tuple[int, str]:
        if self._head is None:
            row = self._query("head", ()).fetchone()
            self._head = (row[0], row[1]) if row else (0, GENESIS_HASH)
        return self._head

    def stream_version(self, stream_id: str) -> int:
        known = self._versions.get(stream_id)
        if known is not None:
            return known
        version = self._query("version", (stream_id,)).fetchone()[0] or 0
        self._versions[stream_id] = version
        return version

    def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        """One stream from a version on, read under the append lock (so nothing can follow unseen)."""
        recorded = decode_rows(self._query("stream_from", (stream_id, from_version)).fetchall())
        if recorded:
            self._versions[stream_id] = recorded[-1].stream_version
        elif from_version <= 1:
            self._versions[stream_id] = 0
        return recorded

    def read_stream_rows(self, stream_ids: Sequence[str]) -> dict[str, list[tuple[str, int, Any, str]]]:
        """Whole streams in one statement, as (event_type, stream_version, payload, hash) per event: the payload
        decoded and upcast (decode_payload), the rest of the envelope left out.

        For a caller that folds streams from their beginning and needs no envelope but the last version and
        hash (UnitOfWork): one query for many streams, and no RecordedEvent per event. Read under the append
        lock; every stream asked for is in the answer (empty if it has no events)."""
        if not stream_ids:
            return {}
        ids = list(dict.fromkeys(stream_ids))
        text = streams_sql("?" if self._connection.dialect.name == "sqlite" else "%s", len(ids))
        found = stream_rows(self._query_text(text, ids).fetchall(), ids)
        for stream_id, rows in found.items():
            self._versions[stream_id] = rows[-1][1] if rows else 0
        return found

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
        if not new_events:
            return []
        position, prev_hash = self._log_head()
        recorded_at = iso(utc_now())
        rows: list[tuple[Any, ...]] = []
        recorded: list[RecordedEvent] = []
        for new, event_id in zip(new_events, new_event_ids(len(new_events)), strict=True):
            position += 1
            version += 1
            occurred_at = iso(new.occurred_at) if new.occurred_at else recorded_at
            payload_json = canonical_json(new.payload)
            event_type = new.event_type
            schema_version = new.schema_version
            digest = chain_hash(prev_hash, header_json(
                position, event_id, stream_id, version, event_type, schema_version,
                occurred_at, recorded_at, actor, causation_id, correlation_id,
            ), payload_json)
            rows.append((position, event_id, stream_id, version, event_type, schema_version, occurred_at,
                         recorded_at, actor, causation_id, correlation_id, payload_json, prev_hash, digest))
            recorded.append(make_recorded(
                position, event_id, stream_id, version, event_type, schema_version, occurred_at, recorded_at,
                actor, causation_id, correlation_id, new.payload, prev_hash, digest,
            ))
            prev_hash = digest
        cursor = self.cursor
        self._appending = (stream_id, expected_version or 0, version)
        try:
            if len(rows) == 1:
                cursor.execute(self._sql["insert"], rows[0])
            else:
                cursor.executemany(self._sql["insert"], rows)
        except self._connection.dialect.loaded_dbapi.IntegrityError as error:  # a writer that bypassed the lock
            raise ConcurrencyError(stream_id, expected_version or 0, version) from error
        self._head = (position, prev_hash)
        self._versions[stream_id] = version
        return recorded


class EventStore:
    """Append events and read them back: the global log, one stream, or the state as of a moment."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = is_sqlite(engine)
        # SQLite has one writer at a time anyway; writers queue here (threads in order, processes through a file
        # lock) instead of polling SQLite's lock (busy timeout), which left some writers waiting seconds under load.
        self._local_writer: AbstractContextManager[Any] = (
            WriterQueue(engine.url.database) if self._sqlite else nullcontext())

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction: everything appended and projected inside commits together or not at all."""
        with (
            self._local_writer,
            self.engine.connect().execution_options(**WRITE) as connection,
            connection.begin(),
        ):
            # SQLite took its write lock at BEGIN IMMEDIATE; PostgreSQL's advisory lock goes with the first
            # statement (Transaction._lock).
            yield Transaction(connection, lock_pending=not self._sqlite)

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
        """Append to one stream in a transaction of its own: the bare store, for its own tests and benchmarks.

        The product never calls this: its writes go through tracker.service.repository, which writes the read
        models in the same transaction (tests/test_architecture.py holds the code to that).
        """
        with self.transaction() as tx:
            return tx.append(
                stream_id, expected_version, new_events,
                actor=actor, causation_id=causation_id, correlation_id=correlation_id,
            )

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
        for rows in self.tuple_pages(after, to=to, page_size=page_size):
            yield decode_rows(rows)

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

    def tuple_pages(
        self, after: int = 0, *, to: int | None = None, page_size: int = 2000, columns: Sequence[str] = ()
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Like raw_pages, as plain DBAPI tuples: the fast path for replay and verify.

        Tuples hold every column in envelope order, or only `columns` (position must come first).
        """
        with self.engine.connect() as connection:
            sql = sql_for(connection)
            if columns:
                assert columns[0] == "position", columns
                listed = ", ".join(events.c[name].name for name in columns)  # KeyError for a wrong name
                sql = {name: text.replace(_COLUMN_LIST, listed) for name, text in sql.items()}
            driver = connection.connection.driver_connection
            assert driver is not None
            while True:
                cursor = driver.cursor()
                if to is None:
                    cursor.execute(sql["page"], (after, page_size))
                else:
                    cursor.execute(sql["page_to"], (after, to, page_size))
                rows = cursor.fetchall()
                cursor.close()
                if not rows:
                    return
                yield rows
                after = rows[-1][0]
                driver.rollback()  # end the read snapshot between pages

    def read_stream_rows(self, stream_ids: Sequence[str]) -> dict[str, list[tuple[str, int, Any, str]]]:
        """Transaction.read_stream_rows outside any write transaction: committed events only, without the
        append lock (so a writer may append after it: a caller caching what it folds keeps the last hash)."""
        if not stream_ids:
            return {}
        ids = list(dict.fromkeys(stream_ids))
        with self.engine.connect() as connection:
            cursor = dbapi_cursor(connection)
            cursor.execute(streams_sql("?" if self._sqlite else "%s", len(ids)), ids)
            rows = cursor.fetchall()
            cursor.close()
        return stream_rows(rows, ids)

    def read_stream(
        self,
        stream_id: str,
        *,
        to_position: int | None = None,
        as_of: datetime | str | None = None,
    ) -> list[RecordedEvent]:
        """One stream in version order; optionally only what was recorded up to a position or a time."""
        text = f"SELECT {_COLUMN_LIST} FROM events WHERE stream_id = ?"
        params: list[Any] = [stream_id]
        if to_position is not None:
            text += " AND position <= ?"
            params.append(to_position)
        if as_of is not None:
            text += " AND recorded_at <= ?"
            params.append(as_of if isinstance(as_of, str) else iso(as_of))
        text += " ORDER BY stream_version"
        with self.engine.connect() as connection:
            if not self._sqlite:
                text = text.replace("?", "%s")
            cursor = dbapi_cursor(connection)
            cursor.execute(text, params)
            rows = cursor.fetchall()
            cursor.close()
        return decode_rows(rows)
