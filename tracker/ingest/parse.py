"""Turn fetched bytes into feed entries with feedparser, which is only ever handed bytes (it never fetches).

Safety: feedparser keeps only "safe" entity declarations and expat (>= 2.4) limits amplification, but its
loose fallback parser still expands what it kept, and a quadratic blow-up (one large entity referenced many
times) needs no nesting. Feeds have no business declaring entities, so any document that declares one is
refused before parsing. External entities are never fetched (feedparser disables external general entities).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import feedparser

# Checked on the bytes with NULs removed so UTF-16/32 encodings cannot hide the declaration.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_BLANK = re.compile(rb"^\s*$")


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed yielded.

    - `entries`: feedparser entry dicts (pass each to `normalise.normalise_entry`).
    - `title`, `link`, `language`: feed-level metadata (language is the fallback for entries).
    - `ttl_minutes`: RSS <ttl>, a hint to poll no more often than that.
    - `version`: feedparser's format name ("rss20", "atom10", ...), "" when unrecognised.
    - `warning`: the parser's complaint about a malformed feed that still yielded entries (keep it).
    - `error`: why nothing usable came out (no entries and not a well-formed feed, refused, empty). A
      well-formed feed with no items has `entries == []` and `error is None`.
    """

    entries: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None
    link: str | None = None
    language: str | None = None
    ttl_minutes: int | None = None
    version: str = ""
    warning: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_feed(body: bytes, headers: dict[str, str] | None = None, *, base_url: str | None = None) -> ParsedFeed:
    """Parse feed bytes. `headers` are the response headers (lowercased names; Content-Type's charset is used
    for decoding). `base_url` (the fetch's final URL) resolves relative links unless headers carry
    Content-Location. Never raises for bad input: problems come back as `error` / `warning`.
    """
    if not body or _BLANK.match(body):
        return ParsedFeed(error="empty body")
    if _ENTITY_DECLARATION.search(body.replace(b"\x00", b"")):
        return ParsedFeed(error="refused: the document declares XML entities (possible entity-expansion attack)")
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if base_url and "content-location" not in response_headers:
        response_headers["content-location"] = base_url
    try:
        # BytesIO, never bytes/str: feedparser treats a str/bytes argument as a URL or file name to open.
        result = feedparser.parse(io.BytesIO(body), response_headers=response_headers)
    except Exception as error:  # noqa: BLE001 - a parser crash on hostile input is a feed error, not ours
        return ParsedFeed(error=f"parser failed: {type(error).__name__}: {error}")
    feed = result.get("feed", {})
    entries = list(result.get("entries", []))
    version = result.get("version", "") or ""
    problem = _describe(result.get("bozo_exception")) if result.get("bozo") else None
    meta = {
        "title": _text(feed.get("title")),
        "link": _text(feed.get("link")),
        "language": _text(feed.get("language")) or _text(response_headers.get("content-language")),
        "ttl_minutes": _ttl(feed.get("ttl")),
        "version": version,
    }
    if entries:
        return ParsedFeed(entries=entries, warning=problem, **meta)
    if not version:
        detail = f" ({problem})" if problem else ""
        return ParsedFeed(error=f"no entries; not a recognisable RSS or Atom feed{detail}", **meta)
    if problem:
        return ParsedFeed(error=f"no entries; malformed feed: {problem}", **meta)
    return ParsedFeed(**meta)


def _describe(exception: object) -> str:
    if exception is None:
        return "malformed feed"
    text = str(exception).strip()
    return f"{type(exception).__name__}: {text}" if text else type(exception).__name__


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _ttl(value: object) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes if 0 < minutes <= 7 * 24 * 60 else None
