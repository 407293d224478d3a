"""The review queue's queries (tracker/web/review.py) read by index on SQLite, whatever the store's size: SQLite has
no statistics here, so its plan is the same on this tiny store as on benchmarks/api.py's 810,000 suggestions,
where a walk of every suggestion took 0.5 to 9 s a page (benchmarks/review_pages.py; migration 0008)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.api.conftest import register, suggest
from tracker.domain import evidence as ev
from tracker.projections.tables import evidence, matches
from tracker.queries import paging
from tracker.repository.unit_of_work import Tracker, evidence_stream
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.web import review


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(sqlite_url)
    tracker = Tracker(EventStore(engine))
    for pid in ("p-a", "p-b"):
        register(tracker, pid)
        for n, score in enumerate((0.5, 0.6, 0.7)):
            evidence_id = f"ev-{pid}-{n}"
            with tracker.unit_of_work(actor="system:ingest") as uow:
                uow.execute(evidence_stream(evidence_id), ev.IngestEvidence(
                    evidence_id=evidence_id, title=f"Item {evidence_id}", link=f"https://news.example.org/{evidence_id}",
                    summary="", published_at=f"2026-03-0{n + 1}T08:00:00.000000Z", published_is_fetch_time=False,
                    feed="wire", guid=evidence_id, language="en",
                    content_hash=hashlib.sha256(evidence_id.encode()).hexdigest()))
            suggest(tracker, pid, f"m-{pid}-{n}", score, evidence_id)
    yield engine
    engine.dispose()


def statements(engine: sa.Engine, call: Any) -> list[tuple[str, Any]]:
    """(statement, parameters) of every statement `call` runs."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    return seen


def plans(engine: sa.Engine, call: Any) -> list[tuple[str, str]]:
    """(statement, its query plan) for every statement `call` runs."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        return [(statement, " | ".join(row[3] for row in driver.execute("EXPLAIN QUERY PLAN " + statement, params)))
                for statement, params in statements(engine, call)]


def work(engine: sa.Engine, statement: str, parameters: Any) -> int:
    """How much work SQLite does for a statement: its progress handler's calls, one per 100 VM instructions."""
    calls = [0]

    def tick() -> int:
        calls[0] += 1
        return 0

    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        driver.set_progress_handler(tick, 100)
        try:
            driver.execute(statement, parameters).fetchall()
        finally:
            driver.set_progress_handler(None, 100)
    return calls[0]


def assert_no_walk(found: list[tuple[str, str]]) -> None:
    for statement, plan in found:
        assert "SCAN matches" not in plan and "ix_matches_state (" not in plan, (statement, plan)


def role(statement: str) -> str:
    """Which of _queue's statements this is: items (the capped count of the items the feed and date filters
    select), count, keys (the page's, then the probe's: match ids and scores in order) or rows (the page's)."""
    if statement.startswith("SELECT count(*)"):
        # SELECT count(*) AS count_1 FROM (SELECT evidence.evidence_id ...: the items' count
        return "items" if statement.split()[5:7] == ["(SELECT", "evidence.evidence_id"] else "count"
    return "rows" if "LEFT OUTER JOIN" in statement else "keys"


def by_role(found: list[tuple[str, str]]) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}
    for statement, plan in found:
        roles.setdefault(role(statement), []).append(plan)
    return roles


@pytest.mark.parametrize("filters", [{}, {"min_score": "0.6"}, {"max_score": "0.65"}])
def test_the_queue_page_its_count_and_its_probe_seek_by_score(engine: sa.Engine, filters: dict[str, str]) -> None:
    found = plans(engine, lambda: review._queue(engine, filters))
    assert [role(s) for s, _ in found] == ["count", "keys", "rows"]  # the first page: no page before it to probe
    assert_no_walk(found)
    for statement, plan in found:
        if role(statement) != "rows":
            assert "COVERING INDEX ix_matches_state_score (state=?" in plan, (statement, plan)
    page = review._queue(engine, {})
    assert [s.id for s in page.items][:2] == ["m-p-a-2", "m-p-b-2"]


