"""Per proposition, the TF-IDF centroid of its written examples and of the items its editors confirmed: the words
(stems and stem pairs) its evidence is written in, moved by every confirmation.

A document is a text's stems plus its adjacent stem pairs, weighted (1 + log tf) x idf and scaled to unit length.
The idf comes from the written examples of all propositions (df over those documents only), so an editor's
decision never reweights another proposition's words: a confirmed item's unit vector is added to its proposition's
sum of vectors, and an item's score is its cosine with that sum (the Rocchio centroid). Words no example uses take
the highest idf, so a confirmed item widens its proposition's vocabulary at once.

The state is a projection of its inputs: each proposition's examples, and its decisions in the order they were
made (a later decision on the same item replaces the earlier one, so a rejection or a retraction takes a confirmed
item out; the newest `limit` confirmed items are kept). A confirmation is folded into the sum at once; anything
else (an item taken out, new examples anywhere, which change the idf) drops the sums concerned, and they are
summed again from the inputs in the same order when next needed, so the state after decisions taken one at a
time and after a replay of the same decisions are the same numbers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

Counts = Mapping[str, int]


def document(stems: Sequence[str]) -> Counter[str]:
    """A text's terms: its stems and its adjacent stem pairs ("a b"), with their counts."""
    return Counter([*stems, *(f"{a} {b}" for a, b in zip(stems, stems[1:], strict=False))])


@dataclass
class _Sum:
    weights: dict[str, float] = field(default_factory=dict)
    members: int = 0  # documents folded in
    _norm: float | None = None

    def fold(self, vector: Mapping[str, float]) -> None:
        weights = self.weights
        for term, w in vector.items():
            weights[term] = weights.get(term, 0.0) + w
        self.members += 1
        self._norm = None

    def norm(self) -> float:
        if self._norm is None:
            self._norm = math.sqrt(math.fsum(w * w for w in self.weights.values()))
        return self._norm


