"""The public matching API: which tracked propositions does a news item bear on? Pure: no I/O, no clock.

    matcher = Matcher(propositions, suggest_threshold=0.35, auto_threshold=None)
    for suggestion in matcher.match(item): ...

Per item: analyse the text once, find its entities (aliases, other scripts, typos), look up candidate
propositions in the BM25 index, then rescore only the best few candidates with the full scorer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from tracker.matching.exemplars import ExemplarStore, PairRow, describe, item_text, pair_rows
from tracker.matching.index import BM25Index
from tracker.matching.model import MatchModel, polarity, second_stage
from tracker.matching.profile import (
    BASE_SYNONYMS,
    EntityTable,
    Exemplar,
    MatchProfile,
    PropositionInput,
    compile_profile,
)
from tracker.matching.scorer import ItemFeatures, ProfileTable, Weights, profile_table, score_pair
from tracker.matching.text import analyse, fold, ngrams, phrase_key, stem

if TYPE_CHECKING:
    from tracker.matching.embedding import StaticEmbedder

STANCES = ("supports", "contradicts", "context")
# Words that may be misspelt names: five letters or more (shorter ones are too often another word).
_NAME = re.compile(r"[^\W\d_]{5,}")


@dataclass(frozen=True)
class ItemInput:
    evidence_id: str
    title: str
    summary: str = ""
    published: datetime | None = None
    language: str | None = None


@dataclass(frozen=True)
class Suggestion:
    proposition_id: str
    score: float
    explanation: dict[str, Any]
    suggested_stance: str
    automatic: bool = False


class SemanticScorer(Protocol):
    """Cosine similarity between an item and a proposition, in [0, 1] (see tracker.matching.semantic)."""

    def prepare(self, profiles: Sequence[MatchProfile]) -> None: ...

    def similarities(self, text: str, proposition_ids: Sequence[str]) -> dict[str, float]: ...


@dataclass
class MatcherStats:
    items: int = 0
    rescored: int = 0  # (item, proposition) pairs that reached the full scorer
    last_rescored: list[str] = field(default_factory=list)


def _utc_naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _cutoff(value: date | datetime | None) -> datetime | None:
    """The earliest instant evidence may bear: after a datetime; from the day after a bare date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc_naive(value)
    return datetime(value.year, value.month, value.day) + timedelta(days=1)


