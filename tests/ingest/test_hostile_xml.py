"""Hostile feeds: entity tricks in any encoding are refused on the decoded document, and whatever still goes
wrong inside the parser (a crash, a memory or CPU blow-up, a stall) is contained in a worker process.

Real bytes and real processes throughout: the crash is expat 2.5's own segfault on deeply nested entities
(CVE-2024-8176) run in a worker, or a worker that really kills itself via the pool's explicit test hook.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from tests.ingest.feedserver import FeedServer, Reply
from tracker.config import Settings
from tracker.domain import feed as feed_domain
from tracker.ingest import fetchstate, isolation
from tracker.ingest.isolation import Limits, ParserPool, WorkerFailed
from tracker.ingest.parse import parse_feed, parse_feed_in_process
from tracker.ingest.runner import ingest_pass
from tracker.repository.unit_of_work import Tracker, feed_stream
from tracker.store import EventStore
from tracker.store.engine import make_engine

XML_HEADERS = {"content-type": "application/xml"}
CHANNEL = '<rss version="2.0"><channel><title>t</title><item><title>&x;</title><link>https://e.org/1</link>' \
          "</item></channel></rss>"
ENTITY_DOCUMENT = '<!DOCTYPE rss [<!ENTITY x "EXPANDED">]>' + CHANNEL


def declared(encoding: str) -> str:
    return f'<?xml version="1.0" encoding="{encoding}"?>'


def utf7_by_hand(text: str) -> bytes:
    # Python's encoder writes "<" directly; a hostile author spells it +ADw- so no "<!ENTITY" bytes appear.
    return text.encode("utf-7").replace(b"<", b"+ADw-")


ENCODED = {
    "utf-8": (declared("utf-8") + ENTITY_DOCUMENT).encode(),
    "utf-8-bom": b"\xef\xbb\xbf" + (declared("utf-8") + ENTITY_DOCUMENT).encode(),
    "utf-16": (declared("utf-16") + ENTITY_DOCUMENT).encode("utf-16"),
    "utf-32": (declared("utf-32") + ENTITY_DOCUMENT).encode("utf-32"),
    "utf-7": declared("utf-7").encode() + utf7_by_hand(ENTITY_DOCUMENT),
    "cp037": (declared("cp037") + ENTITY_DOCUMENT).encode("cp037"),
    "cp500": (declared("cp500") + ENTITY_DOCUMENT).encode("cp500"),
    "gb18030": (declared("gb18030") + ENTITY_DOCUMENT.replace("EXPANDED", "展开")).encode("gb18030"),
}
# Encodings named only by the Content-Type header: no BOM, a declaration without an encoding.
HEADER_ONLY = {
    "cp037-header": (('<?xml version="1.0"?>' + ENTITY_DOCUMENT).encode("cp037"), "application/xml; charset=cp037"),
    "utf-16le-header": (
        ('<?xml version="1.0"?>' + ENTITY_DOCUMENT).encode("utf-16-le"), "application/rss+xml; charset=utf-16le",
    ),
}


def expanded_by_feedparser(body: bytes, headers: dict[str, str]) -> str | None:
    """What feedparser alone makes of `&x;` (a one-word entity: safe to expand in-process)."""
    entries = feedparser.parse(io.BytesIO(body), response_headers=headers).entries
    return entries[0].get("title") if entries else None


@pytest.mark.parametrize("name", list(ENCODED))
def test_entity_declaration_is_refused_in_every_encoding(name: str) -> None:
    body = ENCODED[name]
    if name in {"utf-7", "cp037", "cp500"}:
        assert b"<!ENTITY" not in body.replace(b"\x00", b"")  # the old check on the bytes missed these
    assert expanded_by_feedparser(body, XML_HEADERS) in {"EXPANDED", "展开"}  # the attack is real
    parsed = parse_feed(body, XML_HEADERS)
    assert parsed.entries == [] and parsed.error and "declares XML entities" in parsed.error


@pytest.mark.parametrize("name", list(HEADER_ONLY))
def test_entity_declaration_is_refused_when_only_the_header_names_the_encoding(name: str) -> None:
    body, content_type = HEADER_ONLY[name]
    headers = {"content-type": content_type}
    if name == "cp037-header":
        assert b"<!ENTITY" not in body.replace(b"\x00", b"")
    assert expanded_by_feedparser(body, headers) == "EXPANDED"
    parsed = parse_feed(body, headers)
    assert parsed.error and "declares XML entities" in parsed.error


def test_nested_entities_with_the_doctype_on_the_declaration_line() -> None:
    # On the declaration's line feedparser's safe-entity filter does not run, so expat expands nested values.
    body = (declared("cp037") + '<!DOCTYPE rss [<!ENTITY a "ab"><!ENTITY x "&a;&a;&a;">]>' + CHANNEL).encode("cp037")
    assert expanded_by_feedparser(body, XML_HEADERS) == "ababab"
    assert "declares XML entities" in (parse_feed(body, XML_HEADERS).error or "")


def test_parameter_entities_are_refused() -> None:
    subset = """<!ENTITY % p "<!ENTITY x 'EXPANDED'>"> %p;"""
    body = (declared("utf-16") + f"<!DOCTYPE rss [{subset}]>" + CHANNEL).encode("utf-16")
    assert "declares XML entities" in (parse_feed(body, XML_HEADERS).error or "")


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rss [<!ATTLIST item injected CDATA "default">]>',
        "<!DOCTYPE rss []>",
        '<!DOCTYPE rss SYSTEM "a>b" [<!ATTLIST item injected CDATA "default">]>',  # ">" hidden in a literal
        "<!doctype rss\n[ <!-- lower case, subset on the next line --> ]>",
    ],
    ids=["attlist", "empty-subset", "gt-in-literal", "lowercase"],
)
def test_doctype_internal_subset_without_entities_is_refused(doctype: str) -> None:
    body = (declared("cp500") + doctype + CHANNEL.replace("&x;", "plain")).encode("cp500")
    parsed = parse_feed(body, XML_HEADERS)
    assert parsed.entries == [] and parsed.error and "internal subset" in parsed.error


@pytest.mark.parametrize(
    "doctype",
    [
        "<!DOCTYPE rss>",
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        '"http://my.netscape.com/publish/formats/rss-0.91.dtd">',
        "<!DOCTYPE rss SYSTEM 'rss.dtd'>",
    ],
    ids=["bare", "netscape-public", "system"],
)
def test_plain_doctypes_still_parse(doctype: str) -> None:
    body = (declared("utf-8") + doctype + CHANNEL.replace("&x;", "plain")).encode()
    parsed = parse_feed(body, XML_HEADERS)
    assert parsed.ok and parsed.entries[0]["title"] == "plain"


def test_many_doctypes_are_checked_in_linear_time() -> None:
    body = declared("utf-8").encode() + b'<!DOCTYPE x SYSTEM "' * 200_000  # 4 MB, no literal ever closes
    started = time.perf_counter()
    parsed = parse_feed_in_process(body, XML_HEADERS)
    assert parsed.error and "internal subset or is malformed" in parsed.error
    assert time.perf_counter() - started < 5


def nested_entity_bomb(depth: int) -> bytes:
    """expat 2.5.0 recurses once per level and overflows the C stack (CVE-2024-8176): a real segfault."""
    declarations = '<!ENTITY e0 "x">' + "".join(f'<!ENTITY e{i} "&e{i - 1};">' for i in range(1, depth))
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{declarations}]><rss version="2.0"><channel><title>t</title>'
        f"<item><title>&e{depth - 1};</title></item></channel></rss>"
    ).encode()


BOMB = nested_entity_bomb(60_000)  # 1.6 MB; 40,000 levels already crash here
NORMAL = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/'
    'content/"><channel><title>Wire</title><language>en</language><ttl>30</ttl>'
    "<item><title>Café talks resume</title><link>/a?utm_source=x</link><guid>g1</guid>"
    "<description>&lt;p&gt;Short&lt;/p&gt;</description><content:encoded><![CDATA[<p>Long <b>body</b></p>]]>"
    "</content:encoded><pubDate>Tue, 01 Apr 2025 08:00:00 GMT</pubDate><category>energy</category>"
    '<enclosure url="https://e.org/a.mp3" length="1" type="audio/mpeg"/></item>'
    "<item><title>Second</title><link>https://e.org/b</link></item></channel></rss>"
).encode()


@pytest.fixture
def pool() -> Iterator[ParserPool]:
    made = ParserPool(workers=1, limits=Limits(memory_bytes=512 * 2**20, cpu_seconds=5, timeout_seconds=10))
    yield made
    made.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_next_parse_works(pool: ParserPool) -> None:
    parsed = pool.parse(NORMAL, XML_HEADERS, base_url="https://e.org/feed")
    assert parsed.ok and parsed.entries[0]["link"] == "https://e.org/a?utm_source=x"


def test_a_normal_feed_parses_identically_through_the_pool(pool: ParserPool) -> None:
    through_pool = pool.parse(NORMAL, XML_HEADERS, base_url="https://e.org/feed")
    assert through_pool == parse_feed_in_process(NORMAL, XML_HEADERS, base_url="https://e.org/feed")
    assert through_pool == parse_feed(NORMAL, XML_HEADERS, base_url="https://e.org/feed")  # the default pool
    entry = through_pool.entries[0]
    # feedparser's aliases and parsed dates survive the trip
    assert entry["guid"] == entry["id"] and entry["description"] == "<p>Short</p>" and entry["category"] == "energy"
    assert entry["published_parsed"].tm_year == 2025 and entry["enclosures"][0]["href"] == "https://e.org/a.mp3"
    assert through_pool.ttl_minutes == 30 and through_pool.language == "en"


def test_the_bomb_is_refused_before_parsing_and_costs_the_service_little() -> None:
    parse_feed(NORMAL, XML_HEADERS)  # start the default pool outside the measurement
    tracemalloc.start()
    try:
        parsed = parse_feed(BOMB, XML_HEADERS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed.error and "declares XML entities" in parsed.error
    assert peak < 3 * len(BOMB)  # the service only pickles the body to the worker


def test_a_real_parser_crash_kills_only_its_worker(pool: ParserPool) -> None:
    assert_next_parse_works(pool)
    [pid] = pool.worker_pids()
    with pytest.raises(WorkerFailed, match=r"crashed \(SIGSEGV\)"):
        pool.call(feedparser.parse, io.BytesIO(BOMB))  # feedparser with no refusal in front: expat segfaults
    assert not alive(pid) and pool.replaced == 1
    assert_next_parse_works(pool)
    assert pool.worker_pids() != [pid]


def test_a_crash_during_parse_feed_becomes_the_feeds_error() -> None:
    marker = b"<!-- crash the parser -->"
    crashing = ParserPool(workers=1, crash_marker=marker)
    try:
        parsed = crashing.parse(NORMAL.replace(b"<channel>", b"<channel>" + marker), XML_HEADERS)
        assert parsed.entries == [] and parsed.error == "parser failed: the isolated parser crashed (SIGSEGV)"
        assert_next_parse_works(crashing)
    finally:
        crashing.close()


def test_memory_blow_up_is_stopped_by_the_address_space_limit(pool: ParserPool) -> None:
    with pytest.raises(WorkerFailed, match=r"ran out of memory \(limit 512 MB\)"):
        pool.call(bytearray, 1024 * 2**20)
    assert pool.replaced == 1
    assert_next_parse_works(pool)


def test_cpu_hog_is_stopped_by_the_cpu_limit() -> None:
    hogged = ParserPool(workers=1, limits=Limits(cpu_seconds=1, timeout_seconds=20))
    try:
        with pytest.raises(WorkerFailed, match=r"exceeded its CPU limit \(1 s\)"):
            hogged.call(sum, range(10**13))
        assert_next_parse_works(hogged)
    finally:
        hogged.close()


def test_a_stalled_parse_is_killed_at_the_wall_clock_timeout() -> None:
    stalled = ParserPool(workers=1, limits=Limits(timeout_seconds=0.5))
    try:
        assert_next_parse_works(stalled)
        [pid] = stalled.worker_pids()
        started = time.monotonic()
        with pytest.raises(WorkerFailed, match=r"timed out after 0.5 s"):
            stalled.call(time.sleep, 60)
        assert time.monotonic() - started < 5 and not alive(pid)
        assert_next_parse_works(stalled)
    finally:
        stalled.close()


def test_a_crash_does_not_disturb_a_parse_running_on_another_worker() -> None:
    marker = b"<!-- crash the parser -->"
    shared = ParserPool(workers=2, crash_marker=marker)
    results: dict[str, object] = {}

    def run(name: str, body: bytes) -> None:
        results[name] = shared.parse(body, XML_HEADERS, base_url="https://e.org/feed")

    try:
        threads = [
            threading.Thread(target=run, args=("bad", NORMAL.replace(b"<channel>", b"<channel>" + marker))),
            threading.Thread(target=run, args=("good", NORMAL)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert results["good"] == parse_feed_in_process(NORMAL, XML_HEADERS, base_url="https://e.org/feed")
        assert "crashed (SIGSEGV)" in (results["bad"].error or "")  # type: ignore[attr-defined]
    finally:
        shared.close()


def test_a_worker_killed_while_idle_is_replaced_without_failing_the_next_feed(pool: ParserPool) -> None:
    assert_next_parse_works(pool)
    [pid] = pool.worker_pids()
    os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
    deadline = time.monotonic() + 5
    while alive(pid) and "zombie" not in Path(f"/proc/{pid}/status").read_text() and time.monotonic() < deadline:
        time.sleep(0.01)  # dead, not yet reaped: the pool reaps it
    assert_next_parse_works(pool)
    assert pool.worker_pids() != [pid]


def test_a_worker_cannot_hand_the_service_a_callable(pool: ParserPool) -> None:
    # A compromised worker could send any pickle; only ParsedFeed's own classes are accepted.
    with pytest.raises(WorkerFailed, match="malformed answer"):
        pool.call(pickle.loads, pickle.dumps(os.system))  # the worker sends back a reference to os.system
    assert_next_parse_works(pool)


def test_workers_do_not_inherit_the_services_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_DATABASE_URL", "postgresql://user:secret@db/tracker")
    fresh = ParserPool(workers=1)
    try:
        assert fresh.call(os.getenv, "TRACKER_DATABASE_URL") is None
    finally:
        fresh.close()


def test_a_closed_pool_answers_with_an_error_instead_of_hanging(pool: ParserPool) -> None:
    assert_next_parse_works(pool)
    pool.close()
    assert pool.parse(NORMAL, XML_HEADERS).error == "parser failed: the parser pool is shut down"
    assert pool.worker_pids() == []


@pytest.fixture
def crash_pool() -> Iterator[bytes]:
    marker = b"<!-- crash the parser -->"
    isolation.install(ParserPool(workers=1, crash_marker=marker))
    yield marker
    isolation.install(None)


def test_in_a_feed_pass_a_crashing_feed_fails_and_backs_off_while_the_others_ingest(
    crash_pool: bytes, sqlite_url: str
) -> None:
    tracker = Tracker(EventStore(make_engine(sqlite_url)))
    now = datetime(2025, 4, 2, 12, 0, tzinfo=UTC)
    with FeedServer() as server:
        feeds = {
            "a-before": NORMAL,
            "b-crash": NORMAL.replace(b"<channel>", b"<channel>" + crash_pool),
            "c-after": NORMAL.replace(b"/a?", b"/c?").replace(b"e.org/b", b"e.org/d")
            .replace("Café talks resume".encode(), b"Grid repairs finish").replace(b"Second", b"Third report"),
        }
        with tracker.unit_of_work(actor="user:test") as uow:
            for feed_id, body in feeds.items():
                url = server.route(f"/{feed_id}.xml", Reply(body=body, headers={"Content-Type": "application/xml"}))
                uow.execute(feed_stream(feed_id), feed_domain.RegisterFeed(feed_id=feed_id, name=feed_id, url=url))
        settings = Settings(database_url=sqlite_url, allow_private_feeds=True, feeds_file="no-such-feeds.toml")
        first = ingest_pass(tracker, settings, now=now, suggester=lambda item: [])
        second = ingest_pass(tracker, settings, now=now + timedelta(days=1), suggester=lambda item: [])
    assert (first.fetched, first.failed, first.items_new) == (2, 1, 4)
    assert (second.fetched, second.failed) == (2, 1)
    with tracker.store.engine.connect() as connection:
        crashed = fetchstate.load(connection, "b-crash")
        healthy = fetchstate.load(connection, "c-after")
    assert crashed.error_count == 2 and "crashed (SIGSEGV)" in (crashed.last_error or "")
    assert healthy.error_count == 0 and healthy.items_total == 2
    tracker.store.engine.dispose()
