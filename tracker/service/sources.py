"""Intake use cases: register a source with its text (keeping the candidates found in it), accept a candidate.

The text is not kept: `SourceRegistered` records its SHA-256, and the candidates (kind, locator, hedge, actors,
resolve-by, and the sentence itself so the editor can read it) are JSON rows in the operational table
`api_candidates`, written in the command's transaction. Extraction is deterministic, so resubmitting the same
text gives the same candidates. Accepting one registers a proposition and marks the row, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from tracker.domain import proposition as domain
from tracker.domain.confidence import negate
from tracker.domain.errors import InvalidTransition
from tracker.domain.source import RegisterSource
from tracker.extract import extract
from tracker.repository.tables import api_candidates
from tracker.repository.unit_of_work import NotFound, UnitOfWork, source_stream
from tracker.service import propositions
from tracker.store import RecordedEvent
from tracker.store.envelope import iso, parse_iso


class AlreadyAccepted(InvalidTransition):
    """The candidate became a proposition already."""

    code = "candidate-already-accepted"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_id_for(outlet: str, published_at: date | datetime, digest: str) -> str:
    """outlet words, publication day and the text hash's first characters."""
    words = re.findall(r"[a-z0-9]+", outlet.lower())[:4]
    day = published_at.date() if isinstance(published_at, datetime) else published_at
    return "-".join([*words, day.isoformat(), digest[:6]])


def _published(value: date | datetime) -> tuple[str, datetime]:
    """The ISO string recorded and the occurred_at of the event (UTC midnight for a bare date)."""
    if isinstance(value, datetime):
        return iso(value), parse_iso(iso(value))
    return value.isoformat(), parse_iso(f"{value.isoformat()}T00:00:00Z")


@dataclass(frozen=True)
class PreparedSource:
    """A source ready to register: its command, when it happened, and the candidates found in its text."""

    command: RegisterSource
    occurred_at: datetime
    candidates: list[dict[str, Any]]

    @property
    def source_id(self) -> str:
        return self.command.source_id


def prepare_source(*, source_id: str | None, title: str, outlet: str, author: str, published_at: date | datetime,
                   url: str | None, text: str) -> PreparedSource:
    """Hash the text and extract its candidates, outside any transaction (extraction is the slow part)."""
    digest = text_sha256(text)
    source_id = source_id or source_id_for(outlet, published_at, digest)
    published, occurred = _published(published_at)
    command = RegisterSource(source_id=source_id, outlet=" ".join(outlet.split()), author=author,
                             title=" ".join(title.split()), published_at=published, url=url, text_sha256=digest)
    found = [{**c.as_dict(), "text": text[c.start:c.end], "accepted_as": None}
             for c in extract(text, occurred.date())]
    return PreparedSource(command, occurred, found)


def register_source(uow: UnitOfWork, prepared: PreparedSource) -> list[RecordedEvent]:
    """The SourceRegistered event and the candidate rows, together (a registered id: the domain refuses)."""
    recorded = uow.execute(source_stream(prepared.source_id), prepared.command, expected_version=0,
                           occurred_at=prepared.occurred_at)
    if prepared.candidates:
        uow.connection.execute(api_candidates.insert(), [
            {"source_id": prepared.source_id, "n": c["n"], "candidate": json.dumps(c, ensure_ascii=False)}
            for c in prepared.candidates
        ])
    return recorded


@dataclass(frozen=True)
class Acceptance:
    """A candidate in our own words: the statement is required; None elsewhere takes the candidate's value."""

    statement: str
    proposition_id: str | None = None
    kind: str | None = None
    actors: list[str] | None = None
    topics: list[str] | None = None
    resolve_by: str | None = None
    condition: str | None = None
    resolution_criteria: str | None = None
    match_profile: dict[str, Any] | None = None
    stated_confidence: dict[str, Any] | None = None  # overrides the candidate's hedge
    negated: bool = False  # the statement says the opposite of the sentence: the hedge's probability flips


def _stated(choice: Acceptance, candidate: dict[str, Any]) -> dict[str, Any] | None:
    if choice.stated_confidence is not None:
        return choice.stated_confidence
    hedge = candidate.get("hedge")
    if not hedge:
        return None
    stated = {"phrase": hedge["phrase"], "probability": hedge["probability"], "negated": choice.negated}
    if choice.negated:
        stated["probability"] = negate(hedge["probability"])
    if hedge.get("scale"):
        stated["scale"] = hedge["scale"]
    return stated


def accept_command(source_id: str, candidate: dict[str, Any], choice: Acceptance) -> domain.RegisterProposition:
    statement = " ".join(choice.statement.split())
    return domain.RegisterProposition(
        proposition_id=choice.proposition_id or propositions.slug_for(statement),
        kind=choice.kind or candidate["kind"], statement=statement, source_id=source_id,
        actors=tuple(choice.actors if choice.actors is not None else candidate.get("actors", ())),
        topics=tuple(choice.topics or ()), locator=candidate["locator"], stated_confidence=_stated(choice, candidate),
        condition=choice.condition, resolve_by=choice.resolve_by or candidate.get("resolve_by"),
        resolution_criteria=choice.resolution_criteria, match_profile=choice.match_profile,
    )


@dataclass(frozen=True)
class Accepted:
    proposition_id: str
    recorded: list[RecordedEvent]


def accept_candidate(uow: UnitOfWork, source_id: str, n: int, choice: Acceptance) -> Accepted:
    """Register a proposition from candidate `n` with its locator and hedge, and mark the candidate taken."""
    key = (api_candidates.c.source_id == source_id) & (api_candidates.c.n == n)
    row = uow.connection.execute(sa.select(api_candidates.c.candidate).where(key)).first()
    if row is None:
        if uow.load(source_stream(source_id)).state is None:
            raise NotFound(f"no source {source_id}")
        raise NotFound(f"source {source_id} has no candidate {n}")
    candidate = json.loads(row.candidate)
    if candidate.get("accepted_as"):
        raise AlreadyAccepted(f"candidate {n} of {source_id} is proposition {candidate['accepted_as']} already")
    command = accept_command(source_id, candidate, choice)
    recorded = propositions.register(uow, command)
    candidate["accepted_as"] = command.proposition_id
    uow.connection.execute(api_candidates.update().where(key).values(
        candidate=json.dumps(candidate, ensure_ascii=False)))
    return Accepted(command.proposition_id, recorded)
