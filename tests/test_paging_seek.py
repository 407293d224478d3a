"""Keyset pages ordered on two columns seek to their cursor (tracker/queries/paging.seekable): without the redundant
bound on the first column, the OR of `after` hid the range and SQLite walked every row before the cursor, so a deep
page of the evidence list cost as much as all the pages before it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tracker.projections.tables import evidence
from tracker.queries import paging
from tracker.queries.evidence import list_evidence
from tracker.store.engine import make_engine

ROWS = 3000


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(sqlite_url)
    # Read-model rows only: these tests count the reads of one query, not the write path.
    with engine.begin() as connection:
        connection.execute(evidence.insert(), [
            {"evidence_id": f"ev-{n:05d}", "title": f"Item {n}", "title_key": f"item {n}",
             "link": f"https://news.example.org/{n}", "summary": "", "feed": "wire",
             # two items a minute, so equal timestamps exercise the tie-break on evidence_id
             "published_at": f"2026-03-{1 + n // 1440:02d}T{n // 120 % 12:02d}:{n // 2 % 60:02d}:00.000000Z",
             "published_is_fetch_time": False, "language": "en", "content_hash": f"{n:064x}", "sightings": 1,
             "version": 1, "updated_at": "2026-03-01T08:00:00.000000Z"} for n in range(ROWS)])
    yield engine
    engine.dispose()


def _work_of_page(url: sa.URL, cursor: str | None) -> int:
    """SQLite's progress-handler calls (one per 100 VM instructions) while one page is read."""
    calls = [0]

    def tick() -> int:
        calls[0] += 1
        return 0

    single = sa.create_engine(url, poolclass=sa.pool.StaticPool)  # one connection: the handler sees the page's query
    try:
        with single.connect() as connection:
            driver: Any = connection.connection.driver_connection
            driver.set_progress_handler(tick, 100)
        list_evidence(single, limit=50, cursor=cursor)
    finally:
        single.dispose()
    return calls[0]


def _cursor_at(engine: sa.Engine, depth: int) -> str:
    """The cursor after the `depth`-th item newest first."""
    with engine.connect() as connection:
        row = connection.execute(sa.select(evidence.c.published_at, evidence.c.evidence_id)
                                 .order_by(evidence.c.published_at.desc(), evidence.c.evidence_id)
                                 .offset(depth - 1).limit(1)).one()
    return paging.encode(row.published_at, row.evidence_id)


def test_a_deep_page_costs_about_what_a_shallow_one_does(engine: sa.Engine) -> None:
    shallow = _work_of_page(engine.url, _cursor_at(engine, 50))
    deep = _work_of_page(engine.url, _cursor_at(engine, ROWS - 60))
    assert shallow > 0
    assert deep < 2 * shallow + 20, (shallow, deep)


def test_the_page_query_seeks_the_index_to_the_cursor(engine: sa.Engine) -> None:
    cursor = _cursor_at(engine, 1000)
    seen: list[tuple[str, Any]] = []
    sa.event.listen(engine, "before_cursor_execute", lambda c, cur, s, p, ctx, many: seen.append((s, p)))
    list_evidence(engine, limit=50, cursor=cursor)
    (statement, parameters), = seen
    with engine.connect() as connection:
        driver: Any = connection.connection.driver_connection
        plan = " | ".join(row[3] for row in driver.execute("EXPLAIN QUERY PLAN " + statement, parameters))
    assert "SEARCH evidence USING INDEX" in plan and "published_at<" in plan.replace(" ", ""), plan


def test_pages_still_walk_every_item_once_in_order(engine: sa.Engine) -> None:
    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        page = list_evidence(engine, limit=70, cursor=cursor)
        seen += [(row.published_at, row.id) for row in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == ROWS
    assert seen == sorted(seen, key=lambda key: (_descending(key[0]), key[1]))


def _descending(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)
