"""Normalise feedparser entries into evidence items, and the keys used to recognise the same story twice.

Pure functions: no I/O, no clock (the fetch time is passed in).

- `canonical_link(url)`: lowercase scheme and host, no default port, no fragment, no tracking parameters,
  remaining query parameters sorted; http(s) only.
- `evidence_id`: first 16 hex chars of SHA-256 over the canonical link (or, without a link, the feed name and
  guid; without either, the feed name and content hash), so the same story from the same URL always gets the
  same id, whichever feed it came through.
- `title_key` / `similar_titles`: near-identical-title dedupe across feeds (the caller limits it to a few days).
"""

from __future__ import annotations

import calendar
import hashlib
import html
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from rapidfuzz import fuzz

from tracker.domain.evidence import title_key
from tracker.markup import collapse, html_to_text
from tracker.store.envelope import EARLIEST_TIME, FUTURE_SKEW

MAX_SUMMARY_CHARS = 2000
MAX_TITLE_CHARS = 500
# Longer links and guids are feed garbage; they are also kept below what a PostgreSQL btree index row holds.
MAX_LINK_BYTES = 2000
MAX_GUID_CHARS = 1000
MAX_LANGUAGE_CHARS = 20  # the read model's column
SIMILAR_TITLE_THRESHOLD = 92.0
# Dates further ahead than FUTURE_SKEW (clock skew allowance) or before EARLIEST_TIME are treated as wrong and
# replaced by the fetch time.
NO_TEXT = "no title or summary"  # the reason an entry is skipped: evidence needs words to match against

NEGATIONS = frozenset({"no", "not", "never", "without", "nor", "none", "cannot", "t"})  # "t": won't, doesn't
TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "ref", "ref_src", "cmpid",
     "_hsenc", "_hsmi", "mkt_tok", "ocid", "smid", "spm"}
)
TRACKING_PREFIXES = ("utm_", "at_")

@dataclass(frozen=True)
class EvidenceItem:
    """One news item, normalised. `published_is_fetch_time` flags that the feed gave no usable date."""

    evidence_id: str
    feed_name: str
    guid: str
    title: str
    link: str | None
    summary: str
    published: datetime
    published_is_fetch_time: bool
    fetched_at: datetime
    language: str | None
    content_hash: str

    @property
    def title_key(self) -> str:
        return title_key(self.title)

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready dict (ISO 8601 UTC times) for an event payload."""
        data = asdict(self)
        data["published"] = self.published.isoformat()
        data["fetched_at"] = self.fetched_at.isoformat()
        return data


def normalise_entry(
    entry: dict[str, Any], *, feed_name: str, fetched_at: datetime, feed_language: str | None = None
) -> EvidenceItem | None:
    """One feedparser entry -> EvidenceItem, or None when it cannot become evidence (see `entry_to_item`)."""
    found = entry_to_item(entry, feed_name=feed_name, fetched_at=fetched_at, feed_language=feed_language)
    return found if isinstance(found, EvidenceItem) else None


def entry_to_item(
    entry: dict[str, Any], *, feed_name: str, fetched_at: datetime, feed_language: str | None = None
) -> EvidenceItem | str:
    """One feedparser entry -> EvidenceItem, or the reason it cannot become evidence (no visible title or
    summary: a link-only podcast entry, a title that is only markup). The caller skips and counts those.

    `fetched_at` must be timezone-aware; it stands in for the publication time when the entry has none (or an
    implausible one), with `published_is_fetch_time=True`. `feed_language` is the feed-level fallback.
    """
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware")
    fetched_at = fetched_at.astimezone(UTC)
    title = _truncate(_field_text(entry, "title"), MAX_TITLE_CHARS)
    summary = _truncate(_summary_text(entry), MAX_SUMMARY_CHARS)
    if not (title or summary):
        return NO_TEXT
    link = canonical_link(_str(entry.get("link")))
    if link is not None and len(link.encode("utf-8")) > MAX_LINK_BYTES:
        link = None
    content = content_hash(title, summary)
    given_guid = _str(entry.get("id")).strip()
    if len(given_guid) > MAX_GUID_CHARS:  # still stable per entry, and bounded
        given_guid = "sha256:" + hashlib.sha256(given_guid.encode("utf-8", "surrogatepass")).hexdigest()
    guid = given_guid or link or f"sha256:{content}"
    published = _entry_time(entry)
    flagged = published is None or published > fetched_at + FUTURE_SKEW or published < EARLIEST_TIME
    return EvidenceItem(
        evidence_id=evidence_id(link=link, guid=given_guid or None, feed_name=feed_name, content=content),
        feed_name=feed_name,
        guid=guid,
        title=title,
        link=link,
        summary=summary,
        published=fetched_at if flagged or published is None else published,
        published_is_fetch_time=flagged,
        fetched_at=fetched_at,
        language=_language(entry, feed_language),
        content_hash=content,
    )


def dedupe(items: list[EvidenceItem]) -> list[EvidenceItem]:
    """Drop repeats of the same evidence_id within one batch (feeds do repeat guids), keeping the first."""
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.evidence_id not in seen:
            seen.add(item.evidence_id)
            unique.append(item)
    return unique


# --- identity -------------------------------------------------------------------------------------------------


def evidence_id(*, link: str | None, guid: str | None, feed_name: str, content: str) -> str:
    """Stable id: from the canonical link; else feed + guid (guids are only unique per feed); else content."""
    if link:
        basis = f"link:{link}"
    elif guid:
        basis = f"guid:{feed_name}\n{guid}"
    else:
        basis = f"content:{feed_name}\n{content}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


def content_hash(title: str, summary: str) -> str:
    return hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()


def canonical_link(url: str | None) -> str | None:
    """Canonical form of an http(s) link, or None for anything else (relative, javascript:, mailto:, ...)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    )
    # Stripped again: a dropped fragment or query can leave the path's trailing space at the end, and the
    # canonical form must be a fixed point (canonical_link(canonical_link(x)) == canonical_link(x)).
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), "")).strip()


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


