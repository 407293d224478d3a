"""The Source aggregate: an article whose propositions we track."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.domain.errors import InvalidCommand, InvalidTransition
from tracker.domain.events import Event


@dataclass(frozen=True)
class RegisterSource:
    source_id: str
    outlet: str
    author: str
    title: str
    published_at: str
    url: str | None
    text_sha256: str


@dataclass(frozen=True)
class Source:
    source_id: str
    outlet: str
    author: str
    title: str
    published_at: str
    url: str | None
    text_sha256: str


def decide(state: Source | None, command: RegisterSource) -> list[Event]:
    if state is not None:
        raise InvalidTransition(f"source {command.source_id} is already registered")
    if not command.title.strip() or not command.outlet.strip():
        raise InvalidCommand("a source needs a title and an outlet")
    if len(command.text_sha256) != 64:
        raise InvalidCommand("text_sha256 must be a SHA-256 hex digest")
    return [Event("SourceRegistered", dict(vars(command)))]


def evolve(state: Source | None, event: Event) -> Source:
    if event.type == "SourceRegistered":
        return Source(**event.data)
    raise ValueError(f"unknown event type {event.type}")
