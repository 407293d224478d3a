"""Response bodies of the proposition endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    position: int = Field(description="highest event position in the store", examples=[42])


class PropositionSummary(BaseModel):
    id: str = Field(examples=["ceasefire-not-respected"])
    kind: str = Field(examples=["prediction"])
    statement: str
    status: str = Field(examples=["open"])
    source_id: str | None = None
    actors: list[str]
    topics: list[str]
    probability: float | None = None
    resolve_by: str | None = None
    overdue: bool
    evidence: dict[str, int] = Field(examples=[{"supports": 1, "contradicts": 0, "context": 2}])
    awaiting_review: int
    version: int


class PropositionPage(BaseModel):
    items: list[PropositionSummary]
    next_cursor: str | None = Field(None, description="pass as `cursor` to get the next page")


class PropositionDetail(PropositionSummary):
    locator: dict[str, Any] | None = None
    stated_confidence: dict[str, Any] | None = None
    condition: str | None = None
    resolution_criteria: str | None = None
    match_profile: dict[str, Any] | None = None
    resolution: dict[str, Any] | None = None
    as_of: str | None = None


class HistoryEntry(BaseModel):
    position: int
    stream_version: int
    event_type: str
    actor: str
    occurred_at: str
    recorded_at: str
    payload: dict[str, Any]
