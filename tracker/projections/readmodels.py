"""How each aggregate's state becomes read-model rows, live (in the append's transaction) and in bulk.

The same row functions serve the live update and the rebuild, so a replay can only differ from the
live tables if an event was applied differently, which is what `audit replay --check` looks for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, is_dataclass
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from tracker.domain import evidence, feed, proposition, source, subscriber
from tracker.domain.evidence import title_key
from tracker.domain.registry import KINDS
from tracker.projections.tables import evidence as evidence_table
from tracker.projections.tables import feeds, history, matches, propositions, sources
from tracker.projections.tables import subscribers as subscribers_table
from tracker.store.envelope import RecordedEvent

Rows = dict[sa.Table, list[dict[str, Any]]]


def _fields(value: Any) -> dict[str, Any]:
    # Dataclasses inside a state are written as their fields, which is what asdict() gave before.
    declared = getattr(type(value), "__dataclass_fields__", None)
    attributes = getattr(value, "__dict__", None)
    if declared is not None and attributes is not None and len(attributes) == len(declared):
        return attributes  # the common case, checked first: a plain dataclass instance (a Match, say)
    if is_dataclass(value) and not isinstance(value, type):
        attributes = getattr(value, "__dict__", None)
        if attributes is not None and len(attributes) == len(value.__dataclass_fields__):
            return attributes  # a plain dataclass instance: its __dict__ holds exactly its fields
        return {f.name: getattr(value, f.name) for f in fields(value)}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# Built once (json.dumps builds an encoder per call); `default` replaces a deep asdict() copy of the state.
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_fields).encode
# The C encoder that JSONEncoder.encode builds on every call, built once: the same text, a third less time
# per call (a replay encodes every match's explanation). No circular-reference check: states are trees.
_c_encoder = (
    c_make_encoder(None, _fields, encode_basestring, None, ":", ",", True, False, True) if c_make_encoder else None
)


def _json(value: Any) -> str:
    if _c_encoder is None:
        return _encode(value)
    return "".join(_c_encoder(value, 0))


_STATE_FIELDS = tuple(f.name for f in fields(proposition.Proposition) if f.name != "matches")
# Editors' matcher controls appear in the state column only once set, so rows written before they existed
# still equal a replay (no rebuild needed on upgrade).
_UNSET = {"muted": False, "muted_reason": "", "window_not_before": None, "window_not_after": None}
_ALWAYS = tuple(name for name in _STATE_FIELDS if name not in _UNSET)


def match_row(proposition_id: str, m: proposition.Match) -> dict[str, Any]:
    return {
        "match_id": m.match_id,
        "proposition_id": proposition_id,
        "evidence_id": m.evidence_id,
        "state": m.state,
        "score": m.score,
        "suggested_stance": m.suggested_stance,
        "stance": m.stance,
        "automatic": m.automatic,
        "explanation": _json(m.explanation),
    }


def proposition_rows(
    state: proposition.Proposition, version: int, updated_at: str, match_ids: set[str] | None = None
) -> Rows:
    """The proposition's row and its match rows (only those in `match_ids` when given)."""
    counts = state.counts()
    resolution = state.resolution or {}
    chosen = state.matches.values() if match_ids is None else (state.matches[i] for i in match_ids)
    return {
        propositions: [{
            "proposition_id": state.proposition_id,
            "source_id": state.source_id,
            "kind": state.kind,
            "statement": state.statement,
            "status": state.status,
            "actors": _json(list(state.actors)),
            "topics": _json(list(state.topics)),
            "probability": state.probability,
            "resolve_by": state.resolve_by,
            "outcome": resolution.get("outcome"),
            "brier": resolution.get("brier"),
            **counts,
            "version": version,
            "updated_at": updated_at,
            # Matches live in their own table; repeating them here would rewrite every explanation
            # each time one match changes.
            "state": _json({
                **{name: getattr(state, name) for name in _ALWAYS},
                **{name: value for name, unset in _UNSET.items() if (value := getattr(state, name)) != unset},
            }),
        }],
        matches: [match_row(state.proposition_id, m) for m in chosen],
    }


def source_rows(state: source.Source, version: int, updated_at: str) -> Rows:
    return {sources: [{**asdict(state), "version": version, "updated_at": updated_at}]}


