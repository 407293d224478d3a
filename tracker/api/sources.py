"""Intake of new articles: register a source with its text, review the candidates found in it, accept one.

Storage decision: the text is not kept. `SourceRegistered` records its SHA-256; the candidates found at
registration (kind, locator, hedge, actors, resolve-by, and the sentence itself so the editor can read it)
are kept as JSON rows in the operational table `api_candidates`, written in the same transaction as the
event. Extraction is deterministic, so resubmitting the same text (its hash must match) gives the same
candidates. Accepting a candidate registers a proposition with the candidate's locator and marks the row,
in one transaction; a second accept is refused (409).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field

from tracker.api.auth import require
from tracker.api.bodies import Body, Identifier, Kind, Label, MatchProfile, Note, StatedConfidence, Statement, Url
from tracker.api.bodies import text as limited_text
from tracker.api.commanding import Outcome, run_command
from tracker.api.commands import backfill_later, refs, register_in, result, slug_for
from tracker.api.deps import get_app_settings, get_tracker
from tracker.api.paging import PathId
from tracker.api.schemas import CommandResult, RecordedRef
from tracker.api.tables import api_candidates
from tracker.api.users import User
from tracker.config import Settings
from tracker.domain import proposition as domain
from tracker.domain.confidence import negate
from tracker.domain.errors import InvalidTransition
from tracker.domain.source import RegisterSource
from tracker.extract import MAX_TEXT, extract
from tracker.service.unit_of_work import NotFound, Tracker, UnitOfWork, source_stream
from tracker.store.envelope import iso, parse_iso

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


class AlreadyAccepted(InvalidTransition):
    """The candidate became a proposition already."""

    code = "candidate-already-accepted"


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


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_id_for(body: SourceBody, digest: str) -> str:
    words = re.findall(r"[a-z0-9]+", body.outlet.lower())[:4]
    day = body.published_at.date() if isinstance(body.published_at, datetime) else body.published_at
    return "-".join([*words, day.isoformat(), digest[:6]])


def _published(value: date | datetime) -> tuple[str, datetime]:
    """The ISO string recorded and the occurred_at of the event (UTC midnight for a bare date)."""
    if isinstance(value, datetime):
        return iso(value), parse_iso(iso(value))
    return value.isoformat(), parse_iso(f"{value.isoformat()}T00:00:00Z")


def _candidate_out(data: dict[str, Any]) -> CandidateOut:
    return CandidateOut(**{k: data.get(k) for k in CandidateOut.model_fields})


def _rows(connection: sa.Connection, source_id: str) -> list[dict[str, Any]]:
    rows = connection.execute(
        sa.select(api_candidates.c.candidate).where(api_candidates.c.source_id == source_id)
        .order_by(api_candidates.c.n)
    ).all()
    return [json.loads(r.candidate) for r in rows]


@router.post("/sources", response_model=SourceCreated, status_code=201, responses=ERRORS)
def register_source(body: SourceBody, request: Request, user: Editor, tracker: Track) -> JSONResponse:
    """Record an article (its text's SHA-256, not the text) and return the candidate propositions found in it."""
    digest = text_sha256(body.text)
    source_id = body.id or source_id_for(body, digest)
    published, occurred = _published(body.published_at)
    command = RegisterSource(source_id=source_id, outlet=" ".join(body.outlet.split()), author=body.author,
                             title=" ".join(body.title.split()), published_at=published, url=body.url,
                             text_sha256=digest)
    found = [{**c.as_dict(), "text": body.text[c.start:c.end], "accepted_as": None}
             for c in extract(body.text, occurred.date())]

    def work(uow: UnitOfWork, _: int | None) -> Outcome:
        recorded = uow.execute(source_stream(source_id), command, expected_version=0, occurred_at=occurred)
        if found:
            uow.connection.execute(api_candidates.insert(), [
                {"source_id": source_id, "n": c["n"], "candidate": json.dumps(c, ensure_ascii=False)} for c in found
            ])
        return Outcome(201, SourceCreated(source_id=source_id, text_sha256=digest,
                                          candidates=[_candidate_out(c) for c in found], events=refs(recorded)))

    return run_command(request, tracker, user, body.model_dump(mode="json"), work)


@router.get("/sources/{source_id}/candidates", response_model=CandidateList, responses={404: ERRORS[404]})
def list_candidates(source_id: PathId, user: Editor, tracker: Track) -> CandidateList:
    """The candidates found when the source was registered, with the proposition each became (if any)."""
    if tracker.load(source_stream(source_id)).state is None:
        raise NotFound(f"no source {source_id}")
    with tracker.store.engine.connect() as connection:
        rows = _rows(connection, source_id)
    return CandidateList(source_id=source_id, candidates=[_candidate_out(c) for c in rows])


def _stated(body: AcceptBody, candidate: dict[str, Any]) -> dict[str, Any] | None:
    if body.stated_confidence is not None:
        return body.stated_confidence.model_dump(exclude_none=True)
    hedge = candidate.get("hedge")
    if not hedge:
        return None
    stated = {"phrase": hedge["phrase"], "probability": hedge["probability"], "negated": body.negated}
    if body.negated:
        stated["probability"] = negate(hedge["probability"])
    if hedge.get("scale"):
        stated["scale"] = hedge["scale"]
    return stated


def accept_command(source_id: str, candidate: dict[str, Any], body: AcceptBody) -> domain.RegisterProposition:
    statement = " ".join(body.statement.split())
    resolve_by = body.resolve_by.isoformat() if body.resolve_by else candidate.get("resolve_by")
    return domain.RegisterProposition(
        proposition_id=body.id or slug_for(statement), kind=body.kind or candidate["kind"], statement=statement,
        source_id=source_id, actors=tuple(body.actors if body.actors is not None else candidate.get("actors", ())),
        topics=tuple(body.topics), locator=candidate["locator"], stated_confidence=_stated(body, candidate),
        condition=body.condition, resolve_by=resolve_by, resolution_criteria=body.resolution_criteria,
        match_profile=body.match_profile.model_dump(exclude_none=True) if body.match_profile else None,
    )


@router.post("/sources/{source_id}/candidates/{n}/accept", response_model=CommandResult, status_code=201,
             responses=ERRORS)
def accept_candidate(source_id: PathId, n: CandidateNumber, body: AcceptBody, request: Request, user: Editor,
                     tracker: Track, settings: Config) -> JSONResponse:
    """Register a proposition from candidate `n`, in our own words, with the candidate's locator and hedge."""
    chosen: dict[str, str] = {}

    def work(uow: UnitOfWork, _: int | None) -> Outcome:
        key = (api_candidates.c.source_id == source_id) & (api_candidates.c.n == n)
        row = uow.connection.execute(sa.select(api_candidates.c.candidate).where(key)).first()
        if row is None:
            if uow.load(source_stream(source_id)).state is None:
                raise NotFound(f"no source {source_id}")
            raise NotFound(f"source {source_id} has no candidate {n}")
        candidate = json.loads(row.candidate)
        if candidate.get("accepted_as"):
            raise AlreadyAccepted(f"candidate {n} of {source_id} is proposition {candidate['accepted_as']} already")
        command = accept_command(source_id, candidate, body)
        recorded = register_in(uow, command)
        candidate["accepted_as"] = command.proposition_id
        uow.connection.execute(api_candidates.update().where(key).values(
            candidate=json.dumps(candidate, ensure_ascii=False)))
        chosen["id"] = command.proposition_id
        return result(uow, command.proposition_id, recorded, 201)

    def after() -> None:
        if "id" in chosen:
            backfill_later(tracker, settings, chosen["id"])()

    return run_command(request, tracker, user, body.model_dump(mode="json"), work, after=after)
