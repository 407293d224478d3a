"""Export every event as canonical NDJSON with a final signed checkpoint line (see tracker/audit/offline.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tracker.audit.checkpoint import Checkpoint, latest_checkpoint, record_checkpoint
from tracker.audit.offline import canonical_json
from tracker.repository.unit_of_work import Tracker

FIELDS = (
    "position", "event_id", "stream_id", "stream_version", "event_type", "schema_version", "occurred_at",
    "recorded_at", "actor", "causation_id", "correlation_id", "payload_json", "prev_hash", "hash",
)


def checkpoint_for_export(tracker: Tracker, key: Ed25519PrivateKey) -> tuple[int, Checkpoint, bool]:
    """The latest checkpoint if its own event is the head of the log, else a new one; (position, cp, new?)."""
    latest = latest_checkpoint(tracker.store)
    if latest is not None and latest[0] == tracker.store.head():
        return latest[0], latest[1], False
    position, checkpoint = record_checkpoint(tracker, key)
    return position, checkpoint, True


def write_export(
    tracker: Tracker, out: str | Path, key: Ed25519PrivateKey, *, progress: Callable[[int], None] | None = None
) -> tuple[int, Checkpoint, bool]:
    """Events 1..P (P: the position that recorded the checkpoint), then the checkpoint; returns (P, cp, new?)."""
    store = tracker.store
    position, checkpoint, created = checkpoint_for_export(tracker, key)
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="\n") as handle:
        for rows in store.raw_pages(0, to=position, page_size=10000):
            # raw rows hold the payload text exactly as hashed; the column order matches FIELDS
            handle.writelines(canonical_json(dict(zip(FIELDS, row, strict=True))) + "\n" for row in rows)
            if progress:
                progress(len(rows))
        handle.write(canonical_json({"checkpoint": checkpoint.to_dict()}) + "\n")
    partial.replace(out)  # never leave a half-written export under the real name
    return position, checkpoint, created
