"""The review queue and its commands (confirm, reject, retract), and evidence attached by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tracker.api import paging
from tracker.api.auth import require
from tracker.api.bodies import BulkRejectBody, ConfirmBody, EvidenceBody, RejectBody
from tracker.api.commanding import VERSIONED_COMMAND, Outcome, run_command
from tracker.api.commands import ERRORS, Editor, Track, refs, result
from tracker.api.deps import get_store, hot_reads
from tracker.api.encoded import json_text_answer
from tracker.api.schemas import (
    BulkRejectResult,
    CommandResult,
    MatchEvidence,
    MatchItem,
    MatchPage,
    MatchProposition,
)
from tracker.queries.review import QueuedMatch, QueueFilter
from tracker.repository.unit_of_work import Tracker, UnitOfWork
from tracker.service import review
from tracker.service.users import User
from tracker.store import EventStore
from tracker.store.envelope import iso

router = APIRouter(tags=["review"])
Reader = Depends(require("reader"))


@router.get("/matches", response_model=MatchPage, dependencies=[Reader])
async def review_queue(
    request: Request,
    store: Annotated[EventStore, Depends(get_store)],  # documents the store's 503 (contract.py)
    state: paging.MatchState = "suggested",
    proposition_id: paging.Filter = None,
    limit: paging.Limit = 50,
    cursor: paging.Cursor = None,
) -> Response:
    """Matches in one state, best first (highest score, then id): each with its evidence, its proposition
    and the matcher's explanation. Follow `next_cursor`; a page never repeats a match of an earlier page."""
    # Indexed reads: on the event loop, the page written as JSON straight from the rows (tracker/queries/hot.py).
    return json_text_answer(hot_reads(request).queue_json(state=state, proposition_id=proposition_id, limit=limit,
                                                          cursor=cursor))


def _item(match: QueuedMatch) -> MatchItem:
    found, about = match.evidence, match.proposition
    return MatchItem(
        id=match.id, state=match.state, score=match.score, suggested_stance=match.suggested_stance,
        stance=match.stance, automatic=match.automatic, explanation=match.explanation,
        evidence=MatchEvidence(id=found.id, title=found.title, link=found.link, feed=found.feed,
                               published_at=found.published_at),
        proposition=MatchProposition(id=about.id, statement=about.statement, status=about.status,
                                     version=about.version),
    )


def _on_match(request: Request, tracker: Tracker, user: User, match_id: str, body: BaseModel,
              decide: Callable[[UnitOfWork, int | None], review.Decided]) -> JSONResponse:
    def work(uow: UnitOfWork, expected: int | None) -> Outcome:
        decided = decide(uow, expected)
        return result(uow, decided.proposition_id, decided.recorded, match_id=match_id,
                      evidence_id=decided.evidence_id)

    return run_command(request, tracker, user, body.model_dump(mode="json"), work)


MATCH_ERRORS = {**ERRORS, 404: {"description": "unknown match"}}


@router.post("/matches/{match_id}/confirm", dependencies=VERSIONED_COMMAND,
             response_model=CommandResult, responses=MATCH_ERRORS)
def confirm(match_id: paging.PathId, body: ConfirmBody, request: Request, user: Editor, tracker: Track) -> JSONResponse:
    """Confirm a suggestion with a stance; the status moves at once when the evidence warrants it.
    If-Match takes the proposition's version (the ETag of GET /propositions/{id}, or `proposition.version`
    in the queue)."""
    return _on_match(request, tracker, user, match_id, body,
                     lambda uow, expected: review.confirm(uow, match_id, body.stance, body.note, expected))


@router.post("/matches/{match_id}/reject", dependencies=VERSIONED_COMMAND,
             response_model=CommandResult, responses=MATCH_ERRORS)
def reject(match_id: paging.PathId, request: Request, user: Editor, tracker: Track,
           body: RejectBody | None = None) -> JSONResponse:
    """Reject a suggestion; the pair is never suggested again."""
    given = body or RejectBody()
    return _on_match(request, tracker, user, match_id, given,
                     lambda uow, expected: review.reject(uow, match_id, given.reason, expected))


@router.post("/matches/{match_id}/retract", dependencies=VERSIONED_COMMAND,
             response_model=CommandResult, responses=MATCH_ERRORS)
def retract(match_id: paging.PathId, request: Request, user: Editor, tracker: Track,
            body: RejectBody | None = None) -> JSONResponse:
    """Withdraw an earlier confirmation (the status is derived again without it)."""
    given = body or RejectBody()
    return _on_match(request, tracker, user, match_id, given,
                     lambda uow, expected: review.retract(uow, match_id, given.reason, expected))


@router.post("/propositions/{proposition_id}/evidence", dependencies=VERSIONED_COMMAND,
             response_model=CommandResult, status_code=201,
             responses=ERRORS, tags=["review"])
def attach_evidence(proposition_id: paging.PathId, body: EvidenceBody, request: Request, user: Editor,
                    tracker: Track) -> JSONResponse:
    """Attach evidence by hand: the item is ingested (or found by its canonical link), suggested and confirmed
    with the stance given, all in one unit of work."""
    item = review.manual_evidence(body.url, body.title, body.summary, body.published_at, body.stance, body.note)

    def work(uow: UnitOfWork, expected: int | None) -> Outcome:
        attached = review.attach_evidence(uow, proposition_id, item, actor=user.actor, expected_version=expected)
        outcome = result(uow, proposition_id, [], 201, match_id=attached.match_id, evidence_id=attached.evidence_id)
        outcome.body.events = refs(attached.recorded)  # type: ignore[attr-defined]
        return outcome

    return run_command(request, tracker, user, body.model_dump(mode="json"), work)


BULK_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "the filter names an unknown proposition"},
    409: {"description": "the domain refuses a rejection in the current state"},
    412: {"description": "If-Match (only with proposition_id) names a stale version"},
    422: {"description": "invalid body, an empty filter without all=true, or If-Match without proposition_id"},
}


@router.post("/matches/reject", dependencies=VERSIONED_COMMAND, response_model=BulkRejectResult,
             responses=BULK_ERRORS)
def reject_bulk(body: BulkRejectBody, request: Request, user: Editor, tracker: Track) -> JSONResponse:
    """Reject every suggestion in a filtered part of the queue (proposition, feed, score at or below,
    published in [published_after, published_before)): one MatchRejected per match, all in one transaction
    under this request's correlation id, each recording the filter as `bulk_filter`. An empty filter is
    refused unless `all` is true. If-Match applies when the filter names one proposition. A rejected pair is
    never suggested again."""
    part = QueueFilter(
        proposition_id=body.proposition_id, feed=body.feed, max_score=body.max_score, state=body.state,
        published_after=iso(body.published_after) if body.published_after else None,
        published_before=iso(body.published_before) if body.published_before else None,
    )

    def work(uow: UnitOfWork, expected: int | None) -> Outcome:
        done = review.reject_bulk(uow, part, body.reason, everything=body.all, dry_run=body.dry_run,
                                  expected_version=expected)
        return Outcome(200, BulkRejectResult(
            rejected=0 if body.dry_run else len(done.match_ids), match_ids=done.match_ids, filter=done.bulk_filter,
            dry_run=body.dry_run, correlation_id=uow.correlation_id, events=refs(done.recorded),
        ), None if done.version is None else str(done.version))

    return run_command(request, tracker, user, body.model_dump(mode="json"), work)
