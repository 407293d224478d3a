"""What editors taught the matcher, and the features one (item, proposition) pair is scored on.

Per proposition: its profile's embedding, and the items editors confirmed (positive exemplars, with the stance
they chose) or rejected (negatives). The store is a fold of review decisions: `replace_decisions` takes them as
the proposition aggregate holds them (suggestions.open_propositions reads them from the replayed read models) and
`learn` adds one as it happens. A proposition without decisions is scored from its profile alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tracker.markup import html_to_text
from tracker.matching.model import FEATURES, STANCE_FEATURES, STANCES, MatchModel, negation
from tracker.matching.profile import Exemplar
from tracker.matching.scorer import ItemFeatures, LexicalScore, lexical_score
from tracker.matching.text import analyse
from tracker.matching.tfidf import TfidfCentroids, document

if TYPE_CHECKING:
    from tracker.matching.embedding import StaticEmbedder
    from tracker.matching.matcher import ItemInput, Matcher

MAX_PER_KIND = 400  # newest decisions kept per proposition and kind: bounds the work per item
CANDIDATES_BY_EMBEDDING = 5  # propositions proposed by the embedding stage on its own
CANDIDATES_BY_EXAMPLE_WORDS = 3  # and by the words of the profiles' written examples
CANDIDATES_BY_TFIDF = 3  # and by the TF-IDF centroid of the examples and confirmed items
KNN = 5
ALPHA = 1.0  # smoothing of a proposition's stance prior


@dataclass
class _Decided:
    exemplars: list[Exemplar] = field(default_factory=list)
    stems: list[frozenset[str]] = field(default_factory=list)
    vectors: np.ndarray | None = None
    _centroid: np.ndarray | None = None
    _counts: dict[str, int] | None = None

    def stance_counts(self) -> dict[str, int]:
        """How many exemplars have each stance (cached until the bucket changes)."""
        if self._counts is None:
            counts = dict.fromkeys(STANCES, 0)
            for exemplar in self.exemplars:
                counts[exemplar.stance or "context"] += 1
            self._counts = counts
        return self._counts

    def centroid(self) -> np.ndarray | None:
        """The unit-length mean of the exemplars' vectors (cached until the bucket changes)."""
        if self._centroid is None and self.vectors is not None and len(self.vectors):
            mean = self.vectors.mean(axis=0)
            norm = float(np.linalg.norm(mean))
            self._centroid = mean / norm if norm > 0 else mean
        return self._centroid


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


