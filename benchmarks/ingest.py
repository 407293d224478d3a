"""Ingestion throughput: 20 feeds x 500 entries against 200 propositions, from local bytes (no network).

Measures, in the same run, feedparser's own parse time over the same bytes (`feedparser.parse` as a user calls
it, sanitiser on; timed before and after the ingestion, and the ratio taken against their mean) and the whole
ingestion (fetch from disk, isolated parse, normalise, dedupe, match, append, read models) through
tracker.ingest.refresh with the default matcher (fitted model, wordllama embeddings, written examples).
Prints one JSON object on its last line. Goal: total <= 2 x feedparser's parse time, flat with the store's size.

    .venv/bin/python benchmarks/ingest.py [--feeds 20] [--entries 500] [--propositions 200]
        [--prefill 10000] [--split] [--profile FILE]

`--prefill N` stores N items (with suggestions at the rate a pass makes them) before the timed part, so the
timed feeds land on a store of that size. `--split` times each stage of the pass; `--profile` writes cProfile
stats of the timed part.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pickle
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker import suggestions as suggestions_module  # noqa: E402
from tracker.config import Settings  # noqa: E402
from tracker.domain import evidence as evidence_domain  # noqa: E402
from tracker.domain import feed as feed_domain  # noqa: E402
from tracker.ingest import refresh as refresh_module  # noqa: E402
from tracker.ingest.fetch import FetchSettings  # noqa: E402
from tracker.ingest.normalise import EvidenceItem, entry_to_item  # noqa: E402
from tracker.ingest.parse import parse_feed_in_process  # noqa: E402
from tracker.ingest.refresh import RefreshSettings, refresh_feed  # noqa: E402
from tracker.matching.matcher import Suggestion  # noqa: E402
from tracker.repository import unit_of_work as uow_module  # noqa: E402
from tracker.repository.unit_of_work import Tracker, evidence_stream, feed_stream  # noqa: E402
from tracker.seeding import load_seed_files, register_command, seed  # noqa: E402
from tracker.store import EventStore  # noqa: E402
from tracker.store.engine import make_engine  # noqa: E402
from tracker.store.envelope import iso  # noqa: E402
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
PREFILL_CHUNK = 2000
SUGGESTIONS_PER_ITEM = 0.5  # about what the timed pass suggests per new item with 200 propositions


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


def feedparser_seconds(paths: list[Path]) -> tuple[float, int]:
    """feedparser.parse over every feed's bytes, as a user calls it (sanitize_html on, the default)."""
    bodies = [p.read_bytes() for p in paths]
    began = time.perf_counter()
    parsed = sum(len(feedparser.parse(io.BytesIO(body)).entries) for body in bodies)
    return time.perf_counter() - began, parsed


