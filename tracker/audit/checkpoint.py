"""Signed checkpoints: the log's size, the Merkle root over its event hashes, signed with Ed25519.

The signing key lives in a file outside the database (settings.audit_key_file, mode 0600), created on
first use. Checkpoints are themselves events (CheckpointRecorded in stream `checkpoint-log`), appended
like any other, so the log stays append-only; a checkpoint's own event always lands after `size`.
The signed text is defined once, in tracker/audit/offline.py, which auditors run without the tracker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tracker.audit import merkle, offline
from tracker.domain.events import Event
from tracker.keyfile import read_or_create
from tracker.repository.unit_of_work import Tracker
from tracker.store import ConcurrencyError, EventStore, StoreError
from tracker.store.envelope import iso, utc_now
from tracker.store.hashing import GENESIS_HASH
from tracker.store.schema import events

CHECKPOINT_STREAM = "checkpoint-log"
CHECKPOINT_EVENT = "CheckpointRecorded"


# ---- the key --------------------------------------------------------------------------------------

def load_or_create_key(path: str | Path) -> Ed25519PrivateKey:
    """The signing key at `path`; a new one is written there (0600, directory 0700) if none exists."""
    pem = read_or_create(path, lambda: Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise StoreError(f"{path} does not hold an Ed25519 private key")
    return key


def public_key_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def public_key_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


# ---- checkpoints ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: str
    last_hash: str
    signed_at: str
    key_id: str
    public_key: str
    signature: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(**{name: data[name] for name in offline.CHECKPOINT_FIELDS})

    def signature_ok(self, trusted_public_key: str | None = None) -> bool:
        """Signed by the key it names (and that key is the trusted one, when given)."""
        key = trusted_public_key or self.public_key
        if offline.key_id(key) != self.key_id or (trusted_public_key and trusted_public_key != self.public_key):
            return False
        return offline.signature_ok(self.to_dict(), key)


def sign(key: Ed25519PrivateKey, size: int, root: bytes, last_hash: str) -> Checkpoint:
    public = public_key_hex(key)
    kid = offline.key_id(public)
    signed_at = iso(utc_now())
    signature = key.sign(offline.checkpoint_message(size, root.hex(), last_hash, signed_at, kid))
    return Checkpoint(size, root.hex(), last_hash, signed_at, kid, public, signature.hex())


def event_hashes(store: EventStore, *, to: int | None = None, page_size: int = 20000) -> Iterator[bytes]:
    """Raw event hashes (the Merkle leaves) for positions 1..to, in order; a gap raises StoreError.

    Reads two narrow columns on the DBAPI cursor: at a million events SQLAlchemy rows were half the time.
    """
    expected = 1
    last = to if to is not None else 2**62
    mark = "?" if store.engine.dialect.name == "sqlite" else "%s"
    sql = (f"SELECT position, hash FROM events WHERE position >= {mark} AND position <= {mark} "
           f"ORDER BY position LIMIT {mark}")
    with store.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        while True:
            cursor = driver.cursor()
            cursor.execute(sql, (expected, last, page_size))
            rows = cursor.fetchall()
            cursor.close()
            driver.rollback()  # end the read snapshot between pages
            if not rows:
                break
            for position, digest in rows:
                if position != expected:
                    raise StoreError(f"position {expected} is missing from the log")
                yield bytes.fromhex(digest)
                expected += 1
    if to is not None and expected <= to:
        raise StoreError(f"the log ends at position {expected - 1}, before {to}")


def merkle_root(store: EventStore, size: int) -> bytes:
    hasher = merkle.TreeHasher()
    hasher.extend(event_hashes(store, to=size))
    return hasher.root()


def _head(store: EventStore) -> tuple[int, str]:
    with store.engine.connect() as connection:
        row = connection.execute(
            sa.select(events.c.position, events.c.hash).order_by(events.c.position.desc()).limit(1)
        ).first()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


def checkpoints(store: EventStore) -> list[tuple[int, Checkpoint]]:
    """Every recorded checkpoint with the position of the event that recorded it, oldest first."""
    return [
        (event.position, Checkpoint.from_dict(event.payload))
        for event in store.read_stream(CHECKPOINT_STREAM)
        if event.event_type == CHECKPOINT_EVENT
    ]


def latest_checkpoint(store: EventStore) -> tuple[int, Checkpoint] | None:
    recorded = checkpoints(store)
    return recorded[-1] if recorded else None


def find_checkpoint(store: EventStore, size: int) -> tuple[int, Checkpoint] | None:
    for position, checkpoint in reversed(checkpoints(store)):
        if checkpoint.size == size:
            return position, checkpoint
    return None


def record_checkpoint(
    tracker: Tracker, key: Ed25519PrivateKey, *, actor: str = "system:audit"
) -> tuple[int, Checkpoint]:
    """Sign the log as it stands and append the checkpoint; returns (its event's position, checkpoint).

    The root is computed outside the write lock (seconds at a million events); the append expects the
    checkpoint stream unchanged, so checkpoint sizes only ever grow along the stream. The event goes through
    the unit of work like every other write, so its history row is written with it.
    """
    store = tracker.store
    for _ in range(3):
        version = len(store.read_stream(CHECKPOINT_STREAM))
        size, last_hash = _head(store)
        checkpoint = sign(key, size, merkle_root(store, size), last_hash)
        try:
            with tracker.unit_of_work(actor=actor) as uow:
                recorded = uow.record(CHECKPOINT_STREAM, version, [Event(CHECKPOINT_EVENT, checkpoint.to_dict())])
        except ConcurrencyError:  # another checkpoint landed meanwhile: sign again over the longer log
            continue
        return recorded[0].position, checkpoint
    raise StoreError("could not record a checkpoint: other checkpoints kept landing first")
