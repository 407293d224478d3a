"""HTTP API latency and throughput on SQLite, against `tracker serve` run as a user runs it.

    .venv/bin/python benchmarks/api.py [--propositions 10000] [--events 1000000] [--clients 32]
                                       [--seconds 10] [--db PATH]

Generation (skipped when --db names an existing file): evidence items, then propositions with their review
history (register, many match suggestions, a tenth of them confirmed), all through Tracker.unit_of_work and
UnitOfWork.execute, ~1,000 commands per unit (one transaction), so events and read models agree exactly as
they would in production. Half the propositions only ever get `context` confirmations (they stay open),
the rest become supported or contested; kinds rotate over claim / prediction / prescription.

Then `python -m tracker.cli serve --no-scheduler` runs as a subprocess on a free port, an editor is created
with `tracker users add`, and asyncio + httpx clients (--clients of them, each with one request in flight)
hit each endpoint in turn for --seconds (after --warmup seconds not counted):
- list: GET /propositions?status=open&kind=prediction&limit=50, following next_cursor up to --pages pages;
- detail: GET /propositions/{random id};
- queue: GET /matches?state=suggested&limit=50;
- confirm: POST /matches/{id}/confirm {stance, note} with an Idempotency-Key, each on a different suggested
  match (so none should be refused);
- page: GET /record/propositions/{random id}, the public HTML page of a proposition (no token needed);
- index: GET /record/?status=open&kind=prediction, the public HTML list, following its "Next page" link up to
  --pages pages.
Every non-2xx answer counts as an error. Closed-loop clients: with N clients in flight, latency is N over
throughput (Little's law), so `--clients 1,32` also shows the latency of one request with no queue.
Goal (issue 4): p95 under 20 ms for the reads and 50 ms for confirm; the reader pages: 20 ms too.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from tracker.domain import evidence as ev  # noqa: E402
from tracker.domain import proposition as p  # noqa: E402
from tracker.repository.unit_of_work import Tracker, evidence_stream, proposition_stream  # noqa: E402
from tracker.store import EventStore  # noqa: E402
from tracker.store.engine import make_engine  # noqa: E402
from tracker.store.migrate import upgrade  # noqa: E402

GOALS_MS = {"list": 20.0, "detail": 20.0, "queue": 20.0, "confirm": 50.0, "page": 20.0, "index": 20.0}
NEXT_PAGE = re.compile(r'<a rel="next" href="([^"]+)"')
COMMANDS_PER_UNIT = 1000
ACTORS = ("Russia", "Ukraine", "United States", "China", "European Union", "NATO")
TOPICS = ("ceasefire", "sanctions", "energy", "elections", "trade", "security")
FEEDS = ("reuters-world", "ap-top", "bbc-world", "kyiv-independent")


# ---- generation -----------------------------------------------------------------------------------------

def _shape(propositions: int, events: int) -> tuple[int, int, int]:
    """(evidence items, suggestions per proposition, confirmations per proposition) reaching `events`."""
    evidence_items = max(1000, events // 50)
    per_proposition = -(-(events - evidence_items) // propositions)  # ceiling
    # register + s suggestions + s//10 confirmations >= per_proposition (StatusChanged events come on top)
    suggestions = 1
    while 1 + suggestions + suggestions // 10 < per_proposition and suggestions < evidence_items:
        suggestions += 1
    return evidence_items, suggestions, suggestions // 10


def _evidence_command(n: int) -> ev.IngestEvidence:
    evidence_id = f"ev-{n:07d}"
    return ev.IngestEvidence(
        evidence_id=evidence_id, title=f"Report {n}: talks on {TOPICS[n % len(TOPICS)]} between "
        f"{ACTORS[n % len(ACTORS)]} and {ACTORS[(n + 1) % len(ACTORS)]}",
        link=f"https://news.example.org/{n}", summary=f"Summary of report {n}.",
        published_at=f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T08:00:00Z", published_is_fetch_time=False,
        feed=FEEDS[n % len(FEEDS)], guid=f"https://news.example.org/{n}", language="en",
        content_hash=f"{n:064x}",
    )


def _proposition_commands(i: int, evidence_items: int, suggestions: int, confirms: int,
                          rng: random.Random) -> list[p.Command]:
    pid = f"p-{i:06d}"
    commands: list[p.Command] = [p.RegisterProposition(
        proposition_id=pid, kind=p.KINDS[i % 3], statement=f"Statement {i} about {TOPICS[i % len(TOPICS)]}",
        actors=(ACTORS[i % len(ACTORS)],), topics=(TOPICS[i % len(TOPICS)],),
        stated_confidence={"phrase": "likely", "probability": 0.7}, resolve_by=f"{2026 + i % 3}-12-31",
    )]
    start = rng.randrange(evidence_items)
    match_ids = []
    for k in range(suggestions):
        evidence_id = f"ev-{(start + k) % evidence_items:07d}"
        match_id = p.match_id_for(pid, evidence_id)
        match_ids.append(match_id)
        explanation = {"terms": [TOPICS[(i + k) % len(TOPICS)]], "entities": [ACTORS[i % len(ACTORS)]],
                       "score_parts": [0.3, 0.2]}
        commands.append(p.SuggestMatch(match_id, evidence_id, round(rng.uniform(0.42, 1.0), 4), explanation,
                                       "supports"))
    for k, match_id in enumerate(rng.sample(match_ids, confirms)):
        # even: context only (stays open); i % 4 == 1: supported; i % 4 == 3: contested
        stance = "context" if i % 2 == 0 else ("supports" if i % 4 == 1 or k % 2 == 0 else "contradicts")
        commands.append(p.ConfirmMatch(match_id, stance, "generated review"))
    return commands


def generate(url: str, propositions: int, events: int) -> dict[str, Any]:
    upgrade(url)
    store = EventStore(make_engine(url))
    tracker = Tracker(store, cache_size=16)  # each stream is written in one unit: no cache needed
    evidence_items, suggestions, confirms = _shape(propositions, events)
    rng = random.Random(4)
    started = time.perf_counter()
    for first in range(0, evidence_items, COMMANDS_PER_UNIT):
        with tracker.unit_of_work(actor="system:ingest") as uow:
            for n in range(first, min(first + COMMANDS_PER_UNIT, evidence_items)):
                uow.execute(evidence_stream(f"ev-{n:07d}"), _evidence_command(n), expected_version=0)
    evidence_seconds = time.perf_counter() - started
    batch: list[tuple[str, list[p.Command]]] = []
    size = reported = 0
    for i in range(propositions):
        commands = _proposition_commands(i, evidence_items, suggestions, confirms, rng)
        batch.append((proposition_stream(f"p-{i:06d}"), commands))
        size += len(commands)
        if size >= COMMANDS_PER_UNIT or i == propositions - 1:
            with tracker.unit_of_work(actor="user:generator") as uow:
                for stream, stream_commands in batch:
                    for command in stream_commands:
                        # read-model rows written once per stream when the unit ends (same rows)
                        uow.execute(stream, command, defer_read_models=True)
            batch, size = [], 0
            if (i + 1) // 1000 > reported or i == propositions - 1:
                reported = (i + 1) // 1000
                print(f"  {i + 1} propositions, {store.head()} events, "
                      f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    seconds = time.perf_counter() - started
    total = store.head()
    store.engine.dispose()
    return {"events": total, "seconds": round(seconds, 1), "events_per_s": round(total / seconds),
            "evidence_seconds": round(evidence_seconds, 1), "evidence_items": evidence_items,
            "suggestions_per_proposition": suggestions, "confirmations_per_proposition": confirms,
            "commands_per_unit": COMMANDS_PER_UNIT}


COPY_TABLES = ("events", "sources", "propositions", "matches", "history", "snapshots", "feeds", "evidence",
               "feed_fetch_state", "subscribers")


def copy_to_postgres(db: Path, pg_url: str, schema: str) -> dict[str, Any]:
    """The SQLite store `db` copied row for row (events with their hashes, read models) into PostgreSQL schema
    `schema` (created and migrated here; left as it is when it already holds events), so both backends serve the
    same store without generating it twice. Returns the URL of the schema and what was copied."""
    import psycopg

    base = make_engine(pg_url)
    with base.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    base.dispose()
    separator = "&" if "?" in pg_url else "?"
    url = f"{pg_url}{separator}options={quote(f'-csearch_path={schema}')}"
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        if connection.execute(sa.text("SELECT count(*) FROM events")).scalar():
            engine.dispose()
            return {"url": url, "reused": schema}
    engine.dispose()
    started = time.perf_counter()
    copied = {}
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with sqlite3.connect(db) as source, psycopg.connect(dsn, options=f"-csearch_path={schema}") as target:
        for table in COPY_TABLES:
            columns = [r[1] for r in source.execute(f'PRAGMA table_info("{table}")')]
            booleans = {r[0] for r in target.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "AND data_type = 'boolean'", (schema, table))}
            flags = [c in booleans for c in columns]
            names = ", ".join(f'"{c}"' for c in columns)
            count = 0
            with target.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in source.execute(f'SELECT {names} FROM "{table}"'):
                    copy.write_row([bool(v) if f and v is not None else v for v, f in zip(row, flags, strict=True)])
                    count += 1
            copied[table] = count
            print(f"  copied {table}: {count} rows, {time.perf_counter() - started:.0f} s", file=sys.stderr)
        target.execute("ANALYZE")
    return {"url": url, "schema": schema, "copied": copied, "seconds": round(time.perf_counter() - started, 1)}


def describe(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as connection:
        one = lambda sql: connection.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "events": one("SELECT max(position) FROM events"),
            "propositions": one("SELECT count(*) FROM propositions"),
            "open_predictions": one("SELECT count(*) FROM propositions WHERE status='open' AND kind='prediction'"),
            "matches": one("SELECT count(*) FROM matches"),
            "suggested_matches": one("SELECT count(*) FROM matches WHERE state='suggested'"),
            "db_mb": round(db.stat().st_size / 2**20),
        }


# ---- the server -----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tracker.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "serve", "--port", str(port), "--no-scheduler"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("serve did not answer within 60 s")
        time.sleep(0.2)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ---- the clients ----------------------------------------------------------------------------------------

Step = Callable[[httpx.AsyncClient], Awaitable[list[tuple[float, int]]]]


async def timed(call: Awaitable[httpx.Response]) -> tuple[float, int, httpx.Response]:
    started = time.perf_counter()
    response = await call
    return (time.perf_counter() - started) * 1000, response.status_code, response


def list_step(pages: int) -> Step:
    async def step(client: httpx.AsyncClient) -> list[tuple[float, int]]:
        out = []
        params: dict[str, Any] = {"status": "open", "kind": "prediction", "limit": 50}
        for _ in range(pages):
            ms, status, response = await timed(client.get("/propositions", params=params))
            out.append((ms, status))
            cursor = response.json().get("next_cursor") if status == 200 else None
            if not cursor:
                break
            params = {**params, "cursor": cursor}
        return out
    return step


def detail_step(ids: list[str]) -> Step:
    async def step(client: httpx.AsyncClient) -> list[tuple[float, int]]:
        ms, status, _ = await timed(client.get(f"/propositions/{random.choice(ids)}"))
        return [(ms, status)]
    return step


def page_step(ids: list[str]) -> Step:
    async def step(client: httpx.AsyncClient) -> list[tuple[float, int]]:
        ms, status, _ = await timed(client.get(f"/record/propositions/{random.choice(ids)}"))
        return [(ms, status)]
    return step


def index_step(pages: int) -> Step:
    async def step(client: httpx.AsyncClient) -> list[tuple[float, int]]:
        out = []
        url = "/record/?status=open&kind=prediction"
        for _ in range(pages):
            ms, status, response = await timed(client.get(url))
            out.append((ms, status))
            found = NEXT_PAGE.search(response.text) if status == 200 else None
            if not found:
                break
            url = found.group(1).replace("&amp;", "&")
        return out
    return step


async def queue_step(client: httpx.AsyncClient) -> list[tuple[float, int]]:
    ms, status, _ = await timed(client.get("/matches", params={"state": "suggested", "limit": 50}))
    return [(ms, status)]


def confirm_step(match_ids: list[str]) -> Step:
    async def step(client: httpx.AsyncClient) -> list[tuple[float, int]]:
        match_id = match_ids.pop()  # each confirm takes a match no one else has
        body = {"stance": random.choice(p.STANCES), "note": "benchmark review"}
        ms, status, _ = await timed(client.post(f"/matches/{match_id}/confirm", json=body,
                                                headers={"Idempotency-Key": uuid.uuid4().hex}))
        return [(ms, status)]
    return step


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def run_endpoint(base: str, token: str, step: Step, clients: int, seconds: float,
                       warmup: float) -> dict[str, Any]:
    # One single-connection client each: httpcore's pool costs CPU per request in proportion to its
    # connections times its waiters, which one shared 32-connection pool would add to every latency.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    pool = [httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                              timeout=120) for _ in range(clients)]
    samples: list[tuple[float, int]] = []
    measuring = False
    stop_at = time.perf_counter() + warmup

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < stop_at:
            got = await step(client)
            if measuring:
                samples.extend(got)

    try:
        await asyncio.gather(*(worker(c) for c in pool))
        measuring = True
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(worker(c) for c in pool))
        elapsed = time.perf_counter() - started
    finally:
        for client in pool:
            await client.aclose()
    ordered = sorted(ms for ms, _ in samples)
    errors = sum(1 for _, status in samples if not 200 <= status < 300)
    return {
        "clients": clients, "requests": len(samples), "seconds": round(elapsed, 2),
        "throughput_per_s": round(len(samples) / elapsed, 1),
        "p50_ms": round(percentile(ordered, 0.50), 2), "p95_ms": round(percentile(ordered, 0.95), 2),
        "p99_ms": round(percentile(ordered, 0.99), 2), "max_ms": round(ordered[-1], 2),
        "errors": errors, "error_statuses": sorted({s for _, s in samples if not 200 <= s < 300}),
        "load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def suggested_ids(db: Path, count: int) -> list[str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT match_id FROM matches WHERE state='suggested' ORDER BY random() LIMIT ?",
                                  (count,)).fetchall()
    return [r[0] for r in rows]


def proposition_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return [r[0] for r in connection.execute("SELECT proposition_id FROM propositions")]


# ---- main -----------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--propositions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", default="1,32", help="concurrent clients; a comma list runs each level")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per endpoint and level")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each run")
    parser.add_argument("--pages", type=int, default=5, help="pages of GET /propositions each client follows")
    parser.add_argument("--endpoints", default="list,detail,queue,page,index,confirm")
    parser.add_argument("--db", type=Path, help="SQLite file (generated when missing, reused otherwise)")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",")]
    endpoints = args.endpoints.split(",")

    workdir = Path(tempfile.mkdtemp(prefix="api-bench-"))
    db = (args.db or workdir / "api.db").resolve()
    url = f"sqlite:///{db}"
    generation: dict[str, Any] = {"reused": str(db)}
    if not db.exists():
        print(f"generating {args.propositions} propositions, >= {args.events} events into {db}", file=sys.stderr)
        generation = generate(url, args.propositions, args.events)
        print(f"generated: {generation}", file=sys.stderr)
    store = describe(db)
    print(f"store: {store}", file=sys.stderr)

    env = {**os.environ, "TRACKER_DATABASE_URL": url}
    port = free_port()
    server = start_server(env, port, workdir / "serve.log")
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        token = cli(env, "users", "add", f"bench-{uuid.uuid4().hex[:8]}", "--role", "editor").strip().splitlines()[0]
        ids = proposition_ids(db)
        base = f"http://127.0.0.1:{port}"
        for name in endpoints:
            for clients in levels:
                if name == "confirm":
                    # enough distinct suggestions for any plausible rate (warm-up included)
                    pool = suggested_ids(db, int(2000 * (args.seconds + args.warmup)))
                    step: Step = confirm_step(pool)
                else:
                    step = {"list": list_step(args.pages), "detail": detail_step(ids), "queue": queue_step,
                            "page": page_step(ids), "index": index_step(args.pages)}[name]
                figures = asyncio.run(run_endpoint(base, token, step, clients, args.seconds, args.warmup))
                results.setdefault(name, []).append(figures)
                print(f"{name} x{clients}: {figures}", file=sys.stderr)
    finally:
        stop_server(server)
    # Exceptions the server logged, counted by their last line: the errors above say how many, this says why.
    failures: dict[str, int] = {}
    for line in (workdir / "serve.log").read_text().splitlines():
        if re.match(r"[A-Za-z_][\w.]*(Error|Exception)\b", line):
            failures[line[:300]] = failures.get(line[:300], 0) + 1
    if args.db:
        shutil.rmtree(workdir)  # only the server log: the store stays where --db put it
    else:
        print(f"store kept for reuse: --db {db}", file=sys.stderr)

    goals = {
        name: {"p95_goal_ms": GOALS_MS[name],
               **{f"clients_{r['clients']}": r["p95_ms"] < GOALS_MS[name] for r in runs}}
        for name, runs in results.items()
    }
    print(json.dumps({
        "endpoints": results, "goals": goals,
        "generation": {**generation, "propositions": args.propositions, "events_asked": args.events},
        "server_exceptions": failures, "store": store,
        "settings": {"seconds": args.seconds, "warmup": args.warmup, "pages": args.pages, "clients": levels},
        "machine": {"cpus": os.cpu_count(), "load_avg_end": [round(x, 2) for x in os.getloadavg()]},
        "python": sys.version.split()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
