"""Merkle proofs against a plain recursive transcription of RFC 6962 §2.1, for trees of 1 to 300 leaves."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.audit import merkle


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, leaves[:k]) + [ref_mth(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [ref_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, leaves[:k], whole) + [ref_mth(leaves[k:])]
    return ref_subproof(m - k, leaves[k:], False) + [ref_mth(leaves[:k])]


def ref_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    return [] if m in (0, len(leaves)) else ref_subproof(m, leaves, True)


def make_leaves(n: int) -> list[bytes]:
    return [_h(str(i).encode()) for i in range(n)]


LEAVES = make_leaves(300)
sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=300, deadline=None)
@given(sizes)
def test_root_matches_reference(n: int) -> None:
    assert merkle.root(LEAVES[:n]) == ref_mth(LEAVES[:n])


def test_root_of_every_size_incrementally() -> None:
    hasher = merkle.TreeHasher()
    assert hasher.root() == merkle.EMPTY_ROOT == ref_mth([])
    for n in range(1, 301):
        hasher.add(LEAVES[n - 1])
        assert hasher.root() == ref_mth(LEAVES[:n]), n


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_inclusion_proof_matches_reference_and_verifies(data: st.DataObject) -> None:
    n = data.draw(sizes)
    m = data.draw(st.integers(0, n - 1))
    leaves = LEAVES[:n]
    proof = merkle.inclusion_proof(iter(leaves), m, n)
    assert proof == ref_path(m, leaves)
    root = ref_mth(leaves)
    assert merkle.verify_inclusion(leaves[m], m, n, proof, root)
    # The wrong leaf, index, size, root, or a damaged path must all fail.
    other = LEAVES[(m + 1) % 300] if n > 1 else b"x" * 32
    assert not merkle.verify_inclusion(other, m, n, proof, root)
    if n > 1:
        assert not merkle.verify_inclusion(leaves[m], (m + 1) % n, n, proof, root)
    assert not merkle.verify_inclusion(leaves[m], m, n, proof, _h(b"wrong"))
    if proof:
        damaged = list(proof)
        i = data.draw(st.integers(0, len(proof) - 1))
        damaged[i] = _h(damaged[i])
        assert not merkle.verify_inclusion(leaves[m], m, n, damaged, root)
        assert not merkle.verify_inclusion(leaves[m], m, n, proof[:-1], root)
    assert not merkle.verify_inclusion(leaves[m], m, n, proof + [_h(b"extra")], root)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_consistency_proof_matches_reference_and_verifies(data: st.DataObject) -> None:
    n = data.draw(sizes)
    m = data.draw(st.integers(0, n))
    leaves = LEAVES[:n]
    proof = merkle.consistency_proof(iter(leaves), m, n)
    assert proof == ref_proof(m, leaves)
    old_root, new_root = ref_mth(leaves[:m]), ref_mth(leaves)
    assert merkle.verify_consistency(m, n, old_root, new_root, proof)
    if 0 < m < n:
        # A rewritten old leaf gives another old root: the proof no longer links the two.
        rewritten = list(leaves[:m])
        rewritten[data.draw(st.integers(0, m - 1))] = _h(b"rewritten")
        assert not merkle.verify_consistency(m, n, ref_mth(rewritten), new_root, proof)
        assert not merkle.verify_consistency(m, n, old_root, _h(b"wrong"), proof)
        damaged = list(proof)
        i = data.draw(st.integers(0, len(proof) - 1))
        damaged[i] = _h(damaged[i])
        assert not merkle.verify_consistency(m, n, old_root, new_root, damaged)
        assert not merkle.verify_consistency(m, n, old_root, new_root, proof[:-1])
        assert not merkle.verify_consistency(n, m, new_root, old_root, proof)


def test_ranges_reject_impossible_sizes() -> None:
    for index, size in ((0, 0), (5, 5), (-1, 3)):
        try:
            merkle.inclusion_ranges(index, size)
        except ValueError:
            continue
        raise AssertionError(f"accepted index {index} in size {size}")
    try:
        merkle.consistency_ranges(4, 3)
    except ValueError:
        return
    raise AssertionError("accepted old size > new size")


def test_hash_ranges_needs_enough_leaves() -> None:
    try:
        merkle.inclusion_proof(iter(LEAVES[:5]), 3, 8)
    except ValueError as error:
        assert "8" in str(error)
    else:
        raise AssertionError("a proof over missing leaves was produced")