# --- near-identical titles ------------------------------------------------------------------------------------


def similar_titles(a: str, b: str, threshold: float = SIMILAR_TITLE_THRESHOLD) -> bool:
    """True for near-identical headlines (token-sorted ratio of their keys >= threshold). Very short keys
    (under three words) must match exactly, since two-word headlines collide too easily; negations must agree."""
    ka, kb = title_key(a), title_key(b)
    if not ka or not kb:
        return False
    words_a, words_b = ka.split(), kb.split()
    if min(len(words_a), len(words_b)) < 3:
        return ka == kb
    # "Russia will attack X" and "Russia will not attack X" score high but say the opposite
    if NEGATIONS.intersection(words_a) != NEGATIONS.intersection(words_b):
        return False
    return fuzz.token_sort_ratio(ka, kb) >= threshold


# --- text -----------------------------------------------------------------------------------------------------


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _field_text(entry: dict[str, Any], name: str) -> str:
    value = _str(entry.get(name))
    detail = entry.get(f"{name}_detail") or {}
    kind = str(detail.get("type", "text/plain")) if isinstance(detail, dict) else "text/plain"
    if "html" in kind:
        return html_to_text(value)
    return collapse(html.unescape(value)) if "&" in value else collapse(value)


def _summary_text(entry: dict[str, Any]) -> str:
    # Summaries are HTML in practice, whatever the declared type (feedparser may omit summary_detail), and
    # html_to_text leaves plain text as it is apart from entities.
    summary = _str(entry.get("summary"))
    if summary.strip():
        return html_to_text(summary)
    for part in entry.get("content") or []:
        if isinstance(part, dict) and _str(part.get("value")).strip():
            return html_to_text(_str(part["value"]))
    return ""


def _entry_time(entry: dict[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if isinstance(parsed, time.struct_time | tuple) and len(parsed) >= 6:
            try:
                return datetime.fromtimestamp(calendar.timegm(tuple(parsed)), UTC)  # feedparser gives UTC
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _language(entry: dict[str, Any], feed_language: str | None) -> str | None:
    candidates: list[object] = [entry.get("language")]
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if isinstance(detail, dict):
            candidates.append(detail.get("language"))
    candidates.append(feed_language)
    for value in candidates:
        if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_LANGUAGE_CHARS:
            return value.strip().lower()
    return None


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""