@pytest.mark.parametrize("filters", [{"feed": "wire"}, {"published_after": "2026-01-01"},
                                     {"feed": "wire", "published_before": "2026-03-02", "min_score": "0.4"}])
def test_few_items_are_read_from_their_side(engine: sa.Engine, filters: dict[str, str]) -> None:
    """Feed and date filters selecting up to FEW_ITEMS items: every statement seeks per item, from the covering
    evidence indexes into ix_matches_evidence_state_score; nothing is walked best first."""
    found = plans(engine, lambda: review._queue(engine, filters))
    later = plans(engine, lambda: review._queue(engine, {**filters, "after": paging.encode(0.65, "m-p-a-0")}))
    assert [role(s) for s, _ in found] == ["items", "count", "keys", "rows"]
    assert [role(s) for s, _ in later] == ["items", "count", "keys", "rows", "keys"]  # and a probe for the previous
    found += later
    assert_no_walk(found)
    for statement, plan in found:
        assert "ix_matches_state_score" not in plan, (statement, plan)
        if role(statement) != "rows":
            assert "COVERING INDEX ix_evidence_" in plan, (statement, plan)
        if role(statement) in ("count", "keys"):
            assert "COVERING INDEX ix_matches_evidence_state_score (evidence_id=? AND state=?" in plan, plan


