"""The hash chain: SHA-256 over the canonical envelope and the previous event's hash.

hash = sha256(prev_hash "\n" canonical(header) "\n" payload_json), where header is every envelope field
except payload and the hashes, and payload_json is the canonical JSON text stored in the row. Storing the
exact bytes that were hashed lets verification skip re-serialising payloads.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


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
    header = canonical_json(
        [position, event_id, stream_id, stream_version, event_type, schema_version,
         occurred_at, recorded_at, actor, causation_id, correlation_id]
    )
    digest = hashlib.sha256()
    digest.update(f"{prev_hash}\n{header}\n".encode())
    digest.update(payload_json.encode())
    return digest.hexdigest()
