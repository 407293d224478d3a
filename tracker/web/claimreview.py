"""schema.org ClaimReview (JSON-LD) of a resolved proposition, for its public page.

The same facts and shape as GET /propositions/{id}/claimreview (tracker/api/scorecard.py), except that the
editor's resolution note (`reviewBody` there) is never published: a public page carries no notes.
"""

from __future__ import annotations

import json
from typing import Any

from tracker.queries.public import PublicProposition

RATINGS = {"confirmed": (5, "True"), "refuted": (1, "False"), "annulled": (3, "Undecidable")}


def claim_review_document(
    *, outcome: str | None, statement: str, resolved_at: str | None, author: str | None, published_at: str | None,
    title: str | None, url: str | None, outlet: str | None, page_url: str | None = None, note: str | None = None,
) -> dict[str, Any] | None:
    """The ClaimReview of a proposition resolved confirmed, refuted or annulled; None otherwise. One shape for
    the API (which adds the editor's note as `reviewBody`) and the public page (which adds its own `url`)."""
    if outcome not in RATINGS:
        return None
    value, label = RATINGS[outcome]
    item: dict[str, Any] = {"@type": "Claim"}
    if author:
        item["author"] = {"@type": "Person", "name": author}
        item["datePublished"] = (published_at or "")[:10]
        item["appearance"] = {"@type": "CreativeWork", "headline": title, "url": url,
                              "publisher": {"@type": "Organization", "name": outlet}}
    document: dict[str, Any] = {"@context": "https://schema.org", "@type": "ClaimReview"}
    if page_url is not None:
        document["url"] = page_url
    document.update({
        "claimReviewed": statement,
        "datePublished": (resolved_at or "")[:10],
        "author": {"@type": "Organization", "name": "Policy Tracker"},
        "reviewRating": {"@type": "Rating", "ratingValue": value, "bestRating": 5, "worstRating": 1,
                         "alternateName": label},
        "itemReviewed": item,
    })
    return document


def claim_review(found: PublicProposition, page_url: str) -> dict[str, Any] | None:
    """The public page's ClaimReview: no `reviewBody`, since a public page carries no notes."""
    source = found.source
    return claim_review_document(
        outcome=found.outcome, statement=found.statement, resolved_at=found.resolved_at,
        author=source.author if source else None, published_at=source.published_at if source else None,
        title=source.title if source else None, url=source.url if source else None,
        outlet=source.outlet if source else None, page_url=page_url,
    )


def script_json(data: dict[str, Any]) -> str:
    """JSON safe inside <script type="application/ld+json">: no `<`, `>` or `&` can end the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
