"""The fitted combination: P(an editor confirms this pair) and the suggested stance, from named features.

Both are logistic models fitted by benchmarks/fit_matcher.py on tests/data/labelled.yaml only, with an editor
simulated on that set so the exemplar features (nearest confirmed / rejected items) carry learnt weight. The
coefficients live in model.json beside this file, with the suggest thresholds that reach each precision target on
the labelled set (out-of-fold), so `TRACKER_MATCH_PRECISION` picks a threshold instead of a hand-set number.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import mul
from pathlib import Path
from typing import Any

MODEL_FILE = Path(__file__).with_name("model.json")

# Pair features, in the order of the coefficients (see Matcher._pair_rows for how each is computed).
FEATURES: tuple[str, ...] = (
    "lexical",  # today's lexical score in [0, 1] (terms, entities, BM25, cues, gates, recency)
    "terms", "entities", "bm25", "cues",  # its components
    "bm25_top",  # 1 for the item's best BM25 candidate, 1/(rank+1) below, 0 when not a BM25 candidate
    "lexical_gap",  # lexical minus the item's best lexical score (<= 0)
    "cosine",  # embedding cosine of item and proposition (statement + profile terms)
    "cosine_gap",  # cosine minus the item's best cosine over propositions (<= 0)
    "has_confirmed",  # 1 when the proposition has confirmed exemplars
    "confirmed_cosine",  # max cosine to a confirmed exemplar (0 without)
    "confirmed_gap",  # that minus the item's best over propositions (<= 0; 0 without)
    "confirmed_overlap",  # word overlap (Jaccard of stems) with the nearest confirmed exemplar
    "confirmed_centroid",  # cosine to the mean of the proposition's confirmed exemplars (0 without)
    "has_rejected",
    "rejected_cosine",  # max cosine to a rejected exemplar (0 without): resemblance counts against
    "rejected_overlap",
    "rejected_margin",  # rejected_cosine - confirmed_cosine when both exist, else 0
    # The profile's written examples of evidence (match_profile.examples): there before any decision.
    "example_cosine",  # max cosine to one of the proposition's examples (0 without)
    "example_gap",  # that minus the item's best over propositions (<= 0; 0 without)
    "example_overlap",  # word overlap (Jaccard of stems) with the nearest example
    "example_centroid",  # cosine to the mean of the proposition's examples
    "example_bm25_top",  # 1/(rank+1) of the proposition in a BM25 index of its examples' words (0 when unranked)
    # The TF-IDF centroid (stems and stem pairs) of the examples and the editors' confirmed items together, so
    # every confirmation moves it (tracker.matching.tfidf)
    "example_tfidf",  # cosine with the proposition's centroid (0 without examples or confirmed items)
    "example_tfidf_gap",  # that minus the item's best over propositions (<= 0; 0 without)
    # Second stage: the highest first-stage probability (this feature at 0) among the item's candidates that declare
    # this proposition broader (match_profile.broader), so a general proposition rises beside its instance
    "broader_pull",
)

STANCES: tuple[str, ...] = ("supports", "contradicts", "context")
STANCE_FEATURES: tuple[str, ...] = (
    "cue_supports", "cue_contradicts",  # profile stance cues found
    "negation",  # the item negates or denies ("no", "not", "denied", "failed", "rejected"...)
    "negation_x_polarity",  # negation in the item about a negative proposition ("will not ...")
    "polarity",  # the proposition predicts that something will not happen / denies
    "knn_supports", "knn_contradicts", "knn_context",  # similarity-weighted vote of the nearest confirmed items
    "prior_supports", "prior_contradicts", "prior_context",  # the proposition's confirmed stances so far (smoothed)
    "has_confirmed",
    "example_supports", "example_contradicts", "example_context",  # similarity-weighted vote of the nearest examples
    # How closely the item resembles the proposition's evidence (the pair features example_cosine and example_tfidf):
    # an item that only touches a proposition is more often context than one written like its examples
    "example_cosine", "example_tfidf",
)

_NEGATIVE_STATEMENT = re.compile(
    r"\b(will not|won't|would not|cannot|can't|never|no longer|fail(?:s|ed)? to|refuse[sd]?|not\b|without)\b", re.I
)
_NEGATION = re.compile(
    r"\b(no|not|never|none|nor|without|denie[sd]|deny|reject(?:s|ed)?|refuse[sd]?|fail(?:s|ed)?|halt(?:s|ed)?|"
    r"dismiss(?:es|ed)?|rule[sd]? out|back(?:s|ed)? away|stall(?:s|ed)?|collapse[sd]?|breach(?:es|ed)?|"
    r"violat(?:e|es|ed|ion)|despite|nothing|unlikely|doubt|n't)\b",
    re.I,
)


def polarity(statement: str) -> float:
    """1 when the proposition is phrased negatively ("Russia will not ..."), else 0."""
    return 1.0 if _NEGATIVE_STATEMENT.search(statement) else 0.0


def negation(text: str) -> float:
    """How much the item negates, denies or reports failure: 0, 0.5 (one cue) or 1 (two or more)."""
    return min(1.0, 0.5 * len(_NEGATION.findall(text)))


def broader_pulls(first: Mapping[str, float], broader: Mapping[str, Sequence[str]]) -> dict[str, tuple[float, str]]:
    """For each proposition some candidate declares broader: the highest first-stage probability among those
    narrower candidates, with the one that gave it (ties to the smaller id)."""
    pulls: dict[str, tuple[float, str]] = {}
    for narrower, probability in sorted(first.items()):
        for key in broader.get(narrower, ()):
            if key in first and (key not in pulls or probability > pulls[key][0]):
                pulls[key] = (probability, narrower)
    return pulls


BROADER = FEATURES.index("broader_pull")


def second_stage(rows: Sequence[tuple[str, Sequence[float]]], probability: Callable[[Sequence[float]], float],
                 broader: Mapping[str, Sequence[str]]) -> list[tuple[tuple[float, ...], str | None]]:
    """The item's (key, features) rows with `broader_pull` filled in from the first stage (every row scored with it
    at 0), and the narrower candidate that pulled each row in (None when none did)."""
    zeroed = [(key, (*features[:BROADER], 0.0, *features[BROADER + 1:])) for key, features in rows]
    if not any(broader.get(key) for key, _ in rows):
        return [(features, None) for _, features in zeroed]
    pulls = broader_pulls({key: probability(features) for key, features in zeroed}, broader)
    result: list[tuple[tuple[float, ...], str | None]] = []
    for key, features in zeroed:
        pull = pulls.get(key)
        result.append(((*features[:BROADER], pull[0], *features[BROADER + 1:]), pull[1]) if pull
                      else (features, None))
    return result


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class MatchModel:
    coefficients: tuple[float, ...]
    intercept: float
    stance_coefficients: tuple[tuple[float, ...], ...]  # one row per stance
    stance_intercepts: tuple[float, ...]
    thresholds: Mapping[float, float]  # precision target -> suggest threshold (labelled set, out of fold)
    default_precision: float = 0.75
    info: Mapping[str, Any] | None = None
    # The mean embedding of news-style text in this domain (the fit set's items): subtracted before every cosine,
    # so what all war news shares ("Russia", "Ukraine", "strike") stops making everything look alike.
    embedding_mean: tuple[float, ...] | None = None

    def probability(self, features: Sequence[float]) -> float:
        if len(features) != len(self.coefficients):
            raise ValueError(f"{len(features)} features for {len(self.coefficients)} coefficients")
        return _sigmoid(self.intercept + sum(map(mul, self.coefficients, features)))

    def contributions(self, features: Sequence[float]) -> dict[str, float]:
        """Each feature's share of the log-odds (for explanations)."""
        return {name: c * x for name, c, x in zip(FEATURES, self.coefficients, features, strict=True)}

    def stance(self, features: Sequence[float]) -> tuple[str, dict[str, float]]:
        logits = [b + sum(c * x for c, x in zip(row, features, strict=True))
                  for row, b in zip(self.stance_coefficients, self.stance_intercepts, strict=True)]
        top = max(logits)
        weights = [math.exp(v - top) for v in logits]
        total = sum(weights)
        probabilities = {s: w / total for s, w in zip(STANCES, weights, strict=True)}
        return max(STANCES, key=lambda s: probabilities[s]), probabilities

    def threshold_for(self, precision: float) -> float:
        """The lowest threshold whose precision on the labelled set reached `precision` (the nearest stricter
        target stored; the strictest one when none is)."""
        stricter = sorted(t for t in self.thresholds if t >= precision - 1e-9)
        key = stricter[0] if stricter else max(self.thresholds)
        return self.thresholds[key]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatchModel:
        if tuple(data["features"]) != FEATURES or tuple(data["stance_features"]) != STANCE_FEATURES:
            raise ValueError("model.json was fitted on other features: run benchmarks/fit_matcher.py")
        return cls(
            coefficients=tuple(float(c) for c in data["coefficients"]),
            intercept=float(data["intercept"]),
            stance_coefficients=tuple(tuple(float(c) for c in row) for row in data["stance_coefficients"]),
            stance_intercepts=tuple(float(b) for b in data["stance_intercepts"]),
            thresholds={float(k): float(v) for k, v in data["thresholds"].items()},
            default_precision=float(data.get("default_precision", 0.75)),
            info=data.get("info"),
            embedding_mean=tuple(float(v) for v in data["embedding_mean"]) if data.get("embedding_mean") else None,
        )


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_FILE) -> MatchModel | None:
    """The committed model, or None before the first fit or when it was fitted on other features than this code
    computes (the matcher then uses its lexical score; a test keeps the committed model current)."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data.get("features", ())) != FEATURES or tuple(data.get("stance_features", ())) != STANCE_FEATURES:
        logging.getLogger(__name__).warning("%s was fitted on other features: run benchmarks/fit_matcher.py", path)
        return None
    return MatchModel.from_dict(data)
