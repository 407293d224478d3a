"""The Evidence aggregate: one news item, however many feeds it was seen in."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from tracker.domain.errors import InvalidCommand
from tracker.domain.events import Event

# Negations and "against" stay: they distinguish opposite headlines.
STOPWORDS = frozenset(
    """a an the and or but of in on at to for from by with as is are was were be been it its this that these those
    into over after before about amid says said say will would could can may might has have had
    than then so if live update updates""".split()
)


def fold_text(text: str) -> str:
    """Casefold and strip combining marks (é -> e, й -> и); scripts are kept, so Cyrillic stays Cyrillic."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def title_key(title: str) -> str:
    """Folded words without punctuation or stopwords: 'Kremlin says: NO deal!' -> 'kremlin no deal'.

    Two items whose titles have the same key within a few days are the same story (ingestion's dedupe), and
    the evidence read model stores the key to find them."""
    words = re.findall(r"\w+", fold_text(title))
    return " ".join(w for w in words if w not in STOPWORDS)


@dataclass(frozen=True)
class IngestEvidence:
    evidence_id: str
    title: str
    link: str | None
    summary: str
    published_at: str
    published_is_fetch_time: bool
    feed: str
    guid: str
    language: str | None
    content_hash: str


@dataclass(frozen=True)
class Evidence:
    evidence_id: str
    title: str
    link: str | None
    summary: str
    published_at: str
    published_is_fetch_time: bool
    feed: str
    guid: str
    language: str | None
    content_hash: str
    sightings: tuple[tuple[str, str], ...] = ()  # (feed, guid) pairs, first sighting included


def decide(state: Evidence | None, command: IngestEvidence) -> list[Event]:
    """A new item is ingested; a known one seen in another feed adds a sighting; a repeat adds nothing."""
    if not command.title.strip() and not command.summary.strip():
        raise InvalidCommand("an evidence item needs a title or a summary")
    if state is None:
        return [Event("EvidenceIngested", dict(vars(command)))]
    if (command.feed, command.guid) in state.sightings or any(f == command.feed for f, _ in state.sightings):
        return []
    return [Event("EvidenceSighted", {"feed": command.feed, "guid": command.guid, "link": command.link})]


def evolve(state: Evidence | None, event: Event) -> Evidence:
    data = event.data
    if event.type == "EvidenceIngested":
        return Evidence(**data, sightings=((data["feed"], data["guid"]),))
    assert state is not None
    if event.type == "EvidenceSighted":
        return replace(state, sightings=(*state.sightings, (data["feed"], data["guid"])))
    raise ValueError(f"unknown event type {event.type}")
