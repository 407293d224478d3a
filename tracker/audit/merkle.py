"""RFC 6962 / RFC 9162 Merkle tree over the event hashes: root, inclusion and consistency proofs.

Leaf i (0-based) is event position i + 1; its data is the 32 raw bytes of that event's chain hash.
    leaf hash  = SHA-256(0x00 || data)
    node hash  = SHA-256(0x01 || left || right)
    MTH(D[n])  splits at k, the largest power of two smaller than n; MTH of no leaves = SHA-256("").

Everything streams: the root is kept as a stack of perfect-subtree roots (log n hashes), and a proof is
the list of subtree roots over disjoint leaf ranges, all hashed in one pass over the leaves, so a
million leaves never have to sit in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class TreeHasher:
    """Incremental MTH: add leaves in order, ask for the root of what was added so far at any time."""

    __slots__ = ("size", "_stack")

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []  # roots of perfect subtrees, largest first (binary digits of size)

    def add(self, data: bytes) -> None:
        self.add_leaf_hash(_sha256(b"\x00" + data).digest())

    def add_leaf_hash(self, digest: bytes) -> None:
        stack = self._stack
        n = self.size
        while n & 1:  # each trailing 1 bit of the size is a perfect subtree to merge with
            digest = _sha256(b"\x01" + stack.pop() + digest).digest()
            n >>= 1
        stack.append(digest)
        self.size += 1

    def extend(self, datas: Iterable[bytes]) -> None:
        for data in datas:
            self.add(data)

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        # RFC 6962 splits at the largest power of two, so the smaller subtrees fold in from the right.
        digest = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            digest = _sha256(b"\x01" + left + digest).digest()
        return digest


def root(datas: Iterable[bytes]) -> bytes:
    hasher = TreeHasher()
    hasher.extend(datas)
    return hasher.root()


# ---- which subtrees a proof needs (pure arithmetic on sizes) ----------------------------------------

Range = tuple[int, int]  # half-open leaf range [lo, hi)


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """RFC 6962 PATH(m, D[n]) as leaf ranges, in proof order (the leaf's sibling first)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """RFC 6962 PROOF(m, D[n]) as leaf ranges, in proof order; empty when m == 0 or m == n."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"need 0 <= old size <= new size, got {old_size} and {new_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[Range] = []
    m, lo, hi = old_size, 0, new_size
    whole = True  # SUBPROOF's flag b: still on the left edge, where the old root is known
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            m -= k
            lo += k
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def hash_ranges(datas: Iterable[bytes], ranges: Sequence[Range]) -> list[bytes]:
    """MTH of each disjoint range in one pass over the leaves (stops reading after the last range)."""
    if not ranges:
        return []
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    results: list[bytes] = [b""] * len(ranges)
    end = max(hi for _, hi in ranges)
    slot = 0
    lo, hi = ranges[order[0]]
    hasher = TreeHasher()
    for i, data in enumerate(datas):
        if i >= end:
            break
        if i < lo:
            continue
        hasher.add(data)
        if i + 1 == hi:
            results[order[slot]] = hasher.root()
            slot += 1
            if slot == len(order):
                return results
            lo, hi = ranges[order[slot]]
            hasher = TreeHasher()
    raise ValueError(f"not enough leaves: a proof needs {end}")


def inclusion_proof(datas: Iterable[bytes], index: int, size: int) -> list[bytes]:
    return hash_ranges(datas, inclusion_ranges(index, size))


def consistency_proof(datas: Iterable[bytes], old_size: int, new_size: int) -> list[bytes]:
    return hash_ranges(datas, consistency_ranges(old_size, new_size))


# ---- verifiers (RFC 9162 §2.1.3.2 and §2.1.4.2) ---------------------------------------------------

def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root implied by a leaf's hash and its audit path, or None if the path has the wrong shape."""
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    digest = leaf
    for sibling in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            digest = node_hash(digest, sibling)
        fn >>= 1
        sn >>= 1
    return digest if sn == 0 else None


def verify_inclusion(data: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """Is `data` the leaf at `index` of the tree of `size` leaves whose root is `expected_root`?"""
    return root_from_inclusion(leaf_hash(data), index, size, proof) == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Is the tree (old_size, old_root) a prefix of the tree (new_size, new_root)?"""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof  # the empty tree is a prefix of every tree
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
