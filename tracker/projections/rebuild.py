"""Rebuild every read model from the events, or check the live tables against a rebuild."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from tracker.domain.events import Event
from tracker.projections import readmodels
from tracker.projections.tables import history
from tracker.projections.tables import metadata as readmodel_metadata
from tracker.store import EventStore
from tracker.store.eventstore import loads_payload
from tracker.store.upcasters import UPCASTERS, upcast

Progress = Callable[[int], None]


@dataclass
class _Fold:
    """Aggregate states folded from the log; memory grows with streams, not with events."""

    states: dict[str, tuple[Any, int, str]] = field(default_factory=dict)

    def rows(self) -> Iterator[tuple[sa.Table, list[dict[str, Any]]]]:
        for stream_id, (state, version, updated_at) in self.states.items():
            found = readmodels.aggregate_of(stream_id)
            if found is not None:
                yield from found[0].rows(state, version, updated_at).items()


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

    Works on plain row tuples rather than RecordedEvent objects: per-event overhead is the whole cost here.
    With same_database (the connection is on the store's own database) history is copied by SQL.
    """
    fold = _Fold()
    states = fold.states
    evolvers: dict[str, Callable[[Any, Event], Any] | None] = {}  # by stream id; None: not an aggregate
    loads = loads_payload
    count = 0
    if same_database:
        _history_from_events(connection, to)
    # Only the columns a replay uses, history's first, in HISTORY_COLUMNS order.
    columns = (*readmodels.HISTORY_COLUMNS, "schema_version", "payload")
    for rows in store.tuple_pages(0, to=to, page_size=5000, columns=columns):
        if not same_database:
            readmodels.insert_values(connection, history, readmodels.HISTORY_COLUMNS, [row[:7] for row in rows])
        for row in rows:
            stream_id = row[1]
            event_type = row[3]
            payload = loads(row[8])
            if (event_type, row[7]) in UPCASTERS:
                payload = upcast(event_type, row[7], payload)[1]
            if stream_id in evolvers:
                evolve = evolvers[stream_id]
            else:
                found = readmodels.aggregate_of(stream_id)
                evolve = evolvers[stream_id] = found[0].evolve if found else None
            if evolve is None:
                continue
            previous = states.get(stream_id)
            states[stream_id] = (
                evolve(previous[0] if previous else None, Event(event_type, payload)), row[2], row[6]
            )
        count += len(rows)
        if progress:
            progress(len(rows))
    batches: dict[sa.Table, list[dict[str, Any]]] = {}
    for table, rows in fold.rows():
        batches.setdefault(table, []).extend(rows)
    for table, table_rows in batches.items():
        readmodels.insert_rows(connection, table, table_rows)
    return count


def replay(store: EventStore, *, to: int | None = None, progress: Progress | None = None) -> int:
    """Empty the live read models and rebuild them in one transaction; returns the events replayed."""
    with store.transaction() as tx:  # holds the append lock: no writer slips in mid-rebuild
        connection = tx.connection
        for table in reversed(readmodel_metadata.sorted_tables):
            connection.execute(sa.delete(table))
        return _replay_into(connection, store, to=to, progress=progress, same_database=True)


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