class ExemplarStore:
    def __init__(self, embedder: StaticEmbedder | None, mean: Sequence[float] | None = None) -> None:
        self.embedder = embedder
        self.mean = np.asarray(mean, dtype=np.float32) if mean is not None and embedder is not None \
            and len(mean) == embedder.dim else None
        self._profile_keys: list[str] = []
        self._profile_vectors: np.ndarray | None = None
        self._pending_profiles: dict[str, str] = {}
        self.confirmed: dict[str, _Decided] = {}
        self.rejected: dict[str, _Decided] = {}
        self.examples: dict[str, _Decided] = {}  # the profile's written examples (not decisions)
        # TF-IDF centroids of the examples + confirmed items and of the rejected items (tracker.matching.tfidf)
        self.tfidf = TfidfCentroids(MAX_PER_KIND)
        self._stacked: dict[str, tuple[int, _Stacked | None]] = {}
        self.version = 0  # bumped by every change, so the stacked matrices know when to rebuild
        self._prepared: dict[str, np.ndarray] = {}  # text -> embed_one(text), the latest `prepare` batch

    # ---- building ----------------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray | None:
        """Unit-length rows, centred on the domain mean when the model gives one."""
        if self.embedder is None:
            return None
        vectors = self.embedder.embed(texts)
        if self.mean is None or not len(vectors):
            return vectors
        vectors = vectors - self.mean
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)

    def prepare(self, texts: Iterable[str]) -> None:
        """Embed these texts now, one after another, for the `embed_one` calls that follow (only the latest batch
        is kept). The numbers are `embed_one`'s own; run back to back, the tokenizer and the embedding table stay in
        the processor's caches, which the matching between two items otherwise evicts."""
        self._prepared = {}
        if self.embedder is None:
            return
        for text in texts:
            if text not in self._prepared:
                self._prepared[text] = self._embed_one(text)

    def embed_one(self, text: str) -> np.ndarray | None:
        prepared = self._prepared.get(text)
        return prepared if prepared is not None else self._embed_one(text)

    def _embed_one(self, text: str) -> np.ndarray | None:
        if self.embedder is None:
            return None
        vector = self.embedder.embed_one(text)
        if self.mean is None:
            return vector
        vector = vector - self.mean
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def set_profile(self, key: str, text: str) -> None:
        self._pending_profiles[key] = text

    def _profiles(self) -> tuple[list[str], np.ndarray | None]:
        if self._pending_profiles and self.embedder is not None:
            vectors = dict(zip(self._profile_keys, self._profile_vectors if self._profile_vectors is not None
                               else [], strict=False))
            fresh = list(self._pending_profiles)
            for key, vector in zip(fresh, self.embedder.embed([self._pending_profiles[k] for k in fresh]),
                                   strict=True):
                vectors[key] = vector
            self._profile_keys = list(vectors)
            self._profile_vectors = np.stack([vectors[k] for k in self._profile_keys])
        self._pending_profiles.clear()
        return self._profile_keys, self._profile_vectors

    def set_examples(self, key: str, examples: Sequence[Exemplar]) -> None:
        bucket = _Decided()
        self.tfidf.set_examples(key, self._fill(bucket, list(examples)))
        self.examples[key] = bucket

    def replace_decisions(self, key: str, exemplars: Iterable[Exemplar]) -> None:
        self.version += 1
        self.confirmed[key] = _Decided()
        self.rejected[key] = _Decided()
        self.tfidf.replace_decisions(key, ())
        self._extend(key, list(exemplars))

    def add(self, key: str, exemplar: Exemplar) -> None:
        self.version += 1
        # A later decision on the same item replaces the earlier one (a retraction, a changed stance).
        for bucket in (self.confirmed.setdefault(key, _Decided()), self.rejected.setdefault(key, _Decided())):
            if any(e.evidence_id == exemplar.evidence_id for e in bucket.exemplars):
                keep = [i for i, e in enumerate(bucket.exemplars) if e.evidence_id != exemplar.evidence_id]
                bucket.exemplars = [bucket.exemplars[i] for i in keep]
                bucket.stems = [bucket.stems[i] for i in keep]
                bucket.vectors = bucket.vectors[keep] if bucket.vectors is not None else None
                bucket._centroid = None
                bucket._counts = None
        self._extend(key, [exemplar])

    def _extend(self, key: str, exemplars: list[Exemplar]) -> None:
        documents = {}
        for kind, chosen in (("confirmed", [e for e in exemplars if e.confirmed]),
                             ("rejected", [e for e in exemplars if not e.confirmed])):
            if not chosen:
                continue
            bucket = (self.confirmed if kind == "confirmed" else self.rejected).setdefault(key, _Decided())
            documents.update(zip((id(e) for e in chosen), self._fill(bucket, chosen), strict=True))
            if len(bucket.exemplars) > MAX_PER_KIND:
                bucket.exemplars = bucket.exemplars[-MAX_PER_KIND:]
                bucket.stems = bucket.stems[-MAX_PER_KIND:]
                bucket.vectors = bucket.vectors[-MAX_PER_KIND:] if bucket.vectors is not None else None
                bucket._centroid = None
                bucket._counts = None
        for exemplar in exemplars:  # in the order they were made, as `add` takes them one at a time
            self.tfidf.add(key, exemplar.evidence_id, documents[id(exemplar)], exemplar.confirmed)

    def _fill(self, bucket: _Decided, chosen: list[Exemplar]) -> list[Counter[str]]:
        """Add the exemplars to the bucket; their TF-IDF documents (tracker.matching.tfidf.document)."""
        self.version += 1
        if not chosen:
            return []
        texts = [f"{e.title}. {e.summary}" if e.summary else e.title for e in chosen]
        stems = [analyse(t).stems for t in texts]
        bucket.exemplars += chosen
        bucket._centroid = None
        bucket._counts = None
        bucket.stems += [frozenset(s) for s in stems]
        vectors = self.embed(texts)
        if vectors is not None:
            bucket.vectors = vectors if bucket.vectors is None else np.vstack([bucket.vectors, vectors])
        return [document(s) for s in stems]

    def remove(self, key: str) -> None:
        self.version += 1
        self.examples.pop(key, None)
        self.confirmed.pop(key, None)
        self.rejected.pop(key, None)
        self.tfidf.remove(key)
        self._pending_profiles.pop(key, None)
        if key in self._profile_keys and self._profile_vectors is not None:
            keep = [i for i, k in enumerate(self._profile_keys) if k != key]
            self._profile_keys = [self._profile_keys[i] for i in keep]
            self._profile_vectors = self._profile_vectors[keep]

    # ---- lookups -----------------------------------------------------------------------------------

    def profile_cosines(self, vector: np.ndarray | None) -> dict[str, float]:
        keys, matrix = self._profiles()
        if vector is None or matrix is None:
            return {}
        return dict(zip(keys, np.einsum("ij,j->i", matrix, vector).tolist(), strict=True))

    @staticmethod
    def nearest(bucket: _Decided | None, vector: np.ndarray | None, stems: frozenset[str],
                evidence_id: str, limit: int = KNN) -> list[tuple[float, int]]:
        """(cosine, index) of the bucket's `limit` nearest exemplars, nearest first; the item itself is never its own
        exemplar. Without embeddings, word overlap stands in for the cosine."""
        if bucket is None or not bucket.exemplars:
            return []
        if vector is not None and bucket.vectors is not None:
            sims = np.einsum("ij,j->i", bucket.vectors, vector)
            ids = [e.evidence_id for e in bucket.exemplars]
            if evidence_id in ids:
                sims[[i for i, x in enumerate(ids) if x == evidence_id]] = -np.inf
            return _nearest_of(sims, limit)
        overlaps = [_jaccard(stems, s) for s in bucket.stems]
        ranked = sorted(((s, i) for i, s in enumerate(overlaps) if bucket.exemplars[i].evidence_id != evidence_id),
                        reverse=True)
        return ranked[:limit]

    def best(self, kind: str, vector: np.ndarray | None, stems: frozenset[str], evidence_id: str,
             keys: Iterable[str] | None) -> dict[str, float]:
        """Per proposition among `keys` (None: all), the similarity of its nearest exemplar of `kind` ("confirmed"
        or "examples"), the item itself left out: one matrix product over all of them instead of one per
        proposition."""
        return self.similar(kind, vector, stems, evidence_id, keys)[0]

    def similar(self, kind: str, vector: np.ndarray | None, stems: frozenset[str], evidence_id: str,
                keys: Iterable[str] | None) -> tuple[dict[str, float], _Sims | None]:
        """`best`, and the item's similarity to every exemplar of the kind (the item's own rows at -inf), from which
        `nearest_in` ranks one proposition's exemplars without another product."""
        buckets = self.confirmed if kind == "confirmed" else self.examples
        stacked = self._stack(kind, buckets) if vector is not None else None
        if vector is not None and stacked is None:
            return {}, None  # no exemplar of this kind anywhere
        if stacked is None or vector is None:
            found = {}
            for key in buckets if keys is None else keys:
                near = self.nearest(buckets.get(key), vector, stems, evidence_id)
                if near:
                    found[key] = near[0][0]
            return found, None
        # einsum, not `@`: for a matrix this size OpenBLAS starts threads, and on a busy machine their hand-offs
        # cost ten times the arithmetic (measured 3-8 ms against 0.5 ms for 6,000 x 256). Each row's cosine is the
        # same number as the bucket's own product gives (`nearest`): einsum sums every row the same way.
        sims = np.einsum("ij,j->i", stacked.matrix, vector)
        for row in stacked.rows_of.get(evidence_id, ()):
            sims[row] = -np.inf
        maxima = np.maximum.reduceat(sims, stacked.starts).tolist()
        if keys is None:
            found = {key: m for key, m in zip(stacked.keys, maxima, strict=True) if m > -np.inf}
        else:
            wanted = set(keys)
            found = {key: m for key, m in zip(stacked.keys, maxima, strict=True) if key in wanted and m > -np.inf}
        return found, _Sims(stacked, sims)

    def nearest_in(self, kind: str, key: str, sims: _Sims | None, vector: np.ndarray | None, stems: frozenset[str],
                   evidence_id: str, limit: int = KNN) -> list[tuple[float, int]]:
        """`nearest` for one proposition's bucket of `kind`, from the similarities `similar` gave when it has them."""
        buckets = self.confirmed if kind == "confirmed" else self.examples
        bucket = buckets.get(key)
        if sims is None or bucket is None or not bucket.exemplars or bucket.vectors is None:
            return self.nearest(bucket, vector, stems, evidence_id, limit)
        span = sims.stacked.spans.get(key)
        if span is None:
            return self.nearest(bucket, vector, stems, evidence_id, limit)
        return _nearest_of(sims.values[span[0]:span[1]], limit)

    def _stack(self, kind: str, buckets: dict[str, _Decided]) -> _Stacked | None:
        version, stacked = self._stacked.get(kind, (-1, None))
        if version != self.version:
            keys = [k for k, b in buckets.items() if b.vectors is not None and len(b.vectors)]
            if keys:
                sizes = [len(buckets[k].vectors) for k in keys]  # type: ignore[arg-type]
                rows_of: dict[str, list[int]] = {}
                row = 0
                for key in keys:
                    for exemplar in buckets[key].exemplars:
                        rows_of.setdefault(exemplar.evidence_id, []).append(row)
                        row += 1
                starts = np.cumsum([0, *sizes[:-1]])
                spans = {key: (int(start), int(start) + size) for key, start, size in zip(keys, starts, sizes,
                                                                                          strict=True)}
                stacked = _Stacked(keys, starts, np.vstack([buckets[k].vectors for k in keys]),  # type: ignore[misc]
                                   rows_of, spans)
            else:
                stacked = None
            self._stacked[kind] = (self.version, stacked)
        return stacked


