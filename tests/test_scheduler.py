"""The feed schedule: one job per enabled feed, its options, and next runs taken from the store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.ingest.feedserver import FeedServer, Reply
from tests.test_ingest_flow import ENERGY, rss
from tracker.config import Settings
from tracker.domain import feed as feed_domain
from tracker.ingest import fetchstate
from tracker.repository.unit_of_work import Tracker, feed_stream
from tracker.scheduler import JITTER_SECONDS, MISFIRE_GRACE_SECONDS, build_scheduler, poll_feed, schedule_feeds
from tracker.store.envelope import parse_iso


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def write_feeds(path: Path, server: FeedServer) -> Path:
    path.write_text(
        "[[feed]]\n"
        f'name = "Wire one"\nurl = "{server.route("/one.xml", Reply(body=rss(ENERGY)))}"\ninterval_minutes = 15\n\n'
        "[[feed]]\n"
        f'name = "Wire two"\nurl = "{server.route("/two.xml", Reply(status=500))}"\ninterval_minutes = 90\n',
        encoding="utf-8",
    )
    return path


def settings_for(database_url: str, feeds_file: Path) -> Settings:
    return Settings(database_url=database_url, feeds_file=str(feeds_file), allow_private_feeds=True)


def test_one_job_per_enabled_feed_with_safe_options(
    tracker: Tracker, server: FeedServer, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, write_feeds(tmp_path / "feeds.toml", server))
    scheduler = build_scheduler(tracker, settings)
    jobs = {job.id: job for job in scheduler.get_jobs() if job.id.startswith("feed:")}
    assert set(jobs) == {"feed:wire-one", "feed:wire-two"}
    one = jobs["feed:wire-one"]
    assert one.trigger.interval == timedelta(minutes=15)
    assert one.trigger.jitter == JITTER_SECONDS
    assert (one.max_instances, one.coalesce, one.misfire_grace_time) == (1, True, MISFIRE_GRACE_SECONDS)
    assert jobs["feed:wire-two"].trigger.interval == timedelta(minutes=90)


def test_next_runs_come_from_the_store_after_a_restart(
    tracker: Tracker, server: FeedServer, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, write_feeds(tmp_path / "feeds.toml", server))
    build_scheduler(tracker, settings)  # registers the feeds
    poll_feed(tracker, settings, "wire-one")
    poll_feed(tracker, settings, "wire-two")  # fails: backs off
    with tracker.store.engine.connect() as connection:
        states = fetchstate.load_all(connection)
    assert states["wire-one"].items_total == 1
    assert states["wire-two"].error_count == 1
    # a new process builds its schedule from what the store says is due, not from scratch
    restarted = build_scheduler(tracker, settings)
    for feed_id in ("wire-one", "wire-two"):
        job = restarted.get_job(f"feed:{feed_id}")
        due = parse_iso(states[feed_id].next_check_at)
        assert abs((job.next_run_time - due).total_seconds()) < 1
    # polling before it is due does nothing
    head = tracker.store.head()
    poll_feed(tracker, settings, "wire-one")
    assert tracker.store.head() == head
    assert len(server.received("/one.xml")) == 1


def test_feeds_added_or_disabled_later_are_picked_up(
    tracker: Tracker, server: FeedServer, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, write_feeds(tmp_path / "feeds.toml", server))
    scheduler = build_scheduler(tracker, settings)
    with tracker.unit_of_work(actor="user:ed") as uow:
        uow.execute(feed_stream("extra"), feed_domain.RegisterFeed(
            feed_id="extra", name="Extra", url=server.url("/extra.xml"),
        ))
        uow.execute(feed_stream("wire-two"), feed_domain.DisableFeed("editor turned it off"))
    schedule_feeds(scheduler, tracker, settings)
    ids = {job.id for job in scheduler.get_jobs() if job.id.startswith("feed:")}
    assert ids == {"feed:wire-one", "feed:extra"}
    assert scheduler.get_job("feed:extra").next_run_time <= datetime.now(UTC) + timedelta(seconds=10)
