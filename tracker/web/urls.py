"""Stable public URLs of the reader pages: the one place they are spelled, for the pages, feeds and the digest.

Pure (standard library only) and placed in the lowest layer by tests/test_architecture.py, so the digest
imports it as `from tracker.web.urls import public_url`.
"""

from __future__ import annotations

from urllib.parse import quote

PREFIX = "/record"

# kind -> path below the prefix; `{id}` is replaced by the percent-encoded id.
PATHS: dict[str, str] = {
    "index": "/",
    "proposition": "/propositions/{id}",
    "proposition_feed": "/propositions/{id}/feed.atom",
    "source": "/sources/{id}",
    "scorecard": "/scorecard",
    "verify": "/verify",
    "feed": "/feed.atom",
}


def public_path(kind: str, id: str | None = None) -> str:
    """The site-relative path of a public page, e.g. public_path("proposition", "p-1") == "/record/propositions/p-1"."""
    try:
        template = PATHS[kind]
    except KeyError:
        raise ValueError(f"unknown public page kind {kind!r}; one of {', '.join(PATHS)}") from None
    if "{id}" in template:
        if not id:
            raise ValueError(f"a {kind} link needs an id")
        template = template.replace("{id}", quote(id, safe=""))
    return PREFIX + template


def public_url(base: str, kind: str, id: str | None = None) -> str:
    """The absolute URL of a public page under `base` (settings.public_base_url), e.g.
    public_url("https://tracker.example", "proposition", "p-1") == "https://tracker.example/record/propositions/p-1".
    """
    return base.rstrip("/") + public_path(kind, id)
