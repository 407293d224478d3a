"""Rebuild every read model from the events, or check the live tables against a rebuild."""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from tracker.domain.events import Event
from tracker.domain.registry import Evolve, fold, kind_of
from tracker.projections import readmodels
from tracker.projections.tables import history
from tracker.projections.tables import metadata as readmodel_metadata
from tracker.store import EventStore
from tracker.store.eventstore import decode_payload

Progress = Callable[[int], None]


# Folded states are held in memory up to this many events' worth; past it, the streams touched least
# recently are written out and dropped. Logs are mostly written stream by stream, so few come back.
HOLD_EVENTS = 100_000
PAGE_SIZE = 5000


class _Fold:
    """Aggregate states folded from the log, with memory bounded by HOLD_EVENTS rather than by the log.

    A stream whose rows were written already and that shows up again is read back from the events up to
    that point (its rows deleted first), so the tables end the same as with everything held to the end.
    """

    def __init__(self, connection: sa.Connection, store: EventStore, hold_events: int) -> None:
        self.connection = connection
        self.store = store
        self.hold_events = hold_events
        # stream id -> [state, version, updated_at, events folded], least recently touched first
        self.held: OrderedDict[str, list[Any]] = OrderedDict()
        self.written: set[str] = set()
        self.weight = 0

    def reload(self, stream_id: str, before: int, evolve: Evolve) -> list[Any]:
        """The state of a stream already written out, refolded from its events before position `before`."""
        found = readmodels.projection_of(stream_id)
        assert found is not None
        for column in found[0].key:
            self.connection.execute(sa.delete(column.table).where(column == found[1]))
        recorded = self.store.read_stream(stream_id, to_position=before - 1)
        state = fold(evolve, (Event(event.event_type, event.payload) for event in recorded))
        last = recorded[-1]
        self.written.discard(stream_id)
        self.weight += len(recorded)
        entry = self.held[stream_id] = [state, last.stream_version, last.recorded_at, len(recorded)]
        return entry

    def spill(self, keep: int) -> None:
        """Write out and drop the least recently touched states until at most `keep` events' worth remain."""
        held = self.held
        out: dict[sa.Table, list[dict[str, Any]]] = {}
        while held and self.weight > keep:
            stream_id, (state, version, updated_at, weight) = held.popitem(last=False)
            self.weight -= weight
            found = readmodels.projection_of(stream_id)
            assert found is not None
            for table, rows in found[0].rows(state, version, updated_at).items():
                out.setdefault(table, []).extend(rows)
            self.written.add(stream_id)
        for table, rows in out.items():
            readmodels.insert_rows(self.connection, table, rows)


def _history_from_events(connection: sa.Connection, to: int | None) -> None:
    """history is a projection of envelope columns only: copy them inside the database in one statement."""
    columns = ", ".join(readmodels.HISTORY_COLUMNS)
    bound = "" if to is None else " WHERE position <= :to"
    connection.execute(
        sa.text(f"INSERT INTO history ({columns}) SELECT {columns} FROM events{bound} ORDER BY position"),
        {} if to is None else {"to": to},
    )


