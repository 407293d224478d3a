"""Visible text of an HTML fragment (`html_to_text`) and whitespace collapsed (`collapse`): what ingestion
makes of a feed's summaries, and what the matcher makes of text that still carries markup. Pure and linear in
the text (tests/test_linear_time.py).
"""

from __future__ import annotations

import html
import re

# Regexes rather than html.parser: summaries have already been through feedparser's sanitiser, and this is
# about 4x faster (it runs once per item on every fetch). Hidden blocks go with their content; an unclosed one
# hides everything after it, as a browser would.
#
# Feed text is hostile, so every step is linear in the text. Each regex below is only ever tried at a place
# where it is known to match, or matches or fails within a bounded number of characters: a construct that
# needs a closing ">" is looked for with str.find once, and when no ">" is left none of the openers after it
# is tried again (a plain `[^>]*>` would rescan to the end of the text from every one of them).
_HIDDEN_NAMES = r"(script|style|noscript|template|iframe|object|svg|head|title|textarea)\b"
_HIDDEN_OPEN = re.compile("<" + _HIDDEN_NAMES, re.IGNORECASE)
_HIDDEN_BLOCK = re.compile("<" + _HIDDEN_NAMES + r"[^>]*>.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)
# Comments, CDATA markers, declarations ("<!DOCTYPE ...>") and processing instructions ("<?xml ...?>").
_MARKUP_OPEN = re.compile(r"<!--|<!\[CDATA\[|\]\]>|<[!?]")
_COMMENT_OR_CDATA = re.compile(r"<!--|<!\[CDATA\[|\]\]>")  # what is left to drop once no ">" is ahead
_BLOCK_TAG = re.compile(
    r"</?(?:p|br|div|li|ul|ol|tr|td|th|h[1-6]|blockquote|section|article|figure|figcaption|hr|table|pre|dd|dt)"
    r"\b[^>]*>",
    re.IGNORECASE,
)
# A tag runs to its ">", or up to a "<" that interrupts it ("<b<i>x"), or to the end, as in a browser, where
# "<b<i>" is one tag. Linear: `[^<>]*` stops at the next "<", where the next try starts, and always matches.
_TAG = re.compile(r"</?[a-zA-Z][^<>]*(?:>|\Z|(?=<))")
MAX_MARKUP_CHARS = 200_000  # more markup than this cannot change a 2,000-character summary in practice


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: tags and scripts removed, entities decoded, whitespace collapsed."""
    text = markup[:MAX_MARKUP_CHARS]
    if "<" in text:
        text = _drop_hidden_blocks(text)
        text = _drop_comments(text)
        text = _drop_block_tags(text)
        for _ in range(3):  # "<<b>i>" leaves "<i>" after one pass
            stripped = _TAG.sub("", text)
            if stripped == text:
                break
            text = stripped
    return collapse(html.unescape(text) if "&" in text else text)


def _drop_hidden_blocks(text: str) -> str:
    """Each hidden element, its content and its end tag (or all the rest, when unclosed) -> one space."""
    parts: list[str] = []
    pos = 0
    while (opener := _HIDDEN_OPEN.search(text, pos)) is not None:
        if text.find(">", opener.end()) < 0:
            break  # an opening tag never closed, and no later one can close either: the rest is text
        block = _HIDDEN_BLOCK.match(text, opener.start())
        assert block is not None  # with a ">" ahead, the block runs to its end tag or to the end
        parts += (text[pos:opener.start()], " ")
        pos = block.end()
    parts.append(text[pos:])
    return "".join(parts)


def _drop_comments(text: str) -> str:
    """Comments (an unclosed one runs to the end), CDATA markers, declarations and processing instructions
    -> one space each; `<!` or `<?` with no ">" after it stays as text."""
    last_gt = text.rfind(">")
    opening = _MARKUP_OPEN
    parts: list[str] = []
    pos = search = 0
    while (opener := opening.search(text, search)) is not None:
        start, kind = opener.start(), opener.group()
        if kind == "<!--":
            close = text.find("-->", start + 4)
            end = len(text) if close < 0 else close + 3
        elif kind in ("<![CDATA[", "]]>"):
            end = opener.end()
        elif start + 2 <= last_gt:
            end = text.find(">", start + 2) + 1
        else:
            # No ">" left: this and every later `<!` or `<?` is plain text, so stop looking for them.
            opening, search = _COMMENT_OR_CDATA, start + 1
            continue
        parts += (text[pos:start], " ")
        pos = search = end
    parts.append(text[pos:])
    return "".join(parts)


def _drop_block_tags(text: str) -> str:
    """Block-level tags -> one space, so the words either side stay apart."""
    # A block tag ends at a ">", so none starts after the last one; before it, every tag the pattern starts
    # finds its ">" and is consumed, and no try rescans.
    cut = text.rfind(">") + 1
    return _BLOCK_TAG.sub(" ", text[:cut]) + text[cut:]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200e\u200f\ufeff]")


def collapse(text: str) -> str:
    return " ".join(_CONTROL.sub("", text).split())
