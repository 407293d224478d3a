"""The review queue and its commands (confirm, reject, retract), and evidence attached by hand."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from tracker.api import paging
from tracker.api.auth import require
from tracker.api.bodies import ConfirmBody, EvidenceBody, RejectBody
from tracker.api.commanding import Outcome, run_command
from tracker.api.commands import ERRORS, Editor, Track, refs, result
from tracker.api.deps import get_store
from tracker.api.schemas import CommandResult, MatchEvidence, MatchItem, MatchPage, MatchProposition
from tracker.domain import evidence as evidence_domain
from tracker.domain import proposition as domain
from tracker.ingest.normalise import canonical_link
from tracker.projections.tables import evidence, matches, propositions
from tracker.service.unit_of_work import NotFound, UnitOfWork, evidence_stream, proposition_stream
from tracker.store import EventStore
from tracker.store.envelope import iso

router = APIRouter(tags=["review"])
Reader = Depends(require("reader"))
MANUAL_FEED = "manual"


@router.get("/matches", response_model=MatchPage, dependencies=[Reader])
def review_queue(
    store: Annotated[EventStore, Depends(get_store)],
    state: Annotated[str, Query(pattern="^(suggested|confirmed|rejected|retracted)$")] = "suggested",
    proposition_id: paging.Filter = None,
    limit: paging.Limit = 50,
    cursor: paging.Cursor = None,
) -> MatchPage:
    """Matches in one state, best first (highest score, then id): each with its evidence, its proposition
    and the matcher's explanation. Follow `next_cursor`; a page never repeats a match of an earlier page."""
    query = (
        sa.select(matches, evidence.c.title, evidence.c.link, evidence.c.feed, evidence.c.published_at,
                  propositions.c.statement, propositions.c.status, propositions.c.version)
        .select_from(
            matches.outerjoin(evidence, evidence.c.evidence_id == matches.c.evidence_id)
            .outerjoin(propositions, propositions.c.proposition_id == matches.c.proposition_id)
        )
        .where(matches.c.state == state)
        .order_by(matches.c.score.desc(), matches.c.match_id)
        .limit(limit + 1)
    )
    if proposition_id:
        query = query.where(matches.c.proposition_id == proposition_id)
    if cursor:
        score, match_id = paging.decode(cursor, float | int, str)
        query = query.where(sa.or_(
            matches.c.score < score, sa.and_(matches.c.score == score, matches.c.match_id > match_id),
        ))
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return MatchPage(
        items=[_item(r) for r in rows],
        next_cursor=paging.encode(rows[-1].score, rows[-1].match_id) if more else None,
    )


def _item(row: Any) -> MatchItem:
    return MatchItem(
        id=row.match_id, state=row.state, score=row.score, suggested_stance=row.suggested_stance,
        stance=row.stance, automatic=bool(row.automatic), explanation=json.loads(row.explanation),
        evidence=MatchEvidence(id=row.evidence_id, title=row.title, link=row.link, feed=row.feed,
                               published_at=row.published_at),
        proposition=MatchProposition(id=row.proposition_id, statement=row.statement, status=row.status,
                                     version=row.version),
    )


def _proposition_of(uow: UnitOfWork, match_id: str) -> str:
    found = uow.connection.execute(
        sa.select(matches.c.proposition_id).where(matches.c.match_id == match_id)
    ).scalar()
    if found is None:
        raise NotFound(f"no match {match_id}")
    return found


def _on_match(request: Request, tracker: Any, user: Any, match_id: str, body: Any, make: Any) -> JSONResponse:
    def work(uow: UnitOfWork, expected: int | None) -> Outcome:
        proposition_id = _proposition_of(uow, match_id)
        recorded = uow.execute(proposition_stream(proposition_id), make(), expected_version=expected)
        return result(uow, proposition_id, recorded, match_id=match_id)

    return run_command(request, tracker, user, body.model_dump(mode="json"), work)


MATCH_ERRORS = {**ERRORS, 404: {"description": "unknown match"}}


