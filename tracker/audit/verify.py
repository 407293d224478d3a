"""Walk the hash chain and name the first position where it breaks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from json.encoder import encode_basestring

from tracker.store import EventStore
from tracker.store.hashing import GENESIS_HASH, header_json

# prev_hash "\n" header (hashing.header_json's format) "\n" payload_json: what hashing.chain_hash hashes.
_HASHED_TEXT = "%s\n[%d,%s,%s,%d,%s,%d,%s,%s,%s,%s,%s]\n%s"


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
    """Recompute every hash from the stored bytes; positions must run 1, 2, 3... without a gap.

    The loop inlines hashing.event_hash (same bytes: header_json's format string, then the payload text as
    stored) because a function call per event was a large share of the walk.
    """
    expected_prev = GENESIS_HASH
    expected_position = 1
    checked = 0
    s = encode_basestring
    for rows in store.tuple_pages(0, page_size=10000):
        for (position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at,
             recorded_at, actor, causation_id, correlation_id, payload, prev_hash, digest) in rows:
            if position != expected_position:
                return VerifyResult(checked, position, expected_position, f"position {expected_position} is missing")
            if prev_hash != expected_prev:
                return VerifyResult(checked, position, position, "prev_hash does not match the previous event")
            try:
                text = _HASHED_TEXT % (
                    prev_hash, position, s(event_id), s(stream_id), stream_version, s(event_type), schema_version,
                    s(occurred_at), s(recorded_at), s(actor),
                    "null" if causation_id is None else s(causation_id),
                    "null" if correlation_id is None else s(correlation_id), payload,
                )
                if type(position) is not int or type(stream_version) is not int or type(schema_version) is not int:
                    raise TypeError
            except TypeError:  # an unexpected column type: the generic header encoder decides
                header = header_json(position, event_id, stream_id, stream_version, event_type, schema_version,
                                     occurred_at, recorded_at, actor, causation_id, correlation_id)
                text = f"{prev_hash}\n{header}\n{payload}"
            if sha256(text.encode()).hexdigest() != digest:
                return VerifyResult(checked, position, position, "hash does not match the event's content")
            expected_prev = digest
            expected_position += 1
            checked += 1
        if progress:
            progress(len(rows))
    return VerifyResult(checked, expected_position - 1)
