"""Intake of new articles: register a source with its text, review the candidates found in it, accept one.

The text itself is not kept (see tracker/service/sources.py): its SHA-256 is recorded, and the candidates are
kept for review; a second accept of a candidate is refused (409).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field

from tracker.api.auth import require
from tracker.api.bodies import Body, Identifier, Kind, Label, MatchProfile, Note, StatedConfidence, Statement, Url
from tracker.api.bodies import text as limited_text
from tracker.api.commanding import COMMAND, Outcome, run_command
from tracker.api.commands import refs, result
from tracker.api.deps import get_app_settings, get_tracker
from tracker.api.paging import PathId
from tracker.api.schemas import CommandResult, RecordedRef
from tracker.config import Settings
from tracker.extract import MAX_TEXT
from tracker.queries.sources import candidates as source_candidates
from tracker.repository.unit_of_work import Tracker, UnitOfWork
from tracker.service import sources
from tracker.service.propositions import backfill_later
from tracker.service.users import User

router = APIRouter(tags=["sources"])
Editor = Annotated[User, Depends(require("editor"))]
Track = Annotated[Tracker, Depends(get_tracker)]
Config = Annotated[Settings, Depends(get_app_settings)]
CandidateNumber = Annotated[int, Path(ge=1, le=100_000, description="the candidate's `n`")]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown source or candidate"},
    409: {"description": "the source is registered already, or the candidate was accepted already"},
    422: {"description": "invalid body (a text over the size limit included)"},
}


def _has_letters(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


ArticleText = Annotated[limited_text(MAX_TEXT, 1), AfterValidator(_has_letters)]
Name = Annotated[limited_text(500, 1), AfterValidator(_has_letters)]


class SourceBody(Body):
    id: Identifier | None = Field(None, description="lower-case slug; made from outlet, date and text hash when absent",
                                  examples=["example-daily-2025-05-02-ab12cd"])
    title: Name = Field(examples=["What the grain deal tells us about the next winter"])
    outlet: Name = Field(examples=["Example Daily"])
    author: Annotated[limited_text(500), AfterValidator(lambda v: v.strip())] = Field("", examples=["A. Writer"])
    published_at: date | datetime = Field(examples=["2025-05-02"])
    url: Url | None = Field(None, examples=["https://daily.example/2025/05/02/grain-deal"])
    text: ArticleText = Field(description=f"the article's plain text, at most {MAX_TEXT} characters; only its SHA-256 "
                                          "is recorded as an event", examples=[
        "Moscow will almost certainly reject the offer. Kyiv should ask for guarantees first."])


class Hedge(BaseModel):
    phrase: str = Field(examples=["almost certainly"])
    probability: float = Field(ge=0.0, le=1.0, examples=[0.95],
                               description="what the phrase implies on the ICD 203 scale, for the sentence as written")
    scale: str | None = Field(None, description="the ICD 203 entry used when the phrase is not on the scale itself",
                              examples=["will"])


class LocatorOut(BaseModel):
    paragraph: int = Field(examples=[3], description="1-based line of the text")
    start: int = Field(examples=[120], description="offset of the first character (Python str index)")
    end: int = Field(examples=[188], description="offset after the last character")
    sha256: str = Field(examples=["33322a80eb400fcd10bb549647d472ccbfa5f6caf9f4f24f8cefc6acc54b61b8"])


class CandidateOut(BaseModel):
    n: int = Field(examples=[1])
    kind: str = Field(examples=["prediction"])
    score: float = Field(ge=0.0, le=1.0, examples=[0.67], description="confidence in the kind")
    text: str = Field(description="the sentence, from the text you submitted")
    locator: LocatorOut
    hedge: Hedge | None = None
    actors: list[str] = Field(examples=[["Russia", "Ukraine"]])
    resolve_by: str | None = Field(None, examples=["2025-06-01"])
    resolve_by_basis: str | None = Field(None, examples=["30 days after 2025-05-02"])
    accepted_as: str | None = Field(None, description="the proposition registered from it")


class SourceCreated(BaseModel):
    source_id: str = Field(examples=["example-daily-2025-05-02-ab12cd"])
    text_sha256: str
    candidates: list[CandidateOut]
    events: list[RecordedRef]


class CandidateList(BaseModel):
    source_id: str
    candidates: list[CandidateOut]


class AcceptBody(Body):
    """Accept a candidate in our own words: the statement is required; other fields default to the candidate's."""

    statement: Statement = Field(examples=["Russia will reject the offer before June 2025."])
    id: Identifier | None = Field(None, description="proposition id; made from the statement when absent")
    kind: Kind | None = None
    actors: list[Label] | None = Field(None, max_length=50)
    topics: list[Label] = Field(default_factory=list, max_length=50, examples=[["grain-deal"]])
    resolve_by: date | None = None
    condition: Note | None = None
    resolution_criteria: Note | None = None
    match_profile: MatchProfile | None = None
    stated_confidence: StatedConfidence | None = Field(None, description="overrides the candidate's hedge")
    negated: bool = Field(False, description="the statement says the opposite of the sentence, so the hedge's "
                                             "probability is flipped (e.g. 'effectively nil' 0.02 -> 0.98)")


