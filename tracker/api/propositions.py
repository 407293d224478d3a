"""Read endpoints for propositions: list with filters, one (with ETag, optionally as of a time), history."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from tracker.api import paging
from tracker.api.auth import require
from tracker.api.deps import get_store, get_tracker, hot_reads
from tracker.api.encoded import json_answer, json_text_answer
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
async def list_propositions(
    request: Request,
    store: Annotated[EventStore, Depends(get_store)],
    status: paging.Status = None,
    kind: paging.Kind = None,
    actor: paging.Filter = None,
    q: paging.SearchText = None,
    overdue: bool | None = None,
    limit: paging.Limit = 50,
    cursor: paging.Cursor = None,
) -> Response:
    """Propositions in id order, filtered; follow `next_cursor` for more."""
    if q is None:  # indexed reads: on the event loop, the page written as JSON straight from the rows
        return json_text_answer(hot_reads(request).propositions_json(
            status=status, kind=kind, actor=actor, overdue=overdue, limit=limit, cursor=cursor))
    # A text search can take long: in the thread pool, so it holds up no other request.
    page = await run_in_threadpool(partial(
        queries.list_propositions, store.engine, status=status, kind=kind, actor=actor, q=q, overdue=overdue,
        limit=limit, cursor=cursor))
    return json_answer(PropositionPage(items=[_summary(r) for r in page.items],
                                       next_cursor=page.next_cursor).model_dump(mode="json"))


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
async def get_proposition(
    request: Request,
    proposition_id: paging.PathId,
    tracker: Annotated[Tracker, Depends(get_tracker)],
    as_of: paging.AsOf = None,
) -> Response:
    """One proposition; the ETag is its stream version (send it back as If-Match when writing). With `as_of`
    before the proposition was first recorded: 404 `not-yet-recorded`, naming when it was."""
    if as_of is None:
        # Now: the read-model row (written with the events, so its version is the stream's), on the event loop.
        found = hot_reads(request).proposition(proposition_id)
        if found is None:
            raise NotFound(f"no proposition {proposition_id}")
        return json_answer(found, headers={"ETag": f'"{found["version"]}"'})
    return await run_in_threadpool(_as_of, tracker, proposition_id, as_of)


def _as_of(tracker: Tracker, proposition_id: str, as_of: datetime) -> Response:
    """The proposition as recorded at `as_of`: its stream folded to then (from snapshots where they help)."""
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
    return json_answer(detail_from_state(loaded.state, loaded.version, stamp).model_dump(mode="json"),
                       headers={"ETag": f'"{loaded.version}"'})


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