def test_many_items_are_tested_best_first(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """More than FEW_ITEMS items: best first. The count tests each suggestion against the list of the items inside
    the index; the page and its probe, short walks, look each one's item up instead of building that list."""
    monkeypatch.setattr(review, "FEW_ITEMS", 1)
    found = plans(engine, lambda: review._queue(engine, {"feed": "wire", "min_score": "0.55",
                                                         "after": paging.encode(0.7, "m-p-a-2")}))
    assert [role(s) for s, _ in found] == ["items", "count", "keys", "rows", "keys"]
    assert_no_walk(found)
    for statement, plan in found:
        if role(statement) in ("count", "keys"):
            assert "COVERING INDEX ix_matches_state_score (state=? AND score" in plan, (statement, plan)
        if role(statement) == "count":
            assert "LIST SUBQUERY" in plan and "COVERING INDEX ix_evidence_feed_published" in plan, plan
        if role(statement) == "keys":
            assert "CORRELATED SCALAR SUBQUERY" in plan and "sqlite_autoindex_evidence_1 (evidence_id=?)" in plan
    assert [s.id for s in review._queue(engine, {"feed": "wire", "min_score": "0.55"}).items] == [
        "m-p-a-2", "m-p-b-2", "m-p-a-1", "m-p-b-1"]


@pytest.mark.parametrize("filters", [{"feed": "wire"}, {"published_after": "2026-01-01", "max_score": "0.65"}])
def test_many_items_with_a_wide_score_range_are_counted_from_their_side(engine: sa.Engine, filters: dict[str, str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Many items and a score range leaving them most of their suggestions: the count reads the items in a plain
    list (no index of thousands built) and seeks each one's suggestions until it has COUNT_CAP + 1."""
    monkeypatch.setattr(review, "FEW_ITEMS", 1)
    found = plans(engine, lambda: review._queue(engine, filters))
    ((statement, plan),) = [(s, p) for s, p in found if role(s) == "count"]
    assert "MATERIALIZE selected" in plan and "LIST SUBQUERY" not in plan, plan
    assert "COVERING INDEX ix_matches_evidence_state_score (evidence_id=? AND state=?" in plan, plan
    assert review._queue(engine, filters).total == (6 if "feed" in filters else 4)


def test_a_later_page_seeks_by_score(engine: sa.Engine) -> None:
    cursor = paging.encode(0.6, "m-p-a-1")
    for key in ("after", "before"):
        found = plans(engine, lambda key=key: review._queue(engine, {key: cursor}))
        keys = by_role(found)["keys"]
        assert all("ix_matches_state_score (state=? AND score" in plan for plan in keys), keys
        assert_no_walk(found)
    assert [s.id for s in review._queue(engine, {"after": cursor}).items] == ["m-p-b-1", "m-p-a-0", "m-p-b-0"]
    assert [s.id for s in review._queue(engine, {"before": cursor}).items] == ["m-p-a-2", "m-p-b-2"]


def bulk(engine: sa.Engine) -> None:
    """3,000 more suggestions: 2,000 of p-a on the item ev-p-a-0, and 1,000 of p-b spread over 100 items of the feed
    'bulk', published on the 15th of each month of 2025 (read-model rows only: these tests count reads)."""
    with engine.begin() as connection:
        connection.execute(evidence.insert(), [
            {"evidence_id": f"ev-bulk-{n:03d}", "title": f"Bulk {n}", "title_key": f"bulk {n}",
             "link": f"https://news.example.org/bulk/{n}", "summary": "", "feed": "bulk",
             "published_at": f"2025-{1 + n % 12:02d}-15T08:00:00.000000Z", "published_is_fetch_time": False,
             "language": "en", "content_hash": f"{n:064x}", "sightings": 1, "version": 1,
             "updated_at": "2026-03-01T08:00:00.000000Z"} for n in range(100)])
        connection.execute(matches.insert(), [
            {"match_id": f"m-bulk-{i:05d}", "proposition_id": "p-a" if i < 2000 else "p-b",
             "evidence_id": "ev-p-a-0" if i < 2000 else f"ev-bulk-{i % 100:03d}", "state": "suggested",
             "score": 0.1 + (i % 800) / 1000, "suggested_stance": None, "stance": None, "automatic": False,
             "explanation": "{}"} for i in range(3000)])


MONTH = {"published_after": "2025-03-01", "published_before": "2025-04-01"}


@pytest.mark.parametrize("filters", [
    {}, {"min_score": "0.1"}, {"max_score": "0.95"}, {"feed": "wire", "min_score": "0.1"},
    {"proposition": "p-a", "min_score": "0.1"}, {"proposition": "p-b", "feed": "bulk", **MONTH},
])
@pytest.mark.parametrize("page", [{}, {"after": paging.encode(0.5, "m-bulk-01400")},
                                  {"before": paging.encode(0.5, "m-bulk-01400")}])
def test_the_page_probes_seek_whatever_the_filters(engine: sa.Engine, filters: dict[str, str],
                                                   page: dict[str, str]) -> None:
    """With 3,000 suggestions, probing for a page before or after this one reads a handful of rows, even when
    there is none (the first page's previous): a score bound from a filter (min_score, max_score) must not be the
    one SQLite seeks with, or it walks every row between that bound and the page. (feed=wire selects 2,006
    suggestions, too many to read from the items' side: best first, each one's item tested in the index.)"""
    bulk(engine)
    found = statements(engine, lambda: review._queue(engine, {**filters, **page}))
    keys = [(s, p) for s, p in found if role(s) == "keys"]
    assert len(keys) == (2 if page and review._queue(engine, {**filters, **page}).items else 1)
    assert all(work(engine, *probe) < 10 for probe in keys[1:]), keys[1]
    assert work(engine, *keys[0]) < 130, keys[0]  # the page itself: 51 rows from its place in the queue


@pytest.mark.parametrize("filters", [
    {"feed": "bulk"}, {"feed": "bulk", "min_score": "0.5", **MONTH}, {"feed": "bulk", "min_score": "0.1",
                                                                      "max_score": "0.7", **MONTH},
])
@pytest.mark.parametrize("page", [{}, {"after": paging.encode(0.5, "m-bulk-02400")},
                                  {"before": paging.encode(0.5, "m-bulk-02400")}])
def test_from_the_items_every_statement_reads_about_one_seek_per_item(engine: sa.Engine, filters: dict[str, str],
                                                                      page: dict[str, str]) -> None:
    """Feed 'bulk' (100 items, 1,000 suggestions; a month of it 9 items): read from the items' side, each statement
    costs about a seek per item and the rows it selects, never the 3,000 suggestions best first."""
    bulk(engine)
    found = statements(engine, lambda: review._queue(engine, {**filters, **page}))
    items = 100 if "published_after" not in filters else 9
    for statement, parameters in found:
        assert work(engine, statement, parameters) < 30 + 1.5 * items, statement


@pytest.mark.parametrize("filters", [
    {"feed": "nowhere"}, {"feed": "bulk", "published_after": "2027-01-01"}, {"feed": "wire", **MONTH},
    {"feed": "nowhere", "min_score": "0.8", **MONTH}, {"published_after": "2027-01-01", "max_score": "0.5"},
])
@pytest.mark.parametrize("page", [{}, {"after": paging.encode(0.5, "m-bulk-01400")}])
def test_filters_selecting_nothing_read_nothing(engine: sa.Engine, filters: dict[str, str],
                                                page: dict[str, str]) -> None:
    """Feed and date filters that select no item (or items with no suggestion) cost a few index seeks, however
    many suggestions there are: benchmarks/api.py's store walked all 810,000 for seconds."""
    bulk(engine)
    found = statements(engine, lambda: review._queue(engine, {**filters, **page}))
    assert [role(s) for s, _ in found] == ["items", "count", "keys"]
    for statement, parameters in found:
        assert work(engine, statement, parameters) < 3, statement
    shown = review._queue(engine, {**filters, **page})
    assert (shown.items, shown.total, shown.next, shown.previous) == ([], 0, None, None)


@pytest.mark.parametrize("filters", [{"feed": "bulk", **MONTH}, {"feed": "bulk", "min_score": "0.5", **MONTH},
                                     {"published_before": "2025-02-01"}])
def test_a_selective_item_filter_costs_what_it_selects(engine: sa.Engine, filters: dict[str, str]) -> None:
    """A month of one feed (9 items, 90 suggestions among 3,006): the count, the page and the probe read those
    items' suggestions, not the queue best first; the work does not grow with the rest of the queue."""
    bulk(engine)
    before = [(role(s), work(engine, s, p)) for s, p in statements(engine, lambda: review._queue(engine, filters))]
    with engine.begin() as connection:
        connection.execute(matches.insert(), [
            {"match_id": f"m-more-{i:05d}", "proposition_id": "p-b", "evidence_id": "ev-p-b-0",
             "state": "suggested", "score": 0.2 + (i % 700) / 1000, "suggested_stance": None, "stance": None,
             "automatic": False, "explanation": "{}"} for i in range(5000)])
    after = [(role(s), work(engine, s, p)) for s, p in statements(engine, lambda: review._queue(engine, filters))]
    assert after == before and all(calls < 150 for _, calls in after), after


def test_one_propositions_queue_reads_its_own_index(engine: sa.Engine) -> None:
    for filters in ({"proposition": "p-b"}, {"proposition": "p-b", "feed": "wire", "min_score": "0.55"}):
        found = plans(engine, lambda filters=filters: review._queue(engine, filters))
        assert_no_walk(found)
        for statement, plan in found:
            if role(statement) in ("count", "keys"):
                assert "ix_matches_proposition_state_score (proposition_id=? AND state=?" in plan, (statement, plan)
    assert [s.id for s in review._queue(engine, {"proposition": "p-b"}).items] == ["m-p-b-2", "m-p-b-1", "m-p-b-0"]


def test_the_feed_list_reads_an_index(engine: sa.Engine) -> None:
    ((_, plan),) = plans(engine, lambda: review._feeds(engine))
    assert "COVERING INDEX ix_evidence_feed_published" in plan


QUEUE_FILTERS = [
    {}, {"feed": "f1"}, {"feed": "f1", "min_score": "0.3"}, {"published_after": "2025-02-01", "max_score": "0.6"},
    {"feed": "f2", "published_after": "2025-03-01", "published_before": "2025-04-01", "min_score": "0.2",
     "max_score": "0.9"}, {"proposition": "p-1", "feed": "f0"}, {"feed": "nowhere"}, {"published_after": "2030-01-01"},
]


@pytest.mark.parametrize(("few_items", "count_cap"), [(10_000, 1000), (10_000, 5), (0, 1000)],
                         ids=["from-the-items", "best-first-testing-a-list", "best-first-looking-up"])
def test_pages_walk_the_selection_in_order_both_ways(database_url: str, few_items: int, count_cap: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Whichever side the queue is read from, on SQLite and PostgreSQL: the pages forwards and backwards are the
    selected suggestions best first (ties on the score by match id), each once, and the count is theirs."""
    monkeypatch.setattr(review, "FEW_ITEMS", few_items)
    monkeypatch.setattr(review, "COUNT_CAP", count_cap)
    monkeypatch.setattr(review, "PAGE_SIZE", 7)
    engine = make_engine(database_url)
    items = [{"evidence_id": f"ev-{n:02d}", "title": f"Item {n}", "title_key": f"item {n}",
              "link": f"https://news.example.org/{n}", "summary": "", "feed": f"f{n % 3}",
              "published_at": f"2025-{1 + n % 4:02d}-10T08:00:00.000000Z", "published_is_fetch_time": False,
              "language": "en", "content_hash": f"{n:064x}", "sightings": 1, "version": 1,
              "updated_at": "2026-03-01T08:00:00.000000Z"} for n in range(40)]
    rows = [{"match_id": f"m-{i:03d}", "proposition_id": f"p-{i % 5}", "evidence_id": f"ev-{i % 40:02d}",
             "state": "confirmed" if i % 7 == 0 else "suggested", "score": ((i * 37) % 101) / 100,
             "suggested_stance": None, "stance": None, "automatic": False, "explanation": "{}"} for i in range(400)]
    with engine.begin() as connection:
        connection.execute(evidence.insert(), items)
        connection.execute(matches.insert(), rows)
    by_id = {item["evidence_id"]: item for item in items}
    try:
        for filters in QUEUE_FILTERS:
            def selected(row: dict[str, Any], filters: dict[str, str] = filters) -> bool:
                item = by_id[row["evidence_id"]]
                return (row["state"] == "suggested"
                        and row["proposition_id"] == filters.get("proposition", row["proposition_id"])
                        and item["feed"] == filters.get("feed", item["feed"])
                        and row["score"] >= float(filters.get("min_score", 0))
                        and row["score"] <= float(filters.get("max_score", 1))
                        and item["published_at"] >= filters.get("published_after", "")
                        and item["published_at"] < filters.get("published_before", "9999"))

            best_first = sorted(filter(selected, rows), key=lambda r: (-r["score"], r["match_id"]))
            expected = [r["match_id"] for r in best_first]
            page = review._queue(engine, filters)
            assert page.total == min(len(expected), review.COUNT_CAP + 1), filters
            assert page.previous is None
            forwards = [s.id for s in page.items]
            while page.next:
                page = review._queue(engine, {**filters, "after": page.next})
                assert 0 < len(page.items) <= 7 and page.previous is not None
                forwards += [s.id for s in page.items]
            assert forwards == expected, filters
            backwards: list[str] = [s.id for s in page.items]
            while page.previous:
                page = review._queue(engine, {**filters, "before": page.previous})
                assert len(page.items) == 7 and page.next is not None
                backwards = [s.id for s in page.items] + backwards
            assert backwards == expected, filters
    finally:
        engine.dispose()
