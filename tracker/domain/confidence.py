"""Estimative language (ICD 203) mapped to probabilities.

The article's hedge phrases are matched to the nearest band; the value is the band's customary midpoint.
"""

from __future__ import annotations

# ICD 203 bands: almost no chance 1-5%, very unlikely 5-20%, unlikely 20-45%, roughly even 45-55%,
# likely 55-80%, very likely 80-95%, almost certain 95-99%.
HEDGES: dict[str, float] = {
    "effectively nil": 0.02,
    "no prospect": 0.03,
    "almost no chance": 0.03,
    "remote": 0.03,
    "no evidence": 0.05,
    "very unlikely": 0.12,
    "highly improbable": 0.12,
    "unlikely": 0.3,
    "improbable": 0.3,
    "not entirely clear": 0.5,
    "roughly even": 0.5,
    "may": 0.5,
    "could": 0.45,
    "likely": 0.7,
    "probably": 0.7,
    "will": 0.85,
    "very likely": 0.88,
    "highly probable": 0.88,
    "will ensure": 0.9,
    "almost certainly": 0.95,
    "almost certain": 0.95,
    "demonstrates": 0.95,
}


def probability_of(phrase: str) -> float | None:
    """The probability a hedge phrase implies, or None when the phrase is not on the scale."""
    return HEDGES.get(" ".join(phrase.lower().split()))


def negate(probability: float) -> float:
    """The probability of the opposite statement (e.g. 'X will not happen' from P(X happens))."""
    return round(1.0 - probability, 6)