@dataclass
class _Stacked:
    """Every exemplar vector of one kind in one matrix, each proposition's rows contiguous from its start."""

    keys: list[str]
    starts: np.ndarray
    matrix: np.ndarray
    rows_of: dict[str, list[int]]  # evidence id -> its rows (an item is never its own exemplar)
    spans: dict[str, tuple[int, int]]  # proposition -> its rows, from and to


@dataclass
class _Sims:
    """One item's similarity to every row of a `_Stacked` (its own rows at -inf)."""

    stacked: _Stacked
    values: np.ndarray


def _nearest_of(sims: np.ndarray, limit: int) -> list[tuple[float, int]]:
    """(similarity, index) of the `limit` highest, highest first; -inf rows left out."""
    k = min(limit, len(sims))
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    values = sims[top]
    order = np.lexsort((-top, -values))  # nearest first; among equals, the later decision first
    return [(s, i) for s, i in zip(values[order].tolist(), top[order].tolist(), strict=True) if s > -np.inf]


@dataclass
class PairRow:
    key: str
    features: tuple[float, ...]
    stance_features: tuple[float, ...]
    scored: LexicalScore  # the lexical scorer's result; `lexical` is its explanation (entities, terms, cues...)
    cosine: float | None
    confirmed: list[tuple[Exemplar, float]]  # nearest confirmed exemplars (with cosine), nearest first
    rejected: tuple[Exemplar, float] | None  # the nearest rejected exemplar
    examples: list[tuple[Exemplar, float]] = field(default_factory=list)  # nearest profile examples
    tfidf: float | None = None  # cosine with the TF-IDF centroid of the examples and confirmed items
    # the item's words that weigh most in that centroid, and how many documents it holds (worked out only for the
    # rows an editor is shown)
    tfidf_words: Callable[[], tuple[list[str], int]] = field(default=lambda: ([], 0))

    @property
    def lexical(self) -> dict[str, Any]:
        """The lexical scorer's explanation, built on first use (only rows an editor is shown need it)."""
        explanation = self.__dict__.get("_lexical")
        if explanation is None:
            explanation = self.__dict__["_lexical"] = self.scored.explanation()
        return explanation


