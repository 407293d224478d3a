"""Walk the hash chain and name the first position where it breaks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tracker.store import EventStore
from tracker.store.hashing import GENESIS_HASH, event_hash


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    head: int
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_store(store: EventStore, *, progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Recompute every hash from the stored bytes; positions must run 1, 2, 3... without a gap."""
    expected_prev = GENESIS_HASH
    expected_position = 1
    checked = 0
    for rows in store.raw_pages(0, page_size=10000):
        for (position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at,
             recorded_at, actor, causation_id, correlation_id, payload, prev_hash, digest) in rows:
            if position != expected_position:
                return VerifyResult(checked, position, expected_position, f"position {expected_position} is missing")
            if prev_hash != expected_prev:
                return VerifyResult(checked, position, position, "prev_hash does not match the previous event")
            recomputed = event_hash(
                prev_hash, position=position, event_id=event_id, stream_id=stream_id,
                stream_version=stream_version, event_type=event_type, schema_version=schema_version,
                occurred_at=occurred_at, recorded_at=recorded_at, actor=actor,
                causation_id=causation_id, correlation_id=correlation_id, payload_json=payload,
            )
            if recomputed != digest:
                return VerifyResult(checked, position, position, "hash does not match the event's content")
            expected_prev = digest
            expected_position += 1
            checked += 1
        if progress:
            progress(len(rows))
    return VerifyResult(checked, expected_position - 1)
