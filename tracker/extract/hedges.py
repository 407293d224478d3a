"""The hedge phrase of a sentence and the probability it implies, on the ICD 203 scale (pure, no I/O).

The scale itself is tracker/domain/confidence.py; phrases that are not on it but mean one of its entries
are mapped here (`scale` names the entry used), so the domain table keeps its values untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracker.domain.confidence import HEDGES, probability_of

# Phrase (matching form) -> the entry of the ICD 203 table it is read as.
EQUIVALENTS: dict[str, str] = {
    "will not": "will",
    "won't": "will",
    "is going to": "will",
    "an open invitation": "will",
    "ensure": "will ensure",
    "ensures": "will ensure",
    "no chance": "almost no chance",
    "no basis": "no evidence",
    "is certain": "almost certain",
    "certainly": "almost certainly",
    "highly likely": "very likely",
    "is likely": "likely",
    "are likely": "likely",
    "possibly": "could",
    "might": "could",
    "demonstrate": "demonstrates",
    "shows": "demonstrates",
    "proves": "demonstrates",
}
# Modal verbs are the weakest evidence of a hedge: any estimative phrase in the sentence wins over them.
MODALS = frozenset({"will", "will not", "won't", "may", "could", "might", "possibly"})
_PHRASES = sorted({*HEDGES, *EQUIVALENTS}, key=len, reverse=True)
_PATTERN = re.compile(r"(?<![\w'])(" + "|".join(re.escape(p) for p in _PHRASES) + r")(?![\w'])")
_NUMBER_NEXT = re.compile(r"\s*\d")  # "may 9": matched in place, not on a copy of the rest of the sentence


@dataclass(frozen=True)
class Hedge:
    phrase: str
    probability: float
    scale: str | None = None  # the ICD 203 entry used when the phrase is not on the table itself

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"phrase": self.phrase, "probability": self.probability}
        if self.scale:
            found["scale"] = self.scale
        return found


def _hedge(phrase: str) -> Hedge:
    direct = probability_of(phrase)
    if direct is not None:
        return Hedge(phrase, direct)
    entry = EQUIVALENTS[phrase]
    value = probability_of(entry)
    assert value is not None, entry
    return Hedge(phrase, value, entry)


def hedge_in(matching: str) -> Hedge | None:
    """The sentence's hedge: the first estimative phrase, else the first modal; longest phrase wins at a place.

    `may` is skipped when it names the month ("in May", "May 9").
    """
    found = []
    # "will need to" prescribes and "will have surprised" asserts: neither "will" is an estimate.
    matching = re.sub(r"\bwill (?=need to|have to|have \w+ed\b|have been\b)", "", matching)
    for hit in _PATTERN.finditer(matching):
        phrase = hit.group(1)
        if phrase == "may" and (_after_in_or_number(matching, hit.start()) or _NUMBER_NEXT.match(matching, hit.end())):
            continue
        found.append(phrase)
    if not found:
        return None
    estimative = [p for p in found if p not in MODALS]
    return _hedge((estimative or found)[0])


def _after_in_or_number(text: str, position: int) -> bool:
    """Whether `text` before `position` ends with the word "in" or a digit, then only whitespace ("in May",
    "9 May"). Looks back from `position` rather than searching the whole prefix, once per "may" (quadratic)."""
    end = position
    while end > 0 and text[end - 1].isspace():
        end -= 1
    if end and text[end - 1].isdecimal():
        return True
    # "\bin": "in" at the start or after a character that is not part of a word.
    return text[max(end - 2, 0):end] == "in" and (end == 2 or not _is_word_char(text[end - 3]))


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # what `\w` matches


HEDGE_WORDS = frozenset(word for phrase in _PHRASES for word in phrase.split() if len(word) >= 5)