class Matcher:
    def __init__(
        self,
        propositions: Iterable[PropositionInput],
        *,
        suggest_threshold: float = 0.35,
        auto_threshold: float | None = None,
        not_before: date | datetime | Mapping[str, date | datetime] | None = None,
        max_suggestions: int = 3,
        relative_floor: float = 0.0,
        candidates: int = 8,
        weights: Weights | None = None,
        semantic: SemanticScorer | None = None,
        semantic_weight: float = 0.3,
        model: MatchModel | None = None,
        embedder: StaticEmbedder | None = None,
        embedding_mean: Sequence[float] | None = None,
    ) -> None:
        if not 0.0 <= suggest_threshold <= 1.0:
            raise ValueError(f"suggest_threshold must lie in [0, 1], got {suggest_threshold}")
        if auto_threshold is not None and not suggest_threshold <= auto_threshold <= 1.0:
            raise ValueError(f"auto_threshold ({auto_threshold}) must lie between suggest_threshold "
                             f"({suggest_threshold}) and 1")
        self.suggest_threshold = suggest_threshold
        self.auto_threshold = auto_threshold
        self.max_suggestions = max_suggestions
        self.relative_floor = relative_floor
        self.candidate_limit = candidates
        self.weights = weights or Weights()
        self.semantic = semantic
        self.semantic_weight = semantic_weight
        # With a fitted model the score is P(confirmed) from lexical, embedding and exemplar features;
        # without one it is the lexical score alone (as before the model existed).
        self.model = model
        self.embedder = embedder
        if embedding_mean is None and model is not None:
            embedding_mean = model.embedding_mean
        self.exemplars = ExemplarStore(embedder, embedding_mean)
        self._polarity: dict[str, float] = {}
        self._default_not_before = not_before
        self.stats = MatcherStats()
        self.entities = EntityTable()
        self.index = BM25Index()
        self.example_index = BM25Index()  # each proposition's written examples, as one document
        self.profiles: dict[str, MatchProfile] = {}
        self._cutoffs: dict[str, datetime | None] = {}
        self._latest_cutoff: tuple[datetime, int] | None = None  # (latest cutoff, how many have one), cached
        self._specificity: dict[str, float] = {}
        self._synonyms = {phrase_key(k): phrase_key(v) for k, v in BASE_SYNONYMS.items()}
        self._max_n = 2
        self._prefixes: frozenset[str] = frozenset()
        self._tables: dict[str, ProfileTable] = {}  # per profile, what lexical scoring reads (profile_table)
        self._load(list(propositions))

    # ---- building -------------------------------------------------------------------------------

    def _not_before_for(self, proposition: PropositionInput) -> date | datetime | None:
        if proposition.not_before is not None:
            return proposition.not_before
        default = self._default_not_before
        if isinstance(default, Mapping):
            return default.get(proposition.proposition_id)
        return default

    def _load(self, propositions: list[PropositionInput]) -> None:
        compiled = []
        for proposition in propositions:
            profile = compile_profile(proposition, self.entities)
            self.profiles[profile.proposition_id] = profile
            self._cutoffs[profile.proposition_id] = _cutoff(self._not_before_for(proposition))
            compiled.append(profile)
        self._latest_cutoff = None
        self.index.set_many((p.proposition_id, p.document) for p in compiled)
        self._refresh_specificity()
        for profile in compiled:
            if not profile.examples:
                self.example_index.remove(profile.proposition_id)  # an amended profile may have dropped them
        self.example_index.set_many(
            (p.proposition_id, self.features(ItemInput("", " ".join(e.title for e in p.examples))).tokens)
            for p in compiled if p.examples
        )
        if self.semantic is not None and compiled:
            self.semantic.prepare(compiled)
        for proposition, profile in zip(propositions, compiled, strict=True):
            self._polarity[profile.proposition_id] = polarity(profile.statement)
            self.exemplars.set_profile(profile.proposition_id, profile_text(profile))
            self.exemplars.set_examples(profile.proposition_id, profile.examples)
            self.exemplars.replace_decisions(profile.proposition_id, proposition.exemplars)

    def _refresh_specificity(self) -> None:
        """A term used by many profiles says less about any one of them: weight it by a normalised IDF."""
        n = len(self.profiles)
        df: dict[str, int] = {}
        for profile in self.profiles.values():
            for key in {t.key for t in profile.terms}:
                df[key] = df.get(key, 0) + 1
        top = math.log(1 + n) if n > 1 else 1.0
        self._specificity = {k: (math.log(1 + n / c) / top if n > 1 else 1.0) for k, c in df.items()}
        # Longer terms that contain a shorter one: when the longer is present, the shorter is only part of it.
        owners: dict[str, set[str]] = {}
        for profile in self.profiles.values():
            for term in profile.terms:
                owners.setdefault(term.key, set()).add(profile.proposition_id)
        shadows: dict[str, list[str]] = {}
        for short in owners:
            padded = f" {short} "
            for long in owners:
                if long != short and padded in f" {long} " and not owners[long] <= owners[short]:
                    shadows.setdefault(short, []).append(long)
        self._shadows = {k: tuple(v) for k, v in shadows.items()}
        # Which words can begin a phrase, and how long phrases get: n-grams are built only for those.
        keys = [*self.entities.aliases, *self._synonyms]
        for profile in self.profiles.values():
            keys += [t.key for t in (*profile.terms, *profile.exclusions, *profile.supports, *profile.contradicts)]
        split = [k.split() for k in keys if " " in k]
        self._prefixes = frozenset(" ".join(words[:n]) for words in split for n in range(1, len(words)))
        self._max_n = max((len(words) for words in split), default=1)
        self._tables = {key: profile_table(profile, self._specificity, self._shadows)
                        for key, profile in self.profiles.items()}

    def add(self, proposition: PropositionInput) -> None:
        """Add or replace one proposition (a new or amended one; backfill then re-runs `match`)."""
        self.replace(proposition)

    def replace(self, proposition: PropositionInput) -> None:
        self._load([proposition])

    def learn(self, proposition_id: str, exemplar: Exemplar) -> None:
        """Take one editor decision into account at once (confirmed with a stance, or rejected)."""
        if proposition_id in self.profiles:
            self.exemplars.add(proposition_id, exemplar)

    def remove(self, proposition_id: str) -> None:
        self.profiles.pop(proposition_id, None)
        self._cutoffs.pop(proposition_id, None)
        self._latest_cutoff = None
        self.exemplars.remove(proposition_id)
        self.index.remove(proposition_id)
        self.example_index.remove(proposition_id)
        self._refresh_specificity()

    # ---- matching -------------------------------------------------------------------------------

    def text_of(self, item: ItemInput) -> str:
        """The item's text as every stage reads it (analysis, BM25, embeddings, TF-IDF): `item_text` with
        misspelt names mended ("Kremiln" -> "Kremlin")."""
        return self._mend(item_text(item))[0]

    def _mend(self, text: str) -> tuple[str, dict[str, str]]:
        """Capitalised words nobody indexed that are a small edit away from a one-word alias, replaced by it
        (typos in names); also returns the mended words' stems -> the words as written, folded (the explanation
        names the typo)."""
        mended: dict[str, str] = {}
        index, aliases, entities = self.index, self.entities.aliases, self.entities

        def mend(match: re.Match[str]) -> str:
            word = match.group(0)
            if not word[0].isupper():
                return word
            folded = fold(word)
            key = stem(folded)
            if key in aliases or key in index:
                return word
            alias = entities.nearest(folded)
            if alias is None:
                return word
            mended[stem(alias)] = folded
            return alias[:1].upper() + alias[1:]

        return _NAME.sub(mend, text), mended

    def features(self, item: ItemInput) -> ItemFeatures:
        text, mended = self._mend(item_text(item))
        analysed = analyse(text)
        features = ngrams(analysed.stems, self._max_n, self._prefixes) | analysed.compounds
        for target in [self._synonyms[f] for f in features if f in self._synonyms]:
            features.add(target)
            features.update(target.split())
        entities: dict[str, tuple[str, bool]] = {}
        aliases = self.entities.aliases
        for feature in features:
            ids = aliases.get(feature)
            if ids:
                for ident in ids:  # a mended name is shown as it was written, as found by typo tolerance
                    entities.setdefault(ident, (mended.get(feature, feature), feature in mended))
        for word, stemmed, capital in zip(analysed.raw, analysed.stems, analysed.capitalised, strict=True):
            # Typo tolerance for the analysed words too: "Zelensky's" reads "zelenskys", which no alias is.
            if capital and stemmed not in self.index and stemmed not in aliases:
                for ident in self.entities.fuzzy(word):
                    entities.setdefault(ident, (word, True))
        # BM25 sees single words and entity ids; n-grams only serve phrase terms.
        tokens = (*(f for f in features if " " not in f), *entities)
        features.update(entities)
        published = _utc_naive(item.published) if item.published else None
        return ItemFeatures(frozenset(features), tuple(tokens), entities, published, analysed, text)

    def _eligible(self, proposition_id: str, published: datetime | None) -> bool:
        cutoff = self._cutoffs.get(proposition_id)
        return cutoff is None or (published is not None and published >= cutoff)

    def _eligible_keys(self, published: datetime | None) -> list[str] | None:
        """The propositions evidence published then may bear on; None when that is all of them."""
        cutoffs = self._cutoffs
        latest = self._latest_cutoff
        if latest is None:  # worked out once per set of propositions
            dated = [c for c in cutoffs.values() if c is not None]
            latest = self._latest_cutoff = (max(dated) if dated else datetime.min, len(dated))
        if not latest[1] or (published is not None and published >= latest[0]):
            return None
        return [key for key in self.profiles if self._eligible(key, published)]

    def pair_rows(self, item: ItemInput) -> list[PairRow]:
        """The feature rows of the item's candidates (BM25 best, embedding nearest, exemplar nearest)."""
        analysed = self.features(item)
        eligible = self._eligible_keys(analysed.published)
        self.stats.items += 1
        if not self.profiles or eligible == []:
            self.stats.last_rescored = []
            return []
        rows = pair_rows(self, item, analysed, eligible)
        self.stats.rescored += len(rows)
        self.stats.last_rescored = [row.key for row in rows]
        return rows

    def _scored(self, item: ItemInput, floor: float = 0.0,
                limit: int | None = None) -> list[tuple[str, float, str, dict[str, Any]]]:
        """Scored candidates at or above `floor`, best first, at most `limit` of them."""
        if self.model is not None:
            return self._scored_by_model(item, self.model, floor, limit)
        return [r for r in self._scored_lexical(item) if r[1] >= floor][:limit]

    def _scored_by_model(self, item: ItemInput, model: MatchModel, floor: float,
                         limit: int | None) -> list[tuple[str, float, str, dict[str, Any]]]:
        rows = self.pair_rows(item)
        broader = {row.key: self.profiles[row.key].broader for row in rows}
        pulled: dict[str, str] = {}
        for row, (features, narrower) in zip(
                rows, second_stage([(row.key, row.features) for row in rows], model.probability, broader),
                strict=True):
            row.features = features
            if narrower is not None:
                pulled[row.key] = narrower
        scored = sorted(((round(model.probability(row.features), 4), row) for row in rows),
                        key=lambda r: (-r[0], r[1].key))
        results = []
        # Only what is returned is explained: most candidates of an item are never shown.
        for probability, row in [r for r in scored if r[0] >= floor][:limit]:
            stance, stance_probabilities = model.stance(row.stance_features)
            results.append((row.key, probability, stance,
                            describe(row, probability, stance, stance_probabilities, model, pulled.get(row.key))))
        return results

    def _scored_lexical(self, item: ItemInput) -> list[tuple[str, float, str, dict[str, Any]]]:
        analysed = self.features(item)
        candidates = [
            (key, bm) for key, bm in self.index.candidates(analysed.tokens, self.candidate_limit * 3)
            if self._eligible(key, analysed.published)
        ][: self.candidate_limit]
        self.stats.items += 1
        self.stats.rescored += len(candidates)
        self.stats.last_rescored = [key for key, _ in candidates]
        if not candidates:
            return []
        similarities: dict[str, float] = {}
        if self.semantic is not None:
            similarities = self.semantic.similarities(analysed.text, [k for k, _ in candidates])
        results = []
        common = self.index.common_tokens(analysed.tokens)
        for key, partial in candidates:
            bm25 = partial + self.index.common_share(key, common)
            score, stance, explanation = score_pair(
                self.profiles[key], analysed, bm25, self._specificity, self.weights, self._shadows,
                self._tables.get(key),
            )
            if key in similarities and score > 0:
                cosine = similarities[key]
                lexical = score
                score = round((1 - self.semantic_weight) * lexical + self.semantic_weight * cosine, 4)
                explanation["semantic"] = {
                    "cosine": round(cosine, 3), "lexical": lexical, "weight": self.semantic_weight,
                }
                detail = explanation["summary"].split(": ", 1)[-1]
                explanation["summary"] = f"score {score:.2f} (lexical {lexical:.2f}, semantic {cosine:.2f}): {detail}"
                explanation["score"] = score
            if score > 0:
                results.append((key, score, stance, explanation))
        results.sort(key=lambda r: (-r[1], r[0]))
        return results

    def candidates_for(self, analysed: ItemFeatures) -> list[tuple[str, float]]:
        """BM25 candidates (key, partial BM25) that the item may bear on, best first."""
        return [
            (key, bm) for key, bm in self.index.candidates(analysed.tokens, self.candidate_limit * 3)
            if self._eligible(key, analysed.published)
        ][: self.candidate_limit]

    def rank(self, item: ItemInput, k: int = 3) -> list[tuple[str, float, dict[str, Any]]]:
        """The k best propositions for the item whatever the thresholds (for evaluation)."""
        return [(key, score, explanation) for key, score, _, explanation in self._scored(item, limit=k)]

    def prepare(self, items: Iterable[ItemInput]) -> None:
        """Do the per-item work that runs faster in one go (the embeddings) for the items `match` is about to see;
        their suggestions are the same as without it."""
        self.exemplars.prepare(self.text_of(item) for item in items)

    def match_many(self, items: Sequence[ItemInput]) -> list[list[Suggestion]]:
        """`match` of each item, prepared together."""
        self.prepare(items)
        return [self.match(item) for item in items]

    def match(self, item: ItemInput) -> list[Suggestion]:
        """Suggestions above the suggest threshold, best first (at most `max_suggestions`)."""
        # The relative floor needs every suggestion's score before the best few are kept.
        limit = None if self.relative_floor else self.max_suggestions
        scored = self._scored(item, self.suggest_threshold, limit)
        if scored and self.relative_floor:
            floor = scored[0][1] * self.relative_floor
            scored = [r for r in scored if r[1] >= floor]
        suggestions = []
        for key, score, stance, explanation in scored[: self.max_suggestions]:
            automatic = self.auto_threshold is not None and score >= self.auto_threshold
            suggestions.append(Suggestion(key, score, explanation, stance, automatic))
        return suggestions


def profile_text(profile: MatchProfile) -> str:
    """What a proposition's embedding is made of: its statement and its most important profile terms."""
    return f"{profile.statement} {'; '.join(t.text for t in profile.terms[:30])}"
