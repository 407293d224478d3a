"""Text normalisation for matching: case and accent folding, tokenising (Latin and Cyrillic), light stemming.

Everything here is deterministic and cached, so the same word costs a dictionary lookup after its first use:
news vocabulary repeats heavily, which is what keeps per-item matching cheap.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Apostrophes inside words are dropped ("Russia's" -> "russias" -> stem "russia"; Ukrainian "перемир'я").
_APOSTROPHES = re.compile(r"['’ʼ`´]")
_WORD = re.compile(r"\w+(?:-\w+)*")
_ACRONYM_DOTS = re.compile(r"\b((?:[A-Z]\.){2,})")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")

STOPWORDS = frozenset(
    """
    a an the and or but if of to in on at by for from with into onto over under about after before
    as is are was were be been being has have had do does did will would shall should can could may might must
    it its this that these those there their them they he his him she her we our us you your i me my
    nor so than then too very also just only such which who whom whose what when where why how
    all any both each few more most other some own same s t up down out off again further once here
    says said say saying new one two per via amid while
    el la los las de del y en un una por para con que se al lo su sus es
    и в во на не что с со по к у о от за из для это как а но
    і в на не що з до за від для це як але та й
    """.split()
)

# Suffix rules, longest first: (suffix, replacement). British and American spellings meet on "iz".
_EN_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("izations", "iz"), ("isations", "iz"), ("ization", "iz"), ("isation", "iz"),
    ("izing", "iz"), ("ising", "iz"), ("ized", "iz"), ("ised", "iz"), ("izes", "iz"), ("ises", "iz"),
    ("ize", "iz"), ("ise", "iz"),
    ("ations", "at"), ("ation", "at"), ("ators", "at"), ("ator", "at"),
    ("ements", "e"), ("ement", "e"), ("aments", ""), ("ament", ""), ("ments", ""), ("ment", ""),
    ("nesses", ""), ("ness", ""),
    ("ingly", ""), ("ings", ""), ("ing", ""),
    ("ities", ""), ("ity", ""),
    ("ously", "ous"), ("ally", "al"), ("ly", ""),
    ("ies", "y"), ("ied", "y"),
    ("ated", "at"), ("ates", "at"), ("ate", "at"),
    ("eers", "eer"), ("ers", ""), ("er", ""),
    ("sses", "ss"), ("ches", "ch"), ("shes", "sh"), ("xes", "x"),
    ("ed", ""), ("es", "e"), ("s", ""),
)
_KEEP_S = ("ss", "us", "is", "ys")

_CYR_ENDINGS = """
    ами ями ого его ому ему ыми ими ой ей ий ый ая яя ое ее ые ие ых их ом ем ам ям ах ях ию ия ии
    ію ія ії ої ою ів їв им ым ов ев ую юю ам а я о е у ю ы и і ї ь й
"""
# Irregular forms the suffix rules cannot reach.
_IRREGULAR = {"struck": "strik", "broke": "break", "broken": "break", "fought": "fight", "held": "hold",
              "kept": "keep", "sought": "seek", "gave": "giv", "given": "giv", "won": "win"}


def fold(text: str) -> str:
    """Lower-case, accent-free form; Cyrillic letters stay Cyrillic (й -> и, ї -> і, ё -> е)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# Endings are folded like the words they are stripped from (after folding "ії" reads "іі").
_CYR_SUFFIXES: tuple[str, ...] = tuple(sorted({fold(e) for e in _CYR_ENDINGS.split()}, key=len, reverse=True))


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light stemmer: enough to meet plural, tense and -ise/-ize variants, not a linguistic one."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if _CYRILLIC.search(word):
        for suffix in _CYR_SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                return word[: -len(suffix)]
        return word
    for suffix, replacement in _EN_SUFFIXES:
        if word.endswith(suffix):
            if suffix == "s" and word.endswith(_KEEP_S):
                continue
            base = word[: -len(suffix)]
            if len(base) < (4 if suffix in ("er", "ers") else 3):
                continue
            word = base + replacement
            break
    while len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]
    return word


@dataclass(frozen=True)
class Analysed:
    """A text as matching sees it."""

    stems: tuple[str, ...]  # stemmed tokens in order, stopwords removed
    raw: tuple[str, ...]  # folded, unstemmed tokens aligned with `stems`
    capitalised: tuple[bool, ...]  # whether each token started with a capital in the original text
    compounds: frozenset[str]  # hyphenated words joined ("cease-fire" -> stem of "ceasefire")


@lru_cache(maxsize=50_000)
def _fold_word(word: str) -> str:
    return fold(word)


def analyse(text: str, *, keep_stopwords: bool = False) -> Analysed:
    stems: list[str] = []
    raw: list[str] = []
    caps: list[bool] = []
    compounds: set[str] = set()
    text = _ACRONYM_DOTS.sub(lambda m: m.group(1).replace(".", "") + " ", _APOSTROPHES.sub("", text))
    for match in _WORD.finditer(text):
        word = match.group(0)
        parts = word.split("-")
        if len(parts) > 1:
            compounds.add(stem(_fold_word("".join(parts))))
        for part in parts:
            folded = _fold_word(part)
            # An all-capitals acronym ("US") is a name, never the stopword it folds to.
            if not folded or (not keep_stopwords and folded in STOPWORDS and not (len(part) > 1 and part.isupper())):
                continue
            stems.append(stem(folded))
            raw.append(folded)
            caps.append(part[:1].isupper())
    return Analysed(tuple(stems), tuple(raw), tuple(caps), frozenset(compounds))


def phrase_key(text: str) -> str:
    """The key a phrase (a term, an alias, a cue) is looked up by: its stems joined by spaces.

    Hyphenated phrases ("30-day pause", "cease-fire") produce their split form; the joined compound is found
    separately through `Analysed.compounds`.
    """
    text = text.strip()
    if " " not in text and "-" in text:  # one hyphenated word: its joined form ("one-on-one", "cease-fire")
        return stem(fold(_APOSTROPHES.sub("", text).replace("-", "")))
    analysed = analyse(text)
    return " ".join(analysed.stems)


def ngrams(stems: tuple[str, ...], max_n: int = 4, prefixes: frozenset[str] | None = None) -> set[str]:
    """The stems plus their 2..max_n-grams joined by spaces (the features phrases are looked up in).

    With `prefixes` (every proper prefix of every phrase looked up), an n-gram is extended only while it is
    still the beginning of some phrase, so only n-grams that can matter are built.
    """
    found: set[str] = set(stems)
    count = len(stems)
    for i, first in enumerate(stems):
        if prefixes is None:
            for n in range(2, min(max_n, count - i) + 1):
                found.add(" ".join(stems[i : i + n]))
            continue
        gram = first
        j = i + 1
        while gram in prefixes and j < count:
            gram = f"{gram} {stems[j]}"
            found.add(gram)
            j += 1
    return found
