"""Proposition use cases: register (checking its source), any later command on it, and the backfill after."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from tracker.config import Settings
from tracker.domain import proposition as domain
from tracker.repository.errors import Invalid
from tracker.repository.unit_of_work import Tracker, UnitOfWork, proposition_stream, source_stream
from tracker.store import RecordedEvent


def slug_for(statement: str) -> str:
    """An id made from the statement's first words and a hash of the whole (stable for the same text)."""
    words = re.findall(r"[a-z0-9]+", statement.lower())[:6]
    digest = hashlib.sha256(" ".join(statement.split()).encode()).hexdigest()[:6]
    return "-".join([*words, digest])


def register(uow: UnitOfWork, command: domain.RegisterProposition) -> list[RecordedEvent]:
    """Register a proposition; its source, when named, must exist. A duplicate id: the domain refuses."""
    if command.source_id is not None and uow.load(source_stream(command.source_id)).state is None:
        raise Invalid("unknown-source", f"no source {command.source_id}")
    return uow.execute(proposition_stream(command.proposition_id), command)


def act(uow: UnitOfWork, proposition_id: str, command: domain.Command,
        expected_version: int | None = None) -> list[RecordedEvent]:
    """Amend, resolve, withdraw, reopen...: one command on an existing proposition (NotFound otherwise)."""
    return uow.execute(proposition_stream(proposition_id), command, expected_version=expected_version)


def backfill_later(tracker: Tracker, settings: Settings, proposition_id: str) -> Callable[[], None]:
    """Scoring recent evidence against a new or amended proposition, to run once its command has committed."""

    def run() -> None:
        """suggesting evidence already stored for this proposition (backfill)"""  # told to the caller on failure
        from tracker.suggestions import backfill

        backfill(tracker, settings, [proposition_id])

    return run
