"""Paragraphs and sentences with character spans into the original text (pure, no I/O).

Paragraphs are lines, as in tracker/seeding.py (`paragraph_of` counts newlines), so a locator made here
names the same paragraph the seeds do. Sentence breaks tolerate noisy text: missing spaces after a full
stop, spaced question marks (" ?"), closing quotes and guillemets after the stop, and common abbreviations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Closing marks that may sit between a full stop and the next sentence.
_CLOSERS = "\"'”’»)]"
# Abbreviations after which a full stop does not end the sentence (lower case, without the dot).
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "st", "sr", "jr", "prof", "gen", "col", "lt", "sgt", "sen", "rep", "gov", "pres",
    "vs", "etc", "e.g", "i.e", "no", "nos", "vol", "fig", "approx", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "u.n", "e.u", "inc", "ltd", "co", "corp",
})
# A candidate break: terminal punctuation (possibly repeated), then closers, then either whitespace or,
# when the author forgot the space, directly an upper-case letter. It only starts at the first mark of a run
# and takes the run whole (possessive): a run followed by neither can only fail, and trying it again from
# each mark inside would be quadratic in the run ("." * 30000).
_BREAK = re.compile(r"(?<![.!?…])[.!?…]++[" + re.escape(_CLOSERS) + r"]*(?=\s|[A-ZÀ-ÖØ-Þ«“\"¿¡]|$)")
_INITIALS = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]")  # "U.S" before the final stop, or a lone "J"
_MORE_INITIALS = re.compile(r"(?:\.[A-Za-z])+")  # ".S.A": dotted initials continued
_LONGEST_ABBREVIATION = max(map(len, ABBREVIATIONS))


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    paragraph: int  # 1-based line number, as tracker.seeding.paragraph_of


def paragraphs(text: str) -> list[tuple[int, Span]]:
    """(1-based line number, span without surrounding whitespace) of every non-blank line."""
    found = []
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = _trim(text, offset, offset + len(line))
        if stripped is not None:
            found.append((number, stripped))
        offset += len(line) + 1
    return found


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


class _WordBefore:
    """The word (letters and dots) before each full stop of one paragraph, taken in order.

    Consecutive stops can share one long word ("A.B.C.D."); the word before the previous stop is kept, so
    walking back stops there instead of going over it again, and each character is walked once.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.stop = -1  # the last full stop examined
        self.start = 0  # where its word begins
        self.initials = False  # whether that word is dotted initials

    def find(self, start: int, stop: int) -> tuple[int, bool]:
        """Where the word before the full stop at `stop` begins (not before `start`), and whether it is dotted
        initials."""
        text = self.text
        word_start = stop
        while word_start > start and (text[word_start - 1].isalpha() or text[word_start - 1] == "."):
            word_start -= 1
            if word_start == self.stop:  # the previous stop, hence the same `start`: its word goes on here
                initials = self.initials and _MORE_INITIALS.fullmatch(text, self.stop, stop) is not None
                word_start = self.start
                break
        else:
            initials = _INITIALS.fullmatch(text, word_start, stop) is not None
        self.stop, self.start, self.initials = stop, word_start, initials
        return word_start, initials


def _is_abbreviation(text: str, start: int, stop: int, words: _WordBefore) -> bool:
    """Whether the full stop at `stop` closes an abbreviation or an initial rather than a sentence."""
    if text[stop] != ".":
        return False
    word_start, initials = words.find(start, stop)
    length = stop - word_start
    if not length:
        return False
    # Lower-casing never shortens a word, so a longer one cannot be in the list (and is not lowered: O(1)).
    if length <= _LONGEST_ABBREVIATION and text[word_start:stop].lower() in ABBREVIATIONS:
        return True
    # A single capital letter ("J. Smith") or dotted initials ("U.S.") are not sentence ends.
    return (length == 1 and text[word_start].isupper()) or (length >= 3 and initials)


def _next_starts_sentence(text: str, position: int, end: int) -> bool:
    """After a break: the next visible character must look like the start of a sentence."""
    while position < end and (text[position].isspace() or text[position] in "«“\"'¿¡(-–—"):
        position += 1
    if position >= end:
        return True
    char = text[position]
    return char.isupper() or char.isdigit()


def sentences_in(text: str, paragraph: int, span: Span) -> list[Sentence]:
    found = []
    start = span.start
    words = _WordBefore(text)
    for match in _BREAK.finditer(text, span.start, span.end):
        stop = match.start()
        end = match.end()
        if _is_abbreviation(text, start, stop, words):
            continue
        if text[stop] == "." and stop + 1 < span.end and text[stop + 1].isdigit():
            continue  # a decimal or a dotted date (19.03.2025)
        glued = end < span.end and not text[end].isspace()
        if glued and not (stop > start and text[stop - 1].islower()):
            continue  # "U.S.A" or an initial glued to a name: not a missing space after a sentence
        if not _next_starts_sentence(text, end, span.end):
            continue
        piece = _trim(text, start, end)
        if piece is not None:
            found.append(Sentence(piece.start, piece.end, paragraph))
        start = end
    rest = _trim(text, start, span.end)
    if rest is not None:
        found.append(Sentence(rest.start, rest.end, paragraph))
    return found


def sentences(text: str) -> list[Sentence]:
    """Every sentence of the text, in order, with spans into `text` itself."""
    found: list[Sentence] = []
    for number, span in paragraphs(text):
        found.extend(sentences_in(text, number, span))
    return found
