"""The matcher's defaults: the fitted model (tracker/matching/model.json, fitted on tests/data/labelled.yaml by
benchmarks/fit_matcher.py), the static embedder, and the suggest threshold that reaches a precision target.

The score an editor sees is the model's estimated probability that they confirm the pair. The suggest threshold
is not set by hand: `threshold_for(precision)` is the lowest one whose precision on the labelled set (out of fold)
reached the target; ingestion passes TRACKER_MATCH_PRECISION, or TRACKER_MATCH_SUGGEST as an explicit override.
Without model.json (or with `lexical=True`) the matcher falls back to the lexical score and LEXICAL_THRESHOLD.
"""

from __future__ import annotations

from typing import Any

from tracker.matching.embedding import load_embedder
from tracker.matching.model import load_model
from tracker.matching.scorer import Weights

PRECISION = 0.75  # default precision target (TRACKER_MATCH_PRECISION)
LEXICAL_THRESHOLD = 0.42  # the lexical score's threshold, tuned on the labelled set before the model existed
AUTO_THRESHOLD: float | None = None  # off by default (DESIGN: auto is opt-in and never below suggest)
RELATIVE_FLOOR = 0.6  # lexical only: a suggestion must reach this share of the item's best score
MAX_SUGGESTIONS = 3
WEIGHTS = Weights()


def threshold_for(precision: float = PRECISION) -> float:
    model = load_model()
    return model.threshold_for(precision) if model is not None else LEXICAL_THRESHOLD


SUGGEST_THRESHOLD = threshold_for()


def matcher_options(*, precision: float | None = None, lexical: bool = False, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for Matcher: the fitted model and embedder (loaded once per process) unless `lexical`."""
    model = None if lexical else load_model()
    options: dict[str, Any] = {
        "suggest_threshold": threshold_for(precision if precision is not None else PRECISION)
        if model is not None else LEXICAL_THRESHOLD,
        "auto_threshold": AUTO_THRESHOLD,
        "relative_floor": 0.0 if model is not None else RELATIVE_FLOOR,
        "max_suggestions": MAX_SUGGESTIONS,
        "weights": WEIGHTS,
        "model": model,
        "embedder": load_embedder() if model is not None else None,
    }
    options.update(overrides)
    return options