def _no_words() -> tuple[list[str], int]:
    return [], 0


def _shared_words(store: ExemplarStore, vector: dict[str, float], key: str,
                  words: dict[str, str]) -> Callable[[], tuple[list[str], int]]:
    def shared() -> tuple[list[str], int]:
        terms = store.tfidf.shared_terms(vector, key)
        return [" ".join(words.get(s, s) for s in term.split()) for term in terms], store.tfidf.members(key)
    return shared


def _top(scores: dict[str, float], n: int) -> list[str]:
    """The keys of the `n` highest scores, highest first, ties to the smaller key: `sorted` by (-score, key) and cut,
    with only the scores at or above the n-th highest sorted."""
    if len(scores) > 4 * n:
        values = np.fromiter(scores.values(), np.float64, len(scores))
        kth = np.partition(values, len(values) - n)[len(values) - n]
        keys = list(scores)
        chosen = [keys[i] for i in np.flatnonzero(values >= kth).tolist()]
    else:
        chosen = list(scores)
    return sorted(chosen, key=lambda k: (-scores[k], k))[:n]


def item_text(item: ItemInput) -> str:
    """An item's text as the matcher reads it, before names are mended (Matcher.text_of): title and summary,
    with markup and character references a feed left in (escaped twice, or attached by hand) taken out."""
    text = f"{item.title}. {item.summary}"
    return html_to_text(text) if "<" in text or "&" in text else text