def prefill(tracker: Tracker, count: int, proposition_ids: list[str], rng: random.Random) -> int:
    """`count` stored items from a prefill feed, published before the timed feeds' items, each with suggestions
    (synthetic scores, random propositions) at about the rate a pass makes them. Returns the suggestions made."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    fetched = datetime(2025, 3, 31, tzinfo=UTC)
    suggested = 0
    for first in range(0, count, PREFILL_CHUNK):
        with tracker.unit_of_work(actor="system:bench", correlation_id=f"prefill:{first}") as uow:
            for n in range(first, min(count, first + PREFILL_CHUNK)):
                entry = {
                    "title": f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} (stored {n})",
                    "summary": " ".join(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}."
                                        for _ in range(6)),
                    "link": f"https://archive.example.org/{n}", "id": f"urn:stored:{n}",
                    "published_parsed": (start + timedelta(minutes=5 * n)).timetuple(),
                }
                item = entry_to_item(entry, feed_name="prefill", fetched_at=fetched)
                assert isinstance(item, EvidenceItem)
                uow.execute(evidence_stream(item.evidence_id), evidence_domain.IngestEvidence(
                    evidence_id=item.evidence_id, title=item.title, link=item.link, summary=item.summary,
                    published_at=iso(item.published), published_is_fetch_time=False, feed="prefill",
                    guid=item.guid, language=None, content_hash=item.content_hash,
                ), occurred_at=item.published)
                k = int(SUGGESTIONS_PER_ITEM) + (rng.random() < SUGGESTIONS_PER_ITEM % 1)
                for pid in rng.sample(proposition_ids, k):
                    suggestion = Suggestion(pid, round(rng.uniform(0.4, 0.9), 4),
                                            {"summary": "prefilled by benchmarks/ingest.py"}, "supports")
                    suggested += suggestions_module.record_suggestion(uow, item.evidence_id, suggestion).suggested
    return suggested


class Split:
    """Wall time per stage of the timed pass, by wrapping the functions refresh_feed calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, stage: str, when: Callable[..., bool] | None = None) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if when is not None and not when(*args, **kwargs):
                return original(*args, **kwargs)
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - began
                self.calls[stage] += 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def undo(self) -> None:
        for step in reversed(self._undo):
            step()

    def report(self, total: float) -> dict[str, Any]:
        known = sum(self.seconds.values())
        stages = {k: round(v, 3) for k, v in sorted(self.seconds.items())}
        stages["other (commit, fetch state, loop)"] = round(total - known, 3)
        return {"seconds": stages, "calls": dict(sorted(self.calls.items()))}


