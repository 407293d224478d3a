"""Evaluate a matcher against a labelled set of items (used by tests/test_matching.py and benchmarks/matching.py).

Definitions (over all items of the set; an item's "suggestions" are what `Matcher.match` returns: above the
suggest threshold, best first, at most `max_suggestions`):
- recall@k: of all (item, proposition) pairs labelled as bearing, the fraction whose proposition is among the
  item's first k suggestions;
- precision@k: of all suggestions in the items' first k, the fraction labelled as bearing (precision@1 is thus the
  share of items with a suggestion whose first suggestion is right);
- precision: the same over all suggestions (k = max_suggestions);
- false_alarm_rate: the share of items labelled as bearing on nothing that got any suggestion;
- stance_accuracy: among correct suggestions, the share whose suggested stance equals the labelled one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from tracker.matching.index import BM25Index
from tracker.matching.matcher import ItemInput, Matcher
from tracker.matching.profile import PropositionInput
from tracker.matching.text import analyse


@dataclass(frozen=True)
class LabelledItem:
    item: ItemInput
    labels: dict[str, str]  # proposition id -> stance


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def load_labelled(path: Path) -> list[LabelledItem]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = []
    for raw in data["items"]:
        item = ItemInput(
            evidence_id=raw["id"], title=" ".join(str(raw["title"]).split()),
            summary=" ".join(str(raw.get("summary", "")).split()), published=_as_datetime(raw["published"]),
            language=raw.get("language"),
        )
        items.append(LabelledItem(item, dict(raw.get("labels") or {})))
    return items


def propositions_from_seeds(seed_items: Sequence[dict[str, Any]], source: dict[str, Any]) -> list[PropositionInput]:
    published = str(source["published_at"])
    return [PropositionInput.from_seed(item, published) for item in seed_items]


Suggest = Callable[[ItemInput], list[tuple[str, str]]]  # item -> [(proposition id, stance)], best first


def evaluate(suggest: Suggest, items: Sequence[LabelledItem]) -> dict[str, Any]:
    true_pairs = sum(len(x.labels) for x in items)
    hits_at = {1: 0, 3: 0}
    shown_at = {1: 0, 3: 0}
    correct_at = {1: 0, 3: 0}
    shown_all = correct_all = stance_right = 0
    false_alarms = none_items = 0
    for labelled in items:
        suggestions = suggest(labelled.item)
        ids = [pid for pid, _ in suggestions]
        for k in (1, 3):
            top = ids[:k]
            hits_at[k] += sum(1 for pid in labelled.labels if pid in top)
            shown_at[k] += len(top)
            correct_at[k] += sum(1 for pid in top if pid in labelled.labels)
        shown_all += len(ids)
        for pid, stance in suggestions:
            if pid in labelled.labels:
                correct_all += 1
                stance_right += stance == labelled.labels[pid]
        if not labelled.labels:
            none_items += 1
            false_alarms += bool(ids)

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "items": len(items),
        "labelled_pairs": true_pairs,
        "suggestions": shown_all,
        "recall@1": ratio(hits_at[1], true_pairs),
        "recall@3": ratio(hits_at[3], true_pairs),
        "precision@1": ratio(correct_at[1], shown_at[1]),
        "precision@3": ratio(correct_at[3], shown_at[3]),
        "precision": ratio(correct_all, shown_all),
        "false_alarm_rate": ratio(false_alarms, none_items),
        "stance_accuracy": ratio(stance_right, correct_all),
    }


def matcher_suggest(matcher: Matcher) -> Suggest:
    return lambda item: [(s.proposition_id, s.suggested_stance) for s in matcher.match(item)]


class StatementBM25:
    """Baseline: plain BM25 of the item against each proposition's statement, nothing else."""

    def __init__(self, propositions: Sequence[PropositionInput], threshold: float, max_suggestions: int = 3) -> None:
        self.index = BM25Index(common_fraction=1.0)
        self.index.set_many((p.proposition_id, analyse(p.statement).stems) for p in propositions)
        self.cutoffs = {p.proposition_id: p.not_before for p in propositions}
        self.threshold = threshold
        self.max_suggestions = max_suggestions

    def scores(self, item: ItemInput) -> list[tuple[str, float]]:
        tokens = analyse(f"{item.title}. {item.summary}").stems
        day = item.published.date() if item.published else None
        ranked = []
        for key, score in self.index.candidates(tokens, len(self.index)):
            cutoff = self.cutoffs.get(key)
            if cutoff is not None and (day is None or day <= _as_datetime(cutoff).date()):
                continue
            ranked.append((key, score))
        return ranked

    def suggest(self, item: ItemInput) -> list[tuple[str, str]]:
        return [(k, "context") for k, s in self.scores(item) if s >= self.threshold][: self.max_suggestions]
