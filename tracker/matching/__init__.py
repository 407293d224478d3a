"""Matching: which tracked propositions does a news item bear on? Pure functions and data, no I/O."""

from tracker.matching.matcher import ItemInput, Matcher, MatcherStats, Suggestion
from tracker.matching.profile import MatchProfile, PropositionInput

__all__ = ["ItemInput", "MatchProfile", "Matcher", "MatcherStats", "PropositionInput", "Suggestion"]
