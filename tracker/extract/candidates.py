"""From a text to candidate propositions: sentence, kind, hedge, actors, horizon, locator (pure, no I/O).

Locators follow tracker/seeding.py: Python string offsets [start, end) into the text exactly as given,
the 1-based line (paragraph) holding `start`, and the SHA-256 of the UTF-8 span. The candidate carries no
text; callers that may show it (the API, to the editor who submitted it) take `text[start:end]` themselves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tracker.extract.actors import FUZZY_NAMES, actors_in
from tracker.extract.classify import CUE_WORDS, classify
from tracker.extract.hedges import HEDGE_WORDS, Hedge, hedge_in
from tracker.extract.horizon import Horizon, dates_in, horizon_in, mentions
from tracker.extract.normalise import matching_form
from tracker.extract.segment import sentences

VOCABULARY = tuple(sorted(HEDGE_WORDS | CUE_WORDS | {"prospect", "evidence", "ceasefire", "cease-fire"}))
MIN_SCORE = 0.1
MAX_TEXT = 200_000  # characters; longer texts are refused by the API


@dataclass(frozen=True)
class Candidate:
    n: int
    kind: str
    start: int
    end: int
    paragraph: int
    sha256: str
    score: float
    hedge: Hedge | None = None
    actors: tuple[str, ...] = ()
    resolve_by: str | None = None
    resolve_by_basis: str | None = None
    votes: dict[str, float] = field(default_factory=dict)

    @property
    def locator(self) -> dict[str, Any]:
        return {"paragraph": self.paragraph, "start": self.start, "end": self.end, "sha256": self.sha256}

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "kind": self.kind, "score": self.score, "locator": self.locator,
            "hedge": self.hedge.as_dict() if self.hedge else None, "actors": list(self.actors),
            "resolve_by": self.resolve_by, "resolve_by_basis": self.resolve_by_basis, "votes": self.votes,
        }


def span_sha256(text: str, start: int, end: int) -> str:
    """The same digest as tracker.seeding.span_hash."""
    return hashlib.sha256(text[start:end].encode("utf-8")).hexdigest()


def extract(text: str, published: date | None = None, *, min_score: float = MIN_SCORE) -> list[Candidate]:
    """Candidates in text order, numbered from 1; sentences classified `none` are left out."""
    vocabulary = VOCABULARY + tuple(FUZZY_NAMES)
    year = published.year if published else None
    anchor: date | None = None
    horizons: list[Horizon] = []
    found: list[Candidate] = []
    for sentence in sentences(text):
        original = text[sentence.start:sentence.end]
        matching = matching_form(original, vocabulary)
        named = dates_in(matching, year)
        # A span ("a 30-day pause") counts from a date in its own sentence, else from the last dated event.
        horizon = horizon_in(matching, named[0] if named else anchor, published)
        if named:
            anchor = named[-1]
            year = year or anchor.year
        if horizon is not None and horizon.thing:
            horizons.append(horizon)
        verdict = classify(original, matching)
        if verdict.kind == "none" or verdict.score < min_score:
            continue
        if horizon is None and verdict.kind == "prediction":
            horizon = next((h for h in reversed(horizons) if h.thing and mentions(matching, h.thing)), None)
        found.append(Candidate(
            n=len(found) + 1, kind=verdict.kind, start=sentence.start, end=sentence.end,
            paragraph=sentence.paragraph, sha256=span_sha256(text, sentence.start, sentence.end),
            score=verdict.score, hedge=hedge_in(matching), actors=tuple(actors_in(original, matching)),
            resolve_by=horizon.resolve_by.isoformat() if horizon else None,
            resolve_by_basis=horizon.basis if horizon else None, votes=verdict.votes,
        ))
    return found
