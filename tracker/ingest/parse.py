"""Turn fetched bytes into feed entries with feedparser, which is only ever handed bytes (it never fetches).

Safety, in two layers:

- Refusal, decided on the *decoded* document: feedparser decodes every feed to UTF-8 (BOM, UTF-16/32, EBCDIC,
  the XML declaration's or the Content-Type's charset) before expat sees it, so the check runs on exactly those
  UTF-8 bytes, whatever the feed's encoding. Feeds have no business declaring entities or carrying a DTD, so a
  document with an entity declaration, or a DOCTYPE with an internal subset (`<!DOCTYPE x [ ... ]>`), is
  refused before parsing. Checking the raw bytes was not enough: cp037 or hand-written UTF-7 hides `<!ENTITY`,
  and expat 2.5 then expanded (and, 100,000 entities deep, crashed on) what feedparser let through.
- Isolation: `parse_feed` runs the check and the parse in a small pool of worker processes with memory, CPU and
  wall-clock limits (`tracker.ingest.isolation`), so a parser crash or blow-up costs one feed's parse, never the
  service. `parse_feed_in_process` is the same parse without the pool.

External entities are never fetched (feedparser disables external general entities).
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from typing import Any

import feedparser
from feedparser.encodings import convert_to_utf8

_BLANK = re.compile(rb"^\s*$")
# Both run on feedparser's UTF-8 output. XML wants upper case; the loose parser does not, so neither do we.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
# The only DOCTYPE let through: a name and an optional external ID whose literals hold no markup characters,
# then `>`. No `[` can occur, so no internal subset. Neither part can run past the next `<`, which keeps
# checking many DOCTYPEs linear.
_PLAIN_DOCTYPE = re.compile(
    rb"""<!DOCTYPE\s+[^\s"'<>\[\]]+(?:\s+(?:SYSTEM|PUBLIC)(?:\s+(?:"[^"<>\[\]]*"|'[^'<>\[\]]*')){1,2})?\s*>""",
    re.IGNORECASE,
)
ISOLATION_ENV = "TRACKER_PARSE_ISOLATION"


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed yielded.

    - `entries`: feedparser entry dicts (pass each to `normalise.normalise_entry`).
    - `title`, `link`, `language`: feed-level metadata (language is the fallback for entries).
    - `ttl_minutes`: RSS <ttl>, a hint to poll no more often than that.
    - `version`: feedparser's format name ("rss20", "atom10", ...), "" when unrecognised.
    - `warning`: the parser's complaint about a malformed feed that still yielded entries (keep it).
    - `error`: why nothing usable came out (no entries and not a well-formed feed, refused, empty, the parser
      crashed or overran its limits). A well-formed feed with no items has `entries == []` and `error is None`.
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

    Runs in an isolated worker process unless TRACKER_PARSE_ISOLATION=off (for debugging only).
    """
    if not body or _BLANK.match(body):
        return ParsedFeed(error="empty body")  # no need to bother a worker
    if os.environ.get(ISOLATION_ENV, "").strip().lower() in {"0", "off", "false", "no"}:
        return parse_feed_in_process(body, headers, base_url=base_url)
    from tracker.ingest import isolation  # late: isolation imports this module

    return isolation.default_pool().parse(body, headers, base_url=base_url)


def parse_feed_in_process(
    body: bytes, headers: dict[str, str] | None = None, *, base_url: str | None = None
) -> ParsedFeed:
    """`parse_feed` in the calling process, without isolation: safe against entity tricks, not against a
    crash or a memory blow-up in the parser itself."""
    try:
        return parse_unguarded(body, headers, base_url)
    except MemoryError:
        return ParsedFeed(error="parser failed: out of memory")


def parse_unguarded(body: bytes, headers: dict[str, str] | None, base_url: str | None) -> ParsedFeed:
    """The parse itself; lets MemoryError through so an isolated worker knows to retire."""
    if not body or _BLANK.match(body):
        return ParsedFeed(error="empty body")
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if base_url and "content-location" not in response_headers:
        response_headers["content-location"] = base_url
    try:
        refused = refusal(body, response_headers)
        if refused:
            return ParsedFeed(error=f"refused: {refused}")
        # BytesIO, never bytes/str: feedparser treats a str/bytes argument as a URL or file name to open.
        result = feedparser.parse(io.BytesIO(body), response_headers=response_headers)
    except MemoryError:
        raise
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


def refusal(body: bytes, response_headers: dict[str, str]) -> str | None:
    """Why the document must not be parsed, or None. `response_headers` must be the exact dict handed to
    feedparser.parse (lowercased names): feedparser's own decoder picks the encoding from it and the body, so
    this checks the very UTF-8 bytes expat and the loose parser will read."""
    decoded = convert_to_utf8(dict(response_headers), body, {})
    if _ENTITY_DECLARATION.search(decoded):
        return "the document declares XML entities (possible entity-expansion attack)"
    for found in _DOCTYPE.finditer(decoded):
        if not _PLAIN_DOCTYPE.match(decoded, found.start()):
            return "the document's DOCTYPE carries an internal subset or is malformed (possible entity attack)"
    return None


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
