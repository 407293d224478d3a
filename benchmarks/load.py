"""Load figures: many concurrent HTTP clients against `tracker serve` on 127.0.0.1, then a check of the store.

For each backend a fresh store is prepared (the seeds, `--propositions` extra propositions, `--matches`
suggested matches on them, a feed served by a local HTTP server, one editor user), then `tracker serve
--no-scheduler` runs as one process on SQLite or `--workers` processes on one PostgreSQL schema (the CLI has
no worker option, so they are separate processes on separate ports; clients are spread round-robin).
Clients (asyncio + httpx) loop over a mix: list propositions, read one, read the review queue, confirm and
reject matches (each write with its own Idempotency-Key; some repeated with the same key, some sent with the
If-Match of a fresh read, some aimed at matches already decided). A poller asks for a feed fetch every
`--feed-interval` seconds; each fetch brings new items that are matched against every proposition.

Afterwards, with the servers stopped: every acknowledged write (2xx confirm or reject) must be in the log
exactly once as MatchConfirmed / MatchRejected with its match id, no match may be decided twice, every
idempotent repeat must have returned the first answer, `verify_store` must be clean and the read models
must equal a replay. Prints one JSON object on its last line (and writes it to `--out` when given).

    .venv/bin/python benchmarks/load.py [--clients 200] [--seconds 60] [--backend sqlite|postgres|both]
        [--workers 4]        # PostgreSQL: TRACKER_TEST_PG_URL (a fresh schema, dropped afterwards)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import drop_pg_schema, make_pg_schema_url  # noqa: E402 - schema per run, as the tests do
from tests.ingest.feedserver import FeedServer, Received, Reply  # noqa: E402 - a real local HTTP server
from tracker.audit.verify import verify_store  # noqa: E402
from tracker.domain import evidence as evidence_domain  # noqa: E402
from tracker.domain import feed as feed_domain  # noqa: E402
from tracker.domain import proposition as domain  # noqa: E402
from tracker.projections import rebuild  # noqa: E402
from tracker.repository.unit_of_work import Tracker, evidence_stream, feed_stream, proposition_stream  # noqa: E402
from tracker.seeding import seed  # noqa: E402
from tracker.service.users import add_user  # noqa: E402
from tracker.store import EventStore  # noqa: E402
from tracker.store.engine import make_engine  # noqa: E402
from tracker.store.envelope import iso  # noqa: E402
from tracker.store.migrate import upgrade  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FEED_ID = "load-feed"
# Request mix (weights); a write falls back to a queue read when no match is left to decide.
MIX = {"propositions_list": 25, "proposition_one": 20, "queue": 20, "confirm": 20, "reject": 15}
REPLAY_SHARE = 0.05  # writes sent a second time with the same Idempotency-Key
IF_MATCH_SHARE = 0.10  # writes preceded by GET /propositions/{id} and sent with its ETag as If-Match
STALE_SHARE = 0.05  # writes aimed at a match already decided (a 409 is the right answer)
FROM_QUEUE_SHARE = 0.20  # writes on a match picked from the client's last queue page (contended)
CONFLICTS = (409, 412)
GROUP = 10  # clients per HTTP connection pool

SUBJECTS = ["Russian drones", "Kyiv officials", "The Kremlin", "European ministers", "NATO allies",
            "Ukrainian forces", "US envoys", "Moscow", "British defence chiefs", "Local farmers", "Tech firms"]
VERBS = ["report", "deny", "announce", "discuss", "reject", "warn about", "confirm", "plan"]
OBJECTS = ["strikes on energy infrastructure", "a ceasefire proposal", "new arms deliveries",
           "security guarantees for Ukraine", "territorial concessions", "sanctions relief",
           "a joint defence procurement fund", "peace talks in Riyadh", "a grain harvest", "heavy snowfall"]


# ---- the store ------------------------------------------------------------------------------------

@dataclass
class Prepared:
    token: str
    match_to_proposition: dict[str, str]
    propositions: list[str]  # every proposition in the store (seeded and extra)
    seconds: float


def prepare(url: str, propositions: int, matches: int, feed_url: str, rng: random.Random) -> Prepared:
    """Migrate, seed, add propositions with suggested matches, register the load feed and an editor."""
    started = time.perf_counter()
    upgrade(url)
    engine = make_engine(url)
    tracker = Tracker(EventStore(engine))
    try:
        seed(tracker, ROOT / "seeds", article_dir=ROOT.parent / "shared" / "seed")
        extra = [f"load-{n:04d}" for n in range(propositions)]
        with tracker.unit_of_work(actor="system:load-bench") as uow:
            for n, pid in enumerate(extra):
                uow.execute(proposition_stream(pid), domain.RegisterProposition(
                    proposition_id=pid, kind="claim", topics=("load",),
                    statement=f"Load fixture {n}: {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}.",
                ))
            uow.execute(feed_stream(FEED_ID), feed_domain.RegisterFeed(
                feed_id=FEED_ID, name="Load feed", url=feed_url, interval_minutes=60))
        pairs: dict[str, str] = {}
        published = datetime(2025, 4, 1, tzinfo=UTC)
        for start in range(0, matches, 250):  # one transaction per 250 matches (500 events)
            with tracker.unit_of_work(actor="system:load-bench") as uow:
                for n in range(start, min(start + 250, matches)):
                    evidence_id = f"load-ev-{n:06d}"
                    title = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} (item {n})"
                    uow.execute(evidence_stream(evidence_id), evidence_domain.IngestEvidence(
                        evidence_id=evidence_id, title=title, link=f"https://news.example.org/load/{n}",
                        summary=f"Summary of item {n}.", published_at=iso(published + timedelta(minutes=n)),
                        published_is_fetch_time=False, feed="load-prep", guid=f"urn:load:{n}", language="en",
                        content_hash=uuid.uuid5(uuid.NAMESPACE_URL, title).hex,
                    ))
                    pid = extra[n % len(extra)]
                    match_id = domain.match_id_for(pid, evidence_id)
                    uow.execute(proposition_stream(pid), domain.SuggestMatch(
                        match_id=match_id, evidence_id=evidence_id, score=round(rng.uniform(0.42, 0.99), 4),
                        explanation={"load_fixture": True},
                    ))
                    pairs[match_id] = pid
        token = add_user(engine, "load-editor", "editor")
        with engine.connect() as connection:
            every = list(connection.execute(sa.text("SELECT proposition_id FROM propositions")).scalars())
    finally:
        engine.dispose()
    return Prepared(token, pairs, every, time.perf_counter() - started)


# ---- the feed the poller fetches ------------------------------------------------------------------

class GrowingFeed:
    """Each request gets `fresh` new items plus the previous request's (duplicates the fetch must skip)."""

    def __init__(self, fresh: int, rng: random.Random) -> None:
        self.fresh = fresh
        self.rng = rng
        self.count = 0
        self.last: list[str] = []

    def __call__(self, _: Received) -> Reply:
        self.count += 1
        new = []
        for n in range(self.fresh):
            guid = f"urn:load-feed:{self.count}:{n}"
            pick = self.rng.choice
            title = f"{pick(SUBJECTS)} {pick(VERBS)} {pick(OBJECTS)} ({self.count}-{n})"
            published = (datetime.now(UTC) - timedelta(minutes=n)).strftime("%a, %d %b %Y %H:%M:%S GMT")
            new.append(f"<item><guid>{guid}</guid><title>{title}</title><description>Report {self.count}-{n} on "
                       f"{title.lower()}.</description><link>https://wire.example.org/{self.count}/{n}</link>"
                       f"<pubDate>{published}</pubDate></item>")
        body = "".join(new + self.last)
        self.last = new
        text = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Load feed</title>'
                f"<link>http://example.org/</link><description>load</description>{body}</channel></rss>")
        return Reply(body=text.encode(), headers={"Content-Type": "application/rss+xml"})


