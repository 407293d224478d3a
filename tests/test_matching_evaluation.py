"""The evaluation arithmetic (tracker/matching/evaluation.py), the noise, and the prequential loop on a real store.

Every expected figure is worked out by hand in the comments next to it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from benchmarks.matching import EDITOR, INGEST_ACTOR, run_prequential
from tracker.domain.proposition import match_id_for
from tracker.matching.evaluation import (
    Decision,
    LabelledItem,
    Tally,
    by_month,
    editor_decisions,
    evaluate,
    majority_stance,
    month_of,
    prequential,
)
from tracker.matching.matcher import ItemInput
from tracker.matching.noise import corrupt, corrupt_one
from tracker.store import EventStore
from tracker.store.engine import make_engine


def labelled(item_id: str, labels: dict[str, str], when: datetime = datetime(2025, 7, 1, tzinfo=UTC),
             title: str = "t", summary: str = "") -> LabelledItem:
    return LabelledItem(ItemInput(item_id, title, summary, when, "en"), labels)


# Five items, their labels and what a matcher suggested (best first).
A = labelled("a", {"p1": "supports", "p2": "context"})
B = labelled("b", {"p1": "contradicts"})
C = labelled("c", {})
D = labelled("d", {})
E = labelled("e", {"p3": "supports"})
SUGGESTED = {
    "a": [("p3", "supports"), ("p1", "supports"), ("p2", "contradicts")],
    "b": [("p1", "contradicts")],
    "c": [("p2", "context")],
    "d": [],
    "e": [],
}


def test_recall_precision_and_false_alarms_by_hand() -> None:
    figures = evaluate(lambda item: SUGGESTED[item.evidence_id], [A, B, C, D, E])
    assert figures["items"] == 5
    assert figures["labelled_pairs"] == 4  # a: 2, b: 1, e: 1
    assert figures["suggestions"] == 5  # 3 + 1 + 1
    # First suggestions: a -> p3 (wrong), b -> p1 (right), c -> p2 (wrong); e has none.
    assert figures["recall@1"] == 0.25  # of 4 labelled pairs only b/p1 is first
    assert figures["precision@1"] == round(1 / 3, 4)
    # Within the first three: a/p1, a/p2, b/p1 found; e/p3 missed.
    assert figures["recall@3"] == 0.75
    assert figures["precision@3"] == 0.6  # 3 right of 5 shown
    assert figures["precision"] == 0.6
    # None-items: c (alarmed) and d (quiet).
    assert figures["false_alarm_rate"] == 0.5


def test_stance_agreement_per_stance_and_majority_baseline_by_hand() -> None:
    figures = evaluate(lambda item: SUGGESTED[item.evidence_id], [A, B, C, D, E])
    # Correct suggestions: a/p1 (labelled supports, said supports), a/p2 (context, said contradicts),
    # b/p1 (contradicts, said contradicts): 2 of 3 agree.
    assert figures["stance_accuracy"] == round(2 / 3, 4)
    per = figures["per_stance"]
    # supports: said once (a/p1), right once; labelled once among correct suggestions.
    assert per["supports"] == {"precision": 1.0, "recall": 1.0, "suggested": 1, "labelled": 1}
    # contradicts: said twice (a/p2, b/p1), right once; labelled once (b/p1), found.
    assert per["contradicts"] == {"precision": 0.5, "recall": 1.0, "suggested": 2, "labelled": 1}
    # context: never said; labelled once (a/p2), missed.
    assert per["context"] == {"precision": None, "recall": 0.0, "suggested": 0, "labelled": 1}
    # All labelled pairs: supports 2 (a/p1, e/p3), context 1, contradicts 1 -> majority "supports".
    # Always saying "supports" agrees with 1 of the 3 correct suggestions' labels, and 2 of the 4 pairs.
    assert figures["majority_stance"] == {"stance": "supports", "agreement": round(1 / 3, 4),
                                          "agreement_all_pairs": 0.5}


def test_majority_stance_ties_and_empty_sets() -> None:
    assert majority_stance([labelled("x", {"p": "context"}), labelled("y", {"q": "contradicts"})]) == "contradicts"
    assert majority_stance([labelled("x", {"p": "context", "q": "context"}),
                            labelled("y", {"q": "supports"})]) == "context"
    assert majority_stance([labelled("x", {})]) is None
    figures = Tally().figures()
    assert figures["recall@3"] is None and figures["precision"] is None and figures["false_alarm_rate"] is None


def test_tallies_merge_to_the_figures_of_the_whole() -> None:
    first, second, whole = Tally(), Tally(), Tally()
    for x in (A, B):
        first.add(x.labels, SUGGESTED[x.item.evidence_id])
    for x in (C, D, E):
        second.add(x.labels, SUGGESTED[x.item.evidence_id])
    for x in (A, B, C, D, E):
        whole.add(x.labels, SUGGESTED[x.item.evidence_id])
    first.merge(second)
    assert first.figures("supports") == whole.figures("supports")


def test_month_bucketing_uses_the_real_date_in_utc_and_publication_order() -> None:
    july_late = LabelledItem(  # no date of its own: fetched on 1 August, published on 31 July
        ItemInput("late", "t", "", datetime(2025, 8, 1, 10, 0, tzinfo=UTC)), {},
        published_is_fetch_time=True, true_published=datetime(2025, 7, 31, 23, 0, tzinfo=UTC))
    plus_two = timezone(timedelta(hours=2))
    july_by_utc = labelled("tz", {}, datetime(2025, 8, 1, 1, 0, tzinfo=plus_two))  # 2025-07-31 23:00 UTC
    august = labelled("aug", {}, datetime(2025, 8, 2, tzinfo=UTC))
    july_early = labelled("early", {}, datetime(2025, 7, 3, tzinfo=UTC))
    assert month_of(datetime(2025, 8, 1, 1, 0, tzinfo=plus_two)) == "2025-07"
    assert month_of(datetime(2025, 12, 31, 23, 59)) == "2025-12"  # naive: taken as UTC
    months = by_month([august, july_late, july_by_utc, july_early])
    assert [(m, [x.item.evidence_id for x in batch]) for m, batch in months] == [
        ("2025-07", ["early", "late", "tz"]),  # 31 July 23:00 twice: by id
        ("2025-08", ["aug"]),
    ]


def test_prequential_counts_only_what_was_suggested_before_the_editor_acted() -> None:
    # A fake matcher that learns: it suggests, for every item, the propositions the editor has confirmed so far.
    july = [labelled("j1", {"p": "supports"}, datetime(2025, 7, 5, tzinfo=UTC)),
            labelled("j2", {}, datetime(2025, 7, 9, tzinfo=UTC))]
    august = [labelled("a1", {"p": "supports"}, datetime(2025, 8, 1, tzinfo=UTC))]
    learned: list[str] = []
    calls: list[str] = []
    shown_to_editor = {}

    def suggest_month(month: str, batch: list[LabelledItem]) -> dict[str, list[tuple[str, str]]]:
        calls.append(f"suggest {month}")
        return {x.item.evidence_id: [(pid, "supports") for pid in learned] for x in batch}

    def act_on_month(month: str, batch: list[LabelledItem], shown: dict) -> None:
        calls.append(f"act {month}")
        shown_to_editor[month] = dict(shown)
        for x in batch:
            learned.extend(pid for pid in x.labels if pid not in learned)

    result = prequential([august[0], *july], suggest_month, act_on_month)
    assert calls == ["suggest 2025-07", "act 2025-07", "suggest 2025-08", "act 2025-08"]
    first, second = result["months"]
    # July: nothing learned yet when suggesting, so nothing was shown, even though the editor then confirmed p.
    assert first["month"] == "2025-07" and first["suggestions"] == 0
    assert first["recall@3"] == 0.0  # 0 of 1 labelled pair
    assert first["false_alarm_rate"] == 0.0  # j2 (none) got nothing
    assert shown_to_editor["2025-07"] == {"j1": (), "j2": ()}
    # August: p was learned from July's decision; a1 gets it: 1 of 1 pair found, 1 of 1 suggestion right.
    assert second["suggestions"] == 1 and second["recall@1"] == 1.0 and second["precision"] == 1.0
    # Overall: 1 of 2 labelled pairs found; 1 of 1 suggestion right; the one none-item never alarmed.
    assert result["overall"]["recall@3"] == 0.5
    assert result["overall"]["precision"] == 1.0
    assert result["overall"]["false_alarm_rate"] == 0.0


def test_editor_confirms_with_the_labelled_stance_rejects_wrong_and_attaches_missed() -> None:
    item = labelled("x", {"p1": "supports", "p2": "context"})
    decisions = editor_decisions(item, [("p1", "contradicts"), ("p3", "supports")])
    assert decisions == [
        Decision("confirm", "x", "p1", "supports"),  # the label's stance, not the suggested one
        Decision("reject", "x", "p3"),
        Decision("attach", "x", "p2", "context"),
    ]
    # An item that cannot be evidence (before the source) is never attached by hand.
    assert editor_decisions(item, [], eligible=False) == []


def test_noise_is_deterministic_per_item_and_keeps_the_labels() -> None:
    items = [labelled(f"n{i}", {"p": "supports"} if i % 2 else {},
                      datetime(2025, 7, 1 + i, tzinfo=UTC),
                      title="Putin and Zelensky: ceasefire talks as NATO weighs sanctions on Russia",
                      summary="The Kremlin's envoy said \"no\" & left; Ukraine's energy grid was hit.")
             for i in range(20)]
    noisy = corrupt(items)
    assert noisy == corrupt(items)
    assert corrupt_one(items[7]) == noisy[7]  # an item's noise does not depend on the others
    assert [x.labels for x in noisy] == [x.labels for x in items]
    assert any(x.item.title != y.item.title for x, y in zip(items, noisy, strict=True))
    for clean, dirty in zip(items, noisy, strict=True):
        if dirty.published_is_fetch_time:
            assert dirty.true_published == clean.item.published < dirty.item.published
            assert dirty.when == clean.item.published
        else:
            assert dirty.item.published == clean.item.published and dirty.true_published is None


# ---- the prequential loop on a real store ---------------------------------------------------------------------

ENERGY = "energy-moratorium-breached"


def test_prequential_loop_on_a_real_sqlite_store(tmp_path: Path) -> None:
    def item(item_id: str, day: datetime, title: str, summary: str, labels: dict[str, str]) -> LabelledItem:
        return LabelledItem(ItemInput(item_id, title, summary, day, "en"), labels)

    strike = ("Russian drones hit substations and power plants despite the energy truce",
              "Ukraine's energy ministry said the moratorium on strikes against energy infrastructure was broken "
              "overnight; thousands of homes were left without electricity.")
    items = [
        item("m1", datetime(2025, 4, 2, 8, tzinfo=UTC), *strike, {ENERGY: "supports"}),
        # Labelled (for this test) as bearing on none: whatever the matcher suggests for it is rejected.
        item("m2", datetime(2025, 4, 9, 8, tzinfo=UTC), *strike, {}),
        # Bears on the energy pause in no words a matcher could see: attached by hand.
        item("m3", datetime(2025, 4, 20, 8, tzinfo=UTC), "A quiet week at the zoo", "New giraffes.",
             {ENERGY: "context"}),
        item("m4", datetime(2025, 5, 3, 8, tzinfo=UTC), *strike, {ENERGY: "supports"}),
        item("m5", datetime(2025, 5, 20, 8, tzinfo=UTC), *strike, {}),
    ]
    result = run_prequential(items, "supports", name="test", directory=tmp_path)
    decisions = result["decisions"]
    assert decisions["confirm"] >= 2 and decisions["reject"] >= 2 and decisions["attach"] >= 1

    engine = make_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    try:
        events = list(EventStore(engine).read_all())
    finally:
        engine.dispose()
    by_editor = [e for e in events if e.actor == EDITOR]
    assert sum(e.event_type == "MatchConfirmed" for e in by_editor) == decisions["confirm"] + decisions["attach"]
    assert sum(e.event_type == "MatchRejected" for e in by_editor) == decisions["reject"]

    # Month 2's figures come from the suggestions recorded while ingesting month 2, all before its decisions.
    ingested = {e.payload["evidence_id"]: e.payload["title"] for e in events if e.event_type == "EvidenceIngested"}
    assert len(ingested) == 5
    may = [e for e in events if e.correlation_id == "prequential:2025-05"]
    suggested_in_may = [e for e in may if e.event_type == "MatchSuggested"]
    assert suggested_in_may and all(e.actor == INGEST_ACTOR for e in suggested_in_may)
    may_decisions = [e for e in events if e.correlation_id == "prequential-review:2025-05"]
    assert may_decisions
    assert max(e.position for e in may) < min(e.position for e in may_decisions)
    month_two = result["months"][1]
    assert month_two["month"] == "2025-05"
    assert month_two["suggestions"] == len(suggested_in_may)
    # Right ones are those the editor then confirmed (m4's); m5's suggestion counts although it was then rejected.
    confirmed = {e.payload["match_id"] for e in may_decisions if e.event_type == "MatchConfirmed"}
    rejected = {e.payload["match_id"] for e in may_decisions if e.event_type == "MatchRejected"}
    right = sum(e.payload["match_id"] in confirmed for e in suggested_in_may)
    assert month_two["precision"] == round(right / len(suggested_in_may), 4)
    m5_suggested = [e for e in suggested_in_may if e.payload["match_id"] in rejected]
    assert m5_suggested and month_two["false_alarm_rate"] == 1.0  # m5, the month's one none-item, alarmed
    # m4 was suggested for the energy pause and confirmed with its labelled stance.
    m4 = next(e.payload["evidence_id"] for e in suggested_in_may if e.payload["match_id"] in confirmed)
    stances = [e.payload["stance"] for e in may_decisions
               if e.event_type == "MatchConfirmed" and e.payload["match_id"] == match_id_for(ENERGY, m4)]
    assert stances == ["supports"]
