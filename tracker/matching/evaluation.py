"""Evaluate a matcher against a labelled set of items (used by tests/ and benchmarks/matching.py).

Definitions (over the items counted; an item's "suggestions" are what `Matcher.match` returns: above the suggest
threshold, best first, at most `max_suggestions`; a label is proposition id -> stance, {} for "bears on none"):
- recall@k: of all (item, proposition) pairs labelled as bearing, the fraction whose proposition is among the
  item's first k suggestions;
- precision@k: of all suggestions in the items' first k, the fraction labelled as bearing (precision@1 is thus the
  share of items with a suggestion whose first suggestion is right);
- precision: the same over all suggestions (k = max_suggestions);
- false_alarm_rate: the share of items labelled as bearing on nothing that got any suggestion;
- stance_accuracy (the stance agreement): among correct suggestions, the share whose suggested stance equals the
  labelled one;
- per_stance[s]: among correct suggestions, precision = suggested s and labelled s / suggested s, recall = suggested
  s and labelled s / labelled s;
- majority_stance: the baseline "always say the most common labelled stance of the set" (counted over all the set's
  labelled pairs; ties go to the first of supports, contradicts, context). `agreement` is what it scores on the
  same correct suggestions as stance_accuracy, `agreement_all_pairs` on every labelled pair.

Prequential evaluation (`prequential`): items in publication order, one calendar month (UTC) at a time. For each
month the suggestions are taken first and the month's figures counted from them; only then does the editor act on
the month (which may change what later months are suggested). A month's figures never see its own decisions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from tracker.matching.exemplars import item_text
from tracker.matching.index import BM25Index
from tracker.matching.matcher import ItemInput, Matcher
from tracker.matching.profile import PropositionInput
from tracker.matching.text import analyse

STANCES = ("supports", "contradicts", "context")
K = (1, 3)


@dataclass(frozen=True)
class LabelledItem:
    item: ItemInput
    labels: dict[str, str]  # proposition id -> stance
    # The item has no date of its own: item.published is the time it was fetched (as ingestion does).
    published_is_fetch_time: bool = False
    true_published: datetime | None = None  # when published_is_fetch_time: the real date, for month bucketing only

    @property
    def when(self) -> datetime | None:
        """The date that orders the item in a prequential run: the real publication date."""
        return self.true_published or self.item.published


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
Suggested = Sequence[tuple[str, str | None]]  # one item's suggestions: (proposition id, suggested stance), best first


def ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def majority_stance(items: Iterable[LabelledItem]) -> str | None:
    """The most common labelled stance over all labelled pairs; ties go to the earlier of STANCES."""
    counts = Counter(stance for x in items for stance in x.labels.values())
    if not counts:
        return None
    order = {s: i for i, s in enumerate(STANCES)}
    return min(counts, key=lambda s: (-counts[s], order.get(s, len(order)), s))


@dataclass
class Tally:
    """Counts over items; `figures()` turns them into the ratios defined in the module docstring."""

    items: int = 0
    labelled_pairs: int = 0
    suggestions: int = 0
    correct: int = 0
    none_items: int = 0
    false_alarms: int = 0
    hits_at: Counter[int] = field(default_factory=Counter)
    shown_at: Counter[int] = field(default_factory=Counter)
    correct_at: Counter[int] = field(default_factory=Counter)
    # (labelled stance, suggested stance) over correct suggestions; labelled stances over all labelled pairs.
    stance_pairs: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    labelled_stances: Counter[str] = field(default_factory=Counter)

    def add(self, labels: Mapping[str, str], suggested: Suggested) -> None:
        ids = [pid for pid, _ in suggested]
        self.items += 1
        self.labelled_pairs += len(labels)
        self.labelled_stances.update(labels.values())
        for k in K:
            top = ids[:k]
            self.hits_at[k] += sum(1 for pid in labels if pid in top)
            self.shown_at[k] += len(top)
            self.correct_at[k] += sum(1 for pid in top if pid in labels)
        self.suggestions += len(ids)
        for pid, stance in suggested:
            if pid in labels:
                self.correct += 1
                self.stance_pairs[(labels[pid], stance)] += 1
        if not labels:
            self.none_items += 1
            self.false_alarms += bool(ids)

    def merge(self, other: Tally) -> None:
        for name in ("items", "labelled_pairs", "suggestions", "correct", "none_items", "false_alarms"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("hits_at", "shown_at", "correct_at", "stance_pairs", "labelled_stances"):
            getattr(self, name).update(getattr(other, name))

    def figures(self, majority: str | None = None) -> dict[str, Any]:
        """Ratios; `majority` is the set's majority stance (defaults to the one of the items counted here)."""
        if majority is None and self.labelled_stances:
            order = {s: i for i, s in enumerate(STANCES)}
            majority = min(self.labelled_stances,
                           key=lambda s: (-self.labelled_stances[s], order.get(s, len(order)), s))
        agreed = sum(n for (label, said), n in self.stance_pairs.items() if label == said)
        per_stance = {}
        for stance in STANCES:
            right = self.stance_pairs[(stance, stance)]
            said = sum(n for (_, s), n in self.stance_pairs.items() if s == stance)
            labelled = sum(n for (label, _), n in self.stance_pairs.items() if label == stance)
            per_stance[stance] = {"precision": ratio(right, said), "recall": ratio(right, labelled),
                                  "suggested": said, "labelled": labelled}
        on_correct = sum(n for (label, _), n in self.stance_pairs.items() if label == majority)
        return {
            "items": self.items,
            "labelled_pairs": self.labelled_pairs,
            "suggestions": self.suggestions,
            "recall@1": ratio(self.hits_at[1], self.labelled_pairs),
            "recall@3": ratio(self.hits_at[3], self.labelled_pairs),
            "precision@1": ratio(self.correct_at[1], self.shown_at[1]),
            "precision@3": ratio(self.correct_at[3], self.shown_at[3]),
            "precision": ratio(self.correct, self.suggestions),
            "false_alarm_rate": ratio(self.false_alarms, self.none_items),
            "stance_accuracy": ratio(agreed, self.correct),
            "per_stance": per_stance,
            "majority_stance": {
                "stance": majority,
                "agreement": ratio(on_correct, self.correct),
                "agreement_all_pairs": ratio(self.labelled_stances[majority] if majority else 0,
                                             self.labelled_pairs),
            },
        }


