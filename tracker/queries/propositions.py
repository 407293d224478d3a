"""Proposition reads: the filtered list (keyset by id), the overdue rule, a proposition's history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from tracker.projections.tables import evidence, matches, propositions
from tracker.queries.paging import Page, SortKey, keyset_page
from tracker.repository.unit_of_work import NotFound, proposition_stream
from tracker.store import EventStore, RecordedEvent
from tracker.store.schema import events

BY_ID = (SortKey(propositions.c.proposition_id, str),)


@dataclass(frozen=True, slots=True)
class PropositionRow:
    """A row of the list: the proposition's read model, without its state blob."""

    id: str
    kind: str
    statement: str
    status: str
    source_id: str | None
    actors: list[str]
    topics: list[str]
    probability: float | None
    resolve_by: str | None
    overdue: bool
    evidence: dict[str, int]
    awaiting_review: int
    version: int


def filtered(
    query: sa.Select[Any], *, status: str | None, kind: str | None, actor: str | None, q: str | None,
    q_evidence: sa.ColumnElement[bool], topic: str | None = None,
) -> sa.Select[Any]:
    """The proposition filters the API and the public pages share. `q` matches the statement or the title of
    evidence matched to the proposition whose match satisfies `q_evidence` (which matches count is the caller's
    choice: the public pages count confirmed evidence only, so a suggestion's title finds nothing there)."""
    if status:
        query = query.where(propositions.c.status == status)
    if kind:
        query = query.where(propositions.c.kind == kind)
    if actor:
        query = query.where(propositions.c.actors.contains(json.dumps(actor), autoescape=True))
    if topic:
        query = query.where(propositions.c.topics.contains(json.dumps(topic), autoescape=True))
    if q:
        by_evidence = (
            sa.select(matches.c.proposition_id)
            .join(evidence, evidence.c.evidence_id == matches.c.evidence_id)
            .where(evidence.c.title.icontains(q, autoescape=True), q_evidence)
        )
        query = query.where(sa.or_(
            propositions.c.statement.icontains(q, autoescape=True), propositions.c.proposition_id.in_(by_evidence),
        ))
    return query


def today() -> str:
    return date.today().isoformat()


def is_overdue(resolve_by: str | None, outcome: str | None, on: str | None = None) -> bool:
    """Past its resolve-by date and not resolved (computed at read time, never stored)."""
    return resolve_by is not None and outcome is None and resolve_by < (on or today())


def _row(row: Any) -> PropositionRow:
    return PropositionRow(
        id=row.proposition_id, kind=row.kind, statement=row.statement, status=row.status,
        source_id=row.source_id, actors=json.loads(row.actors), topics=json.loads(row.topics),
        probability=row.probability, resolve_by=row.resolve_by, overdue=is_overdue(row.resolve_by, row.outcome),
        evidence={"supports": row.supports, "contradicts": row.contradicts, "context": row.context},
        awaiting_review=row.awaiting_review, version=row.version,
    )


def list_propositions(
    engine: sa.Engine,
    *,
    status: str | None = None,
    kind: str | None = None,
    actor: str | None = None,
    q: str | None = None,
    overdue: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[PropositionRow]:
    """Propositions in id order, filtered; `q` matches the statement or the title of matched evidence."""
    # Evidence matched to the proposition counts for `q` unless the match was rejected.
    query = filtered(sa.select(propositions), status=status, kind=kind, actor=actor, q=q,
                     q_evidence=matches.c.state != "rejected")
    if overdue is not None:
        late = sa.and_(
            propositions.c.resolve_by.is_not(None), propositions.c.outcome.is_(None),
            propositions.c.resolve_by < today(),
        )
        query = query.where(late if overdue else sa.not_(late))
    with engine.connect() as connection:
        return keyset_page(connection, query, BY_ID, limit, cursor, _row)


def detail_fields(state: dict[str, Any], version: int, evidence: dict[str, int], awaiting_review: int,
                  ) -> dict[str, Any]:
    """GET /propositions/{id}'s answer (the fields of api.schemas.PropositionDetail, in its order) from a
    proposition's state as the read model writes it (projections/readmodels.py: the fields of domain.Proposition
    but its matches; the editors' controls only once set). Read now, so `as_of` is null."""
    resolution = state.get("resolution")
    resolve_by = state.get("resolve_by")
    confidence = state.get("stated_confidence")
    return {
        "id": state["proposition_id"], "kind": state["kind"], "statement": state["statement"],
        "status": state["status"], "source_id": state.get("source_id"), "actors": list(state.get("actors", ())),
        "topics": list(state.get("topics", ())), "probability": _float((confidence or {}).get("probability")),
        "resolve_by": resolve_by, "overdue": is_overdue(resolve_by, resolution and resolution.get("outcome")),
        "evidence": evidence, "awaiting_review": awaiting_review, "version": version,
        "locator": state.get("locator"), "stated_confidence": confidence, "condition": state.get("condition"),
        "resolution_criteria": state.get("resolution_criteria"), "match_profile": state.get("match_profile"),
        "resolution": resolution, "as_of": None, "muted": state.get("muted", False),
        "muted_reason": state.get("muted_reason") or None,
        "evidence_window": {"not_before": state.get("window_not_before"),
                            "not_after": state.get("window_not_after")},
    }


def _float(value: Any) -> float | None:
    # What the response model's `float | None` makes of it (an int 1 is written 1.0).
    return None if value is None else float(value)


def history(store: EventStore, proposition_id: str) -> list[RecordedEvent]:
    """Every event of the proposition in order; NotFound when it has none."""
    recorded = store.read_stream(proposition_stream(proposition_id))
    if not recorded:
        raise NotFound(f"no proposition {proposition_id}")
    return recorded


def first_recorded_at(engine: sa.Engine, proposition_id: str) -> str | None:
    """When the proposition's first event was recorded (None when it never was): what an as-of read before
    that time is told. One indexed row, not the whole stream."""
    query = sa.select(events.c.recorded_at).where(
        events.c.stream_id == proposition_stream(proposition_id), events.c.stream_version == 1)
    with engine.connect() as connection:
        return connection.execute(query).scalar_one_or_none()