@router.post("/matches/{match_id}/confirm", response_model=CommandResult, responses=MATCH_ERRORS)
def confirm(match_id: paging.PathId, body: ConfirmBody, request: Request, user: Editor, tracker: Track) -> JSONResponse:
    """Confirm a suggestion with a stance; the status moves at once when the evidence warrants it.
    If-Match takes the proposition's version (the ETag of GET /propositions/{id}, or `proposition.version`
    in the queue)."""
    return _on_match(request, tracker, user, match_id, body,
                     lambda: domain.ConfirmMatch(match_id=match_id, stance=body.stance, note=body.note))


@router.post("/matches/{match_id}/reject", response_model=CommandResult, responses=MATCH_ERRORS)
def reject(match_id: paging.PathId, request: Request, user: Editor, tracker: Track,
           body: RejectBody | None = None) -> JSONResponse:
    """Reject a suggestion; the pair is never suggested again."""
    body = body or RejectBody()
    return _on_match(request, tracker, user, match_id, body,
                     lambda: domain.RejectMatch(match_id=match_id, reason=body.reason))


@router.post("/matches/{match_id}/retract", response_model=CommandResult, responses=MATCH_ERRORS)
def retract(match_id: paging.PathId, request: Request, user: Editor, tracker: Track,
            body: RejectBody | None = None) -> JSONResponse:
    """Withdraw an earlier confirmation (the status is derived again without it)."""
    body = body or RejectBody()
    return _on_match(request, tracker, user, match_id, body,
                     lambda: domain.RetractMatch(match_id=match_id, reason=body.reason))


@router.post("/propositions/{proposition_id}/evidence", response_model=CommandResult, status_code=201,
             responses=ERRORS, tags=["review"])
def attach_evidence(proposition_id: paging.PathId, body: EvidenceBody, request: Request, user: Editor,
                    tracker: Track) -> JSONResponse:
    """Attach evidence by hand: the item is ingested (or found by its canonical link), suggested and confirmed
    with the stance given, all in one unit of work."""
    # The same canonical form as ingestion, so a hand-attached item and a feed item are one story.
    link = canonical_link(body.url)
    if link is None:
        from tracker.api.problems import Invalid

        raise Invalid("invalid-url", "the URL must be an absolute http(s) link")
    published = body.published_at if body.published_at.tzinfo else body.published_at.replace(tzinfo=UTC)

    def work(uow: UnitOfWork, expected: int | None) -> Outcome:
        stream = proposition_stream(proposition_id)
        state: domain.Proposition | None = uow.load(stream).state
        if state is None:
            raise NotFound(f"no proposition {proposition_id}")
        if expected is not None and expected != uow.load(stream).version:
            from tracker.store import ConcurrencyError

            raise ConcurrencyError(stream, expected, uow.load(stream).version)
        evidence_id = uow.connection.execute(
            sa.select(evidence.c.evidence_id).where(evidence.c.link == link).limit(1)
        ).scalar() or "manual-" + hashlib.sha256(link.encode()).hexdigest()[:20]
        recorded = uow.execute(evidence_stream(evidence_id), evidence_domain.IngestEvidence(
            evidence_id=evidence_id, title=" ".join(body.title.split()), link=link, summary=body.summary,
            published_at=iso(published), published_is_fetch_time=False, feed=MANUAL_FEED, guid=link,
            language=None,
            content_hash=hashlib.sha256(f"{body.title}\n{body.summary}".encode()).hexdigest(),
        ), occurred_at=published)
        match_id = domain.match_id_for(proposition_id, evidence_id)
        existing = state.matches.get(match_id) or next(
            (m for m in state.matches.values() if m.evidence_id == evidence_id), None)
        if existing is None:
            recorded += uow.execute(stream, domain.SuggestMatch(
                match_id=match_id, evidence_id=evidence_id, score=1.0,
                explanation={"manual": True, "attached_by": user.actor},
            ))
        else:
            match_id = existing.match_id  # confirm the matcher's suggestion, or be refused if already decided
        recorded += uow.execute(stream, domain.ConfirmMatch(match_id=match_id, stance=body.stance, note=body.note))
        body_out = result(uow, proposition_id, [], 201, match_id=match_id, evidence_id=evidence_id)
        body_out.body.events = refs(recorded)  # type: ignore[attr-defined]
        return body_out

    return run_command(request, tracker, user, body.model_dump(mode="json"), work)
