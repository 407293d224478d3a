"""Ingestion throughput: 20 feeds x 500 entries against 200 propositions, from local bytes (no network).

Measures, in the same run, feedparser's own parse time over the same bytes and the whole ingestion
(fetch from disk, parse, normalise, dedupe, match, append, read models) through tracker.ingest.refresh.
Prints one JSON object on its last line. Goal: total <= 1.5 x feedparser's parse time.

    .venv/bin/python benchmarks/ingest.py [--feeds 20] [--entries 500] [--propositions 200]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.config import Settings  # noqa: E402
from tracker.domain import feed as feed_domain  # noqa: E402
from tracker.ingest.fetch import FetchSettings  # noqa: E402
from tracker.ingest.refresh import RefreshSettings, refresh_feed  # noqa: E402
from tracker.repository.unit_of_work import Tracker, feed_stream  # noqa: E402
from tracker.seeding import load_seed_files, register_command, seed  # noqa: E402
from tracker.store import EventStore  # noqa: E402
from tracker.store.engine import make_engine  # noqa: E402
from tracker.store.migrate import upgrade  # noqa: E402
from tracker.suggestions import build_suggester  # noqa: E402

SUBJECTS = ["Russian drones", "Kyiv officials", "The Kremlin", "European ministers", "NATO allies",
            "Ukrainian forces", "US envoys", "Moscow", "Canadian officials", "British defence chiefs",
            "Local farmers", "A football club", "Weather services", "Tech firms"]
VERBS = ["report", "deny", "announce", "discuss", "reject", "warn about", "confirm", "plan"]
OBJECTS = ["strikes on energy infrastructure", "a ceasefire proposal", "new arms deliveries",
           "security guarantees for Ukraine", "territorial concessions", "sanctions relief",
           "a joint defence procurement fund", "troop rotations near the front", "a grain harvest",
           "a cup final", "heavy snowfall", "a new smartphone", "mobilisation rules", "peace talks in Riyadh"]


def make_feed(index: int, entries: int, rng: random.Random, start: datetime) -> bytes:
    items = []
    for n in range(entries):
        title = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} ({index}-{n})"
        paragraph = " ".join(
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}." for _ in range(6)
        )
        body = f"&lt;p&gt;{paragraph}&lt;/p&gt;&lt;p&gt;&lt;a href='https://example.org/{index}/{n}'&gt;more&lt;/a&gt;&lt;/p&gt;"
        published = (start + timedelta(minutes=n * 7 + index)).strftime("%a, %d %b %Y %H:%M:%S GMT")
        items.append(
            f"<item><guid>urn:bench:{index}:{n}</guid><title>{title}</title>"
            f"<link>https://news.example.org/{index}/{n}?utm_source=rss</link>"
            f"<pubDate>{published}</pubDate><description>{body}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Benchmark feed {index}</title><link>https://news.example.org/</link>"
        f"<description>generated</description>{''.join(items)}</channel></rss>"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--propositions", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    start = datetime(2025, 4, 1, tzinfo=UTC)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        samples = workdir / "samples"
        samples.mkdir()
        paths = []
        for index in range(args.feeds):
            path = samples / f"feed-{index}.xml"
            path.write_bytes(make_feed(index, args.entries, rng, start))
            paths.append(path)
        total_bytes = sum(p.stat().st_size for p in paths)

        began = time.perf_counter()
        parsed_entries = sum(len(feedparser.parse(p.read_bytes()).entries) for p in paths)
        feedparser_seconds = time.perf_counter() - began

        url = f"sqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        tracker = Tracker(EventStore(make_engine(url)))
        seed(tracker, ROOT / "seeds")
        source, items = load_seed_files(ROOT / "seeds")
        copies = max(0, args.propositions - len(items))
        for n in range(copies):
            item = dict(items[n % len(items)], id=f"{items[n % len(items)]['id']}-copy{n}")
            tracker.execute(item["id"], register_command(source["source_id"], item), actor="system:bench")
        with tracker.unit_of_work(actor="system:bench") as uow:
            for index, path in enumerate(paths):
                uow.execute(feed_stream(f"bench-{index}"), feed_domain.RegisterFeed(
                    feed_id=f"bench-{index}", name=f"bench {index}", url=None, path=str(path),
                ))
        settings = Settings(database_url=url)
        refresh = RefreshSettings(fetch=replace(FetchSettings(), samples_dir=samples))
        head_before = tracker.store.head()

        began = time.perf_counter()
        suggester = build_suggester(tracker, settings)
        new = matches = 0
        for index in range(args.feeds):
            outcome = refresh_feed(tracker, f"bench-{index}", suggester=suggester, settings=refresh,
                                   now=datetime(2025, 6, 1, tzinfo=UTC), force=True)
            new += outcome.items_new
            matches += outcome.matches
        total_seconds = time.perf_counter() - began
        events = tracker.store.head() - head_before

    result = {
        "feeds": args.feeds,
        "entries_per_feed": args.entries,
        "propositions": args.propositions,
        "bytes": total_bytes,
        "entries_parsed_by_feedparser": parsed_entries,
        "feedparser_parse_seconds": round(feedparser_seconds, 3),
        "ingestion_total_seconds": round(total_seconds, 3),
        "ratio_total_to_feedparser": round(total_seconds / feedparser_seconds, 3),
        "goal_ratio": 1.5,
        "items_new": new,
        "matches_suggested": matches,
        "events_appended": events,
        "store": "sqlite (WAL, synchronous=FULL), one transaction per feed",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
