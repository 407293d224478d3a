"""Several writer processes appending at once: positions gapless and in commit order, chain unbroken.

Each command reads a stream's current version and appends with it as the expected version, so writers
racing on the same few streams really do collide; a collision raises ConcurrencyError and is retried.
A reader in the parent process polls the log during the run: if any transaction committed a higher
position before a lower one, the reader would see a gap.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import drop_pg_schema, make_pg_schema_url, pg_base_url
from tracker.audit.verify import verify_store
from tracker.store import ConcurrencyError, EventStore, NewEvent
from tracker.store.engine import make_engine
from tracker.store.hashing import GENESIS_HASH
from tracker.store.migrate import upgrade
from tracker.store.schema import events

STREAMS = 5
WORKER_TIMEOUT = 300.0


def _current_version(store: EventStore, stream_id: str) -> int:
    with store.engine.connect() as connection:
        query = sa.select(sa.func.max(events.c.stream_version)).where(events.c.stream_id == stream_id)
        return connection.execute(query).scalar() or 0


def append_commands(url: str, worker: int, commands: int, ready: Any, results: Any) -> None:
    """One writer process: `commands` read-then-append commands over the shared streams."""
    try:
        engine = make_engine(url)
        store = EventStore(engine)
        retries = 0
        _current_version(store, "counter-0")  # connect before the start line
        ready.wait(60)  # every writer and the parent: all start appending together
        for n in range(commands):
            stream_id = f"counter-{(worker + n) % STREAMS}"
            while True:
                expected = _current_version(store, stream_id)
                try:
                    store.append(
                        stream_id, expected, [NewEvent("Counted", {"worker": worker, "n": n})],
                        actor=f"user:worker{worker}", causation_id=f"w{worker}-{n}",
                    )
                    break
                except ConcurrencyError:
                    retries += 1
        engine.dispose()
        results.put(("ok", worker, retries))
    except BaseException as error:  # report, so the parent fails with the reason instead of timing out
        results.put(("error", worker, repr(error)))


def _run_writers(url: str, workers: int, commands: int) -> int:
    """Start the writers together, watch the log while they run; returns the total of retries."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(target=append_commands, args=(url, w, commands, ready, results), daemon=True)
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    engine = make_engine(url)
    watcher = EventStore(engine)
    seen = 0
    reports: list[tuple[Any, ...]] = []
    try:
        ready.wait(120)
        began = time.monotonic()
        deadline = time.monotonic() + WORKER_TIMEOUT
        while len(reports) < workers:
            assert time.monotonic() < deadline, "writers did not finish in time"
            for event in watcher.read_all(after=seen):
                assert event.position == seen + 1, f"reader saw position {event.position} right after {seen}"
                seen = event.position
            try:
                reports.append(results.get(timeout=0.05))
            except queue.Empty:
                pass
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        engine.dispose()
    errors = [r for r in reports if r[0] == "error"]
    assert not errors, errors
    retries = sum(r[2] for r in reports)
    print(f"{workers}x{commands} appends on {engine.dialect.name}: {time.monotonic() - began:.1f}s, {retries} retries")
    return retries


def _assert_log_is_whole(store: EventStore, workers: int, commands: int) -> None:
    total = workers * commands
    log = list(store.read_all())
    assert [e.position for e in log] == list(range(1, total + 1))
    applied = Counter((e.payload["worker"], e.payload["n"]) for e in log)
    assert len(applied) == total and set(applied.values()) == {1}, "a command was lost or applied twice"
    assert set(applied) == {(w, n) for w in range(workers) for n in range(commands)}
    versions: dict[str, list[int]] = defaultdict(list)
    by_worker: dict[int, list[int]] = defaultdict(list)
    previous = GENESIS_HASH
    for event in log:
        assert event.prev_hash == previous
        previous = event.hash
        versions[event.stream_id].append(event.stream_version)
        by_worker[event.payload["worker"]].append(event.payload["n"])
    for stream_id, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), f"{stream_id} versions have a gap or repeat"
    for worker, ns in by_worker.items():  # each worker is sequential, so its commands land in order
        assert ns == list(range(commands)), f"worker {worker} commands out of order"
    recorded = [e.recorded_at for e in log]
    assert recorded == sorted(recorded), "recorded_at must follow position (commit order)"
    result = verify_store(store)
    assert result.ok and result.checked == total, result


@pytest.mark.postgres
def test_eight_postgres_writers_keep_positions_gapless_and_chain_whole() -> None:
    base = pg_base_url()
    url, schema = make_pg_schema_url(base)
    try:
        upgrade(url)
        retries = _run_writers(url, workers=8, commands=200)
        assert retries > 0, "the writers never collided, so the test proved nothing about concurrency"
        engine = make_engine(url)
        try:
            _assert_log_is_whole(EventStore(engine), workers=8, commands=200)
        finally:
            engine.dispose()
    finally:
        drop_pg_schema(base, schema)


def test_sqlite_writers_in_several_processes_keep_positions_gapless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    upgrade(url)
    retries = _run_writers(url, workers=4, commands=200)
    assert retries > 0, "the writers never collided, so the test proved nothing about concurrency"
    engine = make_engine(url)
    try:
        _assert_log_is_whole(EventStore(engine), workers=4, commands=200)
    finally:
        engine.dispose()
