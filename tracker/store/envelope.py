"""Event envelope types and the time format used everywhere in the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601 with microseconds: sorts as text, hashes the same on every backend."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended; the store fills in the rest of the envelope."""

    event_type: str
    payload: dict[str, Any]
    schema_version: int = 1
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored, with its full envelope."""

    position: int
    event_id: str
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    occurred_at: str
    recorded_at: str
    actor: str
    causation_id: str | None
    correlation_id: str | None
    payload: dict[str, Any] = field(hash=False)
    prev_hash: str = ""
    hash: str = ""

    def envelope(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "stream_id": self.stream_id,
            "stream_version": self.stream_version,
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "occurred_at": self.occurred_at,
            "recorded_at": self.recorded_at,
            "actor": self.actor,
            "causation_id": self.causation_id,
            "correlation_id": self.correlation_id,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
