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

    def idf(self, token: str) -> float:
        return self._idf.get(token, 0.0)

    def _term(self, token: str, count: int, doc: _Doc) -> float:
        norm = self.k1 * (1 - self.b + self.b * doc.length / self._avg_len)
        return self._idf[token] * count * (self.k1 + 1) / (count + norm)

    def candidates(self, tokens: Iterable[str], limit: int) -> list[tuple[str, float]]:
        """The `limit` best documents by BM25 over the item's discriminating tokens, best first."""
        scores: dict[str, float] = {}
        weighted = self._weighted
        get = scores.get
        for token in set(tokens):
            posting = weighted.get(token)
            if posting is None:
                continue
            for key, share in posting:
                scores[key] = get(key, 0.0) + share
        if len(scores) > limit:
            return sorted(scores.items(), key=lambda kv: -kv[1])[:limit]
        return sorted(scores.items(), key=lambda kv: -kv[1])

    def common_tokens(self, tokens: Iterable[str]) -> list[str]:
        return [t for t in set(tokens) if t in self._common_shares]

    def common_share(self, key: str, common: Iterable[str]) -> float:
        """The BM25 share of the common tokens (left out of `candidates`) for one document."""
        return sum(self._common_shares[t].get(key, 0.0) for t in common)

    def score(self, key: str, tokens: Iterable[str]) -> float:
        """Full BM25 of one document against the item, common tokens included."""
        doc = self._docs[key]
        total = 0.0
        for token in set(tokens):
            count = doc.tf.get(token)
            if count:
                total += self._term(token, count, doc)
        return total
