"""The hash chain: SHA-256 over the canonical envelope and the previous event's hash.

hash = sha256(prev_hash "\n" canonical(header) "\n" payload_json), where header is every envelope field
except payload and the hashes, as the JSON array [position, event_id, stream_id, stream_version, event_type,
schema_version, occurred_at, recorded_at, actor, causation_id, correlation_id], and payload_json is the
canonical JSON text stored in the row. Storing the exact bytes that were hashed lets verification skip
re-serialising payloads.

Canonical JSON: sorted keys, no whitespace (",", ":"), UTF-8 text as is (no \\u escapes for non-ASCII), no
NaN or infinities. `header_json` builds the header array with string formatting for speed; its output is
byte-for-byte what canonical_json gives for the same list, and it falls back to canonical_json whenever a
field is not of the expected type.
"""

from __future__ import annotations

import hashlib
import json
from json.encoder import (  # the C string encoder json.dumps uses with ensure_ascii=False
    c_make_encoder,  # type: ignore[attr-defined]
    encode_basestring,
)
from typing import Any

GENESIS_HASH = "0" * 64

# One encoder, built once: json.dumps would build an identical one on every call.
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_HEADER = "[%d,%s,%s,%d,%s,%d,%s,%s,%s,%s,%s]"
_sha256 = hashlib.sha256


# The C encoder JSONEncoder.encode builds on every call, built once (same text, less per-call overhead).
# No circular-reference tracking: a RecursionError sends the value to _encode, which reports the cycle.
_c_encode = (
    c_make_encoder(None, json.JSONEncoder().default, encode_basestring, None, ":", ",", True, False, False)
    if c_make_encoder else None
)


def canonical_json(value: Any) -> str:
    if _c_encode is None:
        return _encode(value)
    try:
        return "".join(_c_encode(value, 0))
    except RecursionError:
        return _encode(value)


def header_json(
    position: int, event_id: str, stream_id: str, stream_version: int, event_type: str, schema_version: int,
    occurred_at: str, recorded_at: str, actor: str, causation_id: str | None, correlation_id: str | None,
) -> str:
    """canonical_json of the header list, without the generic encoder's per-call overhead."""
    if type(position) is int and type(stream_version) is int and type(schema_version) is int:
        try:
            return _HEADER % (
                position, encode_basestring(event_id), encode_basestring(stream_id), stream_version,
                encode_basestring(event_type), schema_version, encode_basestring(occurred_at),
                encode_basestring(recorded_at), encode_basestring(actor),
                "null" if causation_id is None else encode_basestring(causation_id),
                "null" if correlation_id is None else encode_basestring(correlation_id),
            )
        except TypeError:  # a field that is not a string: let the generic encoder decide
            pass
    return _encode([position, event_id, stream_id, stream_version, event_type, schema_version,
                    occurred_at, recorded_at, actor, causation_id, correlation_id])


def chain_hash(prev_hash: str, header: str, payload_json: str) -> str:
    return _sha256(f"{prev_hash}\n{header}\n{payload_json}".encode()).hexdigest()


def event_hash(
    prev_hash: str,
    *,
    position: int,
    event_id: str,
    stream_id: str,
    stream_version: int,
    event_type: str,
    schema_version: int,
    occurred_at: str,
    recorded_at: str,
    actor: str,
    causation_id: str | None,
    correlation_id: str | None,
    payload_json: str,
) -> str:
    header = header_json(
        position, event_id, stream_id, stream_version, event_type, schema_version,
        occurred_at, recorded_at, actor, causation_id, correlation_id,
    )
    return chain_hash(prev_hash, header, payload_json)
