"""schema.org ClaimReview (JSON-LD) of a resolved proposition, for its public page.

The same facts and shape as GET /propositions/{id}/claimreview (tracker/api/scorecard.py), except that the
editor's resolution note (`reviewBody` there) is never published: a public page carries no notes.
"""

from __future__ import annotations

import json
from typing import Any

from tracker.queries.public import PublicProposition

RATINGS = {"confirmed": (5, "True"), "refuted": (1, "False"), "annulled": (3, "Undecidable")}


def claim_review(found: PublicProposition, page_url: str) -> dict[str, Any] | None:
    """The ClaimReview of a proposition resolved confirmed, refuted or annulled; None otherwise."""
    if found.outcome not in RATINGS:
        return None
    value, label = RATINGS[found.outcome]
    item: dict[str, Any] = {"@type": "Claim"}
    if found.source is not None:
        item["author"] = {"@type": "Person", "name": found.source.author}
        item["datePublished"] = found.source.published_at[:10]
        item["appearance"] = {"@type": "CreativeWork", "headline": found.source.title, "url": found.source.url,
                              "publisher": {"@type": "Organization", "name": found.source.outlet}}
    return {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "url": page_url,
        "claimReviewed": found.statement,
        "datePublished": (found.resolved_at or "")[:10],
        "author": {"@type": "Organization", "name": "Policy Tracker"},
        "reviewRating": {"@type": "Rating", "ratingValue": value, "bestRating": 5, "worstRating": 1,
                         "alternateName": label},
        "itemReviewed": item,
    }


def script_json(data: dict[str, Any]) -> str:
    """JSON safe inside <script type="application/ld+json">: no `<`, `>` or `&` can end the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
