"""Reference figures from the `eventsourcing` library (and plain sqlite3) on the same SQLite settings.

Run it with the interpreter of a separate venv that has `eventsourcing==9.5.*`; it is never a runtime
dependency of the tracker. Prints one JSON object on its last line (events/s), like benchmarks/store.py:

    benchmarks/.venv/bin/python benchmarks/eventsourcing_baseline.py --single 2000 --batches 100
    benchmarks/.venv/bin/python benchmarks/eventsourcing_baseline.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

Settings match ours: a file database in WAL mode with synchronous=FULL (the library switches to WAL
itself; synchronous is set explicitly on each of its connections and read back into the output).
With --postgres (a server URL; its database is only used to connect) the library runs with
PERSISTENCE_MODULE=eventsourcing.postgres in a database created for the run and dropped afterwards (needs
psycopg in this venv: `pip install "eventsourcing[postgres]==9.5.*"`); the plain-sqlite3 floor is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

EXPLANATION = {"terms": ["ceasefire", "sanctions"], "entities": ["Russia", "Ukraine"], "score_parts": [0.4, 0.3]}


def _force_synchronous_full() -> None:
    """Wrap the library's connection factory so every connection runs with synchronous=FULL."""
    from eventsourcing.sqlite import SQLiteConnectionPool

    original = SQLiteConnectionPool._create_connection

    def create(self: Any) -> Any:
        connection = original(self)
        connection._sqlite_conn.execute("PRAGMA synchronous=FULL")
        return connection

    SQLiteConnectionPool._create_connection = create  # type: ignore[method-assign]


def library(
    db_path: Path | None, single: int, batches: int, batch_size: int, rounds: int,
    postgres: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if postgres is None:
        assert db_path is not None
        os.environ["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
        os.environ["SQLITE_DBNAME"] = str(db_path)
        os.environ["SQLITE_LOCK_TIMEOUT"] = "30"
        _force_synchronous_full()
    else:
        os.environ["PERSISTENCE_MODULE"] = "eventsourcing.postgres"
        os.environ["POSTGRES_DBNAME"] = postgres["dbname"]
        os.environ["POSTGRES_HOST"] = postgres.get("host") or "127.0.0.1"
        os.environ["POSTGRES_PORT"] = str(postgres.get("port") or 5432)
        os.environ["POSTGRES_USER"] = postgres.get("user") or "postgres"
        os.environ["POSTGRES_PASSWORD"] = postgres.get("password") or ""

    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event
    from eventsourcing.persistence import Notification

    class Proposition(Aggregate):
        @event("Registered")
        def __init__(self, statement: str) -> None:
            self.statement = statement
            self.matches: dict[str, str] = {}

        @event("MatchSuggested")
        def suggest(self, match_id: str, evidence_id: str, score: float, explanation: dict[str, Any]) -> None:
            self.matches[match_id] = evidence_id

    class Tracker(Application):
        pass

    app = Tracker()
    recorder = app.recorder
    with recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        if postgres is None:
            cursor.execute("PRAGMA synchronous")
            synchronous = cursor.fetchone()[0]
            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()[0]
        else:
            cursor.execute("SHOW synchronous_commit")
            row = cursor.fetchone()
            synchronous, journal = (row["synchronous_commit"] if isinstance(row, dict) else row[0]), None

    aggregates = [Proposition(f"statement {i}") for i in range(200)]
    app.save(*aggregates)

    def suggest(aggregate: Any, n: int) -> None:
        aggregate.suggest(f"m-{uuid.uuid4().hex[:12]}", f"e-{n}", 0.5, EXPLANATION)

    started = time.perf_counter()
    for n in range(single):
        aggregate = aggregates[n % len(aggregates)]
        suggest(aggregate, n)
        app.save(aggregate)
    single_seconds = time.perf_counter() - started

    batch_seconds = 0.0
    for _ in range(batches):
        aggregate = Proposition("batch")
        for n in range(batch_size - 1):
            suggest(aggregate, n)
        started = time.perf_counter()
        app.save(aggregate)
        batch_seconds += time.perf_counter() - started

    best_replay = float("inf")
    total = 0
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        start = 1
        while True:
            page: list[Notification] = list(recorder.select_notifications(start, 5000))
            if not page:
                break
            for notification in page:
                app.mapper.to_domain_event(notification)
            total += len(page)
            start = page[-1].id + 1
        best_replay = min(best_replay, time.perf_counter() - started)

    return {
        "library_version": _version(),
        "library_synchronous": synchronous,
        "library_journal_mode": journal,
        "library_single_events_per_s": round(single / single_seconds),
        "library_batch_events_per_s": round(batches * batch_size / batch_seconds),
        "library_replay_events_per_s": round(total / best_replay),
        "library_replay_events": total,
    }


def _version() -> str:
    from importlib.metadata import version

    return version("eventsourcing")


def plain_sqlite(db_path: Path, single: int, batches: int, batch_size: int, rounds: int) -> dict[str, Any]:
    """The floor: a bare sqlite3 table with the same pragmas, one commit per event or per batch."""
    connection = sqlite3.connect(db_path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(
        "CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, version INTEGER NOT NULL,"
        " topic TEXT NOT NULL, state BLOB NOT NULL, UNIQUE (stream_id, version))"
    )
    insert = "INSERT INTO events (stream_id, version, topic, state) VALUES (?, ?, ?, ?)"

    def state(n: int) -> bytes:
        return json.dumps({"match_id": f"m-{n}", "evidence_id": f"e-{n}", "score": 0.5,
                           "explanation": EXPLANATION}).encode()

    started = time.perf_counter()
    for n in range(single):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(insert, (f"s-{n % 200}", n, "MatchSuggested", state(n)))
        connection.execute("COMMIT")
    single_seconds = time.perf_counter() - started

    started = time.perf_counter()
    for b in range(batches):
        rows = [(f"b-{b}", n, "MatchSuggested", state(n)) for n in range(batch_size)]
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(insert, rows)
        connection.execute("COMMIT")
    batch_seconds = time.perf_counter() - started

    best = float("inf")
    total = 0
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for row in connection.execute("SELECT position, stream_id, version, topic, state FROM events"):
            json.loads(row[4])
            total += 1
        best = min(best, time.perf_counter() - started)
    connection.close()
    return {
        "sqlite3_single_events_per_s": round(single / single_seconds),
        "sqlite3_batch_events_per_s": round(batches * batch_size / batch_seconds),
        "sqlite3_replay_events_per_s": round(total / best),
    }


def on_postgres(args: argparse.Namespace) -> dict[str, Any]:
    """The library in a fresh PostgreSQL database, dropped afterwards."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    server = conninfo_to_dict(args.postgres)
    name = f"es_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        result = library(None, args.single, args.batches, args.batch_size, args.rounds, {**server, "dbname": name})
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["library_backend"] = "postgresql"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=2000, help="single-event saves")
    parser.add_argument("--batches", type=int, default=100, help="number of batch saves")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="replays; the best is reported")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary databases go")
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="a PostgreSQL server (postgresql://user@host:port/db): run the library there")
    args = parser.parse_args(argv)
    if args.postgres:
        result = on_postgres(args)
    else:
        with tempfile.TemporaryDirectory(prefix="es-baseline-", dir=args.dir) as tmp:
            result = library(Path(tmp) / "library.db", args.single, args.batches, args.batch_size, args.rounds)
            result.update(plain_sqlite(Path(tmp) / "plain.db", args.single, args.batches, args.batch_size,
                                       args.rounds))
    result["python"] = sys.version.split()[0]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
