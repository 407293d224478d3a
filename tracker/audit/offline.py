"""Verify a Policy Tracker export with no database: standard library and `cryptography` only.

Usage:  python -m tracker.audit.offline events.ndjson [--public-key HEX]
        (or copy this one file anywhere and run `python offline.py events.ndjson`)

The export is UTF-8 NDJSON, one event per line, in position order, then one final checkpoint line:

    {"actor":..,"causation_id":..,"correlation_id":..,"event_id":..,"event_type":..,"hash":..,
     "occurred_at":..,"payload_json":"<the exact payload text that was hashed>","position":1,
     "prev_hash":..,"recorded_at":..,"schema_version":..,"stream_id":..,"stream_version":..}
    ...
    {"checkpoint":{"key_id":..,"last_hash":..,"public_key":..,"root":..,"signature":..,"signed_at":..,"size":N}}

Every line is canonical JSON (sorted keys, no spaces, non-ASCII kept as UTF-8), so any change to a
byte either breaks the JSON, changes a hashed value, or makes the line non-canonical; all three fail.

What is checked, in order, stopping at the first failure (its line and position are named):
1. each event's hash:  sha256( prev_hash "\\n" header "\\n" payload_json ), where header is the canonical
   JSON list [position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at,
   recorded_at, actor, causation_id, correlation_id]; prev_hash of position 1 is 64 zeros;
2. positions run 1, 2, 3... and each prev_hash is the previous event's hash;
3. the checkpoint's Ed25519 signature over its text form (checkpoint_message below), made by the pinned
   public key if one is given (otherwise by the key in the line, which only proves internal consistency);
4. the RFC 6962 Merkle root over the first `size` event hashes (leaf data = the 32 raw bytes of the
   hash) equals the signed root, and the hash of event `size` equals the signed last_hash.
Events after `size` (usually the event that recorded the checkpoint) are chained but not signed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS_HASH = "0" * 64
EVENT_FIELDS = frozenset({
    "position", "event_id", "stream_id", "stream_version", "event_type", "schema_version", "occurred_at",
    "recorded_at", "actor", "causation_id", "correlation_id", "payload_json", "prev_hash", "hash",
})
CHECKPOINT_FIELDS = frozenset({"size", "root", "last_hash", "signed_at", "key_id", "public_key", "signature"})


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def event_hash(event: dict[str, Any]) -> str:
    """The chain hash of one event (same definition as tracker/store/hashing.py)."""
    header = canonical_json([
        event["position"], event["event_id"], event["stream_id"], event["stream_version"], event["event_type"],
        event["schema_version"], event["occurred_at"], event["recorded_at"], event["actor"],
        event["causation_id"], event["correlation_id"],
    ])
    digest = hashlib.sha256(f"{event['prev_hash']}\n{header}\n".encode())
    digest.update(event["payload_json"].encode())
    return digest.hexdigest()


def checkpoint_message(size: int, root: str, last_hash: str, signed_at: str, key_id: str) -> bytes:
    """The exact bytes a checkpoint signature covers."""
    return (
        "policy-tracker checkpoint v1\n"
        f"size {size}\nroot {root}\nlast_hash {last_hash}\nsigned_at {signed_at}\nkey_id {key_id}\n"
    ).encode()


def key_id(public_key_hex: str) -> str:
    """Short name of a public key: the first 16 hex digits of SHA-256 of its 32 raw bytes."""
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]


def signature_ok(checkpoint: dict[str, Any], public_key_hex: str) -> bool:
    message = checkpoint_message(
        checkpoint["size"], checkpoint["root"], checkpoint["last_hash"], checkpoint["signed_at"], checkpoint["key_id"]
    )
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(
            bytes.fromhex(checkpoint["signature"]), message
        )
    except (InvalidSignature, ValueError):
        return False
    return True


class MerkleRoot:
    """RFC 6962 tree hash, one leaf at a time: leaf = H(0x00 || data), node = H(0x01 || left || right)."""

    def __init__(self) -> None:
        self.size = 0
        self.stack: list[bytes] = []  # roots of perfect subtrees, largest first

    def add(self, data: bytes) -> None:
        digest = hashlib.sha256(b"\x00" + data).digest()
        n = self.size
        while n & 1:
            digest = hashlib.sha256(b"\x01" + self.stack.pop() + digest).digest()
            n >>= 1
        self.stack.append(digest)
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return hashlib.sha256(b"").digest()
        digest = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            digest = hashlib.sha256(b"\x01" + left + digest).digest()
        return digest


@dataclass(frozen=True)
class Report:
    ok: bool
    events: int
    checkpoint_size: int | None = None
    key_id: str | None = None
    key_pinned: bool = False
    bad_line: int | None = None
    bad_position: int | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.ok:
            pinned = "the pinned key" if self.key_pinned else "the key in the export (not pinned: pass --public-key)"
            return (
                f"export intact: {self.events} events chained; checkpoint over positions 1..{self.checkpoint_size} "
                f"signed by {self.key_id} ({pinned}); {self.events - (self.checkpoint_size or 0)} later event(s) "
                "chained but not signed"
            )
        where = f"line {self.bad_line}" + (f", position {self.bad_position}" if self.bad_position else "")
        return f"export fails at {where}: {self.reason}"


def _fail(events: int, line: int, position: int | None, reason: str) -> Report:
    return Report(False, events, bad_line=line, bad_position=position, reason=reason)


def _parse(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """A line's object, or why it is not a canonical JSON object."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text)
    except (UnicodeDecodeError, ValueError) as error:
        return None, f"not valid UTF-8 JSON ({error.__class__.__name__})"
    if not isinstance(value, dict):
        return None, "not a JSON object"
    try:
        if canonical_json(value) != text:
            return None, "not in canonical form (edited?)"
    except ValueError:
        return None, "not in canonical form (edited?)"
    return value, None