def install_split(split: Split, suggester: Callable[[Any], Any]) -> Callable[[Any], Any]:
    split.wrap(refresh_module, "fetch_feed", "1 fetch (local file)")
    split.wrap(refresh_module, "parse_feed", "2 parse (isolated worker: feedparser + IPC)")
    split.wrap(refresh_module, "entry_to_item", "3 normalise")
    split.wrap(refresh_module._KnownStories, "load", "4 dedupe lookups")
    split.wrap(refresh_module._KnownStories, "same_story", "4 dedupe lookups")
    split.wrap(uow_module.UnitOfWork, "execute", "5 evidence append + read model",
               when=lambda self, stream, command, **_: isinstance(command, evidence_domain.IngestEvidence))
    split.wrap(refresh_module, "record_suggestion", "7 suggestion append")
    split.wrap(uow_module.UnitOfWork, "flush", "8 deferred read models (flush)")
    wrapped = suggester

    class Timed:
        def __call__(self, item: Any) -> Any:
            began = time.perf_counter()
            try:
                return wrapped(item)
            finally:
                split.seconds["6 matching"] += time.perf_counter() - began
                split.calls["6 matching"] += 1

        def prepare(self, items: Any) -> None:  # the embeddings of a feed's new items, done together
            began = time.perf_counter()
            try:
                getattr(wrapped, "prepare", lambda _: None)(items)
            finally:
                split.seconds["6 matching"] += time.perf_counter() - began

    return Timed()


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@contextmanager
def profiled(path: str | None) -> Iterator[None]:
    if not path:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--propositions", type=int, default=200)
    parser.add_argument("--prefill", type=int, default=0, help="items stored before the timed feeds")
    parser.add_argument("--split", action="store_true", help="time each stage of the pass")
    parser.add_argument("--profile", help="write cProfile stats of the timed part to this file")
    args = parser.parse_args()
    rng = random.Random(7)
    start = datetime(2025, 4, 1, tzinfo=UTC)
    load_at_start = load_average()

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

        feedparser_before, parsed_entries = feedparser_seconds(paths)
        sample = parse_feed_in_process(paths[0].read_bytes())
        began = time.perf_counter()
        pickled = pickle.dumps(sample, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(pickled)
        pickle_seconds_per_feed = time.perf_counter() - began

        url = f"sqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        tracker = Tracker(EventStore(make_engine(url)))
        seed(tracker, ROOT / "seeds")
        source, items = load_seed_files(ROOT / "seeds")
        copies = max(0, args.propositions - len(items))
        for n in range(copies):
            item = dict(items[n % len(items)], id=f"{items[n % len(items)]['id']}-copy{n}")
            tracker.execute(item["id"], register_command(source["source_id"], item), actor="system:bench")
        proposition_ids = [i["id"] for i in items] + [
            f"{items[n % len(items)]['id']}-copy{n}" for n in range(copies)]
        prefill_began = time.perf_counter()
        prefilled_suggestions = prefill(tracker, args.prefill, proposition_ids, rng) if args.prefill else 0
        prefill_seconds = time.perf_counter() - prefill_began
        with tracker.unit_of_work(actor="system:bench") as uow:
            for index, path in enumerate(paths):
                uow.execute(feed_stream(f"bench-{index}"), feed_domain.RegisterFeed(
                    feed_id=f"bench-{index}", name=f"bench {index}", url=None, path=str(path),
                ))
        settings = Settings(database_url=url)
        refresh = RefreshSettings(fetch=replace(FetchSettings(), samples_dir=samples))
        head_before = tracker.store.head()
        split = Split() if args.split else None
        first_half_split: dict[str, float] = {}

        load_before_ingestion = load_average()
        per_feed: list[float] = []
        with profiled(args.profile):
            began = time.perf_counter()
            suggester = build_suggester(tracker, settings)
            build_seconds = time.perf_counter() - began
            if split is not None:
                split.seconds["0 build suggester"] = build_seconds
                suggester = install_split(split, suggester)
            new = matches = 0
            for index in range(args.feeds):
                feed_began = time.perf_counter()
                outcome = refresh_feed(tracker, f"bench-{index}", suggester=suggester, settings=refresh,
                                       now=datetime(2025, 6, 1, tzinfo=UTC), force=True)
                per_feed.append(time.perf_counter() - feed_began)
                if outcome.error:
                    raise SystemExit(f"feed bench-{index} failed: {outcome.error}")
                new += outcome.items_new
                matches += outcome.matches
                if split is not None and index + 1 == args.feeds // 2:
                    first_half_split = dict(split.seconds)
            total_seconds = time.perf_counter() - began
        if split is not None:
            split.undo()
        events = tracker.store.head() - head_before
        feedparser_after, _ = feedparser_seconds(paths)

    feedparser_mean = (feedparser_before + feedparser_after) / 2
    half = len(per_feed) // 2
    result: dict[str, Any] = {
        "feeds": args.feeds,
        "entries_per_feed": args.entries,
        "propositions": args.propositions,
        "prefilled_items": args.prefill,
        "prefilled_suggestions": prefilled_suggestions,
        "prefill_seconds": round(prefill_seconds, 1),
        "bytes": total_bytes,
        "entries_parsed_by_feedparser": parsed_entries,
        "feedparser_parse_seconds_before": round(feedparser_before, 3),
        "feedparser_parse_seconds_after": round(feedparser_after, 3),
        "feedparser_parse_seconds": round(feedparser_mean, 3),
        "ingestion_total_seconds": round(total_seconds, 3),
        "ratio_total_to_feedparser": round(total_seconds / feedparser_mean, 3),
        "goal_ratio": 2.0,
        "build_suggester_seconds": round(build_seconds, 3),
        "first_half_feeds_seconds": round(sum(per_feed[:half]), 3),
        "second_half_feeds_seconds": round(sum(per_feed[half:]), 3),
        "pickle_roundtrip_seconds_per_feed": round(pickle_seconds_per_feed, 4),
        "pickled_bytes_per_feed": len(pickled),
        "items_new": new,
        "matches_suggested": matches,
        "events_appended": events,
        "load_average_start": load_at_start,
        "load_average_before_ingestion": load_before_ingestion,
        "load_average_end": load_average(),
        "store": "sqlite (WAL, synchronous=FULL), one transaction per feed",
    }
    if split is not None:
        result["split"] = split.report(total_seconds)
        result["split"]["first_half_seconds"] = {k: round(v, 3) for k, v in sorted(first_half_split.items())}
        if new:
            result["matching_ms_per_item"] = round(1000 * split.seconds["6 matching"] / new, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
