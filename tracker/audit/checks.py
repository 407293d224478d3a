"""Verify the whole store: the hash chain, then every recorded checkpoint (signature, size, Merkle root).

A truncated tail keeps a valid chain; only a checkpoint held elsewhere (`held`) can reveal it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from tracker.audit.checkpoint import Checkpoint, checkpoints
from tracker.audit.verify import walk_chain
from tracker.store import EventStore


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
    """Chain first (names the first broken position), then checkpoints recorded in the log and `held`.

    The checkpoints are listed before the walk, so one pass over the log yields the chain and the Merkle
    root at every checkpoint size.
    """
    to_check: list[tuple[int | None, Checkpoint]] = [(p, c) for p, c in checkpoints(store)]
    if held is not None:
        to_check.append((None, held))
    chain, roots = walk_chain(store, progress=progress, stops=[c.size for _, c in to_check])
    if not chain.ok:
        return LogReport(False, chain.head, chain.checked, broken_at=chain.broken_at, reason=chain.reason)
    head = chain.head
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
    return _check_roots(head, chain.checked, to_check, roots)


def _check_roots(
    head: int, checked: int, to_check: list[tuple[int | None, Checkpoint]], roots: dict[int, tuple[bytes, str]]
) -> LogReport:
    """At each checkpoint size, smallest first, the root from the walk must equal the signed one."""
    last_good = 0
    for position, checkpoint in sorted(to_check, key=lambda item: item[1].size):
        root, last_hash = roots[checkpoint.size]
        if root.hex() != checkpoint.root or last_hash != checkpoint.last_hash:
            where = f"checkpoint recorded at position {position}" if position else "the checkpoint you hold"
            return LogReport(
                False, head, checked, broken_at=last_good + 1,
                reason=(f"{where}: the Merkle root over positions 1..{checkpoint.size} differs from the signed one; "
                        f"the first altered position lies in {last_good + 1}..{checkpoint.size}"),
            )
        last_good = checkpoint.size
    return LogReport(True, head, checked, checkpoints_verified=len(to_check))
