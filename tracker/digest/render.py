"""Digest -> subject, plain text and HTML, from the Jinja2 templates shipped in the package.

Both parts say the same: each proposition once as a heading with its week's changes beneath, every link
to the public reader pages (tracker.web.urls), the review backlog only in an editor's digest.

HTML autoescapes everything (titles come from feeds and may hold markup); links are only ever http(s)
(anything else is dropped, not rewritten); no remote images; CSS is inline for mail clients.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tracker.digest.compose import Digest
from tracker.web.urls import public_url

_SPACE = re.compile(r"\s+")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\"'<>\\`]")


class BadBaseUrl(ValueError):
    """public_base_url is not an absolute http(s) URL."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def safe_url(url: str | None) -> str | None:
    """The URL if it is absolute http(s) with a host and no characters that could break out; else None."""
    if not url or not isinstance(url, str) or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def base_url(url: str) -> str:
    checked = safe_url(url.strip())
    if checked is None:
        raise BadBaseUrl(f"public_base_url must be an absolute http(s) URL, not {url!r}")
    return checked.rstrip("/")


def oneline(text: object) -> str:
    """Titles from feeds may hold line breaks and runs of spaces; in a digest they are one line."""
    return _SPACE.sub(" ", str(text or "")).strip()


def clip(text: object, limit: int = 300) -> str:
    line = oneline(text)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("tracker.digest", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["oneline"] = oneline
    env.filters["clip"] = clip
    env.filters["status_label"] = lambda s: str(s).replace("_", " ")
    return env


def subject(digest: Digest) -> str:
    span = f"{digest.first_day:%d %b} to {digest.last_day:%d %b %Y}"
    if digest.quiet:
        return f"Policy Tracker weekly digest {digest.week} ({span}): no changes"
    return f"Policy Tracker weekly digest {digest.week} ({span})"


def render(digest: Digest, *, public_base_url: str, unsubscribe_url: str | None) -> Rendered:
    base = base_url(public_base_url)

    def proposition_url(proposition_id: str) -> str:
        return public_url(base, "proposition", proposition_id)  # the public reader page (tracker/web)

    context = {
        "d": digest,
        "subject": subject(digest),
        "proposition_url": proposition_url,
        "base_url": base,
        "record_url": public_url(base, "index"),
        "unsubscribe_url": safe_url(unsubscribe_url),
    }
    env = environment()
    return Rendered(
        subject=context["subject"],
        text=env.get_template("digest.txt").render(context),
        html=env.get_template("digest.html").render(context),
    )