def tally(items: Iterable[LabelledItem], suggested: Mapping[str, Suggested]) -> Tally:
    """Count each item against its suggestions (`suggested` by evidence id; an absent id had none)."""
    counts = Tally()
    for labelled in items:
        counts.add(labelled.labels, suggested.get(labelled.item.evidence_id, ()))
    return counts


def evaluate(suggest: Suggest, items: Sequence[LabelledItem]) -> dict[str, Any]:
    """Static figures: every item scored by `suggest` as it is (no decisions in between)."""
    counts = Tally()
    for labelled in items:
        counts.add(labelled.labels, suggest(labelled.item))
    return counts.figures(majority_stance(items))


def matcher_suggest(matcher: Matcher) -> Suggest:
    return lambda item: [(s.proposition_id, s.suggested_stance) for s in matcher.match(item)]


# ---- prequential ----------------------------------------------------------------------------------------------

def month_of(when: datetime) -> str:
    """The calendar month (UTC) of a time, 'YYYY-MM'; a naive time is taken as UTC."""
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m")


def by_month(items: Iterable[LabelledItem]) -> list[tuple[str, list[LabelledItem]]]:
    """Items in publication order (real date, then id), grouped by calendar month, oldest month first."""
    def key(x: LabelledItem) -> tuple[datetime, str]:
        when = x.when
        assert when is not None, f"{x.item.evidence_id} has no date"
        return (when if when.tzinfo else when.replace(tzinfo=UTC), x.item.evidence_id)

    months: dict[str, list[LabelledItem]] = {}
    for labelled in sorted(items, key=key):
        assert labelled.when is not None
        months.setdefault(month_of(labelled.when), []).append(labelled)
    return list(months.items())


@dataclass(frozen=True)
class Decision:
    """What the editor does about one (item, proposition) pair."""

    action: str  # confirm (a right suggestion) | reject (a wrong one) | attach (a missed pair, by hand)
    evidence_id: str
    proposition_id: str
    stance: str | None = None  # the labelled stance, for confirm and attach


def editor_decisions(labelled: LabelledItem, suggested: Suggested, *, eligible: bool = True) -> list[Decision]:
    """The labels acting as the editor: confirm right suggestions with the labelled stance, reject wrong ones,
    attach labelled pairs the matcher missed (not for an item that cannot be evidence, e.g. published before
    the source)."""
    evidence_id = labelled.item.evidence_id
    decisions = []
    shown = set()
    for pid, _ in suggested:
        shown.add(pid)
        if pid in labelled.labels:
            decisions.append(Decision("confirm", evidence_id, pid, labelled.labels[pid]))
        else:
            decisions.append(Decision("reject", evidence_id, pid))
    if eligible:
        decisions += [Decision("attach", evidence_id, pid, stance)
                      for pid, stance in labelled.labels.items() if pid not in shown]
    return decisions


# A month's suggestions, made before the editor sees the month: evidence id -> suggestions.
SuggestMonth = Callable[[str, Sequence[LabelledItem]], Mapping[str, Suggested]]
# The editor acting on a month, given the suggestions it was shown.
ActOnMonth = Callable[[str, Sequence[LabelledItem], Mapping[str, Suggested]], None]


def prequential(items: Sequence[LabelledItem], suggest_month: SuggestMonth, act_on_month: ActOnMonth,
                majority: str | None = None) -> dict[str, Any]:
    """Month by month: suggest, count the month's figures from those suggestions, then let the editor act.

    The suggestions are copied before the editor acts, so nothing the editor does (or the callbacks mutate)
    reaches the month's figures. Returns the figures over all months and per month."""
    majority = majority if majority is not None else majority_stance(items)
    total = Tally()
    months = []
    for month, batch in by_month(items):
        shown = {eid: tuple((pid, stance) for pid, stance in s) for eid, s in suggest_month(month, batch).items()}
        counts = tally(batch, shown)
        months.append({"month": month, **counts.figures(majority)})
        total.merge(counts)
        act_on_month(month, batch, shown)
    return {"overall": total.figures(majority), "months": months}


# ---- baseline -------------------------------------------------------------------------------------------------

class StatementBM25:
    """Baseline: plain BM25 of the item against each proposition's statement, nothing else."""

    def __init__(self, propositions: Sequence[PropositionInput], threshold: float, max_suggestions: int = 3) -> None:
        self.index = BM25Index(common_fraction=1.0)
        self.index.set_many((p.proposition_id, analyse(p.statement).stems) for p in propositions)
        self.cutoffs = {p.proposition_id: p.not_before for p in propositions}
        self.threshold = threshold
        self.max_suggestions = max_suggestions

    def scores(self, item: ItemInput) -> list[tuple[str, float]]:
        tokens = analyse(item_text(item)).stems
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
