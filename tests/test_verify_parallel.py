"""The parallel chain walk (pages hashed in worker processes) reports exactly what the sequential walk does:
the same first broken position, reason, head and count, and the same Merkle roots, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tracker.audit import merkle, verify
from tracker.audit.checks import verify_log
from tracker.store import EventStore
from tracker.store.envelope import NewEvent

PAGE = 8
EVENTS = 37  # pages (0,8] (8,16] (16,24] (24,32] and a partial last page (32,37]
STOPS = (0, 1, 7, 8, 9, 16, 20, 32, 36, 37, 50)


@pytest.fixture
def paged(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[EventStore]:
    monkeypatch.setattr(verify, "PAGE_EVENTS", PAGE)
    monkeypatch.setattr(verify, "PARALLEL_FROM", 1)
    for n in range(EVENTS):
        store.append(f"s-{n % 5}", None, [NewEvent("Noted", {"n": n, "text": f"event {n} é"})], actor="user:t")
    yield store


def _unguard(store: EventStore) -> None:
    with store.engine.begin() as connection:
        if store.engine.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER events_refuse_update")
            connection.exec_driver_sql("DROP TRIGGER events_refuse_delete")
        else:
            connection.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER USER")


def _tamper(store: EventStore, *statements: str) -> None:
    _unguard(store)
    with store.engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)


def _both(store: EventStore) -> tuple[verify.VerifyResult, verify.VerifyResult]:
    parallel, roots = verify.walk_chain(store, workers=2, stops=STOPS)
    sequential, expected_roots = verify.sequential_walk(store, stops=STOPS)
    assert roots == expected_roots
    return parallel, sequential


def test_untouched_log_same_result_and_roots(paged: EventStore) -> None:
    parallel, roots = verify.walk_chain(paged, workers=2, stops=STOPS)
    assert parallel == verify.VerifyResult(EVENTS, EVENTS)
    leaves = [bytes.fromhex(e.hash) for e in paged.read_all()]
    for stop in STOPS:
        if stop <= EVENTS:
            assert roots[stop][0] == merkle.root(leaves[:stop]), stop
            assert roots[stop][1] == (leaves[stop - 1].hex() if stop else "0" * 64)
        else:
            assert stop not in roots
    assert verify.sequential_walk(paged, stops=STOPS) == (parallel, roots)


@pytest.mark.parametrize("position", [3, 1, 8, 19, 24, 36, 37], ids=lambda p: f"at-{p}")
def test_changed_payload_named_in_first_middle_and_last_page(paged: EventStore, position: int) -> None:
    _tamper(paged, f"UPDATE events SET payload = replace(payload, 'event', 'EVENT') WHERE position = {position}")
    parallel, sequential = _both(paged)
    assert parallel == sequential
    assert parallel.broken_at == position and parallel.reason == "hash does not match the event's content"
    assert parallel.checked == position - 1


def test_rewritten_hash_named_at_the_next_event_across_a_page_boundary(paged: EventStore) -> None:
    # Position 16 ends a page: its own hash no longer matches its content.
    _tamper(paged, "UPDATE events SET hash = '" + "a" * 64 + "' WHERE position = 16")
    parallel, sequential = _both(paged)
    assert parallel == sequential and parallel.broken_at == 16


def test_broken_link_at_the_first_event_of_a_page(paged: EventStore) -> None:
    _tamper(paged, "UPDATE events SET prev_hash = '" + "b" * 64 + "' WHERE position = 17")
    parallel, sequential = _both(paged)
    assert parallel == sequential
    assert parallel.broken_at == 17 and parallel.reason == "prev_hash does not match the previous event"


@pytest.mark.parametrize(("where", "missing", "head"), [
    ("position = 8", 8, 9),            # the last event of the first page
    ("position = 9", 9, 10),           # the first event of a page
    ("position BETWEEN 9 AND 16", 9, 17),  # a whole page
    ("position BETWEEN 12 AND 30", 12, 31),  # across pages
    ("position = 20", 20, 21),         # inside a middle page
    ("position = 33", 33, 34),         # the first event of the last page
])
def test_missing_positions_named(paged: EventStore, where: str, missing: int, head: int) -> None:
    _tamper(paged, f"DELETE FROM events WHERE {where}")
    parallel, sequential = _both(paged)
    assert parallel == sequential
    assert (parallel.broken_at, parallel.head, parallel.reason) == (missing, head, f"position {missing} is missing")


def test_swapped_events_named(paged: EventStore) -> None:
    _tamper(paged, "UPDATE events SET position = -1 WHERE position = 23",
            "UPDATE events SET position = 23 WHERE position = 26",
            "UPDATE events SET position = 26 WHERE position = -1")
    parallel, sequential = _both(paged)
    assert parallel == sequential and parallel.broken_at == 23


def test_verify_log_goes_parallel_and_reports_the_same(paged: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = verify.parallel_walk

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(verify, "parallel_walk", spy)
    monkeypatch.setattr(verify, "_worker_count", lambda workers: 2)
    assert verify_log(paged).ok
    _tamper(paged, "UPDATE events SET payload = replace(payload, 'event', 'EVENT') WHERE position = 29")
    report = verify_log(paged)
    assert not report.ok and report.broken_at == 29 and report.checked == 28
    assert len(calls) == 2
    with paged.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM events")).scalar() == EVENTS
