"""A suggested resolve-by date from the time horizon a text gives (pure, no I/O).

Horizons found: "N-day/week/month/year <thing>" counted from the last date the text named before it (the
dated event, e.g. a call on 18 March followed by a 30-day pause), "within N units" and "in the next N units"
counted from publication, "by the end of the year / of 2026", "by <Month> <year>", "by 2030", "next year".
A prediction that names the thing a horizon was given for ("the ceasefire") inherits that horizon.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
MONTHS.update({"sept": 9, "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7,
               "agosto": 8, "septiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12})
NUMBERS = {"one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "eighteen": 18,
           "twenty": 20, "thirty": 30, "forty-five": 45, "sixty": 60, "ninety": 90, "hundred": 100}
UNITS = {"day": "days", "week": "weeks", "month": "months", "year": "years"}
# Things a horizon is usually given for, folded to one word so mentions can be compared.
SYNONYMS = {"cease-fire": "ceasefire", "cease fire": "ceasefire", "truce": "ceasefire", "moratorium": "ceasefire",
            "pause": "ceasefire", "halt": "ceasefire"}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_NUMBER = r"\d{1,3}|" + "|".join(sorted(NUMBERS, key=len, reverse=True))
_UNIT = r"(day|week|month|year)s?"
_DATES = [
    re.compile(rf"\b(?P<month>{_MONTH})\.? (?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:,? (?P<year>\d{{4}}))?\b"),
    re.compile(rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?: of| de)? (?P<month>{_MONTH})\.?(?:,? (?P<year>\d{{4}}))?\b"),
    re.compile(r"\b(?P<year>\d{4})-(?P<nmonth>\d{2})-(?P<day>\d{2})\b"),
    re.compile(r"\b(?P<day>\d{1,2})[./](?P<nmonth>\d{1,2})[./](?P<year>\d{4})\b"),
]
# "30-day pause", "30 day pause", "thirty-day pause" (not "one day", which is an idiom).
_SPAN = re.compile(rf"\b(?P<n>\d{{1,3}}[- ]|(?:{_NUMBER})-)(?P<unit>day|week|month|year)(?:-long)?[- ]"
                   r"(?P<thing>[a-z][a-z-]+(?: [a-z][a-z-]+){0,2})")
_WITHIN = re.compile(rf"\b(?:within|in the next|over the next|in the coming) (?:the next )?(?P<n>{_NUMBER}) {_UNIT}\b")
_END_OF = re.compile(r"\bby (?:the )?end of (?:the |this )?(?P<what>year|(?P<year>\d{4}))\b|\bby year-end\b")
_BY_MONTH = re.compile(rf"\b(?:by|before) (?P<month>{_MONTH}) (?P<year>\d{{4}})\b")
_BY_YEAR = re.compile(r"\b(?:by|before) (?P<year>20\d{2})\b")
_NEXT_YEAR = re.compile(r"\b(?:next year|within a year)\b")


@dataclass(frozen=True)
class Horizon:
    resolve_by: date
    basis: str  # in our own words: what the date was computed from
    thing: str | None = None  # the folded noun a span was given for ("ceasefire"), for inheritance


def _number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word]


def add(start: date, count: int, unit: str) -> date:
    if unit == "day":
        return start + timedelta(days=count)
    if unit == "week":
        return start + timedelta(weeks=count)
    months = count * (12 if unit == "year" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return date(year, month + 1, day)


def dates_in(matching: str, default_year: int | None) -> list[date]:
    """Explicit calendar dates in a sentence (a date without a year takes `default_year`)."""
    found: list[tuple[int, date]] = []
    for pattern in _DATES:
        for hit in pattern.finditer(matching):
            parts = hit.groupdict()
            year = int(parts["year"]) if parts.get("year") else default_year
            month = MONTHS[parts["month"]] if parts.get("month") else int(parts.get("nmonth") or 0)
            if year is None:
                continue
            try:
                found.append((hit.start(), date(year, month, int(parts["day"]))))
            except ValueError:
                continue
    return [day for _, day in sorted(found)]


def fold(thing: str) -> str:
    """The thing a span names, from up to three words after it ("grain truce in" -> "ceasefire")."""
    for phrase, folded in SYNONYMS.items():
        if re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", thing):
            return folded
    return thing.split()[0]


def horizon_in(matching: str, anchor: date | None, published: date | None) -> Horizon | None:
    """The horizon a sentence states, counted from `anchor` (last dated event) or `published`."""
    hit = _WITHIN.search(matching)
    if hit and published:
        count, unit = _number(hit.group("n")), hit.group(2)
        return Horizon(add(published, count, unit), f"{count} {UNITS[unit]} after publication")
    hit = _SPAN.search(matching)
    start = anchor or published
    if hit and start:
        count, unit = _number(hit.group("n").rstrip("- ")), hit.group("unit")
        return Horizon(add(start, count, unit), f"{count} {UNITS[unit]} after {start.isoformat()}",
                       fold(hit.group("thing")))
    hit = _END_OF.search(matching)
    if hit and (hit.group("year") or published):
        year = int(hit.group("year")) if hit.group("year") else published.year  # type: ignore[union-attr]
        return Horizon(date(year, 12, 31), f"end of {year}")
    hit = _BY_MONTH.search(matching)
    if hit:
        year, month = int(hit.group("year")), MONTHS[hit.group("month")]
        return Horizon(date(year, month, calendar.monthrange(year, month)[1]), f"end of {year}-{month:02d}")
    hit = _BY_YEAR.search(matching)
    if hit:
        return Horizon(date(int(hit.group("year")), 12, 31), f"end of {hit.group('year')}")
    if _NEXT_YEAR.search(matching) and published:
        return Horizon(date(published.year + 1, 12, 31), "end of the year after publication")
    return None


def mentions(matching: str, thing: str) -> bool:
    """Whether a sentence names the thing a horizon was given for (synonyms folded)."""
    words = {thing, *(k for k, v in SYNONYMS.items() if v == thing)}
    return any(re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", matching) for w in words)
