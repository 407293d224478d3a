"""Track records: counts and Brier scores per author and source, and schema.org ClaimReview of a resolution."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tracker.api.deps import get_store
from tracker.api.paging import PathId
from tracker.api.problems import problem
from tracker.projections.tables import propositions, sources
from tracker.service.unit_of_work import NotFound, proposition_stream
from tracker.store import EventStore

router = APIRouter(tags=["scorecard"])
Store = Annotated[EventStore, Depends(get_store)]
RATINGS = {"confirmed": (5, "True"), "refuted": (1, "False"), "annulled": (3, "Undecidable")}


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


def _records(rows: list[Any], key: str) -> list[Record]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, key) or "(no source)"].append(row)
    records = []
    for name, members in sorted(groups.items()):
        statuses: dict[str, int] = defaultdict(int)
        for row in members:
            statuses[row.status] += 1
        scored = [r.brier for r in members if r.brier is not None]
        records.append(Record(
            name=name, propositions=len(members), by_status=dict(sorted(statuses.items())),
            resolved_predictions=sum(1 for r in members if r.kind == "prediction"
                                     and r.outcome in ("confirmed", "refuted")),
            mean_brier=round(sum(scored) / len(scored), 6) if scored else None, brier_count=len(scored),
        ))
    return records


@router.get("/scorecard", response_model=Scorecard)
def scorecard(store: Store) -> Scorecard:
    """Per author and per source: propositions by status, resolved predictions, mean Brier score (and count)."""
    query = sa.select(
        propositions.c.status, propositions.c.kind, propositions.c.outcome, propositions.c.brier,
        sources.c.author, propositions.c.source_id,
    ).select_from(propositions.outerjoin(sources, sources.c.source_id == propositions.c.source_id))
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    return Scorecard(authors=_records(rows, "author"), sources=_records(rows, "source_id"))


@router.get("/propositions/{proposition_id}/claimreview", response_model=dict[str, Any],
            responses={404: {"description": "unknown proposition"},
                       409: {"description": "not resolved (open, or withdrawn)"}})
def claim_review(proposition_id: PathId, store: Store) -> Any:
    """schema.org ClaimReview (JSON-LD) of a proposition resolved confirmed, refuted or annulled."""
    with store.engine.connect() as connection:
        row = connection.execute(
            sa.select(propositions, sources.c.author, sources.c.outlet, sources.c.title, sources.c.url,
                      sources.c.published_at)
            .select_from(propositions.outerjoin(sources, sources.c.source_id == propositions.c.source_id))
            .where(propositions.c.proposition_id == proposition_id)
        ).first()
    if row is None:
        raise NotFound(f"no proposition {proposition_id}")
    if row.outcome not in RATINGS:
        return problem(409, "not-resolved", "Only a resolved proposition has a review",
                       f"proposition {proposition_id} is {row.status}")
    resolved = [e for e in store.read_stream(proposition_stream(proposition_id))
                if e.event_type == "PropositionResolved"][-1]
    value, label = RATINGS[row.outcome]
    item: dict[str, Any] = {"@type": "Claim"}
    if row.author:
        item["author"] = {"@type": "Person", "name": row.author}
        item["datePublished"] = row.published_at[:10]
        item["appearance"] = {"@type": "CreativeWork", "headline": row.title, "url": row.url,
                              "publisher": {"@type": "Organization", "name": row.outlet}}
    body = {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "claimReviewed": row.statement,
        "datePublished": resolved.recorded_at[:10],
        "author": {"@type": "Organization", "name": "Policy Tracker"},
        "reviewRating": {"@type": "Rating", "ratingValue": value, "bestRating": 5, "worstRating": 1,
                         "alternateName": label},
        "itemReviewed": item,
        "reviewBody": resolved.payload.get("note") or None,
    }
    return JSONResponse(body, media_type="application/ld+json")
