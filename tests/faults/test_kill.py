"""kill -9 of a writing process at random moments, on SQLite and PostgreSQL: during an ingestion pass, a run
of confirms, a digest send and a replay. After each kill the store verifies, read models equal a replay (no
half-applied command), and a rerun finishes the work with nothing doubled.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.digest.conftest import SECRET, make_settings, subscribe
from tests.digest.smtpserver import SmtpServer
from tests.faults.conftest import RUNS, Tally, assert_consistent, backend_of, child_env, spawn
from tests.faults.worker import confirm_all
from tests.ingest.feedserver import FeedServer, Received, Reply
from tracker.config import Settings
from tracker.digest import ledger as ledgers
from tracker.digest.service import send_week
from tracker.digest.week import IsoWeek
from tracker.domain import evidence, proposition
from tracker.ingest import fetchstate
from tracker.ingest.runner import ingest_pass, load_and_sync
from tracker.projections import rebuild
from tracker.repository.unit_of_work import Tracker, evidence_stream
from tracker.seeding import seed
from tracker.store.envelope import iso, utc_now

FEEDS = ("north", "south", "east")
ITEMS = 60  # per feed and run: enough for a pass to take a while, matcher included
TOPICS = ("ceasefire talks stall as Russia presses demands", "energy infrastructure strikes resume overnight",
          "European security guarantees for Ukraine debated", "sanctions relief floated in Washington",
          "drone attack on a power plant", "harbour reopens after storm")


@pytest.fixture
def seeded(tracker: Tracker) -> Tracker:
    seed(tracker, ROOT / "seeds")
    return tracker


# ---- ingestion -------------------------------------------------------------------------------------

class Feeds:
    """Feeds whose items change every run, so each run has new work."""

    def __init__(self, server: FeedServer) -> None:
        self.server = server
        self.run = 0
        self.items: dict[str, list[tuple[str, str]]] = {}
        for feed in FEEDS:
            server.route(f"/{feed}.xml", self._script(feed))

    def next_run(self, rng: random.Random) -> None:
        self.run += 1
        self.items = {feed: [(f"{feed}-{self.run}-{n}",
                              f"{rng.choice(TOPICS)} report {uuid.uuid4().hex[:8]} {feed} {self.run} {n}")
                             for n in range(ITEMS)] for feed in FEEDS}

    def requests(self) -> int:
        return len(self.server.requests)

    def _script(self, feed: str):  # noqa: ANN202 - returns the server callback
        def reply(_: Received) -> Reply:
            body = "".join(f"<item><guid>{g}</guid><title>{t}</title><description>{t}.</description>"
                           f"<link>https://news.example.org/{g}</link><pubDate>Tue, 01 Apr 2025 08:00:00 GMT</pubDate>"
                           "</item>" for g, t in self.items[feed])
            return Reply(body=f'<?xml version="1.0"?><rss version="2.0"><channel><title>{feed}</title>'
                              f"{body}</channel></rss>".encode(), headers={"Content-Type": "text/xml"})
        return reply


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    with FeedServer() as server:
        yield Feeds(server)


def _guid_counts(tracker: Tracker) -> Counter[str]:
    return Counter(e.payload["guid"].rsplit("/", 1)[-1] for e in tracker.store.read_all()
                   if e.event_type == "EvidenceIngested")


def _assert_fetch_state_matches_events(tracker: Tracker) -> None:
    """Fetch state commits with the pass's events: its item count equals the events recorded per feed."""
    per_feed = Counter(e.payload["feed"] for e in tracker.store.read_all() if e.event_type == "EvidenceIngested")
    with tracker.store.engine.connect() as connection:
        states = fetchstate.load_all(connection)
    for feed_id, state in states.items():
        assert state.items_total == per_feed.get(feed_id, 0), feed_id


def test_kill_during_ingestion(seeded: Tracker, database_url: str, feeds: Feeds, rng: random.Random,
                               tmp_path: Path) -> None:
    feeds_file = tmp_path / "feeds.toml"
    feeds_file.write_text("".join(f'[[feed]]\nname = "{f}"\nurl = "{feeds.server.url(f"/{f}.xml")}"\n\n'
                                  for f in FEEDS))
    settings = Settings(database_url=database_url, feeds_file=str(feeds_file), allow_private_feeds=True)
    load_and_sync(seeded, settings)
    env = child_env(database_url, TRACKER_FEEDS_FILE=str(feeds_file), TRACKER_ALLOW_PRIVATE_FEEDS="1",
                    TRACKER_SEEDS_DIR=str(ROOT / "seeds"))
    tally = Tally("ingestion", backend_of(database_url))
    for _ in range(RUNS):
        feeds.next_run(rng)
        before = feeds.requests()
        process = spawn(["-m", "tracker.cli", "ingest"], env, tmp_path)
        tally.kill(process, lambda b=before: feeds.requests() > b, rng)
        assert_consistent(seeded.store)
        _assert_fetch_state_matches_events(seeded)

        ingest_pass(seeded, settings)  # the rerun, as `tracker ingest` or the scheduler would do it
        counts = _guid_counts(seeded)
        expected = {g for items in feeds.items.values() for g, _ in items}
        assert {g: counts[g] for g in expected} == dict.fromkeys(expected, 1), "every item, exactly once"
        assert_consistent(seeded.store)
        _assert_fetch_state_matches_events(seeded)
    tally.report()


# ---- confirms --------------------------------------------------------------------------------------

