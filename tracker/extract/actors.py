"""A small gazetteer of actors, with aliases, other languages and typo tolerance (pure, no I/O)."""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import fuzz

# Canonical name -> aliases (lower case). Canonical names follow seeds/propositions.yaml.
GAZETTEER: dict[str, tuple[str, ...]] = {
    "Russia": ("russia", "russian", "russians", "kremlin", "moscow", "rusia", "russie", "russland", "россия",
               "росія", "кремль", "москва"),
    "Putin": ("putin", "vladimir putin", "poutine", "путин", "путін"),
    "Ukraine": ("ukraine", "ukrainian", "ukrainians", "kyiv", "kiev", "ucrania", "україна", "украина", "київ"),
    "Zelensky": ("zelensky", "zelenskyy", "zelenskiy", "zelenski", "зеленський", "зеленский"),
    "Trump": ("trump", "donald trump"),
    "United States": ("united states", "u.s.", "usa", "america", "american", "americans", "washington",
                      "estados unidos", "white house"),
    "NATO": ("nato", "otan", "north atlantic alliance"),
    "Europe": ("europe", "european", "europeans", "european union", "brussels"),
    "United Kingdom": ("united kingdom", "britain", "british", "london", "reino unido", "u.k."),
    "Canada": ("canada", "canadian", "canadians", "ottawa"),
    "China": ("china", "chinese", "beijing", "xi jinping"),
}
# Upper-case abbreviations that are ordinary words in lower case ("us"), so matched on the original text.
ACRONYMS: dict[str, str] = {"US": "United States", "USA": "United States", "UK": "United Kingdom",
                            "EU": "Europe", "NATO": "NATO"}
# Single-word names long enough that a near miss ("Puntin") is a typo rather than another word.
FUZZY_NAMES: dict[str, str] = {
    alias: name for name, aliases in GAZETTEER.items() for alias in aliases
    if " " not in alias and "." not in alias and len(alias) >= 5 and alias.isascii()
}
_BY_ALIAS = {alias: name for name, aliases in GAZETTEER.items() for alias in aliases}
# One alternation, longest alias first, so "vladimir putin" wins over "putin" at the same place.
_ALIASES = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(a) for a in sorted(_BY_ALIAS, key=len, reverse=True)) + r")(?![\w])"
)
_ACRONYM = re.compile(r"\b(" + "|".join(ACRONYMS) + r")\b")
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)


@lru_cache(maxsize=8192)
def _near_name(word: str) -> str | None:
    """The actor a word misspells ("puntin" -> Putin), if any; exact aliases are found elsewhere."""
    if len(word) < 5 or word in FUZZY_NAMES:
        return None
    for alias, name in FUZZY_NAMES.items():
        if alias[0] == word[0] and abs(len(alias) - len(word)) <= 2 and fuzz.ratio(word, alias) >= 88:
            return name
    return None


def actors_in(sentence: str, matching: str | None = None) -> list[str]:
    """Canonical actors named in a sentence, in order of first mention.

    `matching` is the sentence's matching form (lower case, apostrophes normalised) when already made.
    """
    text = matching if matching is not None else sentence.lower().replace("’", "'")
    found: dict[str, int] = {}

    def note(name: str, position: int) -> None:
        if name not in found or position < found[name]:
            found[name] = position

    for hit in _ALIASES.finditer(text):
        note(_BY_ALIAS[hit.group(1)], hit.start())
    for hit in _ACRONYM.finditer(sentence):
        # Positions in the original and the matching form differ slightly; order is by approximate place.
        note(ACRONYMS[hit.group(1)], hit.start())
    for token in _TOKEN.finditer(text):
        name = _near_name(token.group(0))
        if name is not None:
            note(name, token.start())
    return [name for name, _ in sorted(found.items(), key=lambda item: item[1])]