# ---- the servers ----------------------------------------------------------------------------------

@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(url: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({
        "PYTHONPATH": str(ROOT), "TRACKER_DATABASE_URL": url, "TRACKER_ALLOW_PRIVATE_FEEDS": "1",
        "TRACKER_FEEDS_FILE": str(tmp / "no-feeds.toml"), "TRACKER_SEEDS_DIR": str(ROOT / "seeds"),
        "TRACKER_ARTICLE_DIR": str(ROOT.parent / "shared" / "seed"), "TRACKER_TIMEZONE": "UTC",
        "TRACKER_OUTBOX_DIR": str(tmp / "outbox"), "TRACKER_AUDIT_KEY_FILE": str(tmp / "audit.pem"),
        "TRACKER_DIGEST_SECRET_FILE": str(tmp / "digest-secret"),
    })
    return env


def start_servers(count: int, env: dict[str, str], tmp: Path) -> list[Server]:
    servers = []
    for index in range(count):
        port = free_port()
        log = tmp / f"serve{index}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", "serve", "--port", str(port), "--no-scheduler"],
            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )
        servers.append(Server(port, process, log))
    deadline = time.monotonic() + 120
    for server in servers:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"serve exited: {server.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{server.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not answer: {server.log.read_text()[-2000:]}")
            time.sleep(0.2)
    return servers


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (Linux /proc), to show where the machine's time went."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def stop_servers(servers: list[Server]) -> None:
    for server in servers:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    for server in servers:
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