def feed_rows(state: feed.Feed, version: int, updated_at: str) -> Rows:
    return {feeds: [{
        "feed_id": state.feed_id, "name": state.name, "url": state.url, "path": state.path,
        "interval_minutes": state.interval_minutes, "tags": _json(list(state.tags)), "sample": state.sample,
        "enabled": state.enabled, "disabled_reason": state.disabled_reason,
        "version": version, "updated_at": updated_at,
    }]}


def evidence_rows(state: evidence.Evidence, version: int, updated_at: str) -> Rows:
    return {evidence_table: [{
        "evidence_id": state.evidence_id, "title": state.title, "title_key": title_key(state.title),
        "link": state.link, "summary": state.summary, "published_at": state.published_at,
        "published_is_fetch_time": state.published_is_fetch_time, "feed": state.feed,
        "language": state.language, "content_hash": state.content_hash, "sightings": len(state.sightings),
        "version": version, "updated_at": updated_at,
    }]}


def subscriber_rows(state: subscriber.Subscriber, version: int, updated_at: str) -> Rows:
    return {subscribers_table: [{
        "subscriber_id": state.subscriber_id, "email": state.email, "name": state.name,
        "filters": _json(state.filters), "quiet_weeks": state.quiet_weeks, "editor": state.editor,
        "active": state.active,
        "subscription": state.subscription, "version": version, "updated_at": updated_at,
    }]}


@dataclass(frozen=True)
class Projection:
    """The read-model rows of one kind of aggregate (the kind itself is in tracker.domain.registry)."""

    rows: Callable[[Any, int, str], Rows]
    key: tuple[sa.Column[Any], ...]  # columns holding the aggregate id in each of its tables


PROJECTIONS: dict[str, Projection] = {
    "proposition": Projection(proposition_rows, (propositions.c.proposition_id, matches.c.proposition_id)),
    "source": Projection(source_rows, (sources.c.source_id,)),
    "feed": Projection(feed_rows, (feeds.c.feed_id,)),
    "evidence": Projection(evidence_rows, (evidence_table.c.evidence_id,)),
    "subscriber": Projection(subscriber_rows, (subscribers_table.c.subscriber_id,)),
}
assert set(PROJECTIONS) == set(KINDS), "every kind of aggregate has its read-model rows"


def projection_of(stream_id: str) -> tuple[Projection, str] | None:
    kind, _, entity_id = stream_id.partition("-")
    found = PROJECTIONS.get(kind)
    return (found, entity_id) if found else None


HISTORY_COLUMNS = ("position", "stream_id", "stream_version", "event_type", "actor", "occurred_at", "recorded_at")


def history_values(event: RecordedEvent) -> tuple[Any, ...]:
    """The history row of one event, as a tuple in HISTORY_COLUMNS order."""
    return (event.position, event.stream_id, event.stream_version, event.event_type, event.actor,
            event.occurred_at, event.recorded_at)


# Read-model writes go straight to the DBAPI cursor of the caller's connection (same transaction): through
# SQLAlchemy Core, statement compilation and parameter handling cost more than the writes themselves.
_statements: dict[tuple[Any, ...], str] = {}


def _mark(connection: sa.Connection) -> str:
    return "?" if connection.dialect.name == "sqlite" else "%s"


def _insert_sql(mark: str, table: str, columns: tuple[str, ...]) -> str:
    key = ("insert", mark, table, columns)
    text = _statements.get(key)
    if text is None:
        text = _statements[key] = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        )
    return text


def _cursor(connection: sa.Connection) -> Any:
    return connection.connection.driver_connection.cursor()  # type: ignore[union-attr]


def insert_values(connection: sa.Connection, table: sa.Table, columns: tuple[str, ...], values: list[tuple]) -> None:
    """Insert rows given as tuples in `columns` order (executemany on the DBAPI cursor)."""
    if not values:
        return
    text = _insert_sql(_mark(connection), table.name, columns)
    cursor = _cursor(connection)
    if len(values) == 1:
        cursor.execute(text, values[0])
    else:
        cursor.executemany(text, values)