def _suggest_batch(tracker: Tracker, run: int, count: int) -> None:
    propositions = [f"fault-{n}" for n in range(4)]
    with tracker.unit_of_work(actor="system:matcher") as uow:
        for pid in propositions:
            stream = f"proposition-{pid}"
            if uow.load(stream).state is None:
                uow.execute(stream, proposition.RegisterProposition(
                    proposition_id=pid, kind="prediction", statement=f"Made-up fault proposition {pid} holds.",
                    stated_confidence={"phrase": "likely", "probability": 0.7}))
        for n in range(count):
            uow.execute(f"proposition-{propositions[n % 4]}",
                        proposition.SuggestMatch(f"m-{run}-{n}", f"ev-{run}-{n}", 0.8, {"terms": ["x"]}, "supports"))


def test_kill_during_confirms(tracker: Tracker, database_url: str, rng: random.Random, tmp_path: Path) -> None:
    tally = Tally("confirm", backend_of(database_url))
    for run in range(RUNS):
        _suggest_batch(tracker, run, 150)
        head = tracker.store.head()
        process = spawn(["-m", "tests.faults.worker"], child_env(database_url), ROOT)
        tally.kill(process, lambda h=head: tracker.store.head() > h, rng)
        assert_consistent(tracker.store)
        _assert_commands_whole(tracker)

        confirm_all(tracker)  # the rerun works through what is left of the queue
        confirmed = Counter(e.payload["match_id"] for e in tracker.store.read_all() if e.event_type == "MatchConfirmed")
        assert set(confirmed) >= {f"m-{run}-{n}" for n in range(150)}
        assert set(confirmed.values()) == {1}, "no match confirmed twice"
        assert_consistent(tracker.store)
    tally.report()


def _assert_commands_whole(tracker: Tracker) -> None:
    """Each confirm command's events are one contiguous block that includes its MatchConfirmed."""
    blocks: dict[str, list[tuple[int, str]]] = {}
    for event in tracker.store.read_all():
        if (event.correlation_id or "").startswith("confirm:"):
            blocks.setdefault(event.correlation_id, []).append((event.position, event.event_type))
    for correlation, events in blocks.items():
        positions = [p for p, _ in events]
        assert positions == list(range(positions[0], positions[0] + len(positions))), correlation
        assert "MatchConfirmed" in [t for _, t in events], correlation


# ---- digest ----------------------------------------------------------------------------------------

def test_kill_during_digest_send(tracker: Tracker, database_url: str, rng: random.Random, tmp_path: Path) -> None:
    emails = [f"reader{n}@example.org" for n in range(25)]
    for email in emails:
        subscribe(tracker, email)
    tally = Tally("digest", backend_of(database_url))
    with SmtpServer() as smtp:
        settings = make_settings(database_url, smtp.url, tmp_path)
        env = child_env(database_url, TRACKER_SMTP_URL=smtp.url, TRACKER_DIGEST_SECRET=SECRET,
                        TRACKER_PUBLIC_BASE_URL="https://tracker.example", TRACKER_TIMEZONE="UTC",
                        TRACKER_OUTBOX_DIR=str(tmp_path / "outbox"))
        for run in range(RUNS):
            week = IsoWeek.parse(f"2024-W{run + 1:02d}")  # a new week each run, so each run has mail to send
            process = spawn(["-m", "tracker.cli", "digest", "send", "--week", week.label], env, tmp_path)
            tally.kill(process, lambda w=week: _mails(smtp, w.label) > 0, rng)
            assert_consistent(tracker.store)

            send_week(tracker, settings, week)  # the rerun (a dead sender's claims are taken over)
            sent = Counter(e.payload["subscriber_id"] for e in tracker.store.read_stream(ledgers.stream_id(week.label))
                           if e.event_type == "DigestSent")
            assert len(sent) == len(emails) and set(sent.values()) == {1}, "one DigestSent per subscriber"
            ids = {(m["To"].addresses[0].addr_spec, m["Message-ID"]) for m in smtp.recorder.messages()
                   if week.label in str(m["Subject"])}
            assert Counter(to for to, _ in ids) == Counter(emails), "one message (one Message-ID) each"
            assert_consistent(tracker.store)
    tally.report()


def _mails(smtp: SmtpServer, week: str) -> int:
    return sum(1 for m in smtp.recorder.messages() if week in str(m["Subject"]))


# ---- replay ----------------------------------------------------------------------------------------

def test_kill_during_replay(seeded: Tracker, database_url: str, rng: random.Random, tmp_path: Path) -> None:
    with seeded.unit_of_work(actor="system:test") as uow:  # enough events for a replay to take a while
        for n in range(3000):
            uow.execute(evidence_stream(f"bulk-{n}"), evidence.IngestEvidence(
                evidence_id=f"bulk-{n}", title=f"Bulk item {n} {uuid.uuid4().hex[:6]}", link=f"https://x.example/{n}",
                summary="", published_at=iso(utc_now()), published_is_fetch_time=False, feed="bulk", guid=str(n),
                language="en", content_hash="0" * 64))
    tally = Tally("replay", backend_of(database_url), window=4.0)  # process start-up included
    for _ in range(RUNS):
        head = seeded.store.head()
        process = spawn(["-m", "tracker.cli", "audit", "replay"], child_env(database_url), tmp_path)
        tally.kill(process, lambda: True, rng)
        assert seeded.store.head() == head, "a replay appends nothing"
        assert_consistent(seeded.store)
        rebuild.replay(seeded.store)
        assert_consistent(seeded.store)
    tally.report()

