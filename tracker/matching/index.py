"""An inverted index with BM25 over compiled profiles.

An item's tokens look up posting lists and accumulate BM25 only for the propositions that share a token,
so the work per item grows with the postings it touches, not with the number of propositions. Tokens that
occur in most profiles (the ubiquitous "Russia") are left out of candidate generation: they cannot tell
propositions apart, and their BM25 share is added back when the few surviving candidates are rescored.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

LONG_POSTINGS = 400  # (doc, share) pairs an item reaches above which `candidates` sums them with numpy


@dataclass
class _Doc:
    key: str
    length: int
    tf: Counter[str]


class BM25Index:
    def __init__(self, *, k1: float = 1.2, b: float = 0.75, common_fraction: float = 0.35) -> None:
        self.k1 = k1
        self.b = b
        self.common_fraction = common_fraction  # tokens in more than this share of docs don't generate candidates
        self._docs: dict[str, _Doc] = {}
        self._postings: dict[str, dict[str, int]] = {}
        self._avg_len = 1.0
        self._idf: dict[str, float] = {}
        self._common: frozenset[str] = frozenset()
        self._weighted: dict[str, tuple[tuple[str, float], ...]] = {}  # token -> (doc, BM25 share), precomputed
        self._common_shares: dict[str, dict[str, float]] = {}
        self._doc_shares: dict[str, dict[str, float]] = {}  # doc -> token -> its BM25 share, for `score`
        # For `candidates` over long postings: each doc's place, and per token (places, shares) built on first use
        self._places: dict[str, int] = {}
        self._keys: list[str] = []
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._full_arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # the same over every token's posting

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, token: str) -> bool:
        return token in self._postings

    def set(self, key: str, tokens: Iterable[str]) -> None:
        """Add or replace one document; statistics are refreshed at once (a few hundred docs: cheap)."""
        self._remove(key)
        tf = Counter(tokens)
        self._docs[key] = _Doc(key, sum(tf.values()), tf)
        for token, count in tf.items():
            self._postings.setdefault(token, {})[key] = count
        self._refresh()

    def set_many(self, docs: Iterable[tuple[str, Iterable[str]]]) -> None:
        """Bulk load: statistics are computed once at the end."""
        for key, tokens in docs:
            self._remove(key)
            tf = Counter(tokens)
            self._docs[key] = _Doc(key, sum(tf.values()), tf)
            for token, count in tf.items():
                self._postings.setdefault(token, {})[key] = count
        self._refresh()

    def remove(self, key: str) -> None:
        self._remove(key)
        self._refresh()

    def _remove(self, key: str) -> None:
        doc = self._docs.pop(key, None)
        if doc is None:
            return
        for token in doc.tf:
            posting = self._postings.get(token)
            if posting is not None:
                posting.pop(key, None)
                if not posting:
                    del self._postings[token]

    def _refresh(self) -> None:
        n = len(self._docs)
        self._avg_len = (sum(d.length for d in self._docs.values()) / n) if n else 1.0
        self._idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self._postings.items()}
        limit = max(3, self.common_fraction * n)
        self._common = frozenset(t for t, p in self._postings.items() if len(p) > limit)
        docs = self._docs
        self._weighted = {
            t: tuple((key, self._term(t, count, docs[key])) for key, count in p.items())
            for t, p in self._postings.items() if t not in self._common
        }
        self._common_shares = {
            t: {key: self._term(t, count, docs[key]) for key, count in self._postings[t].items()} for t in self._common
        }
        self._doc_shares = {
            key: {t: self._term(t, count, doc) for t, count in doc.tf.items() if count} for key, doc in docs.items()
        }
        self._keys = list(docs)
        self._places = {key: place for place, key in enumerate(self._keys)}
        self._arrays = {}
        self._full_arrays = {}

    def idf(self, token: str) -> float:
        return self._idf.get(token, 0.0)

    def _term(self, token: str, count: int, doc: _Doc) -> float:
        norm = self.k1 * (1 - self.b + self.b * doc.length / self._avg_len)
        return self._idf[token] * count * (self.k1 + 1) / (count + norm)

    def candidates(self, tokens: Iterable[str], limit: int) -> list[tuple[str, float]]:
        """The `limit` best documents by BM25 over the item's discriminating tokens, best first (equal scores in
        the order the item's tokens first reached them)."""
        weighted = self._weighted
        found = [token for token in set(tokens) if token in weighted]
        postings = [weighted[token] for token in found]
        if sum(len(p) for p in postings) > LONG_POSTINGS:
            return self._candidates_by_arrays(found, limit)
        scores: dict[str, float] = {}
        get = scores.get
        for posting in postings:
            for key, share in posting:
                scores[key] = get(key, 0.0) + share
        # Highest first, equals in the order they were found (a stable sort, reversed or not)
        return sorted(scores.items(), key=itemgetter(1), reverse=True)[:limit]

    def _candidates_by_arrays(self, tokens: list[str], limit: int) -> list[tuple[str, float]]:
        """`candidates` with numpy: the same sums, each document's shares added in the same order from 0.0
        (bincount adds its weights in order), and equal scores kept in the order they were first reached."""
        if not tokens:
            return []
        arrays = self._arrays
        places: list[np.ndarray] = []
        shares: list[np.ndarray] = []
        for token in tokens:
            found = arrays.get(token)
            if found is None:
                posting = self._weighted[token]
                found = arrays[token] = (np.fromiter((self._places[k] for k, _ in posting), np.intp, len(posting)),
                                         np.fromiter((v for _, v in posting), np.float64, len(posting)))
            places.append(found[0])
            shares.append(found[1])
        where = np.concatenate(places)
        scores = np.bincount(where, weights=np.concatenate(shares), minlength=len(self._keys))
        reached, first = np.unique(where, return_index=True)
        best = reached[np.lexsort((first, -scores[reached]))[:limit]]
        keys = self._keys
        return [(keys[i], score) for i, score in zip(best.tolist(), scores[best].tolist(), strict=True)]

    def common_tokens(self, tokens: Iterable[str]) -> list[str]:
        return [t for t in set(tokens) if t in self._common_shares]

    def common_share(self, key: str, common: Iterable[str]) -> float:
        """The BM25 share of the common tokens (left out of `candidates`) for one document."""
        return sum(self._common_shares[t].get(key, 0.0) for t in common)

    def scores(self, tokens: Iterable[str]) -> dict[str, float]:
        """`score` of every document that shares a token with the item, in one pass: each document's shares added
        in the same order from 0.0 (bincount adds its weights in order), so the same numbers."""
        postings = self._postings
        arrays = self._full_arrays
        places: list[np.ndarray] = []
        shares: list[np.ndarray] = []
        for token in set(tokens):
            found = arrays.get(token)
            if found is None:
                posting = postings.get(token)
                if posting is None:
                    continue
                doc_shares = self._doc_shares
                found = arrays[token] = (np.fromiter((self._places[k] for k in posting), np.intp, len(posting)),
                                         np.fromiter((doc_shares[k][token] for k in posting), np.float64,
                                                     len(posting)))
            places.append(found[0])
            shares.append(found[1])
        if not places:
            return {}
        totals = np.bincount(np.concatenate(places), weights=np.concatenate(shares), minlength=len(self._keys))
        return dict(zip(self._keys, totals.tolist(), strict=True))

    def score(self, key: str, tokens: Iterable[str]) -> float:
        """Full BM25 of one document against the item, common tokens included."""
        shares = self._doc_shares[key]
        total = 0.0
        for token in set(tokens):
            share = shares.get(token)
            if share is not None:
                total += share
        return total
