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


def _replay_into(
    connection: sa.Connection, store: EventStore, *, to: int | None, progress: Progress | None
) -> int:
    fold = _Fold()
    count = 0
    for page in store.read_pages(0, to=to, page_size=5000):
        connection.execute(history.insert(), [readmodels.history_row(e) for e in page])
        for event in page:
            found = readmodels.aggregate_of(event.stream_id)
            if found is None:
                continue
            previous = fold.states.get(event.stream_id)
            state = found[0].evolve(previous[0] if previous else None, Event(event.event_type, event.payload))
            fold.states[event.stream_id] = (state, event.stream_version, event.recorded_at)
        count += len(page)
        if progress:
            progress(len(page))
    batches: dict[sa.Table, list[dict[str, Any]]] = {}
    for table, rows in fold.rows():
        batches.setdefault(table, []).extend(rows)
    for table, rows in batches.items():
        if rows:
            connection.execute(table.insert(), rows)
    return count


def replay(store: EventStore, *, to: int | None = None, progress: Progress | None = None) -> int:
    """Empty the live read models and rebuild them in one transaction; returns the events replayed."""
    with store.transaction() as tx:  # holds the append lock: no writer slips in mid-rebuild
        connection = tx.connection
        for table in reversed(readmodel_metadata.sorted_tables):
            connection.execute(sa.delete(table))
        return _replay_into(connection, store, to=to, progress=progress)


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
