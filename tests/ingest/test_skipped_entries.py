"""No entry blocks a feed: entries that cannot become evidence are skipped and counted, the rest are ingested.

Served by the real local feed server and run through the real pass (fetch, isolated parse, normalise, store).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest.feedserver import FeedServer, Reply
from tracker.config import Settings
from tracker.domain import feed as feed_domain
from tracker.ingest import fetchstate
from tracker.ingest.normalise import NO_TEXT
from tracker.ingest.runner import ingest_pass
from tracker.projections.tables import evidence
from tracker.repository.unit_of_work import Tracker, feed_stream
from tracker.store.envelope import EARLIEST_TIME, parse_iso

NOW = datetime(2025, 4, 2, 12, 0, tzinfo=UTC)
GOOD_DATE = "Tue, 01 Apr 2025 08:00:00 GMT"
# Each is still a good entry: a date the tracker cannot trust is replaced by the fetch time, flagged.
BAD_DATES = ["Mon, 19 Sep 0539 15:45:09 GMT", "Thu, 01 Jan 1880 00:00:00 GMT", "Sat, 01 Jan 2450 00:00:00 GMT",
             "not a date", "Mon, 99 Foo 2025 99:99:99 GMT", ""]
# Kinds of entry: the first ones become evidence, the rest cannot.
VALID = ("plain", "bad_date", "long_title", "long_link", "long_guid", "summary_only", "long_language")
INVALID = ("link_only", "markup_title", "empty")


@dataclass(frozen=True)
class Entry:
    kind: str
    token: str  # unique per entry: its title, link and guid are made from it
    date: str = GOOD_DATE

    @property
    def valid(self) -> bool:
        return self.kind in VALID


def _xml(entry: Entry, atom: bool) -> str:
    token = entry.token
    title = f"Report {token} on {token[::-1]}"
    link = f"https://news.example.org/{token}"
    summary = f"<p>What happened, by {token}.</p>"
    guid = f"guid-{token}"
    language = ""
    if entry.kind == "long_title":
        title = f"{title} " + "word " * 3000
    elif entry.kind == "long_link":
        link = f"{link}?q=" + "x" * 10_000
    elif entry.kind == "long_guid":
        guid = guid + "g" * 10_000
    elif entry.kind == "summary_only":
        title = ""
    elif entry.kind == "long_language":
        language = "l" * 500
    elif entry.kind == "link_only":
        title, summary = "", ""
    elif entry.kind == "markup_title":
        title, summary = "<b> </b><img src='x.png'/>", ""
    elif entry.kind == "empty":
        title = summary = link = guid = ""
    if atom:
        parts = [f"<id>{escape(guid)}</id>" if guid else "",
                 f'<title type="html">{escape(title)}</title>' if title else "",
                 f'<link href="{escape(link)}"/>' if link else "",
                 f'<summary type="html">{escape(summary)}</summary>' if summary else "",
                 f"<updated>{_atom_date(entry.date)}</updated>" if entry.date else ""]
        lang = f' xml:lang="{language}"' if language else ""
        return f"<entry{lang}>{''.join(parts)}</entry>"
    parts = [f'<guid isPermaLink="false">{escape(guid)}</guid>' if guid else "",
             f"<title><![CDATA[{title}]]></title>" if title else "",
             f"<link>{escape(link)}</link>" if link else "",
             f"<description>{escape(summary)}</description>" if summary else "",
             f"<pubDate>{escape(entry.date)}</pubDate>" if entry.date else "",
             f"<dc:language>{language}</dc:language>" if language else ""]
    return f"<item>{''.join(parts)}</item>"


def _atom_date(rss_date: str) -> str:
    try:
        return datetime.strptime(rss_date, "%a, %d %b %Y %H:%M:%S GMT").strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return escape(rss_date)  # kept bad on purpose


def document(entries: list[Entry], atom: bool) -> bytes:
    body = "".join(_xml(e, atom) for e in entries)
    if atom:
        return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
                f"<id>urn:t</id><updated>2025-04-01T00:00:00Z</updated>{body}</feed>").encode()
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<channel><title>T</title><link>http://example.org/</link><description>d</description>{body}"
            "</channel></rss>").encode()


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def _settings(url: str) -> Settings:
    return Settings(database_url=url, allow_private_feeds=True, feeds_file=str(Path("no-such-feeds.toml")))


def _add_feed(tracker: Tracker, feed_id: str, url: str) -> None:
    with tracker.unit_of_work(actor="user:test") as uow:
        uow.execute(feed_stream(feed_id), feed_domain.RegisterFeed(feed_id=feed_id, name=feed_id, url=url))


entry_plans = st.lists(
    st.tuples(st.sampled_from(VALID + INVALID), st.sampled_from([GOOD_DATE, *BAD_DATES]),
              st.integers(min_value=0, max_value=3)),  # >0: repeat an earlier entry (same guid and link)
    min_size=1, max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=entry_plans, atom=st.booleans())
def test_any_mix_ingests_exactly_the_valid_entries(
    tracker: Tracker, database_url: str, server: FeedServer, plan: list[tuple[str, str, int]], atom: bool
) -> None:
    entries: list[Entry] = []
    for kind, date, repeat in plan:
        if repeat and entries:
            entries.append(entries[-repeat % len(entries)])  # duplicate guid and link: not new, not an error
        else:
            entries.append(Entry(kind, uuid.uuid4().hex[:12], date))
    feed_id = "f-" + uuid.uuid4().hex[:10]
    _add_feed(tracker, feed_id, server.route(f"/{feed_id}.xml", Reply(body=document(entries, atom))))

    summary = ingest_pass(tracker, _settings(database_url), feed_ids=[feed_id], now=NOW,
                          suggester=lambda item: [])

    (outcome,) = summary.outcomes
    distinct = list(dict.fromkeys(entries))
    valid = [e for e in distinct if e.valid]
    assert outcome.result == "fetched", outcome.error
    assert outcome.items_new == len(valid)
    assert outcome.items_skipped == sum(not e.valid for e in entries)
    assert set(outcome.skipped_reasons) <= {NO_TEXT}
    with tracker.store.engine.connect() as connection:
        state = fetchstate.load(connection, feed_id)
        rows = connection.execute(sa.select(evidence).where(evidence.c.feed == feed_id)).mappings().all()
    assert state.error_count == 0 and state.last_error is None
    assert {_token(r["title"], r["summary"]) for r in rows} == {e.token for e in valid}
    for row in rows:
        published = row["published_at"]
        assert len(published) == len("2025-04-01T08:00:00.000000Z")  # fixed width: sorts as text
        assert EARLIEST_TIME <= parse_iso(published) <= NOW.replace(day=3)
        assert len(row["language"] or "") <= 20


def _token(title: str, summary: str) -> str:
    text = title or summary
    return text.split()[1].rstrip(".") if title else text.split()[-1].rstrip(".")


def test_a_link_only_entry_no_longer_blocks_its_feed(tracker: Tracker, database_url: str, server: FeedServer) -> None:
    """The issue's case: one link-only entry used to fail the whole pass (422), every pass, with no error count."""
    good, bad = Entry("plain", "aaaaaaaaaaaa"), Entry("link_only", "bbbbbbbbbbbb")
    _add_feed(tracker, "podcast", server.route("/podcast.xml", Reply(body=document([bad, good], atom=False))))
    summary = ingest_pass(tracker, _settings(database_url), feed_ids=["podcast"], now=NOW, suggester=lambda i: [])
    assert (summary.fetched, summary.items_new, summary.items_skipped) == (1, 1, 1)
    assert "1 skipped" in summary.line()
    assert summary.outcomes[0].skipped_line() == "1 entry skipped (1 no title or summary)"
    with tracker.store.engine.connect() as connection:
        assert "1 entry skipped" in (fetchstate.load(connection, "podcast").warning or "")
