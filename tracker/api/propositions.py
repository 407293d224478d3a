"""Read endpoints for propositions: list with filters, one (with ETag, optionally as of a time), history."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from tracker.api import paging
from tracker.api.auth import require
from tracker.api.deps import get_store, get_tracker
from tracker.api.encoded import json_answer
from tracker.api.problems import problem
from tracker.api.schemas import (
    EvidenceWindow,
    HistoryEntry,
    PropositionDetail,
    PropositionPage,
    PropositionSummary,
)
from tracker.domain.proposition import Proposition
from tracker.queries import propositions as queries
from tracker.queries.propositions import PropositionRow, is_overdue
from tracker.repository.unit_of_work import NotFound, Tracker
from tracker.store import EventStore
from tracker.store.envelope import EARLIEST_TIME, LATEST_TIME, iso

router = APIRouter(tags=["propositions"], dependencies=[Depends(require("reader"))])


def _summary(row: PropositionRow) -> PropositionSummary:
    return PropositionSummary(
        id=row.id, kind=row.kind, statement=row.statement, status=row.status, source_id=row.source_id,
        actors=row.actors, topics=row.topics, probability=row.probability, resolve_by=row.resolve_by,
        overdue=row.overdue, evidence=row.evidence, awaiting_review=row.awaiting_review, version=row.version,
    )


@router.get("/propositions", response_model=PropositionPage)
def list_propositions(
    store: Annotated[EventStore, Depends(get_store)],
    status: paging.Status = None,
    kind: paging.Kind = None,
    actor: paging.Filter = None,
    q: paging.SearchText = None,
    overdue: bool | None = None,
    limit: paging.Limit = 50,
    cursor: paging.Cursor = None,
) -> PropositionPage:
    """Propositions in id order, filtered; follow `next_cursor` for more."""
    page = queries.list_propositions(store.engine, status=status, kind=kind, actor=actor, q=q, overdue=overdue,
                                     limit=limit, cursor=cursor)
    return PropositionPage(items=[_summary(r) for r in page.items], next_cursor=page.next_cursor)


def detail_from_state(state: Proposition, version: int, as_of: str | None) -> PropositionDetail:
    counts = state.counts()
    # Copies of the three nested fields only: asdict(state) also deep-copied every match (most of a read's time).
    data = {name: deepcopy(getattr(state, name)) for name in ("locator", "stated_confidence", "match_profile")}
    resolution = state.resolution
    return PropositionDetail(
        id=state.proposition_id, kind=state.kind, statement=state.statement, status=state.status,
        source_id=state.source_id, actors=list(state.actors), topics=list(state.topics),
        probability=state.probability, resolve_by=state.resolve_by,
        overdue=is_overdue(state.resolve_by, resolution and resolution.get("outcome")),
        evidence={k: counts[k] for k in ("supports", "contradicts", "context")},
        awaiting_review=counts["awaiting_review"], version=version,
        locator=data["locator"], stated_confidence=data["stated_confidence"], condition=state.condition,
        resolution_criteria=state.resolution_criteria, match_profile=data["match_profile"],
        resolution=resolution, as_of=as_of, muted=state.muted, muted_reason=state.muted_reason or None,
        evidence_window=EvidenceWindow(not_before=state.window_not_before, not_after=state.window_not_after),
    )


@router.get("/propositions/{proposition_id}", response_model=PropositionDetail)
def get_proposition(
    proposition_id: paging.PathId,
    response: Response,
    tracker: Annotated[Tracker, Depends(get_tracker)],
    as_of: paging.AsOf = None,
) -> PropositionDetail | Response:
    """One proposition; the ETag is its stream version (send it back as If-Match when writing). With `as_of`
    before the proposition was first recorded: 404 `not-yet-recorded`, naming when it was."""
    if as_of is None:
        # Now: the read-model row (written with the events, so its version is the stream's), encoded once.
        found = queries.proposition_detail(tracker.store.engine, proposition_id)
        if found is None:
            raise NotFound(f"no proposition {proposition_id}")
        return json_answer(found, headers={"ETag": f'"{found["version"]}"'})
    moment = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    # Clamped to what iso() can write: nothing is recorded before 1900, and a far-future time is "now".
    stamp = iso(min(max(moment, EARLIEST_TIME), LATEST_TIME))
    try:
        loaded = tracker.proposition(proposition_id, as_of=stamp)
    except NotFound:
        first = queries.first_recorded_at(tracker.store.engine, proposition_id)
        if first is None:
            raise
        return problem(404, "not-yet-recorded", "Not yet recorded at that time",
                       f"proposition {proposition_id} was not yet recorded at {stamp}; it was first recorded at "
                       f"{first}", recorded_at=first)
    response.headers["ETag"] = f'"{loaded.version}"'
    return detail_from_state(loaded.state, loaded.version, stamp)


@router.get("/propositions/{proposition_id}/history", response_model=list[HistoryEntry])
def proposition_history(
    proposition_id: paging.PathId, store: Annotated[EventStore, Depends(get_store)]
) -> list[HistoryEntry]:
    """Every event of the proposition in order: who did what, and when."""
    return [
        HistoryEntry(
            position=e.position, stream_version=e.stream_version, event_type=e.event_type,
            actor=e.actor, occurred_at=e.occurred_at, recorded_at=e.recorded_at, payload=e.payload,
        )
        for e in queries.history(store, proposition_id)
    ]
