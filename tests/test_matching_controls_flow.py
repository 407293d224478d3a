"""Editors' matcher controls against real feed passes: a real local feed server, the seeded store, the real
matcher, both backends. Mute stops suggestions and unmute resumes them; the evidence window keeps items
outside it from being suggested; a bulk-rejected pair is never suggested again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.ingest.feedserver import FeedServer, Reply
from tracker.config import Settings
from tracker.domain import feed as feed_domain
from tracker.ingest.runner import ingest_pass
from tracker.projections import rebuild
from tracker.projections.tables import evidence, matches
from tracker.queries.review import QueueFilter
from tracker.repository.unit_of_work import Tracker, feed_stream
from tracker.seeding import seed
from tracker.service import matching_controls, review
from tracker.suggestions import backfill

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 4, 2, 12, 0, tzinfo=UTC)
ENERGY = "energy-moratorium-breached"
KREMLIN = "kremlin-demands-rearm-halt"

Item = tuple[str, str, str, str, datetime]


def story(guid: str, title: str, when: datetime) -> Item:
    return (guid, title,
            "Kyiv says a Russian drone attack struck an energy facility in the east, the latest breach of the "
            "30-day moratorium on strikes against energy infrastructure agreed after the Trump-Putin call.",
            f"https://news.example.org/{guid}", when)


APRIL = story("apr", "Russian drones hit Ukrainian power plant despite energy truce",
              datetime(2025, 4, 1, 8, tzinfo=UTC))
MARCH = story("mar", "Missiles strike substations near Kharkiv in breach of the energy moratorium",
              datetime(2025, 3, 25, 8, tzinfo=UTC))
LATER = story("later", "Drone attack cuts power at a Ukrainian thermal plant during the energy truce",
              datetime(2025, 4, 1, 20, tzinfo=UTC))
ARMS: Item = (
    "arms", "Kremlin insists Western arms deliveries to Ukraine must stop before any ceasefire",
    "Moscow repeated its demand that Ukraine halt mobilisation and that foreign military aid end as a "
    "condition for a wider ceasefire.", "https://news.example.org/kremlin-demands", datetime(2025, 4, 1, 9, tzinfo=UTC),
)


def rss(*items: Item) -> bytes:
    body = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><description>{text}</description>"
        f"<link>{link}</link><pubDate>{format_datetime(when, usegmt=True)}</pubDate></item>"
        for guid, title, text, link, when in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Test wire</title>'
        f"<link>http://example.org/</link><description>test</description>{body}</channel></rss>"
    ).encode()


@pytest.fixture
def seeded(tracker: Tracker) -> Tracker:
    seed(tracker, ROOT / "seeds")
    return tracker


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def settings_for(database_url: str) -> Settings:
    return Settings(database_url=database_url, allow_private_feeds=True, feeds_file=str(ROOT / "no-such-feeds.toml"))


def pass_with(tracker: Tracker, server: FeedServer, database_url: str, feed_id: str, *items: Item) -> None:
    url = server.route(f"/{feed_id}.xml", Reply(body=rss(*items)))
    with tracker.unit_of_work(actor="user:test") as uow:
        uow.execute(feed_stream(feed_id), feed_domain.RegisterFeed(feed_id=feed_id, name=feed_id, url=url))
    summary = ingest_pass(tracker, settings_for(database_url), now=NOW)
    assert summary.failed == 0 and summary.items_new == len(items)


def suggested_guids(tracker: Tracker, proposition_id: str, state: str = "suggested") -> set[str]:
    """The guids (our links' last part) of the items matched to the proposition in `state`."""
    with tracker.store.engine.connect() as connection:
        links = connection.execute(
            sa.select(evidence.c.link)
            .select_from(matches.join(evidence, evidence.c.evidence_id == matches.c.evidence_id))
            .where(matches.c.proposition_id == proposition_id, matches.c.state == state)
        ).scalars()
        return {link.rsplit("/", 1)[1] for link in links}


def test_mute_stops_suggestions_in_a_feed_pass_and_unmute_resumes(
    seeded: Tracker, server: FeedServer, database_url: str
) -> None:
    pass_with(seeded, server, database_url, "first", APRIL)
    assert suggested_guids(seeded, ENERGY) == {"apr"}

    with seeded.unit_of_work(actor="user:editor") as uow:
        matching_controls.mute(uow, ENERGY, "too much noise this week")
    pass_with(seeded, server, database_url, "second", MARCH, ARMS)
    assert suggested_guids(seeded, ENERGY) == {"apr"}  # nothing new; the suggestion already queued stays
    assert "kremlin-demands" in suggested_guids(seeded, KREMLIN)  # the pass itself suggested as usual
    assert backfill(seeded, settings_for(database_url), [ENERGY], now=NOW) == 0  # backfill skips it too

    with seeded.unit_of_work(actor="user:editor") as uow:
        matching_controls.unmute(uow, ENERGY)
    assert backfill(seeded, settings_for(database_url), [ENERGY], now=NOW) >= 1  # what the API runs after unmute
    assert {"apr", "mar"} <= suggested_guids(seeded, ENERGY)
    pass_with(seeded, server, database_url, "third", LATER)
    assert "later" in suggested_guids(seeded, ENERGY)
    assert rebuild.check(seeded.store) == []


@pytest.mark.parametrize(("window", "expected"), [
    ((None, None), {"apr", "mar"}),
    ((None, "2025-03-31"), {"mar"}),  # the window's end: checked as each suggestion is recorded
    (("2025-03-28", None), {"apr"}),  # its start: the matcher's cut-off, later than the source's date
    (("2025-03-01", "2025-03-25"), {"mar"}),  # both ends inclusive, whole days
    (("2025-03-26", "2025-03-31"), set()),
])
def test_items_outside_the_window_are_never_suggested(
    seeded: Tracker, server: FeedServer, database_url: str, window: tuple[str | None, str | None],
    expected: set[str],
) -> None:
    if window != (None, None):
        with seeded.unit_of_work(actor="user:editor") as uow:
            matching_controls.set_window(uow, ENERGY, *(datetime.fromisoformat(d).date() if d else None
                                                         for d in window))
    pass_with(seeded, server, database_url, "wire", APRIL, MARCH)
    assert suggested_guids(seeded, ENERGY) == expected
    # widening the window later lets backfill suggest what the window kept out
    if window != (None, None):
        with seeded.unit_of_work(actor="user:editor") as uow:
            matching_controls.set_window(uow, ENERGY, None, None)
        backfill(seeded, settings_for(database_url), [ENERGY], now=NOW)
        assert suggested_guids(seeded, ENERGY) == {"apr", "mar"}


def test_a_bulk_rejected_pair_is_never_suggested_again(seeded: Tracker, server: FeedServer, database_url: str) -> None:
    pass_with(seeded, server, database_url, "wire", APRIL, MARCH, ARMS)
    assert suggested_guids(seeded, ENERGY) == {"apr", "mar"}
    before = seeded.store.head()
    with seeded.unit_of_work(actor="user:editor", correlation_id="bulk-test") as uow:
        done = review.reject_bulk(uow, QueueFilter(proposition_id=ENERGY, feed="wire"), "not this week")
    assert len(done.match_ids) == 2
    recorded = list(seeded.store.read_all(before))
    assert [e.event_type for e in recorded] == ["MatchRejected", "MatchRejected"]
    assert [e.position for e in recorded] == [before + 1, before + 2]
    assert {e.correlation_id for e in recorded} == {"bulk-test"}
    assert all(e.payload["bulk_filter"] == {"state": "suggested", "proposition_id": ENERGY, "feed": "wire"}
               for e in recorded)
    assert suggested_guids(seeded, ENERGY) == set() and suggested_guids(seeded, ENERGY, "rejected") == {"apr", "mar"}
    assert "kremlin-demands" in suggested_guids(seeded, KREMLIN)  # another proposition's queue: untouched
    backfill(seeded, settings_for(database_url), [ENERGY], now=NOW)  # may suggest other items, never these two
    assert not {"apr", "mar"} & suggested_guids(seeded, ENERGY)
    assert suggested_guids(seeded, ENERGY, "rejected") == {"apr", "mar"}
    assert rebuild.check(seeded.store) == []
