"""The matcher's tuned defaults, measured on tests/data/labelled.yaml by benchmarks/matching.py.

Ingestion passes its own thresholds from configuration; these are the values the benchmark and tests use and a
sensible default for them.
"""

from __future__ import annotations

from typing import Any

from tracker.matching.scorer import Weights

SUGGEST_THRESHOLD = 0.42
AUTO_THRESHOLD: float | None = None  # off by default (DESIGN: auto is opt-in and never below suggest)
RELATIVE_FLOOR = 0.6  # a suggestion must reach this share of the item's best score
MAX_SUGGESTIONS = 3
WEIGHTS = Weights()


def matcher_options(**overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "suggest_threshold": SUGGEST_THRESHOLD,
        "auto_threshold": AUTO_THRESHOLD,
        "relative_floor": RELATIVE_FLOOR,
        "max_suggestions": MAX_SUGGESTIONS,
        "weights": WEIGHTS,
    }
    options.update(overrides)
    return options
