"""How well extraction finds known propositions in a text (pure; the benchmark and tests read the files).

A known proposition counts as found when some candidate's span overlaps its locator span [start, end).
`precision_proxy` is the share of candidates that overlap some known proposition: a lower bound on
precision, since a text usually holds more claims than anyone recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracker.extract.candidates import Candidate


def _overlaps(candidate: Candidate, locator: dict[str, Any]) -> bool:
    return candidate.start < locator["end"] and locator["start"] < candidate.end


def measure(candidates: Sequence[Candidate], known: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Recall of `known` (dicts with id, kind, locator, optional stated_confidence) and related figures."""
    found, missed, same_kind, same_hedge, with_hedge = [], [], 0, 0, 0
    for item in known:
        hits = [c for c in candidates if _overlaps(c, item["locator"])]
        if not hits:
            missed.append(item["id"])
            continue
        found.append(item["id"])
        same_kind += any(c.kind == item["kind"] for c in hits)
        phrase = (item.get("stated_confidence") or {}).get("phrase")
        if phrase:
            with_hedge += 1
            same_hedge += any(c.hedge is not None and c.hedge.phrase in (phrase, phrase.replace("won't", "will not"))
                              for c in hits)
    useful = sum(any(_overlaps(c, item["locator"]) for item in known) for c in candidates)
    return {
        "seeds": len(known),
        "found": len(found),
        "recall": round(len(found) / len(known), 3) if known else None,
        "candidates": len(candidates),
        "precision_proxy": round(useful / len(candidates), 3) if candidates else None,
        "kind_agreement": round(same_kind / len(found), 3) if found else None,
        "hedge_agreement": round(same_hedge / with_hedge, 3) if with_hedge else None,
        "missed": missed,
    }