def pair_rows(matcher: Matcher, item: ItemInput, analysed: ItemFeatures,
              eligible: Sequence[str] | None) -> list[PairRow]:
    """The feature rows of the item's candidates among the `eligible` propositions (None: all of them)."""
    store = matcher.exemplars
    text = analysed.text
    vector = store.embed_one(text)
    stems = frozenset(t for t in analysed.tokens if not t.startswith("@"))
    allowed = None if eligible is None else set(eligible)
    evidence_id = item.evidence_id

    bm25 = matcher.candidates_for(analysed)
    bm25_rank = {key: rank for rank, (key, _) in enumerate(bm25)}
    partial = dict(bm25)
    cosines = store.profile_cosines(vector)
    if allowed is not None:
        cosines = {k: v for k, v in cosines.items() if k in allowed}
    best_confirmed, confirmed_sims = store.similar("confirmed", vector, stems, evidence_id, allowed)
    best_example, example_sims = store.similar("examples", vector, stems, evidence_id, allowed)
    by_examples = [key for key, _ in matcher.example_index.candidates(analysed.tokens, 10)
                   if allowed is None or key in allowed]
    example_rank = {key: rank for rank, key in enumerate(by_examples)}
    item_stems = analysed.analysed or analyse(text)
    tfidf_vector = store.tfidf.vector(document(item_stems.stems))
    tfidf = store.tfidf.cosines(tfidf_vector, evidence_id, allowed)

    # Candidates: the lexical stage's, plus what the embedding and the editors' exemplars propose on their own.
    order = [key for key, _ in bm25]
    order += _top(cosines, CANDIDATES_BY_EMBEDDING)
    order += _top(best_confirmed, CANDIDATES_BY_EMBEDDING)
    order += _top(best_example, CANDIDATES_BY_EMBEDDING)
    order += by_examples[:CANDIDATES_BY_EXAMPLE_WORDS]
    order += _top(tfidf, CANDIDATES_BY_TFIDF)
    candidates = list(dict.fromkeys(order))
    # and the broader propositions the candidates declare, so the second stage can pull them in
    profiles = matcher.profiles
    eligible_keys = profiles if allowed is None else allowed
    candidates += [b for key in list(candidates) for b in profiles[key].broader
                   if b in eligible_keys and b not in candidates]
    candidates = list(dict.fromkeys(candidates))

    index = matcher.index
    common = index.common_tokens(analysed.tokens)
    scored = []
    every: dict[str, float] | None = None  # index.score of every document, once one is needed
    for key in candidates:
        if key in partial:
            full = partial[key] + index.common_share(key, common)
        else:
            if every is None:
                every = index.scores(analysed.tokens)
            full = every.get(key, 0.0)
        result = lexical_score(profiles[key], analysed, full, matcher._specificity, matcher.weights,
                               matcher._shadows, matcher._tables.get(key))
        if result.vetoes:
            continue  # an exclusion phrase still vetoes outright
        scored.append((key, result))
    if not scored:
        return []
    top_lexical = max(r.score for _, r in scored)
    top_cosine = max(cosines.values(), default=0.0)
    top_confirmed = max(best_confirmed.values(), default=0.0)
    top_example = max(best_example.values(), default=0.0)
    top_tfidf = max(tfidf.values(), default=0.0)
    words = dict(zip(item_stems.stems, item_stems.raw, strict=True))  # a stem as the item wrote it
    item_negation = negation(text)

    rows = []
    confirmed_buckets, rejected_buckets, example_buckets = store.confirmed, store.rejected, store.examples
    polarities = matcher._polarity
    for key, result in scored:
        lexical = result.score
        terms, entities, bm25_component, cues_component = result.components
        conf_bucket = confirmed_buckets.get(key)
        if conf_bucket is not None and conf_bucket.exemplars:
            confirmed = store.nearest_in("confirmed", key, confirmed_sims, vector, stems, evidence_id)
            c_cos = confirmed[0][0] if confirmed else 0.0
            c_overlap = _jaccard(stems, conf_bucket.stems[confirmed[0][1]]) if confirmed else 0.0
            centroid = conf_bucket.centroid() if vector is not None else None
            c_centroid = float(centroid @ vector) if centroid is not None else 0.0
            nearest = [(conf_bucket.exemplars[i], s) for s, i in confirmed[:KNN]]
            counts = conf_bucket.stance_counts()
        else:  # what the lines above give for no confirmed exemplar
            confirmed, c_cos, c_overlap, c_centroid, nearest, counts = [], 0.0, 0.0, 0.0, [], _NO_COUNTS
        rejected_bucket = rejected_buckets.get(key)
        if rejected_bucket is not None and rejected_bucket.exemplars:
            rejected = store.nearest(rejected_bucket, vector, stems, evidence_id)
            r_cos = rejected[0][0] if rejected else 0.0
            r_overlap = _jaccard(stems, rejected_bucket.stems[rejected[0][1]]) if rejected else 0.0
            near_rejected = (rejected_bucket.exemplars[rejected[0][1]], r_cos) if rejected else None
        else:
            rejected, r_cos, r_overlap, near_rejected = [], 0.0, 0.0, None
        cosine = cosines.get(key, 0.0)
        example_bucket = example_buckets.get(key)
        examples = store.nearest_in("examples", key, example_sims, vector, stems, evidence_id)
        e_cos = examples[0][0] if examples else 0.0
        e_overlap = _jaccard(stems, example_bucket.stems[examples[0][1]]) if examples and example_bucket else 0.0
        e_centre = example_bucket.centroid() if example_bucket is not None and vector is not None else None
        rank = bm25_rank.get(key)
        item_tfidf = tfidf.get(key)
        features = (
            lexical, terms, entities, bm25_component, cues_component,
            0.0 if rank is None else 1.0 / (rank + 1), lexical - top_lexical,
            cosine, cosine - top_cosine,
            1.0 if confirmed else 0.0, c_cos, (c_cos - top_confirmed) if confirmed else 0.0, c_overlap, c_centroid,
            1.0 if rejected else 0.0, r_cos, r_overlap, (r_cos - c_cos) if confirmed and rejected else 0.0,
            e_cos, (e_cos - top_example) if examples else 0.0, e_overlap,
            float(e_centre @ vector) if e_centre is not None else 0.0,
            1.0 / (example_rank[key] + 1) if key in example_rank else 0.0,
            0.0 if item_tfidf is None else item_tfidf, 0.0 if item_tfidf is None else item_tfidf - top_tfidf,
            0.0,  # broader_pull: set by the second stage (Matcher._scored_by_model) from the other rows
        )
        assert len(features) == len(FEATURES)
        nearest_examples = [(example_bucket.exemplars[i], s) for s, i in examples[:KNN]] if example_bucket else []
        n = sum(counts.values())
        polarity = polarities.get(key, 0.0)
        stance_features = (
            float(len(result.supports)), float(len(result.contradicts)),
            item_negation, item_negation * polarity, polarity,
            *_vote_shares(nearest),
            *(((counts[s] + ALPHA / 3) / (n + ALPHA) for s in STANCES) if n else _NO_VOTES),
            1.0 if n else 0.0,
            *_vote_shares(nearest_examples),
            e_cos, 0.0 if item_tfidf is None else item_tfidf,
        )
        assert len(stance_features) == len(STANCE_FEATURES)
        rows.append(PairRow(key, features, stance_features, result,
                            cosines.get(key) if vector is not None else None, nearest, near_rejected,
                            nearest_examples, item_tfidf,
                            _shared_words(store, tfidf_vector, key, words) if item_tfidf is not None else _no_words))
    return rows


