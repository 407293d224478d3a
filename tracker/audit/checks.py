"""Verify the whole store: the hash chain, then every recorded checkpoint (signature, size, Merkle root).

A truncated tail keeps a valid chain; only a checkpoint held elsewhere (`held`) can reveal it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from tracker.audit import merkle
from tracker.audit.checkpoint import Checkpoint, checkpoints, event_hashes
from tracker.audit.verify import verify_store
from tracker.store import EventStore, StoreError


@dataclass(frozen=True)
class LogReport:
    ok: bool
    head: int
    checked: int
    checkpoints_verified: int = 0
    broken_at: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_log(
    store: EventStore,
    *,
    trusted_key: str | None = None,
    held: Checkpoint | None = None,
    progress: Callable[[int], None] | None = None,
) -> LogReport:
    """Chain first (names the first broken position), then checkpoints recorded in the log and `held`."""
    chain = verify_store(store, progress=progress)
    if not chain.ok:
        return LogReport(False, chain.head, chain.checked, broken_at=chain.broken_at, reason=chain.reason)
    head = chain.head
    to_check: list[tuple[int | None, Checkpoint]] = [(p, c) for p, c in checkpoints(store)]
    if held is not None:
        to_check.append((None, held))
    for position, checkpoint in to_check:
        where = f"checkpoint recorded at position {position}" if position else "the checkpoint you hold"
        if not checkpoint.signature_ok(trusted_key):
            return LogReport(False, head, chain.checked, broken_at=position, reason=f"{where}: signature not valid")
        if checkpoint.size > head:
            return LogReport(
                False, head, chain.checked, broken_at=head + 1,
                reason=f"{where} covers {checkpoint.size} events but the log ends at {head}: the tail was cut",
            )
        if position is not None and checkpoint.size >= position:
            return LogReport(False, head, chain.checked, broken_at=position, reason=f"{where}: size not before it")
    return _check_roots(store, head, chain.checked, to_check)


def _check_roots(
    store: EventStore, head: int, checked: int, to_check: list[tuple[int | None, Checkpoint]]
) -> LogReport:
    """One pass over the hashes; at each checkpoint size the running root must equal the signed one."""
    by_size = sorted(to_check, key=lambda item: item[1].size)
    hasher = merkle.TreeHasher()
    last_good = 0
    index = 0
    leaves = event_hashes(store, to=by_size[-1][1].size) if by_size else iter(())
    last_hash = None
    while index < len(by_size):
        position, checkpoint = by_size[index]
        if hasher.size < checkpoint.size:
            try:
                leaf = next(leaves)
            except (StopIteration, StoreError) as error:
                return LogReport(False, head, checked, broken_at=hasher.size + 1, reason=str(error))
            hasher.add(leaf)
            last_hash = leaf.hex()
            continue
        if hasher.root().hex() != checkpoint.root or (last_hash or "0" * 64) != checkpoint.last_hash:
            where = f"checkpoint recorded at position {position}" if position else "the checkpoint you hold"
            return LogReport(
                False, head, checked, broken_at=last_good + 1,
                reason=(f"{where}: the Merkle root over positions 1..{checkpoint.size} differs from the signed one; "
                        f"the first altered position lies in {last_good + 1}..{checkpoint.size}"),
            )
        last_good = checkpoint.size
        index += 1
    return LogReport(True, head, checked, checkpoints_verified=len(to_check))
