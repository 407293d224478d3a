"""A matching form of a sentence: lower case, plain apostrophes, repaired typos (pure, no I/O).

Only used to find markers, hedges and actors; spans always point into the original text. Repairs are
deliberately narrow: stray inverted marks inside words, a few Spanish function words, words split at the
wrong place ("i twill" for "it will"), and near-misses of the words the lexicons look for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from rapidfuzz import fuzz, process

APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "´": "'", "`": "'", "“": " ", "”": " ", "«": " ",
                             "»": " ", "„": " ", '"': " ", "–": " - ", "—": " - "})
# Spanish words that turn up in otherwise English text, mapped to what they stand for.
SPANISH = {
    "es": "is", "y": "and", "pero": "but", "que": "that", "muy": "very", "probablemente": "probably",
    "seguramente": "almost certainly", "posiblemente": "possibly", "nunca": "never", "no hay": "there is no",
}
# Auxiliaries that a misplaced space can glue to a preceding "t" ("i twill" = "it will").
_GLUED = {"will", "would", "is", "was", "has", "had", "can", "could", "should", "must", "may", "might"}
_WORD = re.compile(r"[a-z][a-z']*")


def _contractions(text: str) -> str:
    text = re.sub(r"\bwon't\b", "will not", text)
    text = re.sub(r"\bcan't\b", "cannot", text)
    return re.sub(r"(\w)n't\b", r"\1 not", text)


def _glued(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        rest = match.group(2)
        return f"{match.group(1)}t {rest}" if rest in _GLUED else match.group(0)

    return re.sub(r"\b(i) t([a-z]+)\b", fix, text)


def _spanish(text: str) -> str:
    for word, english in SPANISH.items():
        text = re.sub(rf"\b{word}\b", english, text)
    return text


@lru_cache(maxsize=4096)
def _repair_word(word: str, vocabulary: tuple[str, ...]) -> str:
    if len(word) < 5 or word in vocabulary:
        return word
    found = process.extractOne(word, vocabulary, scorer=fuzz.ratio, score_cutoff=88)
    # The first letter must agree: typos rarely hit it, and this keeps "putting" away from "putin".
    if found is not None and found[0][0] == word[0]:
        return found[0]
    return word


def matching_form(sentence: str, vocabulary: Iterable[str] = ()) -> str:
    """Lower-cased, single-spaced text for pattern matching, with typos of `vocabulary` words repaired."""
    text = sentence.translate(APOSTROPHES)
    text = re.sub(r"(?<=\w)[¿¡](?=\w)", "", text)  # "is¿tself": a stray mark inside a word
    text = re.sub(r"[¿¡]", " ", text)
    text = re.sub(r"\b([A-Z]\w*)'s\b", r"\1", text).lower()  # possessives of names: "Putin's" -> "putin"
    text = re.sub(r"\b(he|she|it|that|there|what)'s\b", r"\1 is", text)
    text = _glued(_spanish(_contractions(text)))
    vocab = tuple(sorted(set(vocabulary)))
    if vocab:
        text = _WORD.sub(lambda m: _repair_word(m.group(0), vocab), text)
    return " ".join(text.split())