def _vote_shares(nearest: list[tuple[Exemplar, float]]) -> tuple[float, ...]:
    """Each stance's share of the similarity-weighted vote of the nearest exemplars (0 without a vote)."""
    if not nearest:
        return _NO_VOTES
    votes = dict.fromkeys(STANCES, 0.0)
    for exemplar, similarity in nearest:
        votes[exemplar.stance or "context"] += max(similarity, 0.0)
    total = sum(votes.values())
    return tuple(votes[s] / total if total else 0.0 for s in STANCES)


_NO_VOTES = (0.0,) * len(STANCES)
_NO_COUNTS = dict.fromkeys(STANCES, 0)


# An exemplar is named in the explanation when it is at least this close (centred cosine, which runs lower than
# the raw one; word overlap without embeddings).
NAMED_CONFIRMED = 0.4
NAMED_REJECTED = 0.4
NAMED_TFIDF = 0.15  # TF-IDF cosine with a centroid, which runs far lower than a cosine with one text


def _short(title: str, limit: int = 80) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def describe(row: PairRow, probability: float, stance: str, stance_probabilities: dict[str, float],
             model: MatchModel, narrower: str | None = None) -> dict[str, Any]:
    """The explanation an editor reads: the lexical evidence as before, then what the embedding and the
    editors' earlier decisions added, in words, with the numbers kept alongside for the API."""
    explanation = dict(row.lexical)
    lexical = explanation.get("score", 0.0)
    pull = row.features[FEATURES.index("broader_pull")]
    confirmed = [(e, s) for e, s in row.confirmed if s >= NAMED_CONFIRMED][:2]
    rejected = row.rejected if row.rejected and row.rejected[1] >= NAMED_REJECTED else None
    examples = [(e, s) for e, s in row.examples if s >= NAMED_CONFIRMED][:1]
    names = ", ".join(m["entity"] for m in explanation.get("entities", []))
    tfidf_words, tfidf_documents = row.tfidf_words()
    words = ", ".join(m["term"] for m in explanation.get("terms", [])[:4])
    parts = [
        f"names {names}" if names else "",
        f"profile terms {words}" if words else "no profile terms",
        f"close in meaning to the proposition ({row.cosine:.2f})" if row.cosine is not None and row.cosine >= 0.5
        else "",
        *(f"close to confirmed item '{_short(e.title)}' ({e.stance}, {s:.2f})" for e, s in confirmed),
        *(f"like the profile's example '{_short(e.title)}' ({e.stance}, {s:.2f})" for e, s in examples),
        f"worded like its examples and confirmed items ({', '.join(tfidf_words)}; {row.tfidf:.2f})"
        if row.tfidf is not None and row.tfidf >= NAMED_TFIDF and tfidf_words else "",
        f"resembles rejected item '{_short(rejected[0].title)}' ({rejected[1]:.2f})" if rejected else "",
        f"an instance of it, {narrower}, is likely ({pull:.0%})" if narrower and pull > 0 else "",
    ]
    votes = [e.stance for e, _ in row.confirmed]
    example_votes = [e.stance for e, _ in row.examples]
    why_stance = (f"{votes.count(stance)} of {len(votes)} similar confirmed items were {stance}" if votes
                  else f"{example_votes.count(stance)} of {len(example_votes)} similar profile examples are {stance}"
                  if example_votes else "from the stance cues and the proposition's wording")
    explanation.update({
        "score": probability,
        "probability": probability,
        "lexical": lexical,
        "semantic": None if row.cosine is None else {"cosine": round(row.cosine, 3)},
        "exemplars": {
            "confirmed": [{"evidence_id": e.evidence_id, "title": e.title, "stance": e.stance,
                           "similarity": round(s, 3)} for e, s in row.confirmed[:3]],
            "rejected": None if row.rejected is None else {
                "evidence_id": row.rejected[0].evidence_id, "title": row.rejected[0].title,
                "similarity": round(row.rejected[1], 3)},
            "examples": [{"text": e.title, "stance": e.stance, "similarity": round(s, 3)} for e, s in row.examples[:3]],
        },
        "broader_of": None if narrower is None else {"proposition_id": narrower, "probability": round(pull, 4)},
        "tfidf": None if row.tfidf is None else {"cosine": round(row.tfidf, 3), "words": tfidf_words,
                                                 "documents": tfidf_documents},
        "stance": {"suggested": stance, "probabilities": {k: round(v, 3) for k, v in stance_probabilities.items()},
                   "why": why_stance},
        "features": {name: round(x, 4) for name, x in zip(FEATURES, row.features, strict=True)},
        "summary": f"{probability:.0%} likely to be confirmed: " + "; ".join(p for p in parts if p)
                   + f"; suggested stance {stance} ({why_stance})",
    })
    return explanation
