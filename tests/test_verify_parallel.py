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


# ---- SQLite: workers hash texts SQLite builds (json_array header) and fall back to the field-by-field walk --

ESCAPED_ACTORS = ('user:"quoted"', "user:back\\slash", "user:new\nline", "user:tab\tand\x01", "user:é ünïcode")


@pytest.fixture
def escaped(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[EventStore]:
    """Pages of 8 where events 10, 19, 26 and 33 have actors JSON escapes (fetched 4 rows at a time)."""
    monkeypatch.setattr(verify, "PAGE_EVENTS", PAGE)
    monkeypatch.setattr(verify, "PARALLEL_FROM", 1)
    monkeypatch.setattr(verify, "_FETCH", 4)
    odd = dict(zip((10, 19, 26, 33), ESCAPED_ACTORS, strict=False))
    for n in range(1, EVENTS + 1):
        store.append(f"s-{n % 5}", None, [NewEvent("Noted", {"n": n})], actor=odd.get(n, "user:t"))
    yield store


def test_escaped_header_strings_verify_and_match_the_sequential_walk(escaped: EventStore) -> None:
    parallel, roots = verify.walk_chain(escaped, workers=2, stops=STOPS)
    assert parallel == verify.VerifyResult(EVENTS, EVENTS)
    assert verify.sequential_walk(escaped, stops=STOPS) == (parallel, roots)


@pytest.mark.parametrize("position", [9, 10, 11, 19, 33], ids=lambda p: f"at-{p}")
def test_changed_actor_named_next_to_escaped_strings(escaped: EventStore, position: int) -> None:
    # An escaped actor made plain (10, 19, 33), or a plain one next to it given a quote (9, 11).
    _tamper(escaped, f"UPDATE events SET actor = CASE WHEN actor = 'user:t' THEN 'user:\"t\"' ELSE 'user:t' END"
                     f" WHERE position = {position}")
    parallel, sequential = _both(escaped)
    assert parallel == sequential
    assert parallel.broken_at == position and parallel.reason == "hash does not match the event's content"


def _fast_pages(store: EventStore) -> list[bool]:
    """For each page, whether the SQLite-built texts vouched for it (None from _sqlite_page: they did not)."""
    url = store.engine.url.render_as_string(hide_password=False)
    with store.engine.connect() as connection:
        head = connection.execute(sa.text("SELECT max(position) FROM events")).scalar()
    return [verify._sqlite_page(url, after, min(after + PAGE, head), (), False) is not None
            for after in range(0, head, PAGE)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_texts_vouch_for_sound_pages_with_escaped_strings(escaped: EventStore) -> None:
    # json_array quotes '"', '\\', newlines, controls and non-ASCII as the Python encoder: every page passes.
    assert _fast_pages(escaped) == [True] * 5
    result = verify._check_page((escaped.engine.url.render_as_string(hide_password=False), 8, 16, (9, 16), True))
    assert result == verify._walk_page(escaped.engine.url.render_as_string(hide_password=False), 8, 16, (9, 16), True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("statement", "broken_page"), [
    ("UPDATE events SET actor = 'user:x' WHERE position = 10", 1),
    ("UPDATE events SET stream_version = 2.5 WHERE position = 16", 1),  # a REAL: the CASE gives NULL
    ("UPDATE events SET schema_version = '1x' WHERE position = 17", 2),  # TEXT in an integer column
    ("UPDATE events SET payload = CAST(payload AS BLOB) WHERE position = 25", 3),  # hashed as "b'...'"
    ("UPDATE events SET prev_hash = CAST(prev_hash AS BLOB) WHERE position = 33", 4),
    ("UPDATE events SET prev_hash = prev_hash || char(0) || 'x' WHERE position = 12", 1),  # 64 characters, then more
    ("UPDATE events SET prev_hash = 'é' || substr(prev_hash, 3) WHERE position = 17", 2),  # 64 bytes, 63 characters
], ids=["content", "real-version", "text-schema-version", "blob-payload", "blob-prev-hash", "prev-hash-nul-tail",
        "prev-hash-non-ascii"])
def test_sqlite_texts_never_vouch_for_a_changed_or_retyped_event(
    escaped: EventStore, statement: str, broken_page: int
) -> None:
    _tamper(escaped, statement)
    assert _fast_pages(escaped) == [page != broken_page for page in range(5)]
    parallel, sequential = _both(escaped)
    assert parallel == sequential and not parallel.ok


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_blob_string_fails_as_the_sequential_walk_does(escaped: EventStore) -> None:
    # The field-by-field encoder refuses bytes (TypeError) in both walks; json_array refuses BLOBs too.
    _tamper(escaped, "UPDATE events SET event_id = CAST(event_id AS BLOB) WHERE position = 20")
    assert _fast_pages(escaped) == [True, True, False, True, True]
    with pytest.raises(TypeError):
        verify.sequential_walk(escaped)
    with pytest.raises(TypeError):
        verify.walk_chain(escaped, workers=2)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_json_quoting_unlike_python_sends_pages_to_the_field_walk(
    escaped: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A SQLite whose json_array quoted differently (another version) would fail the probe: no page is vouched for.
    monkeypatch.setattr(verify, "_SQLITE_JSON_EXPECTED", verify._SQLITE_JSON_EXPECTED.replace("\\n", "\\u000a"))
    assert _fast_pages(escaped) == [False] * 5
    url = escaped.engine.url.render_as_string(hide_password=False)
    assert verify._check_page((url, 8, 16, (), False)) == verify._walk_page(url, 8, 16, (), False)