class TfidfCentroids:
    def __init__(self, limit: int = 400) -> None:
        self.limit = limit  # newest confirmed items kept per proposition
        self._examples: dict[str, list[Counter[str]]] = {}
        self._confirmed: dict[str, dict[str, Counter[str]]] = {}  # key -> evidence id -> document, oldest first
        self._df: Counter[str] = Counter()
        self._n = 0  # written examples, all propositions
        self._idf: dict[str, float] | None = None
        self._sums: dict[str, _Sum] = {}
        # term -> proposition -> the term's weight in its sum: an item looks up only the terms it has
        self._postings: dict[str, dict[str, float]] = {}
        self._column: dict[str, int] = {}  # proposition -> its place in the arrays below
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # term -> (columns, weights), from _postings
        # every proposition's sum, column and norm (`_everyone`), until a sum or an input changes
        self._all: tuple[dict[str, _Sum], np.ndarray, np.ndarray] | None = None
        self._holders: dict[str, list[str]] | None = None  # evidence id -> propositions confirmed for it

    # ---- inputs ------------------------------------------------------------------------------------

    def set_examples(self, key: str, documents: Iterable[Counts]) -> None:
        old = self._examples.pop(key, [])
        new = [Counter(d) for d in documents if d]
        if not old and not new:
            return
        for doc in old:
            self._df.subtract(doc.keys())
        for doc in new:
            self._df.update(doc.keys())
        for doc in old:  # zero counts dropped: the same df as when counted afresh
            for term in doc:
                if self._df.get(term, 1) <= 0:
                    del self._df[term]
        self._n += len(new) - len(old)
        if new:
            self._examples[key] = new
        self._idf = None
        self._sums.clear()  # every weight changes with the idf
        self._postings.clear()
        self._column.clear()
        self._arrays.clear()
        self._all = None

    def replace_decisions(self, key: str, decisions: Iterable[tuple[str, Counts, bool]]) -> None:
        """All of a proposition's decisions, oldest first: (evidence id, document, confirmed?)."""
        self._confirmed.pop(key, None)
        self._holders = None
        self._all = None
        self._drop(key)
        for evidence_id, doc, confirmed in decisions:
            self.add(key, evidence_id, doc, confirmed)

    def add(self, key: str, evidence_id: str, doc: Counts, confirmed: bool) -> None:
        """One decision as it happens; a later decision on the same item replaces the earlier one."""
        bucket = self._confirmed.setdefault(key, {})
        self._holders = None
        self._all = None
        if evidence_id in bucket:
            del bucket[evidence_id]
            self._drop(key)  # summed again, in order, when next needed
        if not confirmed:
            return
        bucket[evidence_id] = Counter(doc)
        if len(bucket) > self.limit:
            for old in list(bucket)[: len(bucket) - self.limit]:
                del bucket[old]
            self._drop(key)
        total = self._sums.get(key)
        if total is not None:
            self._fold(key, total, self.vector(doc))

    def remove(self, key: str) -> None:
        self.set_examples(key, [])
        self._confirmed.pop(key, None)
        self._holders = None
        self._all = None
        self._drop(key)

    # ---- weights -----------------------------------------------------------------------------------

    def idf(self) -> dict[str, float]:
        if self._idf is None:
            n = self._n
            self._idf = {term: math.log((n + 1) / (df + 1)) + 1.0 for term, df in self._df.items()}
        return self._idf

    def vector(self, doc: Counts) -> dict[str, float]:
        """Unit-length (1 + log tf) x idf weights of a document."""
        idf = self.idf()
        unseen = math.log(self._n + 1) + 1.0
        raw = {term: (1.0 + math.log(count)) * idf.get(term, unseen) for term, count in doc.items() if count > 0}
        norm = math.sqrt(math.fsum(w * w for w in raw.values()))
        return {term: w / norm for term, w in raw.items()} if norm > 0 else {}

    def _sum(self, key: str) -> _Sum | None:
        total = self._sums.get(key)
        if total is None:
            docs = [*self._examples.get(key, ()), *self._confirmed.get(key, {}).values()]
            if not docs:
                return None
            total = self._sums[key] = _Sum()
            self._column.setdefault(key, len(self._column))
            for doc in docs:
                self._fold(key, total, self.vector(doc))
        return total

    def _fold(self, key: str, total: _Sum, vector: Mapping[str, float]) -> None:
        total.fold(vector)
        self._all = None
        weights = total.weights
        arrays = self._arrays
        for term in vector:
            self._postings.setdefault(term, {})[key] = weights[term]
            arrays.pop(term, None)

    def _drop(self, key: str) -> None:
        total = self._sums.pop(key, None)
        if total is None:
            return
        self._all = None
        for term in total.weights:
            self._arrays.pop(term, None)
            posting = self._postings[term]
            del posting[key]
            if not posting:
                del self._postings[term]

    # ---- lookups -----------------------------------------------------------------------------------

    def cosines(self, vector: Mapping[str, float], evidence_id: str,
                keys: Iterable[str] | None) -> dict[str, float]:
        """The item's cosine with each proposition's centroid among `keys` (None: all; propositions with neither
        examples nor confirmed items are left out). An item the editors confirmed is left out of its own
        proposition's."""
        totals, order, norms = self._everyone() if keys is None else self._totals(keys)
        if not totals:
            return {}
        columns: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        factors: list[float] = []
        arrays = self._arrays
        for term, w in vector.items():
            found = arrays.get(term)
            if found is None:
                posting = self._postings.get(term)
                if not posting:
                    continue
                found = arrays[term] = (np.fromiter((self._column[k] for k in posting), np.intp, len(posting)),
                                        np.fromiter(posting.values(), np.float64, len(posting)))
            columns.append(found[0])
            weights.append(found[1])
            factors.append(w)
        if columns:
            # Each proposition's dot summed in the item's term order from 0.0, as adding one term's products at a
            # time does: bincount adds its weights in order.
            where = np.concatenate(columns)
            products = np.repeat(np.array(factors), [len(c) for c in columns]) * np.concatenate(weights)
            dots = np.bincount(where, weights=products, minlength=len(self._column))
        else:
            dots = np.zeros(len(self._column))
        # dot / norm for all at once (the same IEEE division as one at a time), then the few propositions that hold
        # the item itself as a confirmed item are worked out again without it
        kept = norms > 1e-9
        quotients = (dots[order] / np.where(kept, norms, 1.0)).tolist()
        found_cosines = {key: q for key, q, keep in zip(totals, quotients, kept.tolist(), strict=True) if keep}
        for key in self._holding.get(evidence_id, ()):
            total = totals.get(key)
            if total is None:
                continue
            found_cosines.pop(key, None)
            if total.members <= 1:
                continue
            dot = float(dots[self._column[key]])
            norm = total.norm()
            mine = self.vector(self._confirmed[key][evidence_id])
            centroid = total.weights
            dot -= sum(w * vector.get(term, 0.0) for term, w in mine.items())
            overlap = sum(w * centroid.get(term, 0.0) for term, w in mine.items())
            norm = math.sqrt(max(norm * norm - 2 * overlap + (1.0 if mine else 0.0), 0.0))
            if norm > 1e-9:
                found_cosines[key] = dot / norm
        return found_cosines

    def _totals(self, keys: Iterable[str]) -> tuple[dict[str, _Sum], np.ndarray, np.ndarray]:
        """The sums of those of `keys` that have one, their columns and their norms."""
        totals = {key: total for key in keys if (total := self._sum(key)) is not None}
        column = self._column
        return (totals, np.fromiter((column[key] for key in totals), np.intp, len(totals)),
                np.fromiter((total.norm() for total in totals.values()), np.float64, len(totals)))

    def _everyone(self) -> tuple[dict[str, _Sum], np.ndarray, np.ndarray]:
        """`_totals` of every proposition, kept until a sum or an input changes."""
        if self._all is None:
            keys = [*self._examples, *(k for k in self._confirmed if k not in self._examples)]
            everyone = self._totals(keys)
            self._all = everyone  # after `_sum`, which may fold (and so reset it)
        return self._all

    @property
    def _holding(self) -> dict[str, list[str]]:
        """Evidence id -> the propositions that hold it as a confirmed item (rebuilt when decisions change)."""
        if self._holders is None:
            holders: dict[str, list[str]] = {}
            for key, bucket in self._confirmed.items():
                for evidence_id in bucket:
                    holders.setdefault(evidence_id, []).append(key)
            self._holders = holders
        return self._holders

    def shared_terms(self, vector: Mapping[str, float], key: str, limit: int = 3) -> list[str]:
        """The item's terms that weigh most in the proposition's centroid, heaviest first."""
        total = self._sum(key)
        if total is None:
            return []
        weights = total.weights
        scored = sorted(((w * weights.get(term, 0.0), term) for term, w in vector.items()), reverse=True)
        return [term for s, term in scored[:limit] if s > 0]

    def members(self, key: str) -> int:
        """The documents in the proposition's centroid: its written examples and confirmed items."""
        total = self._sum(key)
        return total.members if total is not None else 0
