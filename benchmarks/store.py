"""Event-store throughput on SQLite (WAL, synchronous=FULL) or PostgreSQL, against the `eventsourcing` library.

    .venv/bin/python benchmarks/store.py [--single 2000] [--batches 100] [--with-library | --no-library]
    .venv/bin/python benchmarks/store.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Measures, in events per second:
- single: one-event proposition commands through Tracker.execute (load, decide, append and read-model
  update in one transaction each), cycling SuggestMatch / ConfirmMatch(context) / AmendProposition;
- batch: 100-event appends through EventStore.append (plain), or through the unit of work (history rows);
- replay: tracker.projections.rebuild.replay over the whole log (decode, fold, read models), best of rounds;
- verify: tracker.audit.verify.verify_store (hash-chain walk), best of rounds.
When benchmarks/.venv (or --library-python) has `eventsourcing`, benchmarks/eventsourcing_baseline.py runs in
it as a subprocess and its figures and our ratios join the output. With --postgres (a server URL; the database
named in it is only used to connect), both sides run on PostgreSQL, each in a fresh database created for the run
and dropped afterwards. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.audit.verify import verify_store  # noqa: E402
from tracker.domain import proposition as p  # noqa: E402
from tracker.domain.events import Event  # noqa: E402
from tracker.projections.rebuild import replay  # noqa: E402
from tracker.repository.unit_of_work import Tracker, to_new_events  # noqa: E402
from tracker.store import EventStore  # noqa: E402
from tracker.store.engine import make_engine  # noqa: E402
from tracker.store.migrate import upgrade  # noqa: E402

LIBRARY_VENV = ROOT / "benchmarks" / ".venv" / "bin" / "python"
EXPLANATION = {"terms": ["ceasefire", "sanctions"], "entities": ["Russia", "Ukraine"], "score_parts": [0.4, 0.3]}


def register(tracker: Tracker, count: int) -> list[str]:
    ids = [f"bench-{i}" for i in range(count)]
    for pid in ids:
        tracker.execute(pid, p.RegisterProposition(
            proposition_id=pid, kind="prediction", statement=f"Benchmark statement {pid}",
            actors=("Russia",), topics=("ceasefire",),
            stated_confidence={"phrase": "likely", "probability": 0.7}, resolve_by="2026-12-31",
        ), actor="system:bench")
    return ids


def single_commands(
    tracker: Tracker, ids: list[str], count: int, start: int = 0, pending: dict[str, list[str]] | None = None
) -> tuple[int, float]:
    """Each command yields exactly one event: suggest, confirm as context (status stays open), amend."""
    pending = {pid: [] for pid in ids} if pending is None else pending
    events = 0
    started = time.perf_counter()
    for n in range(start, start + count):
        pid = ids[n % len(ids)]
        step = (n // len(ids)) % 3
        if step == 0:
            match_id = f"m-{n}"
            command: p.Command = p.SuggestMatch(match_id, f"e-{n}", 0.5 + (n % 40) / 100, EXPLANATION, "supports")
            pending[pid].append(match_id)
        elif step == 1:
            command = p.ConfirmMatch(pending[pid].pop(), "context", note="bench")
        else:
            command = p.AmendProposition({"statement": f"Benchmark statement {pid} (rev {n})"}, reason="bench")
        events += len(tracker.execute(pid, command, actor="user:bench"))
    return events, time.perf_counter() - started


def batch_appends(
    store: EventStore, batches: int, size: int, projected: bool, first: int = 0
) -> tuple[int, float]:
    """Streams of `size` events each, one append (one transaction) per batch. Their kind ("batch-") has no
    aggregate, so replay decodes them and writes their history rows only. Projected batches go through the
    product's one write path (UnitOfWork.record: history rows in the same transaction); plain ones through the
    bare store."""
    tracker = Tracker(store)
    seconds = 0.0
    for b in range(first, first + batches):
        new = [
            Event("ItemRecorded", {"item_id": f"ev-{b}-{n}", "url": f"https://example.org/{b}/{n}",
                                   "title": f"Item {n} of batch {b}", "score": 0.5, "explanation": EXPLANATION})
            for n in range(size)
        ]
        stream = f"batch-{'h' if projected else 'p'}{b}"
        started = time.perf_counter()
        if projected:
            with tracker.unit_of_work(actor="system:bench") as uow:
                uow.record(stream, 0, new)
        else:
            store.append(stream, 0, to_new_events(new), actor="system:bench")
        seconds += time.perf_counter() - started
    return batches * size, seconds


def best_of(rounds: int, run: Callable[[], int]) -> tuple[int, float]:
    best = float("inf")
    count = 0
    for _ in range(rounds):
        started = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - started)
    return count, best


def run_library(python: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One round of the library baseline (a share of the work, like each of our rounds)."""
    command = [str(python), str(ROOT / "benchmarks" / "eventsourcing_baseline.py"),
               "--single", str(args.single // args.rounds), "--batches", str(max(1, args.batches // args.rounds)),
               "--batch-size", str(args.batch_size), "--rounds", "1"]
    if args.dir:
        command += ["--dir", str(args.dir)]
    if args.postgres:
        command += ["--postgres", sa.engine.make_url(args.postgres).set(drivername="postgresql")
                    .render_as_string(hide_password=False)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        return {"library_error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _best(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each library figure at its best round (the same rule as ours); other keys from the last round."""
    best: dict[str, Any] = dict(rounds[-1])
    for key in best:
        if key.endswith("_per_s"):
            values = [r[key] for r in rounds if isinstance(r.get(key), int | float)]
            if values:
                best[key] = max(values)
    return best


@contextmanager
def database(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, Any]]]:
    """A fresh, migrated database for the run (a temporary SQLite file, or a PostgreSQL database created for
    the run and dropped afterwards) and what describes it."""
    if not args.postgres:
        with tempfile.TemporaryDirectory(prefix="tracker-bench-", dir=args.dir) as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade(url)
            yield url, {"backend": "sqlite file"}
        return
    server = sa.engine.make_url(args.postgres).set(drivername="postgresql+psycopg")
    name = f"tracker_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        version = connection.exec_driver_sql("SHOW server_version").scalar()
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url, {"backend": f"postgresql {version}", "database": "fresh, dropped after the run"}
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--propositions", type=int, default=200, help="registered before timing starts")
    parser.add_argument("--single", type=int, default=2000, help="single-event commands")
    parser.add_argument("--batches", type=int, default=100, help="100-event appends (plain)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--projected-batches", type=int, default=20, help="batches through the unit of work")
    parser.add_argument("--rounds", type=int, default=3, help="rounds for every figure; the best is reported")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary database goes")
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="run both sides on this PostgreSQL server (fresh databases, dropped afterwards)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--with-library", action="store_true", help="require the library baseline")
    group.add_argument("--no-library", action="store_true", help="skip the library baseline")
    parser.add_argument("--library-python", type=Path, default=LIBRARY_VENV)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    with database(args) as (url, backend):
        engine = make_engine(url)
        store = EventStore(engine)
        tracker = Tracker(store)
        with engine.connect() as connection:
            if args.postgres:
                pragmas = {"synchronous_commit": connection.exec_driver_sql("SHOW synchronous_commit").scalar()}
            else:
                pragmas = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                           for name in ("journal_mode", "synchronous")}

        ids = register(tracker, args.propositions)
        # Commit latency (fsync) on a shared machine swings several-fold within seconds, so ours and the
        # library's single and batch runs are interleaved in rounds and each side keeps its best round.
        want_library = not args.no_library and (args.with_library or args.library_python.exists())
        if want_library and not args.library_python.exists():
            parser.error(f"--with-library: no interpreter at {args.library_python}")
        library_rounds: list[dict[str, Any]] = []
        pending: dict[str, list[str]] = {pid: [] for pid in ids}
        single_rates: list[float] = []
        batch_rates: list[float] = []
        per_single = args.single // args.rounds
        per_batches = max(1, args.batches // args.rounds)
        single_events = batch_events = 0
        for r in range(args.rounds):
            if want_library:
                library_rounds.append(run_library(args.library_python, args))
            events, seconds = single_commands(tracker, ids, per_single, r * per_single, pending)
            single_events += events
            single_rates.append(events / seconds)
            events, seconds = batch_appends(store, per_batches, args.batch_size, projected=False, first=r * per_batches)
            batch_events += events
            batch_rates.append(events / seconds)
        projected_events, projected_seconds = batch_appends(
            store, args.projected_batches, args.batch_size, projected=True
        )
        replayed, replay_seconds = best_of(args.rounds, lambda: replay(store))
        checked, verify_seconds = best_of(args.rounds, lambda: verify_store(store).checked)
        assert verify_store(store).ok
        engine.dispose()

    result: dict[str, Any] = {
        "single_events_per_s": round(max(single_rates)),
        "batch_events_per_s": round(max(batch_rates)),
        "batch_projected_events_per_s": round(projected_events / projected_seconds) if projected_events else None,
        "replay_events_per_s": round(replayed / replay_seconds),
        "verify_events_per_s": round(checked / verify_seconds),
        "settings": {
            **backend, **pragmas, "propositions": args.propositions,
            "single_commands": args.single, "single_events": single_events,
            "single_path": "Tracker.execute (load, decide, append, read models), one transaction each",
            "batches": args.batches, "batch_size": args.batch_size,
            "batch_path": "EventStore.append on the bare store", "batch_events": batch_events,
            "single_and_batch": f"best of {args.rounds} rounds, interleaved with the library's rounds",
            "batch_projected_path": "UnitOfWork.record: the write path, history rows in the same transaction",
            "replay_path": "rebuild.replay: decode, fold aggregates, rewrite read models",
            "log_events": replayed, "rounds": args.rounds, "python": sys.version.split()[0],
            "load_average_1_5_15": {"before": [round(x, 2) for x in load_before],
                                    "after": [round(x, 2) for x in os.getloadavg()]},
        },
    }
    if want_library:
        library = _best(library_rounds)
        result.update(library)
        for key in ("single", "batch", "replay"):
            theirs = library.get(f"library_{key}_events_per_s")
            if theirs:
                result[f"ratio_{key}_vs_library"] = round(result[f"{key}_events_per_s"] / theirs, 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
