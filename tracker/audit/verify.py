"""Walk the hash chain and name the first position where it breaks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from hashlib import sha256
from json.encoder import encode_basestring

from tracker.audit import merkle
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
    """Recompute every hash from the stored bytes; positions must run 1, 2, 3... without a gap."""
    return walk_chain(store, progress=progress)[0]


def walk_chain(
    store: EventStore, *, progress: Callable[[int], None] | None = None, stops: Iterable[int] = ()
) -> tuple[VerifyResult, dict[int, tuple[bytes, str]]]:
    """The chain walk of verify_store; also the Merkle root and last hash at each size in `stops`.

    The roots come from the same pass (the leaves are the hashes just recomputed, which equal the stored
    ones wherever the chain holds), so checking checkpoints costs no second read of the log. A stop
    beyond the end of the log gets no entry. The loop inlines hashing.event_hash (same bytes:
    header_json's format string, then the payload text as stored) and merkle.TreeHasher.add_leaf_hash,
    because a function call per event was a large share of the walk.
    """
    pending = sorted(set(stops), reverse=True)
    roots: dict[int, tuple[bytes, str]] = {}
    while pending and pending[-1] <= 0:
        roots[pending.pop()] = (merkle.EMPTY_ROOT, GENESIS_HASH)
    tree = merkle.TreeHasher() if pending else None
    stack: list[bytes] = tree._stack if tree is not None else []  # noqa: SLF001 - the loop below is its add()
    next_stop = pending.pop() if pending else 0
    expected_prev = GENESIS_HASH
    expected_position = 1
    checked = 0
    s = encode_basestring
    for rows in store.tuple_pages(0, page_size=10000):
        for (position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at,
             recorded_at, actor, causation_id, correlation_id, payload, prev_hash, digest) in rows:
            if position != expected_position:
                missing = f"position {expected_position} is missing"
                return VerifyResult(checked, position, expected_position, missing), roots
            if prev_hash != expected_prev:
                return VerifyResult(checked, position, position, "prev_hash does not match the previous event"), roots
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
            raw = sha256(text.encode()).digest()  # finalised once: .hex() is cheaper than a second hexdigest()
            if raw.hex() != digest:
                return VerifyResult(checked, position, position, "hash does not match the event's content"), roots
            expected_prev = digest
            expected_position += 1
            checked += 1
            if tree is not None:
                node = sha256(b"\x00" + raw).digest()
                n = checked - 1  # leaves so far
                while n & 1:  # each trailing 1 bit of the size is a perfect subtree to merge with
                    node = sha256(b"\x01" + stack.pop() + node).digest()
                    n >>= 1
                stack.append(node)
                if checked == next_stop:
                    tree.size = checked
                    roots[checked] = (tree.root(), digest)
                    if pending:
                        next_stop = pending.pop()
                    else:
                        tree = None
        if progress:
            progress(len(rows))
    return VerifyResult(checked, expected_position - 1), roots
