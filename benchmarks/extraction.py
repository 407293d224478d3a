"""Extraction against the seed article: how many of the propositions in seeds/ are found as candidates.

A seed counts as found when a candidate's span overlaps its locator [start, end) (tracker/extract/evaluate.py).
Prints JSON: seeds, found, recall, candidates, precision_proxy (share of candidates overlapping a seed),
kind_agreement (found seeds with an overlapping candidate of the same kind), hedge_agreement (seeds with a
hedge whose phrase an overlapping candidate also found), missed ids, the same figures at a stricter score
threshold, and extraction time. The article is read from ../shared/seed (never copied into the repo).

Run: .venv/bin/python benchmarks/extraction.py
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.extract import extract  # noqa: E402
from tracker.extract.evaluate import measure  # noqa: E402


def main() -> int:
    source = yaml.safe_load((ROOT / "seeds" / "source.yaml").read_text(encoding="utf-8"))
    seeds = yaml.safe_load((ROOT / "seeds" / "propositions.yaml").read_text(encoding="utf-8"))
    article_file = ROOT.parent / "shared" / "seed" / source["article_file"]
    if not article_file.is_file():
        print(json.dumps({"error": f"article not found: {article_file}"}))
        return 1
    text = article_file.read_text(encoding="utf-8")
    published = date.fromisoformat(str(source["published_at"]))
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        candidates = extract(text, published)
    elapsed_ms = (time.perf_counter() - started) * 1000 / rounds
    result = measure(candidates, seeds)
    strict = measure(extract(text, published, min_score=0.3), seeds)
    undated = measure(extract(text), seeds)  # the date must then come from the text itself
    result.update({
        "article_chars": len(text),
        "ms_per_article": round(elapsed_ms, 2),
        "at_min_score_0_3": {k: strict[k] for k in ("found", "recall", "candidates", "precision_proxy")},
        "resolve_by_matches_seeds": sum(
            any(c.resolve_by == str(s["resolve_by"]) for c in candidates
                if c.start < s["locator"]["end"] and s["locator"]["start"] < c.end)
            for s in seeds if s.get("resolve_by")),
        "seeds_with_resolve_by": sum(1 for s in seeds if s.get("resolve_by")),
        "recall_without_published_date": undated["recall"],
    })
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
