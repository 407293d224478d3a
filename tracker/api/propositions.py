"""Read endpoints for propositions: list with filters, one (with ETag, optionally as of a time), history."""

from __future__ import annotations

import json
from copy import deepcopy
from datetime import UTC, date, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response

from tracker.api import paging
from tracker.api.auth import require
from tracker.api.deps import get_store, get_tracker
from tracker.api.schemas import HistoryEntry, PropositionDetail, PropositionPage, PropositionSummary
from tracker.domain.proposition import Proposition
from tracker.projections.tables import evidence, matches, propositions
from tracker.service.unit_of_work import NotFound, Tracker, proposition_stream
from tracker.store import EventStore
from tracker.store.envelope import iso

router = APIRouter(tags=["propositions"], dependencies=[Depends(require("reader"))])


def _today() -> str:
    return date.today().isoformat()


def _encode_cursor(last_id: str) -> str:
    return paging.encode(last_id)


def _decode_cursor(cursor: str) -> str:
    return str(paging.decode(cursor, str)[0])


def _summary(row: Any) -> PropositionSummary:
    return PropositionSummary(
        id=row.proposition_id, kind=row.kind, statement=row.statement, status=row.status,
        source_id=row.source_id, actors=json.loads(row.actors), topics=json.loads(row.topics),
        probability=row.probability, resolve_by=row.resolve_by,
        overdue=_is_overdue(row.resolve_by, row.outcome),
        evidence={"supports": row.supports, "contradicts": row.contradicts, "context": row.context},
        awaiting_review=row.awaiting_review, version=row.version,
    )


def _is_overdue(resolve_by: str | None, outcome: str | None, today: str | None = None) -> bool:
    return resolve_by is not None and outcome is None and resolve_by < (today or _today())


@router.get("/propositions", response_model=PropositionPage)
def list_propositions(
    store: Annotated[EventStore, Depends(get_store)],
    status: paging.Filter = None,
    kind: paging.Filter = None,
    actor: paging.Filter = None,
    q: paging.SearchText = None,
    overdue: bool | None = None,
    limit: paging.Limit = 50,
    cursor: paging.Cursor = None,
) -> PropositionPage:
    """Propositions in id order, filtered; follow `next_cursor` for more."""
    query = sa.select(propositions).order_by(propositions.c.proposition_id).limit(limit + 1)
    if status:
        query = query.where(propositions.c.status == status)
    if kind:
        query = query.where(propositions.c.kind == kind)
    if actor:
        query = query.where(propositions.c.actors.contains(json.dumps(actor), autoescape=True))
    if q:
        # `q` finds a proposition by its statement or by the title of evidence matched to it (not rejected).
        by_evidence = (
            sa.select(matches.c.proposition_id)
            .join(evidence, evidence.c.evidence_id == matches.c.evidence_id)
            .where(evidence.c.title.icontains(q, autoescape=True), matches.c.state != "rejected")
        )
        query = query.where(sa.or_(
            propositions.c.statement.icontains(q, autoescape=True), propositions.c.proposition_id.in_(by_evidence),
        ))
    if overdue is not None:
        late = sa.and_(
            propositions.c.resolve_by.is_not(None), propositions.c.outcome.is_(None),
            propositions.c.resolve_by < _today(),
        )
        query = query.where(late if overdue else sa.not_(late))
    if cursor:
        query = query.where(propositions.c.proposition_id > _decode_cursor(cursor))
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return PropositionPage(
        items=[_summary(r) for r in rows],
        next_cursor=_encode_cursor(rows[-1].proposition_id) if more else None,
    )


def detail_from_state(state: Proposition, version: int, as_of: str | None) -> PropositionDetail:
    counts = state.counts()
    # Copies of the three nested fields only: asdict(state) also deep-copied every match (most of a read's time).
    data = {name: deepcopy(getattr(state, name)) for name in ("locator", "stated_confidence", "match_profile")}
    resolution = state.resolution
    return PropositionDetail(
        id=state.proposition_id, kind=state.kind, statement=state.statement, status=state.status,
        source_id=state.source_id, actors=list(state.actors), topics=list(state.topics),
        probability=state.probability, resolve_by=state.resolve_by,
        overdue=_is_overdue(state.resolve_by, resolution and resolution.get("outcome")),
        evidence={k: counts[k] for k in ("supports", "contradicts", "context")},
        awaiting_review=counts["awaiting_review"], version=version,
        locator=data["locator"], stated_confidence=data["stated_confidence"], condition=state.condition,
        resolution_criteria=state.resolution_criteria, match_profile=data["match_profile"],
        resolution=resolution, as_of=as_of,
    )


@router.get("/propositions/{proposition_id}", response_model=PropositionDetail)
def get_proposition(
    proposition_id: paging.PathId,
    response: Response,
    tracker: Annotated[Tracker, Depends(get_tracker)],
    as_of: Annotated[datetime | None, Query(description="state as recorded at this time (ISO 8601)")] = None,
) -> PropositionDetail:
    """One proposition; the ETag is its stream version (send it back as If-Match when writing)."""
    stamp = None
    if as_of is not None:
        stamp = iso(as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC))
    loaded = tracker.proposition(proposition_id, as_of=stamp)
    response.headers["ETag"] = f'"{loaded.version}"'
    return detail_from_state(loaded.state, loaded.version, stamp)


@router.get("/propositions/{proposition_id}/history", response_model=list[HistoryEntry])
def proposition_history(
    proposition_id: paging.PathId, store: Annotated[EventStore, Depends(get_store)]
) -> list[HistoryEntry]:
    """Every event of the proposition in order: who did what, and when."""
    events = store.read_stream(proposition_stream(proposition_id))
    if not events:
        raise NotFound(f"no proposition {proposition_id}")
    return [
        HistoryEntry(
            position=e.position, stream_version=e.stream_version, event_type=e.event_type,
            actor=e.actor, occurred_at=e.occurred_at, recorded_at=e.recorded_at, payload=e.payload,
        )
        for e in events
    ]
