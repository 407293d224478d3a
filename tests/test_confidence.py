"""Hedge phrases (ICD 203 scale) to probabilities, and negation for propositions stated the other way round."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.confidence import HEDGES, negate, probability_of


def test_known_phrases_map_to_their_band() -> None:
    assert probability_of("effectively nil") == 0.02
    assert probability_of("almost certainly") == 0.95
    assert probability_of("likely") == 0.7


def test_lookup_ignores_case_and_spacing() -> None:
    assert probability_of("  Effectively   NIL ") == 0.02


def test_unknown_phrase_gives_none() -> None:
    assert probability_of("a coin toss, give or take") is None


@pytest.mark.parametrize(("phrase", "probability"), sorted(HEDGES.items()))
def test_every_hedge_is_a_probability(phrase: str, probability: float) -> None:
    assert 0.0 < probability < 1.0, phrase


def test_scale_is_ordered_where_words_are_comparable() -> None:
    order = ["effectively nil", "very unlikely", "unlikely", "roughly even", "likely", "very likely", "almost certain"]
    values = [HEDGES[p] for p in order]
    assert values == sorted(values)


def test_negating_nil_gives_the_stored_probability_of_the_opposite() -> None:
    assert negate(0.02) == 0.98


@given(st.floats(0, 1))
def test_negate_twice_returns_the_probability(p: float) -> None:
    assert negate(negate(p)) == pytest.approx(p, abs=1e-6)
    assert 0.0 <= negate(p) <= 1.0