def insert_rows(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert row dicts that share their keys, like connection.execute(table.insert(), rows)."""
    if not rows:
        return
    columns = tuple(rows[0])
    if len(columns) == 1:
        values = [(row[columns[0]],) for row in rows]
    else:
        getter = itemgetter(*columns)
        values = [getter(row) for row in rows]
    insert_values(connection, table, columns, values)


def _sync_rows(
    cursor: Any, mark: str, table: sa.Table, key: str, entity_id: str, rows: list[dict[str, Any]]
) -> None:
    """Make the rows of `table` whose `key` is entity_id exactly `rows`, writing only what differs.

    The same end state as delete-then-insert, but a command that changes one match of fifty rewrites one
    row, not fifty: far fewer pages to write and sync on commit.
    """
    columns = tuple(c.name for c in table.columns)
    primary = [columns.index(c.name) for c in table.primary_key.columns]
    statement = _statements.get(("select", mark, table.name, key))
    if statement is None:
        statement = _statements[("select", mark, table.name, key)] = (
            f"SELECT {', '.join(columns)} FROM {table.name} WHERE {key} = {mark}"
        )
    cursor.execute(statement, (entity_id,))
    existing = {tuple(row[i] for i in primary): row for row in cursor.fetchall()}
    where = " AND ".join(f"{columns[i]} = {mark}" for i in primary)
    inserts: list[tuple[Any, ...]] = []
    for row in rows:
        values = tuple(row.get(c) for c in columns)
        before = existing.pop(tuple(values[i] for i in primary), None)
        if before is None:
            inserts.append(values)
            continue
        changed = [i for i, value in enumerate(values) if before[i] != value]
        if changed:
            assignments = ", ".join(f"{columns[i]} = {mark}" for i in changed)
            cursor.execute(
                f"UPDATE {table.name} SET {assignments} WHERE {where}",
                [values[i] for i in changed] + [values[i] for i in primary],
            )
    for gone in existing:
        cursor.execute(f"DELETE FROM {table.name} WHERE {where}", gone)
    if len(inserts) == 1:
        cursor.execute(_insert_sql(mark, table.name, columns), inserts[0])
    elif inserts:
        cursor.executemany(_insert_sql(mark, table.name, columns), inserts)


def _upsert_sql(mark: str, table: sa.Table) -> str:
    key = ("upsert", mark, table.name)
    text = _statements.get(key)
    if text is None:
        columns = tuple(c.name for c in table.columns)
        keys = tuple(c.name for c in table.primary_key.columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
        text = _statements[key] = (
            f"{_insert_sql(mark, table.name, columns)} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        )
    return text


def _upsert_rows(cursor: Any, mark: str, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows, or replace every column of the row with the same primary key (SQLite and PostgreSQL
    both have INSERT ... ON CONFLICT DO UPDATE): one statement a row, where delete-then-insert took two."""
    if not rows:
        return
    columns = tuple(c.name for c in table.columns)
    values = [tuple(r.get(c) for c in columns) for r in rows]
    if len(values) == 1:
        cursor.execute(_upsert_sql(mark, table), values[0])
    else:
        cursor.executemany(_upsert_sql(mark, table), values)


def apply(connection: sa.Connection, recorded: list[RecordedEvent], state: Any) -> None:
    """Live update after one stream's append: history rows, then the aggregate's rows replaced."""
    if not recorded:
        return
    insert_values(connection, history, HISTORY_COLUMNS, [history_values(e) for e in recorded])
    last = recorded[-1]
    found = projection_of(last.stream_id)
    if found is None or state is None:
        return
    projection, entity_id = found
    mark = _mark(connection)
    cursor = _cursor(connection)
    if isinstance(state, proposition.Proposition):
        # Matches are never removed, so upserting the ones these events touched gives the same rows
        # as a full rewrite, without serialising every other match's explanation again.
        touched = {e.payload["match_id"] for e in recorded if "match_id" in e.payload}
        produced = proposition_rows(state, last.stream_version, last.recorded_at, touched)
        _upsert_rows(cursor, mark, matches, produced[matches])
        if mark == "?":
            # SQLite updates only the changed columns' indexes: a local read to find them costs less than the
            # index pages a whole-row update would write.
            _sync_rows(cursor, mark, propositions, "proposition_id", entity_id, produced[propositions])
        else:
            # PostgreSQL writes a new row version whatever the columns changed (and skips the indexes when no
            # indexed value changed): an upsert saves the read's round trip and can go in the pipeline.
            _upsert_rows(cursor, mark, propositions, produced[propositions])
        return
    produced = projection.rows(state, last.stream_version, last.recorded_at)
    for column in projection.key:
        table = column.table
        _sync_rows(cursor, mark, table, column.name, entity_id, produced.pop(table, []))  # type: ignore[arg-type]
    for table, rows in produced.items():  # a table outside the aggregate's key columns: plain inserts
        insert_rows(connection, table, rows)
