"""Inclusion and consistency proofs read from the store, checked before they are handed out."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tracker.audit import merkle
from tracker.audit.checkpoint import Checkpoint, event_hashes
from tracker.store import EventStore, StoreError
from tracker.store.schema import events


def event_hash_at(store: EventStore, position: int) -> str:
    with store.engine.connect() as connection:
        digest = connection.execute(sa.select(events.c.hash).where(events.c.position == position)).scalar()
    if digest is None:
        raise StoreError(f"no event at position {position}")
    return digest


def prove_inclusion(store: EventStore, position: int, checkpoint: Checkpoint) -> dict[str, Any]:
    """The audit path from the event at `position` to the checkpoint's signed root."""
    if not 1 <= position <= checkpoint.size:
        raise StoreError(f"position {position} is not covered by the checkpoint (positions 1..{checkpoint.size})")
    leaf = event_hash_at(store, position)
    path = merkle.inclusion_proof(event_hashes(store, to=checkpoint.size), position - 1, checkpoint.size)
    verified = checkpoint.signature_ok() and merkle.verify_inclusion(
        bytes.fromhex(leaf), position - 1, checkpoint.size, path, bytes.fromhex(checkpoint.root)
    )
    return {
        "position": position,
        "event_hash": leaf,
        "leaf_index": position - 1,
        "tree_size": checkpoint.size,
        "root": checkpoint.root,
        "audit_path": [node.hex() for node in path],
        "checkpoint": checkpoint.to_dict(),
        "verified": verified,
    }


def prove_consistency(store: EventStore, old: Checkpoint, new: Checkpoint) -> dict[str, Any]:
    """The nodes showing the log at `old` is a prefix of the log at `new`."""
    if old.size > new.size:
        raise StoreError(f"the old checkpoint ({old.size} events) is larger than the new one ({new.size})")
    path = merkle.consistency_proof(event_hashes(store, to=new.size), old.size, new.size)
    verified = (
        old.signature_ok() and new.signature_ok()
        and merkle.verify_consistency(old.size, new.size, bytes.fromhex(old.root), bytes.fromhex(new.root), path)
    )
    return {
        "old": old.to_dict(),
        "new": new.to_dict(),
        "consistency_path": [node.hex() for node in path],
        "verified": verified,
    }
