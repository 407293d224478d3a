"""The final score of one (item, proposition) pair in [0, 1], with an explanation an editor can read.

score = recency × gate × (w_terms·T + w_entities·E + w_bm25·B + w_cues·S), each component in [0, 1]:
  T  profile terms found in the item, weighted by how specific each term is across all profiles;
  E  the proposition's entities named in the item (two or more entities give full credit);
  B  BM25 of the item against the proposition's indexed document, squashed by B = x / (x + bm25_half);
  S  stance cues found (either direction); they also choose the suggested stance.
The gate halves a pair that hits no term and no cue (sharing names only is not evidence), and multiplies by
`no_entity_factor` a pair that names none of the proposition's entities. An exclusion phrase vetoes (score 0).
Recency: 1 within `recency_days` of the source, falling linearly to `recency_floor` over the next period.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracker.matching.profile import MatchProfile, Term
from tracker.matching.text import Analysed

PARTIAL_PHRASE = 0.6  # all words of a phrase present but not adjacent
PARTIAL_CUE = 0.4  # a stance cue of 3+ words with at most one missing
SHADOWED = 0.35  # a term found only inside a longer term of another profile ("truce" in "energy truce")


@dataclass(frozen=True)
class Weights:
    terms: float = 0.45
    entities: float = 0.15
    bm25: float = 0.25
    cues: float = 0.15
    term_scale: float = 0.8
    bm25_half: float = 8.0
    no_term_factor: float = 0.5
    no_entity_factor: float = 0.6
    recency_days: int = 540
    recency_floor: float = 0.8


@dataclass(frozen=True)
class ItemFeatures:
    """An item analysed once, shared by all candidate scorings."""

    features: frozenset[str]  # stems, n-grams and compounds
    tokens: tuple[str, ...]  # stems plus entity ids (what BM25 sees)
    entities: Mapping[str, tuple[str, bool]]  # entity id -> (word that named it, found by typo tolerance)
    published: datetime | None
    analysed: Analysed | None = None  # the text's stems and words in order
    text: str = ""  # the text as every stage reads it (Matcher.text_of)


def recency_factor(published: datetime | None, not_before: datetime | None, weights: Weights) -> float:
    if published is None or not_before is None:
        return 1.0
    days = (published.replace(tzinfo=None) - not_before.replace(tzinfo=None)).days
    if days <= weights.recency_days:
        return 1.0
    over = min(1.0, (days - weights.recency_days) / weights.recency_days)
    return 1.0 - over * (1.0 - weights.recency_floor)


class LexicalScore:
    """One candidate's lexical score and what the fitted model reads of it; the explanation an editor reads is
    built only when asked for (most candidates of an item are never shown)."""

    __slots__ = ("score", "stance", "components", "supports", "contradicts", "vetoes", "_detail")

    def __init__(self, score: float, stance: str, components: tuple[float, float, float, float],
                 supports: list[tuple[str, float]], contradicts: list[tuple[str, float]], vetoes: list[str],
                 detail: tuple[Any, ...]) -> None:
        self.score = score
        self.stance = stance
        self.components = components  # terms, entities, bm25, cues, each rounded to 3 places
        self.supports = supports
        self.contradicts = contradicts
        self.vetoes = vetoes
        self._detail = detail

    def explanation(self) -> dict[str, Any]:
        score, stance, supports, contradicts, vetoes = (self.score, self.stance, self.supports, self.contradicts,
                                                        self.vetoes)
        if vetoes:
            return {"vetoes": vetoes, "score": 0.0, "summary": f"vetoed by exclusion: {', '.join(vetoes)}"}
        terms, entities, bm25, recency = self._detail
        matched_terms = [
            {"term": text, "weight": weight,
             "match": "phrase" if credit == 1 else "words" if credit == PARTIAL_PHRASE else "inside a longer term"}
            for text, weight, credit in terms
        ]
        matched_terms.sort(key=lambda t: -t["weight"])
        matched_entities = [{"entity": name, "as": word, "weight": weight, "typo": fuzzy}
                            for name, word, weight, fuzzy in entities]
        names = ", ".join(f"{m['entity']}" + (f" ('{m['as']}')" if m["typo"] else "") for m in matched_entities)
        words = ", ".join(f"{m['term']} ({m['weight']})" for m in matched_terms[:4])
        summary = f"score {score:.2f}: " + "; ".join(
            part for part in (
                f"entities {names}" if names else "",
                f"terms {words}" if words else "no profile terms",
                f"{stance} cues: {', '.join(c for c, _ in (supports if stance == 'supports' else contradicts))}"
                if stance != "context" else "",
            ) if part
        )
        t, e, b, s = self.components
        return {
            "score": score,
            "entities": matched_entities,
            "terms": matched_terms,
            "stance_cues": {"supports": [c for c, _ in supports], "contradicts": [c for c, _ in contradicts]},
            "components": {"terms": t, "entities": e, "bm25": b, "cues": s},
            "bm25": round(bm25, 3),
            "recency": round(recency, 3),
            "vetoes": [],
            "summary": summary,
        }


@dataclass(frozen=True)
class ProfileTable:
    """What `lexical_score` reads of one profile that does not depend on the item, worked out once per profile
    and specificity: per term (key, its words when a phrase, text, weight x specificity, longer terms that shadow
    it), the sum of the entity weights, the exclusions (key, text) and the stance cues (`_cue_rows`)."""

    terms: tuple[tuple[str, frozenset[str] | None, str, float, tuple[str, ...]], ...]
    entity_total: float
    exclusions: tuple[tuple[str, str], ...] = ()
    supports: tuple[CueRow, ...] = ()
    contradicts: tuple[CueRow, ...] = ()


# A stance cue as `_cue_table_hits` reads it: key, its words when a phrase, its words other than entities, the
# entities it names, how many of those words may be missing (-1: a partial match is not allowed), text
CueRow = tuple[str, frozenset[str] | None, frozenset[str], frozenset[str], int, str]


def _cue_rows(cues: list[Term]) -> tuple[CueRow, ...]:
    rows = []
    for cue in cues:
        words, named = cue.cue_parts
        rows.append((cue.key, cue.tokens if len(cue.tokens) > 1 else None, words, named,
                     len(words) // 3 if len(words) >= 2 else -1, cue.text))
    return tuple(rows)


def _cue_table_hits(cues: tuple[CueRow, ...], features: frozenset[str]) -> list[tuple[str, float]]:
    """The cues found in the item, with their credit: the whole phrase (1), all its words (PARTIAL_PHRASE), or,
    for a cue of two or more words, every entity it names and at most a third of its other words missing
    (PARTIAL_CUE)."""
    hits = []
    for key, tokens, words, named, missing, text in cues:
        if key in features:
            credit = 1.0
        elif tokens is not None and tokens <= features:
            credit = PARTIAL_PHRASE
        elif missing >= 0 and named <= features and len(words - features) <= missing:
            credit = PARTIAL_CUE
        else:
            continue
        hits.append((text, credit))
    return hits


def profile_table(profile: MatchProfile, specificity: Mapping[str, float],
                  shadows: Mapping[str, tuple[str, ...]] | None = None) -> ProfileTable:
    return ProfileTable(
        tuple((term.key, term.tokens if len(term.tokens) > 1 else None, term.text,
               term.weight * specificity.get(term.key, 1.0), shadows.get(term.key, ()) if shadows else ())
              for term in profile.terms),
        sum(profile.entities.values()),
        tuple((term.key, term.text) for term in profile.exclusions),
        _cue_rows(profile.supports),
        _cue_rows(profile.contradicts),
    )


def lexical_score(
    profile: MatchProfile,
    item: ItemFeatures,
    bm25: float,
    specificity: Mapping[str, float],
    weights: Weights,
    shadows: Mapping[str, tuple[str, ...]] | None = None,
    table: ProfileTable | None = None,
) -> LexicalScore:
    """The score of one candidate, its stance, and (when asked) the explanation `score_pair` gives. `table` is
    `profile_table(profile, specificity, shadows)` when the caller keeps it."""
    features = item.features
    if table is None:
        table = profile_table(profile, specificity, shadows)
    if table.exclusions:
        vetoes = [text for key, text in table.exclusions if key in features]
        if vetoes:
            return LexicalScore(0.0, "context", (0.0, 0.0, 0.0, 0.0), [], [], vetoes, ())

    matched_terms = []
    t_raw = 0.0
    for key, words, text, weighted, longers in table.terms:
        if key in features:
            credit = 1.0
        elif words is not None and words <= features:
            credit = PARTIAL_PHRASE
        else:
            continue
        if longers and any(longer in features for longer in longers):
            credit *= SHADOWED
        weight = round(weighted * credit, 3)  # (term weight x specificity) x credit, as one expression gave it
        t_raw += weight
        matched_terms.append((text, weight, credit))

    matched_entities = []
    e_raw = 0.0
    found_entities = item.entities
    for ident, weight in profile.entities.items():
        found = found_entities.get(ident)
        if found:
            e_raw += weight
            word, fuzzy = found
            matched_entities.append((profile.entity_names.get(ident, ident), word, weight, fuzzy))
    entity_total = table.entity_total

    supports = _cue_table_hits(table.supports, features) if table.supports else []
    contradicts = _cue_table_hits(table.contradicts, features) if table.contradicts else []
    support_credit = sum(c for _, c in supports)
    contradict_credit = sum(c for _, c in contradicts)
    s_raw = support_credit + contradict_credit

    t = 1.0 - math.exp(-t_raw / weights.term_scale)
    e = min(1.0, e_raw / max(1.0, min(2.0, entity_total))) if entity_total else 0.0
    b = bm25 / (bm25 + weights.bm25_half)
    s = 1.0 - math.exp(-s_raw)
    lexical = weights.terms * t + weights.entities * e + weights.bm25 * b + weights.cues * s
    if t_raw == 0 and s_raw == 0:
        lexical *= weights.no_term_factor
    if e_raw == 0:
        lexical *= weights.no_entity_factor
    recency = recency_factor(item.published, profile.not_before, weights)
    score = round(min(1.0, max(0.0, lexical * recency)), 4)

    stance = "context"
    if support_credit > contradict_credit:
        stance = "supports"
    elif contradict_credit > support_credit:
        stance = "contradicts"
    return LexicalScore(score, stance, (round(t, 3), round(e, 3), round(b, 3), round(s, 3)), supports, contradicts,
                        [], (matched_terms, matched_entities, bm25, recency))


def score_pair(
    profile: MatchProfile,
    item: ItemFeatures,
    bm25: float,
    specificity: Mapping[str, float],
    weights: Weights,
    shadows: Mapping[str, tuple[str, ...]] | None = None,
    table: ProfileTable | None = None,
) -> tuple[float, str, dict[str, Any]]:
    """(score, suggested stance, explanation) for one candidate."""
    scored = lexical_score(profile, item, bm25, specificity, weights, shadows, table)
    return scored.score, scored.stance, scored.explanation()