def _candidate_out(data: dict[str, Any]) -> CandidateOut:
    return CandidateOut(**{k: data.get(k) for k in CandidateOut.model_fields})


@router.post("/sources", dependencies=COMMAND, response_model=SourceCreated, status_code=201, responses=ERRORS)
def register_source(body: SourceBody, request: Request, user: Editor, tracker: Track) -> JSONResponse:
    """Record an article (its text's SHA-256, not the text) and return the candidate propositions found in it."""
    prepared = sources.prepare_source(source_id=body.id, title=body.title, outlet=body.outlet, author=body.author,
                                      published_at=body.published_at, url=body.url, text=body.text)

    def work(uow: UnitOfWork, _: int | None) -> Outcome:
        recorded = sources.register_source(uow, prepared)
        return Outcome(201, SourceCreated(
            source_id=prepared.source_id, text_sha256=prepared.command.text_sha256,
            candidates=[_candidate_out(c) for c in prepared.candidates], events=refs(recorded)))

    return run_command(request, tracker, user, body.model_dump(mode="json"), work)


@router.get("/sources/{source_id}/candidates", response_model=CandidateList, responses={404: ERRORS[404]})
def list_candidates(source_id: PathId, user: Editor, tracker: Track) -> CandidateList:
    """The candidates found when the source was registered, with the proposition each became (if any)."""
    found = source_candidates(tracker, source_id)
    return CandidateList(source_id=source_id, candidates=[_candidate_out(c) for c in found])


def _acceptance(body: AcceptBody) -> sources.Acceptance:
    return sources.Acceptance(
        statement=body.statement, proposition_id=body.id, kind=body.kind, actors=body.actors, topics=body.topics,
        resolve_by=body.resolve_by.isoformat() if body.resolve_by else None, condition=body.condition,
        resolution_criteria=body.resolution_criteria,
        match_profile=body.match_profile.model_dump(exclude_none=True) if body.match_profile else None,
        stated_confidence=(body.stated_confidence.model_dump(exclude_none=True)
                           if body.stated_confidence is not None else None),
        negated=body.negated,
    )


@router.post("/sources/{source_id}/candidates/{n}/accept", dependencies=COMMAND,
             response_model=CommandResult, status_code=201,
             responses=ERRORS)
def accept_candidate(source_id: PathId, n: CandidateNumber, body: AcceptBody, request: Request, user: Editor,
                     tracker: Track, settings: Config) -> JSONResponse:
    """Register a proposition from candidate `n`, in our own words, with the candidate's locator and hedge."""
    chosen: dict[str, str] = {}

    def work(uow: UnitOfWork, _: int | None) -> Outcome:
        accepted = sources.accept_candidate(uow, source_id, n, _acceptance(body))
        chosen["id"] = accepted.proposition_id
        return result(uow, accepted.proposition_id, accepted.recorded, 201)

    def after() -> None:
        if "id" in chosen:
            backfill_later(tracker, settings, chosen["id"])()

    return run_command(request, tracker, user, body.model_dump(mode="json"), work, after=after)
