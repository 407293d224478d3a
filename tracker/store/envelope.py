"""Event envelope types and the time format used everywhere in the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Times outside these bounds are refused at the edges (API bodies, feed entries): a year below 1000 would not
# be fixed width in older formats, and nothing this tracker follows happened before 1900.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
FUTURE_SKEW = timedelta(days=1)  # clock-skew allowance for "published" times
LATEST_TIME = datetime(9999, 12, 30, tzinfo=UTC)  # a day short of the end: any offset converts to UTC safely


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601 with microseconds: sorts as text, hashes the same on every backend."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    # The year by hand: strftime's %Y does not pad years below 1000 on glibc ("539-09-19..."), which neither
    # sorts as text nor parses back.
    return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    dash = text.find("-")
    if 0 < dash < 4:  # a short year written before iso() padded it: still readable
        text = text[:dash].zfill(4) + text[dash:]
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def implausible(moment: datetime, *, now: datetime | None = None, future: timedelta | None = FUTURE_SKEW) -> str | None:
    """Why `moment` is not a time the tracker should record (None when it is fine); `future=None` allows any
    future time (a deadline may be years ahead)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment < EARLIEST_TIME:
        return "dates before 1900 are not accepted"
    if moment > LATEST_TIME:
        return "dates after 9999-12-30 are not accepted"
    if future is not None and moment > (now or utc_now()) + future:
        return f"more than {_describe(future)} in the future"
    return None


def _describe(span: timedelta) -> str:
    return "a day" if span == timedelta(days=1) else str(span)


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