# ---- the clients ----------------------------------------------------------------------------------

@dataclass
class Results:
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    acknowledged: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # match -> kinds
    uncertain: set[str] = field(default_factory=set)  # writes with no answer (transport error)
    replay_mismatches: list[str] = field(default_factory=list)
    error_examples: list[str] = field(default_factory=list)
    feed_items_new: int = 0
    feed_matches: int = 0

    def record(self, kind: str, status: int, seconds: float, detail: str = "") -> None:
        self.samples[kind].append(seconds)
        self.statuses[kind][status] += 1
        if (status < 200 or status >= 300) and status not in CONFLICTS and len(self.error_examples) < 20:
            self.error_examples.append(f"{kind} {status} {detail[:300]}")


@dataclass
class Shared:
    pool: deque[str]
    decided: list[str]
    match_to_proposition: dict[str, str]
    propositions: list[str]
    deadline: float


async def timed(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> tuple[int, float, Any]:
    started = time.perf_counter()
    try:
        response = await client.request(method, path, **kwargs)
    except httpx.HTTPError as error:
        return 0, time.perf_counter() - started, f"{type(error).__name__}: {error}"
    return response.status_code, time.perf_counter() - started, response


def body_text(answer: Any) -> str:
    return answer.text if isinstance(answer, httpx.Response) else str(answer)


async def client_loop(client: httpx.AsyncClient, shared: Shared, results: Results, rng: random.Random) -> None:
    kinds, weights = list(MIX), list(MIX.values())
    last_page: list[dict[str, Any]] = []
    while time.monotonic() < shared.deadline:
        kind = rng.choices(kinds, weights)[0]
        if kind in ("confirm", "reject"):
            picked = pick_match(shared, last_page, rng)
            if picked is not None:
                await write(client, kind, picked, shared, results, rng)
                continue
            kind = "queue"
        if kind == "propositions_list":
            status, seconds, answer = await timed(client, "GET", "/propositions", params={"limit": 50})
        elif kind == "proposition_one":
            pid = rng.choice(shared.propositions)
            status, seconds, answer = await timed(client, "GET", f"/propositions/{pid}")
        else:
            status, seconds, answer = await timed(client, "GET", "/matches", params={"state": "suggested",
                                                                                     "limit": 20})
            if status == 200:
                last_page = answer.json()["items"]
        results.record(kind, status, seconds, body_text(answer) if status != 200 else "")


def pick_match(shared: Shared, last_page: list[dict[str, Any]], rng: random.Random) -> tuple[str, str] | None:
    roll = rng.random()
    if roll < STALE_SHARE and shared.decided:
        match_id = rng.choice(shared.decided)
        return match_id, shared.match_to_proposition[match_id]
    if roll < STALE_SHARE + FROM_QUEUE_SHARE and last_page:
        item = rng.choice(last_page)
        return item["id"], item["proposition"]["id"]
    if shared.pool:
        match_id = shared.pool.popleft()
        return match_id, shared.match_to_proposition[match_id]
    return None


async def write(client: httpx.AsyncClient, kind: str, picked: tuple[str, str], shared: Shared, results: Results,
                rng: random.Random) -> None:
    match_id, pid = picked
    shared.match_to_proposition.setdefault(match_id, pid)  # a feed-made match seen in the queue
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    if rng.random() < IF_MATCH_SHARE:
        status, seconds, answer = await timed(client, "GET", f"/propositions/{pid}")
        results.record("proposition_one", status, seconds, body_text(answer) if status != 200 else "")
        if status == 200 and answer.headers.get("etag"):
            headers["If-Match"] = answer.headers["etag"]
    body = ({"stance": rng.choice(["supports", "contradicts", "context"]), "note": "load test"} if kind == "confirm"
            else {"reason": "load test"})
    path = f"/matches/{match_id}/{kind}"
    status, seconds, answer = await timed(client, "POST", path, json=body, headers=headers)
    results.record(kind, status, seconds, body_text(answer))
    if status == 0:
        results.uncertain.add(match_id)
        return
    if not 200 <= status < 300:
        return
    results.acknowledged[match_id].append(kind)
    shared.decided.append(match_id)
    if rng.random() < REPLAY_SHARE:
        again, seconds, repeat = await timed(client, "POST", path, json=body, headers=headers)
        results.record("replay", again, seconds, body_text(repeat))
        if again != 0 and (again != status or repeat.json() != answer.json()
                           or repeat.headers.get("idempotent-replayed") != "true"):
            results.replay_mismatches.append(f"{path}: first {status}, repeat {again}")


async def feed_poller(clients: list[httpx.AsyncClient], shared: Shared, results: Results, interval: float) -> None:
    turn = 0
    await asyncio.sleep(min(1.0, interval))  # let the clients start first
    while time.monotonic() < shared.deadline:
        client = clients[turn % len(clients)]
        turn += 1
        status, seconds, answer = await timed(client, "POST", f"/feeds/{FEED_ID}/fetch",
                                              headers={"Idempotency-Key": uuid.uuid4().hex})
        results.record("feed_fetch", status, seconds, body_text(answer))
        if status == 200:
            outcome = answer.json()
            results.feed_items_new += outcome["items_new"]
            results.feed_matches += outcome["matches"]
        await asyncio.sleep(max(0.0, min(interval - seconds, shared.deadline - time.monotonic())))


async def drive(servers: list[Server], prepared: Prepared, args: argparse.Namespace, rng: random.Random
                ) -> tuple[Results, float]:
    # httpcore's pool does work proportional to its connections times its waiting requests on every request,
    # so one pool for 200 clients cost the driver ~10 ms of CPU per request: a small pool per GROUP clients.
    groups = -(-args.clients // GROUP)
    limits = httpx.Limits(max_connections=GROUP, max_keepalive_connections=GROUP)
    headers = {"Authorization": f"Bearer {prepared.token}"}
    clients = [httpx.AsyncClient(base_url=servers[n % len(servers)].base, headers=headers, limits=limits,
                                 timeout=args.timeout) for n in range(max(groups, len(servers)))]
    pool = list(prepared.match_to_proposition)
    rng.shuffle(pool)
    results = Results()
    started = time.monotonic()
    shared = Shared(deque(pool), [], dict(prepared.match_to_proposition), prepared.propositions,
                    started + args.seconds)
    try:
        # Client n uses pool n // GROUP, and the pools take the servers in turn (round-robin by group).
        tasks = [client_loop(clients[n // GROUP], shared, results, random.Random(rng.random()))
                 for n in range(args.clients)]
        await asyncio.gather(feed_poller(clients, shared, results, args.feed_interval), *tasks)
    finally:
        for client in clients:
            await client.aclose()
    return results, time.monotonic() - started


# ---- figures and verification ---------------------------------------------------------------------

def percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def latency(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"count": len(ordered), **{f"p{int(q * 100)}_ms": round(percentile(ordered, q) * 1000, 1)
                                      for q in (0.50, 0.95, 0.99)},
            "max_ms": round(ordered[-1] * 1000, 1) if ordered else None}


def figures(results: Results, elapsed: float) -> dict[str, Any]:
    total = sum(len(v) for v in results.samples.values())
    statuses = Counter[int]()
    for counter in results.statuses.values():
        statuses.update(counter)
    conflicts = sum(statuses[c] for c in CONFLICTS)
    errors = sum(n for code, n in statuses.items() if not 200 <= code < 300 and code not in CONFLICTS)
    acknowledged = sum(len(k) for k in results.acknowledged.values())
    return {
        "requests": total,
        "throughput_rps": round(total / elapsed, 1),
        "acknowledged_writes_per_s": round(acknowledged / elapsed, 1),
        "latency": {"overall": latency([x for v in results.samples.values() for x in v]),
                    **{kind: latency(v) for kind, v in sorted(results.samples.items())}},
        "status_codes": {kind: dict(sorted(c.items())) for kind, c in sorted(results.statuses.items())},
        "conflicts_409_412": conflicts,
        "errors": errors,
        "error_rate": round(errors / total, 5) if total else None,
        "error_examples": results.error_examples[:10],
        "feed": {"items_new": results.feed_items_new, "matches_suggested": results.feed_matches},
    }


def verify(url: str, results: Results) -> dict[str, Any]:
    """Compare what the clients were told with what the log holds."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT event_type, payload FROM events WHERE event_type IN ('MatchConfirmed', 'MatchRejected')"
            )).all()
        logged: dict[str, list[str]] = defaultdict(list)
        for event_type, payload in rows:
            data = payload if isinstance(payload, dict) else json.loads(payload)
            logged[data["match_id"]].append("confirm" if event_type == "MatchConfirmed" else "reject")
        acked = results.acknowledged
        missing = [m for m in acked if not logged.get(m)]
        wrong_kind = [m for m, kinds in acked.items() if logged.get(m) and sorted(logged[m]) != sorted(kinds)]
        acked_twice = [m for m, kinds in acked.items() if len(kinds) > 1]
        decided_twice = [m for m, kinds in logged.items() if len(kinds) > 1]
        unexplained = [m for m in logged if m not in acked and m not in results.uncertain]
        store = EventStore(engine)
        checked = verify_store(store)
        started = time.perf_counter()
        differences = rebuild.check(store)
        return {
            "acknowledged_writes": sum(len(k) for k in acked.values()),
            "decision_events": len(rows),
            "acknowledged_missing_from_log": len(missing),
            "acknowledged_with_other_event_type": len(wrong_kind),
            "matches_acknowledged_twice": len(acked_twice),
            "matches_decided_twice_in_log": len(decided_twice),
            "decisions_without_acknowledgement": len(unexplained),
            "writes_without_answer": len(results.uncertain),
            "idempotent_replay_mismatches": len(results.replay_mismatches),
            "verify_store_ok": checked.ok,
            "events_checked": checked.checked,
            "read_models_match_replay": not differences,
            "replay_check_seconds": round(time.perf_counter() - started, 1),
            "replay_differences": differences[:5],
            "ok": not (missing or wrong_kind or acked_twice or decided_twice or unexplained
                       or results.replay_mismatches or differences) and checked.ok,
        }
    finally:
        engine.dispose()


# ---- one backend ----------------------------------------------------------------------------------

def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix=f"load-{backend}-") as scratch:
        tmp = Path(scratch)
        schema = None
        if backend == "sqlite":
            url, workers = f"sqlite:///{tmp / 'tracker.db'}", 1
        else:
            base = os.environ.get("TRACKER_TEST_PG_URL", PG_DEFAULT)
            (url, schema), workers = make_pg_schema_url(base), args.workers
        try:
            with FeedServer() as feeds:
                feed_url = feeds.route("/load.xml", GrowingFeed(args.feed_items, random.Random(args.seed)))
                matches = args.matches or max(500, args.clients * args.seconds // 2)
                prepared = prepare(url, args.propositions, matches, feed_url, rng)
                servers = start_servers(workers, server_env(url, tmp), tmp)
                load_before = os.getloadavg()
                own_cpu = resource.getrusage(resource.RUSAGE_SELF)
                try:
                    results, elapsed = asyncio.run(drive(servers, prepared, args, rng))
                    server_cpu = sum(cpu_seconds(s.process.pid) for s in servers)
                finally:
                    load_after = os.getloadavg()
                    stop_servers(servers)
                own = resource.getrusage(resource.RUSAGE_SELF)
                feed_requests = len(feeds.received("/load.xml"))
            logs = [s.log.read_text(errors="replace") for s in servers]
            out = {
                "backend": backend, "server_processes": workers, "clients": args.clients,
                "seconds": round(elapsed, 1), "matches_prepared": matches,
                "propositions": len(prepared.propositions), "prepare_seconds": round(prepared.seconds, 1),
                **figures(results, elapsed),
                "feed_requests_served": feed_requests,
                "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
                            "loadavg_after": [round(x, 2) for x in load_after],
                            "driver_cpu_seconds": round(own.ru_utime + own.ru_stime - own_cpu.ru_utime
                                                        - own_cpu.ru_stime, 1),
                            "server_cpu_seconds": round(server_cpu, 1)},
                "server_tracebacks": sum(log.count("Traceback") for log in logs),
                "server_log_tail": [line for log in logs for line in log.splitlines()
                                    if "Error" in line or "error" in line][-5:],
                "verification": verify(url, results),
            }
        finally:
            if schema is not None:
                drop_pg_schema(base, schema)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--workers", type=int, default=4, help="PostgreSQL: serve processes")
    parser.add_argument("--propositions", type=int, default=300, help="extra propositions carrying the matches")
    parser.add_argument("--matches", type=int, default=0, help="suggested matches (default clients*seconds/2)")
    parser.add_argument("--feed-interval", type=float, default=5.0, help="seconds between feed fetches")
    parser.add_argument("--feed-items", type=int, default=10, help="new items per feed fetch")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request client timeout (s)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    report = {"command": " ".join(["benchmarks/load.py", *sys.argv[1:]]), "started_at": datetime.now(UTC).isoformat(),
              "results": [run_backend(b, args) for b in backends]}
    line = json.dumps(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(line)


if __name__ == "__main__":
    main()
