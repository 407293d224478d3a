"""Deterministic corruption of labelled items, to measure the matcher on text as messy as real feeds.

`corrupt(items, seed)` returns the same items (same ids, same labels) with, each drawn per item from a generator
seeded by (seed, item id), so one item's noise does not depend on which other items are in the set:
- Spanish words for common English ones ("ceasefire" -> "alto el fuego", "Russia" -> "Rusia", "sanctions" ->
  "sanciones", "NATO" -> "OTAN", ...) in a share of the items;
- name typos ("Putin" -> "Puntin", "Zelensky" -> "Zelenksy", "Kremlin" -> "Kremiln", ...);
- HTML entities (&amp; &#8217; &quot;) and stray markup (<p>, <br />, <b>, a link tag) left in the text, as when a
  feed escapes its markup twice so that one decoding leaves it in;
- a missing date: the item's published time becomes its fetch time (some hours later) and
  `published_is_fetch_time` is set, as ingestion does; the real date stays in `true_published` for month bucketing.

The text is passed to the matcher and the store as it is; the matcher cleans it itself (item_text).
Evaluation only: nothing in the product imports this module.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta

from tracker.matching.evaluation import LabelledItem

SEED = 20250701

TYPOS = {
    "Putin": "Puntin", "Zelenskyy": "Zelenksy", "Zelensky": "Zelenksy", "Zelenskiy": "Zelenksy",
    "Kremlin": "Kremiln", "Trump": "Trupm", "Ukraine": "Ukriane", "Moscow": "Moscwo", "Kyiv": "Kyvi",
}
# Longer phrases first, so "peace talks" is replaced before "peace".
SPANISH = {
    "security guarantees": "garantías de seguridad", "peace talks": "conversaciones de paz",
    "United States": "Estados Unidos", "ceasefire": "alto el fuego", "cease-fire": "alto el fuego",
    "truce": "tregua", "Russia": "Rusia", "Russian": "ruso", "sanctions": "sanciones", "NATO": "OTAN",
    "Ukraine": "Ucrania", "Ukrainian": "ucraniano", "negotiations": "negociaciones", "troops": "tropas",
    "war": "guerra", "energy": "energía", "Europe": "Europa", "European": "europeo", "peace": "paz",
    "talks": "conversaciones", "attack": "ataque", "attacks": "ataques", "weapons": "armas",
}
MARKUP = ("<p>", "</p>", "<br />", "<b>", "</b>", '<a href="https://news.example/story?id=1">', "</a>",
          '<div class="article-body">', "</span>")


@dataclass(frozen=True)
class Rates:
    spanish_item: float = 0.35  # share of items with Spanish words...
    spanish_word: float = 0.7  # ...and, in those, of the listed words replaced
    typo: float = 0.5  # share of name occurrences misspelt
    html_item: float = 0.4  # share of items with entities and stray markup
    missing_date: float = 0.2  # share of items whose date is their fetch time


def _pattern(words: Iterable[str]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


_SPANISH = _pattern(SPANISH)
_TYPOS = _pattern(TYPOS)
_SPANISH_LOWER = {k.casefold(): v for k, v in SPANISH.items()}
_TYPOS_LOWER = {k.casefold(): v for k, v in TYPOS.items()}


def _keep_case(original: str, replacement: str) -> str:
    if original[:1].isupper() and replacement[:1].islower():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def spanish(text: str, rng: random.Random, share: float) -> str:
    def swap(m: re.Match[str]) -> str:
        word = m.group(0)
        return _keep_case(word, _SPANISH_LOWER[word.casefold()]) if rng.random() < share else word

    return _SPANISH.sub(swap, text)


def typos(text: str, rng: random.Random, share: float) -> str:
    def swap(m: re.Match[str]) -> str:
        word = m.group(0)
        return _TYPOS_LOWER[word.casefold()] if word[:1].isupper() and rng.random() < share else word

    return _TYPOS.sub(swap, text)


def entities(text: str) -> str:
    """Escape as a feed that escapes twice would leave it after one decoding; an 'and' becomes '&amp;'."""
    text = text.replace("&", "&amp;").replace("\u2019", "&#8217;").replace("'", "&#8217;").replace('"', "&quot;")
    return re.sub(r"\band\b", "&amp;", text, count=1)


def markup(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(rng.randint(1, 3)):
        words.insert(rng.randint(0, len(words)), rng.choice(MARKUP))
    return " ".join(words)


def corrupt_one(labelled: LabelledItem, seed: int = SEED, rates: Rates = Rates()) -> LabelledItem:
    item = labelled.item
    rng = random.Random(f"{seed}:{item.evidence_id}")
    title, summary = item.title, item.summary
    if rng.random() < rates.spanish_item:
        title, summary = spanish(title, rng, rates.spanish_word), spanish(summary, rng, rates.spanish_word)
    title, summary = typos(title, rng, rates.typo), typos(summary, rng, rates.typo)
    if rng.random() < rates.html_item:
        title, summary = entities(title), markup(entities(summary), rng)
        if rng.random() < 0.5:
            title = markup(title, rng)
    published, fetch_time, real = item.published, False, labelled.true_published
    if rng.random() < rates.missing_date and item.published is not None:
        real = item.published
        published = item.published + timedelta(minutes=rng.randint(60, 36 * 60))
        fetch_time = True
    return replace(labelled, item=replace(item, title=title, summary=summary, published=published),
                   published_is_fetch_time=fetch_time or labelled.published_is_fetch_time, true_published=real)


def corrupt(items: Iterable[LabelledItem], seed: int = SEED, rates: Rates = Rates()) -> list[LabelledItem]:
    return [corrupt_one(x, seed, rates) for x in items]
