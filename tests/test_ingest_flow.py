"""Ingestion end to end: a real HTTP feed server, the seeded store, the real matcher, both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.ingest.feedserver import FeedServer, Reply
from tracker.config import Settings
from tracker.domain import feed as feed_domain
from tracker.domain.proposition import RejectMatch
from tracker.ingest import fetchstate
from tracker.ingest.runner import ingest_pass
from tracker.projections import rebuild
from tracker.projections.tables import evidence, matches, propositions
from tracker.repository.unit_of_work import Tracker, feed_stream
from tracker.seeding import seed
from tracker.suggestions import backfill

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 4, 2, 12, 0, tzinfo=UTC)


def rss(*items: tuple[str, str, str, str]) -> bytes:
    """An RSS 2.0 document from (guid, title, description, link) tuples, all dated 1 April 2025."""
    body = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><description>{text}</description>"
        f"<link>{link}</link><pubDate>Tue, 01 Apr 2025 08:00:00 GMT</pubDate></item>"
        for guid, title, text, link in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Test wire</title>'
        f"<link>http://example.org/</link><description>test</description>{body}</channel></rss>"
    ).encode()


ENERGY = (
    "e1", "Russian drones hit Ukrainian power plant despite energy truce",
    "Kyiv says a Russian drone attack struck an energy facility in the east, the latest breach of the "
    "30-day moratorium on strikes against energy infrastructure agreed after the Trump-Putin call.",
    "https://news.example.org/energy-strike?utm_source=rss#top",
)
ARMS = (
    "e2", "Kremlin insists Western arms deliveries to Ukraine must stop before any ceasefire",
    "Moscow repeated its demand that Ukraine halt mobilisation and that foreign military aid end as a "
    "condition for a wider ceasefire.",
    "https://news.example.org/kremlin-demands",
)
FOOTBALL = (
    "e3", "Spartak Moscow win the derby in extra time",
    "A late goal settled the football match in front of a full stadium.",
    "https://news.example.org/football",
)


@pytest.fixture
def seeded(tracker: Tracker) -> Tracker:
    seed(tracker, ROOT / "seeds")
    return tracker


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def settings_for(database_url: str, **overrides: object) -> Settings:
    return Settings(
        database_url=database_url, allow_private_feeds=True, feeds_file=str(ROOT / "no-such-feeds.toml"),
        **overrides,
    )


def add_feed(tracker: Tracker, feed_id: str, url: str) -> None:
    with tracker.unit_of_work(actor="user:test") as uow:
        uow.execute(feed_stream(feed_id), feed_domain.RegisterFeed(feed_id=feed_id, name=feed_id, url=url))


def event_types(tracker: Tracker, after: int = 0) -> list[str]:
    return [e.event_type for e in tracker.store.read_all(after)]


def test_new_items_become_evidence_with_explained_suggestions(
    seeded: Tracker, server: FeedServer, database_url: str
) -> None:
    url = server.route("/wire.xml", Reply(body=rss(ENERGY, ARMS, FOOTBALL), headers={"ETag": '"v1"'},
                                          conditional=True))
    add_feed(seeded, "wire", url)
    before = seeded.store.head()
    summary = ingest_pass(seeded, settings_for(database_url), now=NOW)
    assert (summary.fetched, summary.failed, summary.items_new) == (1, 0, 3)
    assert event_types(seeded, before).count("EvidenceIngested") == 3
    with seeded.store.engine.connect() as connection:
        links = set(connection.execute(sa.select(evidence.c.link)).scalars())
        suggested = connection.execute(
            sa.select(matches.c.proposition_id, matches.c.evidence_id, matches.c.explanation)
            .where(matches.c.state == "suggested")
        ).all()
        awaiting = connection.execute(
            sa.select(propositions.c.awaiting_review)
            .where(propositions.c.proposition_id == "energy-moratorium-breached")
        ).scalar_one()
    # the canonical link drops tracking parameters and the fragment
    assert "https://news.example.org/energy-strike" in links
    by_proposition = {p for p, _, _ in suggested}
    assert "energy-moratorium-breached" in by_proposition
    assert "kremlin-demands-rearm-halt" in by_proposition
    assert summary.matches == len(suggested)
    assert awaiting >= 1
    explanation = json.loads(next(x for p, _, x in suggested if p == "energy-moratorium-breached"))
    assert explanation.get("summary")
    # the football item bears on nothing
    with seeded.store.engine.connect() as connection:
        football_id = connection.execute(
            sa.select(evidence.c.evidence_id).where(evidence.c.title.like("Spartak%"))
        ).scalar_one()
    assert football_id not in {e for _, e, _ in suggested}
    # the read models written during the pass equal a replay of its events
    assert rebuild.check(seeded.store) == []


def test_refetch_is_conditional_and_appends_nothing(seeded: Tracker, server: FeedServer, database_url: str) -> None:
    url = server.route("/wire.xml", Reply(body=rss(ENERGY, ARMS), headers={"ETag": '"v1"'}, conditional=True))
    add_feed(seeded, "wire", url)
    ingest_pass(seeded, settings_for(database_url), now=NOW)
    head = seeded.store.head()
    second = ingest_pass(seeded, settings_for(database_url), now=NOW + timedelta(hours=1))
    assert second.not_modified == 1
    assert server.received("/wire.xml")[-1].headers.get("if-none-match") == '"v1"'
    # without validators the same items come again: still nothing new
    server.route("/wire.xml", Reply(body=rss(ENERGY, ARMS)))
    third = ingest_pass(seeded, settings_for(database_url), now=NOW + timedelta(hours=2))
    assert (third.fetched, third.items_new, third.items_duplicate) == (1, 0, 2)
    assert seeded.store.head() == head


def test_same_story_in_two_feeds_is_one_item_with_two_sightings(
    seeded: Tracker, server: FeedServer, database_url: str
) -> None:
    add_feed(seeded, "wire", server.route("/a.xml", Reply(body=rss(ENERGY))))
    other = (ENERGY[0] + "-b", ENERGY[1], ENERGY[2], "https://news.example.org/energy-strike?utm_medium=x")
    add_feed(seeded, "mirror", server.route("/b.xml", Reply(body=rss(other))))
    summary = ingest_pass(seeded, settings_for(database_url), now=NOW)
    assert (summary.items_new, summary.sightings) == (1, 1)
    with seeded.store.engine.connect() as connection:
        rows = connection.execute(sa.select(evidence.c.sightings)).scalars().all()
    assert rows == [2]


def test_failures_back_off_then_disable_the_feed(seeded: Tracker, server: FeedServer, database_url: str) -> None:
    add_feed(seeded, "flaky", server.route("/flaky.xml", Reply(status=500)))
    settings = settings_for(database_url, feed_max_errors=3)
    waits = []
    for attempt in range(3):
        now = NOW + timedelta(days=attempt)
        summary = ingest_pass(seeded, settings, now=now)
        with seeded.store.engine.connect() as connection:
            state = fetchstate.load(connection, "flaky")
        assert state.error_count == attempt + 1
        waits.append(datetime.fromisoformat(state.next_check_at.replace("Z", "+00:00")) - now)
    assert waits[0] < waits[1] < waits[2]
    assert summary.disabled == 1
    feed = seeded.load(feed_stream("flaky")).state
    assert feed.enabled is False and "3 consecutive failures" in feed.disabled_reason
    assert "EvidenceIngested" not in event_types(seeded)


def test_gone_feed_is_disabled_at_once(seeded: Tracker, server: FeedServer, database_url: str) -> None:
    add_feed(seeded, "old", server.route("/old.xml", Reply(status=410)))
    summary = ingest_pass(seeded, settings_for(database_url), now=NOW)
    assert summary.disabled == 1
    assert event_types(seeded)[-1] == "FeedDisabled"


def test_permanent_redirect_updates_the_stored_url(seeded: Tracker, server: FeedServer, database_url: str) -> None:
    new_url = server.route("/new.xml", Reply(body=rss(FOOTBALL)))
    add_feed(seeded, "moved", server.route("/moved.xml", Reply(status=301, headers={"Location": new_url})))
    ingest_pass(seeded, settings_for(database_url), now=NOW)
    assert seeded.load(feed_stream("moved")).state.url == new_url
    assert "FeedUpdated" in event_types(seeded)


def test_feed_without_entries_records_an_error_and_no_evidence(
    seeded: Tracker, server: FeedServer, database_url: str
) -> None:
    add_feed(seeded, "broken", server.route("/broken.xml", Reply(body=b"<html><body>not a feed</body></html>")))
    head = seeded.store.head()
    summary = ingest_pass(seeded, settings_for(database_url), now=NOW)
    assert summary.failed == 1 and summary.items_new == 0
    assert seeded.store.head() == head
    with seeded.store.engine.connect() as connection:
        assert fetchstate.load(connection, "broken").last_error


def test_a_crash_mid_feed_leaves_none_of_the_pass(seeded: Tracker, server: FeedServer, database_url: str) -> None:
    add_feed(seeded, "wire", server.route("/wire.xml", Reply(body=rss(ENERGY, ARMS, FOOTBALL))))
    head = seeded.store.head()
    calls = []

    def dies_on_second_item(item: object) -> list:
        calls.append(item)
        if len(calls) == 2:
            raise RuntimeError("process died here")
        return []

    # A failure inside the tracker rolls the pass back and counts as an error (back-off, in the end disabled),
    # so a broken pass is never retried forever at full rate.
    failed = ingest_pass(seeded, settings_for(database_url), now=NOW, suggester=dies_on_second_item)
    assert failed.failed == 1 and failed.items_new == 0
    assert "process died here" in (failed.outcomes[0].error or "")
    assert seeded.store.head() == head
    with seeded.store.engine.connect() as connection:
        state = fetchstate.load(connection, "wire")
    assert state.error_count == 1 and "internal error" in (state.last_error or "")
    assert state.next_check_at is not None and state.next_check_at > state.last_fetch_at
    rerun = ingest_pass(seeded, settings_for(database_url), now=NOW)
    assert rerun.items_new == 3


def test_rejected_pair_is_never_suggested_again(seeded: Tracker, server: FeedServer, database_url: str) -> None:
    add_feed(seeded, "wire", server.route("/wire.xml", Reply(body=rss(ENERGY))))
    settings = settings_for(database_url)
    ingest_pass(seeded, settings, now=NOW)
    state = seeded.proposition("energy-moratorium-breached").state
    (match,) = [m for m in state.matches.values() if m.state == "suggested"]
    seeded.execute("energy-moratorium-breached", RejectMatch(match.match_id, "not about the truce"), actor="user:ed")
    assert backfill(seeded, settings, ["energy-moratorium-breached"], now=NOW) == 0
    state = seeded.proposition("energy-moratorium-breached").state
    assert [m.state for m in state.matches.values()] == ["rejected"]


def test_auto_threshold_confirms_as_the_matcher(seeded: Tracker, server: FeedServer, database_url: str) -> None:
    add_feed(seeded, "wire", server.route("/wire.xml", Reply(body=rss(ENERGY))))
    summary = ingest_pass(seeded, settings_for(database_url, match_suggest=0.3, match_auto=0.3), now=NOW)
    assert summary.auto_confirmed >= 1
    confirmed = [e for e in seeded.store.read_all() if e.event_type == "MatchConfirmed"]
    assert confirmed and all(e.actor == "system:matcher" and e.payload["automatic"] for e in confirmed)
    assert seeded.proposition("energy-moratorium-breached").state.status != "open"


def test_a_disabled_feed_can_be_enabled_again(seeded: Tracker, server: FeedServer, database_url: str) -> None:
    from tracker.ingest.runner import enable_feed

    add_feed(seeded, "old", server.route("/old.xml", Reply(status=410)))
    ingest_pass(seeded, settings_for(database_url), now=NOW)
    assert seeded.load(feed_stream("old")).state.enabled is False
    server.route("/old.xml", Reply(body=rss(ARMS)))
    with seeded.unit_of_work(actor="user:ed") as uow:
        assert [e.event_type for e in enable_feed(uow, "old", reason="back online")] == ["FeedUpdated"]
    with seeded.store.engine.connect() as connection:
        state = fetchstate.load(connection, "old")
    assert (state.error_count, state.next_check_at) == (0, None)
    summary = ingest_pass(seeded, settings_for(database_url), now=NOW + timedelta(minutes=1), force=False)
    assert (summary.fetched, summary.items_new) == (1, 1)