def _valid_event(event: dict[str, Any]) -> str | None:
    if set(event) != EVENT_FIELDS:
        return "fields differ from an event's envelope"
    ints = ("position", "stream_version", "schema_version")
    if any(type(event[k]) is not int for k in ints):
        return "position and versions must be integers"
    texts = ("event_id", "stream_id", "event_type", "occurred_at", "recorded_at", "actor", "payload_json",
             "prev_hash", "hash")
    if any(not isinstance(event[k], str) for k in texts):
        return "a text field is not text"
    if any(event[k] is not None and not isinstance(event[k], str) for k in ("causation_id", "correlation_id")):
        return "causation_id and correlation_id must be text or null"
    return None


def _valid_checkpoint(checkpoint: Any) -> str | None:
    if not isinstance(checkpoint, dict) or set(checkpoint) != CHECKPOINT_FIELDS:
        return "the checkpoint's fields are wrong"
    if type(checkpoint["size"]) is not int or checkpoint["size"] < 0:
        return "the checkpoint size is not a count"
    if any(not isinstance(checkpoint[k], str) for k in CHECKPOINT_FIELDS - {"size"}):
        return "a checkpoint field is not text"
    return None


def verify_file(path: str | Path, public_key_hex: str | None = None) -> Report:
    """Check an export; the Report names the first bad line and position."""
    path = Path(path)
    with path.open("rb") as handle:
        data_lines = sum(1 for _ in handle)
        handle.seek(0, 2)
        size_bytes = handle.tell()
        if size_bytes:
            handle.seek(size_bytes - 1)
            if handle.read(1) != b"\n":
                return _fail(0, data_lines, None, "the file does not end with a newline (cut short?)")
    if data_lines == 0:
        return _fail(0, 1, None, "the file is empty")
    with path.open("rb") as handle:
        for _ in range(data_lines - 1):
            handle.readline()
        last, why = _parse(handle.readline().rstrip(b"\n"))
    if last is None or set(last) != {"checkpoint"}:
        return _fail(0, data_lines, None, why or "the last line is not the checkpoint")
    checkpoint = last["checkpoint"]
    if (why := _valid_checkpoint(checkpoint)) is not None:
        return _fail(0, data_lines, None, why)
    size = checkpoint["size"]

    tree = MerkleRoot()
    expected_prev = GENESIS_HASH
    last_hash_at_size = GENESIS_HASH if size == 0 else None
    events = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == data_lines:
                break
            event, why = _parse(raw.rstrip(b"\n"))
            position = events + 1
            if event is None:
                return _fail(events, number, position, why or "")
            if (why := _valid_event(event)) is not None:
                return _fail(events, number, position, why)
            if event["position"] != position:
                return _fail(events, number, position, f"position {position} expected, found {event['position']}")
            if event["prev_hash"] != expected_prev:
                return _fail(events, number, position, "prev_hash does not match the previous event's hash")
            if event_hash(event) != event["hash"]:
                return _fail(events, number, position, "hash does not match the event's content")
            try:
                leaf = bytes.fromhex(event["hash"])
            except ValueError:
                return _fail(events, number, position, "hash is not hex")
            expected_prev = event["hash"]
            events += 1
            if tree.size < size:
                tree.add(leaf)
                if tree.size == size:
                    last_hash_at_size = event["hash"]

    line = data_lines
    if events < size:
        return _fail(events, line, events + 1, f"the checkpoint covers {size} events, the export holds {events}")
    pinned = public_key_hex is not None
    key = (public_key_hex or checkpoint["public_key"]).strip().lower()
    try:
        expected_id = key_id(key)
    except ValueError:
        return _fail(events, line, None, "the public key is not hex")
    if checkpoint["key_id"] != expected_id or (pinned and checkpoint["public_key"].lower() != key):
        return _fail(events, line, None, f"the checkpoint names key {checkpoint['key_id']}, the key is {expected_id}")
    if not signature_ok(checkpoint, key):
        return _fail(events, line, None, "the checkpoint's signature is not valid")
    if tree.root().hex() != checkpoint["root"]:
        return _fail(events, line, None, f"the Merkle root over positions 1..{size} differs from the signed root")
    if last_hash_at_size != checkpoint["last_hash"]:
        return _fail(events, line, size, f"the hash at position {size} differs from the signed last_hash")
    return Report(True, events, size, expected_id, pinned)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Policy Tracker export offline.")
    parser.add_argument("file")
    parser.add_argument("--public-key", help="the tracker's Ed25519 public key (64 hex digits) to pin")
    args = parser.parse_args(argv)
    report = verify_file(args.file, args.public_key)
    print(report.describe(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
