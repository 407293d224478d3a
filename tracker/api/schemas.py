"""Response bodies of the proposition endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    position: int = Field(description="highest event position in the store", examples=[42])
    leader: bool | None = Field(None, description="whether this replica runs the scheduled jobs (null: no scheduler)")


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


class EvidenceWindow(BaseModel):
    """Items published outside these days (UTC, inclusive; null: open) are never suggested."""

    not_before: str | None = Field(None, examples=["2025-03-19"])
    not_after: str | None = Field(None, examples=["2025-06-30"])


class PropositionDetail(PropositionSummary):
    locator: dict[str, Any] | None = None
    stated_confidence: dict[str, Any] | None = None
    condition: str | None = None
    resolution_criteria: str | None = None
    match_profile: dict[str, Any] | None = None
    resolution: dict[str, Any] | None = None
    as_of: str | None = None
    muted: bool = Field(False, description="an editor muted matching: no new suggestions (queued ones stay)")
    muted_reason: str | None = None
    evidence_window: EvidenceWindow = Field(default_factory=EvidenceWindow)


class HistoryEntry(BaseModel):
    position: int
    stream_version: int
    event_type: str
    actor: str
    occurred_at: str
    recorded_at: str
    payload: dict[str, Any]


# ---- commands and review ---------------------------------------------------------------------------

class RecordedRef(BaseModel):
    position: int
    stream_id: str = Field(examples=["proposition-ceasefire-not-respected"])
    stream_version: int
    event_type: str = Field(examples=["MatchConfirmed"])


class CommandResult(BaseModel):
    """The proposition after the command (its `version` is the new ETag) and the events appended."""

    proposition: PropositionDetail
    events: list[RecordedRef]
    match_id: str | None = None
    evidence_id: str | None = None
    warnings: list[str] = Field(default_factory=list, description="work after the command that failed (the "
                                "command itself was recorded), e.g. the suggestion backfill; also in the "
                                "Tracker-Warning header")


class BulkRejectResult(BaseModel):
    """A bulk reject: one MatchRejected per match, all in one transaction under one correlation id, each
    recording the filter as `bulk_filter` (with dry_run: what would be rejected; nothing written)."""

    rejected: int = Field(examples=[12])
    match_ids: list[str]
    filter: dict[str, Any] = Field(examples=[{"state": "suggested", "feed": "wire", "max_score": 0.5}])
    dry_run: bool = False
    correlation_id: str | None = None
    events: list[RecordedRef]


class MatchEvidence(BaseModel):
    id: str
    title: str | None = None
    link: str | None = None
    feed: str | None = None
    published_at: str | None = Field(None, examples=["2025-03-25T08:00:00Z"])


class MatchProposition(BaseModel):
    id: str
    statement: str | None = None
    status: str | None = None
    version: int | None = None


class MatchItem(BaseModel):
    id: str = Field(examples=["3f9a0c1d2e4b5a6c7d8e"])
    state: str = Field(examples=["suggested"])
    score: float = Field(examples=[0.62])
    suggested_stance: str | None = None
    stance: str | None = None
    automatic: bool = Field(False, description="confirmed by system:matcher, not yet reviewed by an editor")
    explanation: dict[str, Any] = Field(default_factory=dict)
    evidence: MatchEvidence
    proposition: MatchProposition


class MatchPage(BaseModel):
    items: list[MatchItem]
    next_cursor: str | None = None


class EvidenceSummary(BaseModel):
    id: str
    title: str
    link: str | None = None
    summary: str
    published_at: str
    feed: str
    language: str | None = None
    sightings: int


class EvidencePage(BaseModel):
    items: list[EvidenceSummary]
    next_cursor: str | None = None


class FeedSummary(BaseModel):
    id: str = Field(examples=["kyiv-independent"])
    name: str
    url: str | None = None
    interval_minutes: int
    tags: list[str]
    enabled: bool
    disabled_reason: str | None = None
    version: int


class FeedPage(BaseModel):
    items: list[FeedSummary]
    next_cursor: str | None = None


class FeedCreated(BaseModel):
    feed: FeedSummary
    events: list[RecordedRef]


class FetchResult(BaseModel):
    feed_id: str
    result: str = Field(examples=["fetched"])
    status: int | None = None
    items_new: int = 0
    items_duplicate: int = 0
    items_skipped: int = Field(0, description="entries that cannot become evidence (the pass goes on)")
    skipped_reasons: dict[str, int] = Field(default_factory=dict, examples=[{"no title or summary": 2}])
    sightings: int = 0
    matches: int = 0
    auto_confirmed: int = 0
    error: str | None = None


class UserCreated(BaseModel):
    name: str
    role: str
    token: str = Field(description="shown once; only its SHA-256 is stored")


class UserSummary(BaseModel):
    name: str
    role: str
    created_at: str
    revoked_at: str | None = None


# ---- errors -----------------------------------------------------------------------------------------

class InvalidField(BaseModel):
    loc: list[str] = Field(examples=[["query", "limit"]], description="body, query, path or header, then the field")
    msg: str = Field(examples=["Input should be less than or equal to 200"])


class Problem(BaseModel):
    """RFC 9457 problem details: every error is `application/problem+json` in this shape."""

    type: str = Field(description="stable URI of the kind of problem; branch on this, not on `title`",
                      examples=["https://policy-tracker.example/problems/invalid-cursor"])
    title: str = Field(description="short summary of the kind of problem", examples=["The cursor is not valid"])
    status: int = Field(ge=400, le=599, description="the HTTP status code", examples=[422])
    detail: str | None = Field(None, description="what went wrong with this request",
                               examples=["pass `next_cursor` from a previous page unchanged"])
    instance: str | None = Field(None, description="the request this problem occurred in")
    errors: list[InvalidField] | None = Field(
        None, description="`invalid-request` only: every field that failed validation")
