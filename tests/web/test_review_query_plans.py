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
from tracker.projections.tables import matches
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


@pytest.mark.parametrize("filters", [{}, {"feed": "wire"}, {"published_after": "2026-01-01"}, {"min_score": "0.6"}])
def test_the_queue_page_its_count_and_its_probes_seek_by_score(engine: sa.Engine, filters: dict[str, str]) -> None:
    found = plans(engine, lambda: review._queue(engine, filters))
    assert len(found) == 4  # the page, the count, the probes for a next and a previous page
    assert_no_walk(found[2:])
    for statement, plan in found[2:]:
        assert "ix_matches_state_score (state=? AND score" in plan, (statement, plan)
    page = review._queue(engine, {})
    assert [s.id for s in page.items][:2] == ["m-p-a-2", "m-p-b-2"]


def test_a_later_page_seeks_by_score(engine: sa.Engine) -> None:
    cursor = paging.encode(0.6, "m-p-a-1")
    for key in ("after", "before"):
        found = plans(engine, lambda key=key: review._queue(engine, {key: cursor}))
        assert "ix_matches_state_score (state=? AND score" in found[0][1], found[0]
        assert_no_walk([found[0], *found[2:]])
    assert [s.id for s in review._queue(engine, {"after": cursor}).items] == ["m-p-b-1", "m-p-a-0", "m-p-b-0"]
    assert [s.id for s in review._queue(engine, {"before": cursor}).items] == ["m-p-a-2", "m-p-b-2"]


@pytest.mark.parametrize("filters", [
    {}, {"min_score": "0.1"}, {"max_score": "0.95"}, {"feed": "wire", "min_score": "0.1"},
    {"proposition": "p-a", "min_score": "0.1"},
])
@pytest.mark.parametrize("page", [{}, {"after": paging.encode(0.5, "m-bulk-01400")}])
def test_the_page_probes_seek_whatever_the_filters(engine: sa.Engine, filters: dict[str, str],
                                                   page: dict[str, str]) -> None:
    """With 3,000 suggestions, probing for a page before or after this one reads a handful of rows, even when
    there is none (the first page's previous): a score bound from a filter (min_score, max_score) must not be the
    one SQLite seeks with, or it walks every row between that bound and the page."""
    with engine.begin() as connection:
        connection.execute(matches.insert(), [
            {"match_id": f"m-bulk-{i:05d}", "proposition_id": "p-a", "evidence_id": "ev-p-a-0", "state": "suggested",
             "score": 0.1 + (i % 800) / 1000, "suggested_stance": None, "stance": None, "automatic": False,
             "explanation": "{}"} for i in range(3000)])
    found = statements(engine, lambda: review._queue(engine, {**filters, **page}))
    assert len(found) == 4
    walked = {statement[-120:]: work(engine, statement, parameters) for statement, parameters in found[2:]}
    assert all(calls < 10 for calls in walked.values()), walked
    assert work(engine, *found[0]) < 60  # the page itself: 50 rows from its place in the queue


def test_one_propositions_queue_reads_its_own_index(engine: sa.Engine) -> None:
    found = plans(engine, lambda: review._queue(engine, {"proposition": "p-b"}))
    assert_no_walk(found)
    for statement, plan in found:
        assert "ix_matches_proposition_state_score (proposition_id=? AND state=?" in plan, (statement, plan)
    assert [s.id for s in review._queue(engine, {"proposition": "p-b"}).items] == ["m-p-b-2", "m-p-b-1", "m-p-b-0"]


def test_the_feed_list_reads_an_index(engine: sa.Engine) -> None:
    ((_, plan),) = plans(engine, lambda: review._feeds(engine))
    assert "COVERING INDEX ix_evidence_feed_published" in plan
