"""Track records: counts and Brier scores per author and source, and schema.org ClaimReview of a resolution."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tracker.api.deps import get_store
from tracker.api.paging import PathId
from tracker.api.problems import problem
from tracker.queries import scorecard as queries
from tracker.store import EventStore
from tracker.web.claimreview import RATINGS, claim_review_document

router = APIRouter(tags=["scorecard"])
Store = Annotated[EventStore, Depends(get_store)]



class Record(BaseModel):
    name: str = Field(examples=["Laurie Bristow"])
    propositions: int
    by_status: dict[str, int] = Field(examples=[{"open": 12, "confirmed": 2}])
    resolved_predictions: int = Field(description="predictions resolved confirmed or refuted")
    mean_brier: float | None = Field(None, description="lower is better; null when nothing is scored")
    brier_count: int = Field(description="how many scores the mean rests on")


class Scorecard(BaseModel):
    authors: list[Record]
    sources: list[Record]


def _record(record: queries.Record) -> Record:
    return Record(name=record.name, propositions=record.propositions, by_status=record.by_status,
                  resolved_predictions=record.resolved_predictions, mean_brier=record.mean_brier,
                  brier_count=record.brier_count)


@router.get("/scorecard", response_model=Scorecard)
def scorecard(store: Store) -> Scorecard:
    """Per author and per source: propositions by status, resolved predictions, mean Brier score (and count)."""
    found = queries.scorecard(store.engine)
    return Scorecard(authors=[_record(r) for r in found.authors], sources=[_record(r) for r in found.sources])


@router.get("/propositions/{proposition_id}/claimreview", response_model=dict[str, Any],
            responses={200: {"description": "schema.org ClaimReview", "content": {"application/ld+json": {}}},
                       404: {"description": "unknown proposition"},
                       409: {"description": "not resolved (open, or withdrawn)"}})
def claim_review(proposition_id: PathId, store: Store) -> Any:
    """schema.org ClaimReview (JSON-LD) of a proposition resolved confirmed, refuted or annulled."""
    claim = queries.reviewed_claim(store, proposition_id, frozenset(RATINGS))
    if claim.outcome not in RATINGS:
        return problem(409, "not-resolved", "Only a resolved proposition has a review",
                       f"proposition {proposition_id} is {claim.status}")
    body = claim_review_document(
        outcome=claim.outcome, statement=claim.statement, resolved_at=claim.resolved_at, author=claim.author,
        published_at=claim.published_at, title=claim.title, url=claim.url, outlet=claim.outlet,
    )
    assert body is not None  # resolved, checked above
    body["reviewBody"] = claim.note or None
    return JSONResponse(body, media_type="application/ld+json")
