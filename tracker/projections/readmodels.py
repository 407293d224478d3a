"""How each aggregate's state becomes read-model rows, live (in the append's transaction) and in bulk.

The same row functions serve the live update and the rebuild, so a replay can only differ from the
live tables if an event was applied differently, which is what `audit replay --check` looks for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from tracker.domain import evidence, feed, proposition, source
from tracker.domain.events import Event
from tracker.projections.tables import evidence as evidence_table
from tracker.projections.tables import feeds, history, matches, propositions, sources
from tracker.store.envelope import RecordedEvent

Rows = dict[sa.Table, list[dict[str, Any]]]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def proposition_rows(state: proposition.Proposition, version: int, updated_at: str) -> Rows:
    counts = state.counts()
    resolution = state.resolution or {}
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
            "state": _json(asdict(state)),
        }],
        matches: [
            {
                "match_id": m.match_id,
                "proposition_id": state.proposition_id,
                "evidence_id": m.evidence_id,
                "state": m.state,
                "score": m.score,
                "suggested_stance": m.suggested_stance,
                "stance": m.stance,
                "automatic": m.automatic,
                "explanation": _json(m.explanation),
            }
            for m in state.matches.values()
        ],
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
    from tracker.ingest.normalise import title_key

    return {evidence_table: [{
        "evidence_id": state.evidence_id, "title": state.title, "title_key": title_key(state.title),
        "link": state.link, "summary": state.summary, "published_at": state.published_at,
        "published_is_fetch_time": state.published_is_fetch_time, "feed": state.feed,
        "language": state.language, "content_hash": state.content_hash, "sightings": len(state.sightings),
        "version": version, "updated_at": updated_at,
    }]}


@dataclass(frozen=True)
class Aggregate:
    """What the read models need to know about one kind of stream."""

    prefix: str
    evolve: Callable[[Any, Event], Any]
    rows: Callable[[Any, int, str], Rows]
    key: tuple[sa.Column[Any], ...]  # columns holding the aggregate id in each of its tables


AGGREGATES: dict[str, Aggregate] = {
    "proposition": Aggregate(
        "proposition-", proposition.evolve, proposition_rows,
        (propositions.c.proposition_id, matches.c.proposition_id),
    ),
    "source": Aggregate("source-", source.evolve, source_rows, (sources.c.source_id,)),
    "feed": Aggregate("feed-", feed.evolve, feed_rows, (feeds.c.feed_id,)),
    "evidence": Aggregate("evidence-", evidence.evolve, evidence_rows, (evidence_table.c.evidence_id,)),
}


def aggregate_of(stream_id: str) -> tuple[Aggregate, str] | None:
    kind, _, entity_id = stream_id.partition("-")
    found = AGGREGATES.get(kind)
    return (found, entity_id) if found else None


def history_row(event: RecordedEvent) -> dict[str, Any]:
    return {
        "position": event.position,
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "event_type": event.event_type,
        "actor": event.actor,
        "occurred_at": event.occurred_at,
        "recorded_at": event.recorded_at,
    }


def apply(connection: sa.Connection, recorded: list[RecordedEvent], state: Any) -> None:
    """Live update after one stream's append: history rows, then the aggregate's rows replaced."""
    if not recorded:
        return
    connection.execute(history.insert(), [history_row(e) for e in recorded])
    last = recorded[-1]
    found = aggregate_of(last.stream_id)
    if found is None or state is None:
        return
    aggregate, entity_id = found
    for column in aggregate.key:
        connection.execute(sa.delete(column.table).where(column == entity_id))
    for table, rows in aggregate.rows(state, last.stream_version, last.recorded_at).items():
        if rows:
            connection.execute(table.insert(), rows)


def projector(state: Any) -> Callable[[sa.Connection, list[RecordedEvent]], None]:
    """A callback for EventStore.append that writes the read models for the new state."""
    return lambda connection, recorded: apply(connection, recorded, state)