def _replay_into(
    connection: sa.Connection, store: EventStore, *, to: int | None, progress: Progress | None,
    same_database: bool = False,
) -> int:
    """Every event decoded (payload parsed and upcast), history rows written, aggregates folded in memory.

    This is the registry's fold, interleaved over every stream at once and written out flat: it works on plain
    row tuples rather than RecordedEvent objects, since per-event overhead is the whole cost here.
    With same_database (the connection is on the store's own database) history is copied by SQL.
    """
    hold_events = HOLD_EVENTS  # read at call time (like PAGE_SIZE), so a test can make it small
    fold = _Fold(connection, store, hold_events)
    held = fold.held
    to_end = held.move_to_end
    evolvers: dict[str, Evolve | None] = {}  # by stream id; None: not an aggregate
    decode = decode_payload
    count = 0
    if same_database:
        _history_from_events(connection, to)
    # Only the columns a replay uses, history's first, in HISTORY_COLUMNS order.
    columns = (*readmodels.HISTORY_COLUMNS, "schema_version", "payload")
    last_stream = None
    applied = 0  # events folded in this page
    # Millions of short-lived objects and no cycles: the cyclic GC would only rescan the held states.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rows in store.tuple_pages(0, to=to, page_size=PAGE_SIZE, columns=columns):
            if not same_database:
                readmodels.insert_values(connection, history, readmodels.HISTORY_COLUMNS, [row[:7] for row in rows])
            for row in rows:
                stream_id = row[1]
                event_type = row[3]
                if stream_id in evolvers:
                    evolve = evolvers[stream_id]
                else:
                    kind = kind_of(stream_id)
                    evolve = evolvers[stream_id] = (kind.evolve_owned or kind.evolve) if kind else None
                if evolve is None:
                    continue
                payload = decode(event_type, row[7], row[8])[1]
                entry = held.get(stream_id)
                if entry is None:
                    if stream_id in fold.written:
                        entry = fold.reload(stream_id, row[0], evolve)
                    else:
                        entry = held[stream_id] = [None, 0, "", 0]
                elif stream_id != last_stream:
                    to_end(stream_id)
                last_stream = stream_id
                entry[0] = evolve(entry[0], Event(event_type, payload))
                entry[1] = row[2]
                entry[2] = row[6]
                entry[3] += 1
                applied += 1
            count += len(rows)
            fold.weight += applied
            applied = 0
            if fold.weight > hold_events:
                fold.spill(hold_events // 2)
                last_stream = None
            if progress:
                progress(len(rows))
        fold.spill(0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return count


def _drop_sqlite_indexes(connection: sa.Connection) -> list[str]:
    """Drop the read-model tables' secondary indexes (SQLite only), returning the SQL that creates them again.

    Rows are then written into bare tables and each index is built once, from sorted keys, at the end of the
    replay: a row at a time, every insert went down half a dozen B-trees at random places (a matches row
    touches seven). In the replay's transaction, so readers keep seeing the old tables and indexes until it
    commits. Indexes that belong to a constraint (primary keys, UNIQUE) have no SQL of their own and stay.
    """
    names = [table.name for table in readmodel_metadata.sorted_tables]
    found = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        f" AND tbl_name IN ({', '.join('?' * len(names))}) ORDER BY name", tuple(names),
    ).all()
    for name, _ in found:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


def replay(store: EventStore, *, to: int | None = None, progress: Progress | None = None) -> int:
    """Empty the live read models and rebuild them in one transaction; returns the events replayed."""
    with store.transaction() as tx:  # holds the append lock: no writer slips in mid-rebuild
        connection = tx.connection
        # On PostgreSQL, dropping an index would lock readers out of its table until the replay commits.
        indexes = _drop_sqlite_indexes(connection) if connection.dialect.name == "sqlite" else []
        for table in reversed(readmodel_metadata.sorted_tables):
            connection.execute(sa.delete(table))
        count = _replay_into(connection, store, to=to, progress=progress, same_database=True)
        for sql in indexes:
            connection.exec_driver_sql(sql)
        return count


def check(store: EventStore, *, progress: Progress | None = None) -> list[str]:
    """Rebuild into a scratch in-memory database and list every row that differs from the live one."""
    # Read the head and every live row in one snapshot, so a writer committing meanwhile cannot show up
    # as a difference (PostgreSQL needs REPEATABLE READ for that; a SQLite read transaction is one already).
    live_engine = store.engine
    if live_engine.dialect.name == "postgresql":
        live_engine = live_engine.execution_options(isolation_level="REPEATABLE READ")
    with live_engine.connect() as live:
        to = live.execute(sa.text("SELECT max(position) FROM events")).scalar() or 0
        live_rows = {table: _rows(live, table, to) for table in readmodel_metadata.sorted_tables}
    scratch = sa.create_engine("sqlite://")
    readmodel_metadata.create_all(scratch)
    with scratch.begin() as connection:
        _replay_into(connection, store, to=to, progress=progress)
    differences: list[str] = []
    with scratch.connect() as rebuilt:
        for table in readmodel_metadata.sorted_tables:
            differences.extend(_compare(table, _rows(rebuilt, table), live_rows[table]))
    scratch.dispose()
    return differences


def _rows(connection: sa.Connection, table: sa.Table, to: int | None = None) -> dict[tuple[Any, ...], dict]:
    query = sa.select(table)
    if to is not None and table is history:
        query = query.where(history.c.position <= to)
    keys = [c.name for c in table.primary_key.columns]
    return {tuple(row[k] for k in keys): dict(row) for row in connection.execute(query).mappings()}


def _compare(table: sa.Table, rebuilt: dict, live: dict) -> list[str]:
    out: list[str] = []
    for key in sorted(set(rebuilt) | set(live), key=str):
        expected, actual = rebuilt.get(key), live.get(key)
        if expected is None:
            out.append(f"{table.name} {key}: row in live table but not in replay")
        elif actual is None:
            out.append(f"{table.name} {key}: row missing from live table")
        else:
            for column, value in expected.items():
                if actual.get(column) != value:
                    out.append(f"{table.name} {key}: {column} is {actual.get(column)!r}, replay gives {value!r}")
    return out
