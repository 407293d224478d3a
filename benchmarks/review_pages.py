"""Server time of the editors' review pages (/review) on the benchmarks/api.py store (issue 14: < 50 ms p95).

    .venv/bin/python benchmarks/review_pages.py [--db PATH] [--requests 200] [--socket-requests 50]
                                                [--routes queue,confirm,...] [--profile ROUTE] [--in-place]

The store: --db names the SQLite file of benchmarks/api.py (10,000 propositions, ~1M events, ~800,000 suggested
matches); when it is missing it is generated there with api.generate (about 4 minutes) and kept for the next run.
The default is a file in the temporary directory, so a second run reuses the first one's store. The actions change
the store, so each run works on a copy of it (made after a WAL checkpoint; --in-place skips the copy) and
migrates the copy to head first, so a new index migration is measured without regenerating.

In process (the figures that count): `tracker.api.app.create_app` over the copy, driven by httpx through
ASGITransport. `server_ms` is the time around the ASGI app, from the call until the last body message is sent:
the app's own middleware included, no timing middleware added, the client's work excluded. The sequence, one
request at a time, per route (--requests of each after a few unmeasured warm-up requests, fewer when a route
has taken --route-seconds: `cut_by_budget` in its figures):
- queue: GET /review (best first, 50 a page);
- queue_proposition / queue_feed / queue_min_score / queue_date: the same with one filter (a random
  proposition; a random one of the four feeds; min_score 0.5, 0.8, 0.95 or 0.99; a random calendar month);
- queue_filters: feed, min_score 0.8 and a month together, a combination that selects about a twelfth of the
  suggestions (in the generated store a month's items all come from one feed);
- queue_filters_none: the same with another feed, which selects nothing: the worst case, every suggestion
  above the score walked to find none;
- queue_page2: the next page, when the queue page has a rel="next" link (reported absent otherwise);
- proposition: GET /review/propositions/{id}, when the app has that page (reported absent on a 404);
- confirm / reject / move: POST /review/matches/{id}/confirm|reject|move, each on the next suggestion of the
  default queue (best first, as an editor works down it) with the version the page would show, the
  session's csrf_token, and for move a random other proposition;
- bulk_reject: POST /review/reject with 20 `selected` suggestions (the next 20 of the queue).
A POST answers 303 back to the queue; any other status is counted in `errors` with its status.

Over a socket (--socket-requests per route, 0 to skip): `python -m tracker.cli serve --no-scheduler` on the
same copy, wall time per request measured by the client (one keep-alive connection, one request in flight).

--profile ROUTE: cProfile over that route's requests in process (sync routes run inline instead of in the
thread pool, so the profile sees them), the top functions by cumulative time on stderr.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import anyio.to_thread  # noqa: E402
import httpx  # noqa: E402

from benchmarks import api as api_bench  # noqa: E402
from tracker.api.app import create_app  # noqa: E402
from tracker.config import Settings  # noqa: E402
from tracker.service.users import add_user  # noqa: E402
from tracker.store import EventStore  # noqa: E402
from tracker.store.engine import make_engine  # noqa: E402
from tracker.store.migrate import upgrade  # noqa: E402

GOAL_MS = 50.0
WARMUP = 5
BULK = 20
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NEXT = re.compile(r'<a[^>]*rel="next"[^>]*href="([^"]+)"|<a[^>]*href="([^"]+)"[^>]*rel="next"')
GET_ROUTES = ("queue", "queue_proposition", "queue_feed", "queue_min_score", "queue_date", "queue_filters",
              "queue_filters_none", "queue_page2", "proposition")
POST_ROUTES = ("confirm", "reject", "move", "bulk_reject")


# ---- the store --------------------------------------------------------------------------------------------------

def prepare(db: Path, propositions: int, events: int, in_place: bool, workdir: Path) -> tuple[Path, dict[str, Any]]:
    info: dict[str, Any] = {"source": str(db)}
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {propositions} propositions, >= {events} events into {db}", file=sys.stderr)
        info["generation"] = api_bench.generate(f"sqlite:///{db}", propositions, events)
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    work = db
    if not in_place:
        work = workdir / "review.db"
        started = time.perf_counter()
        shutil.copyfile(db, work)
        info["copy_seconds"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    upgrade(f"sqlite:///{work}")
    info["upgrade_seconds"] = round(time.perf_counter() - started, 1)
    info.update(api_bench.describe(work))
    return work, info


class Store:
    """Read-only look-ups for building requests (never timed)."""

    def __init__(self, db: Path) -> None:
        self.connection = sqlite3.connect(db)
        self.propositions = [r[0] for r in self.connection.execute("SELECT proposition_id FROM propositions")]
        self.feeds = [r[0] for r in self.connection.execute("SELECT DISTINCT feed FROM evidence") if r[0]]

    def next_suggestions(self, count: int, skip: set[str]) -> list[str]:
        """The first `count` suggestions of the default queue (best first) not already taken."""
        rows = self.connection.execute(
            "SELECT match_id FROM matches WHERE state = 'suggested' ORDER BY score DESC, match_id LIMIT ?",
            (count + len(skip),)).fetchall()
        return [r[0] for r in rows if r[0] not in skip][:count]

    def version_of(self, match_id: str) -> tuple[str, int]:
        row = self.connection.execute(
            "SELECT p.proposition_id, p.version FROM matches m JOIN propositions p USING (proposition_id) "
            "WHERE m.match_id = ?", (match_id,)).fetchone()
        return row[0], row[1]


# ---- requests ---------------------------------------------------------------------------------------------------

class Timed:
    """The ASGI app with the time of each HTTP call around it: from the call to the last body message."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        ended: list[float] = []

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                ended.append(time.perf_counter())
            await send(message)

        await self.app(scope, receive, timed_send)
        self.last_ms = ((ended[0] if ended else time.perf_counter()) - started) * 1000


Request = tuple[str, str, dict[str, Any] | None]  # method, url, form


class Plan:
    """Builds each route's next request from the store (untimed)."""

    def __init__(self, store: Store, rng: random.Random) -> None:
        self.store = store
        self.rng = rng
        self.taken: set[str] = set()
        self.csrf = ""
        self.page2: str | None = None
        # Seconds an editor spends on the queue page before each action (None: POSTs without loading it first).
        self.think: float | None = None

    def _month(self) -> dict[str, str]:
        month = self.rng.randrange(1, 12)
        return {"published_after": f"2026-{month:02d}-01", "published_before": f"2026-{month + 1:02d}-01"}

    def _take(self, count: int) -> list[str]:
        found = self.store.next_suggestions(count, self.taken)
        self.taken.update(found)
        return found

    def request(self, route: str) -> Request:
        rng = self.rng
        if route == "queue":
            return "GET", "/review", None
        if route == "queue_proposition":
            proposition = rng.choice(self.store.propositions)
            return "GET", "/review?" + str(httpx.QueryParams({"proposition": proposition})), None
        if route == "queue_feed":
            return "GET", "/review?" + str(httpx.QueryParams({"feed": rng.choice(self.store.feeds)})), None
        if route == "queue_min_score":
            score = rng.choice(("0.5", "0.8", "0.95", "0.99"))
            return "GET", "/review?" + str(httpx.QueryParams({"min_score": score})), None
        if route == "queue_date":
            return "GET", "/review?" + str(httpx.QueryParams(self._month())), None
        if route in ("queue_filters", "queue_filters_none"):
            # In the generated store an item's feed is FEEDS[n % 4] and its month 1 + n % 12: a month has items of
            # one feed only, so the month's own feed selects a twelfth, any other feed nothing at all.
            month = self._month()
            m = int(month["published_after"][5:7])
            feed = api_bench.FEEDS[(m - 1) % 4] if route == "queue_filters" else api_bench.FEEDS[m % 4]
            params = {"feed": feed, "min_score": "0.8", **month}
            return "GET", "/review?" + str(httpx.QueryParams(params)), None
        if route == "queue_page2":
            assert self.page2 is not None
            return "GET", self.page2, None
        if route == "proposition":
            return "GET", f"/review/propositions/{rng.choice(self.store.propositions)}", None
        if route in ("confirm", "reject", "move"):
            (match_id,) = self._take(1)
            proposition_id, version = self.store.version_of(match_id)
            form: dict[str, Any] = {"csrf_token": self.csrf, "version": str(version)}
            if route == "confirm":
                form.update(stance=rng.choice(("supports", "contradicts", "context")), note="benchmark review")
            elif route == "reject":
                form.update(reason="benchmark: not about this")
            else:
                target = rng.choice(self.store.propositions)
                while target == proposition_id:
                    target = rng.choice(self.store.propositions)
                form.update(target=target, stance="supports")
            return "POST", f"/review/matches/{match_id}/{route}", form
        if route == "bulk_reject":
            selected = []
            for match_id in self._take(BULK):
                selected.append(f"{match_id}@{self.store.version_of(match_id)[1]}")
            return "POST", "/review/reject", {"csrf_token": self.csrf, "reason": "benchmark bulk", "selected": selected}
        raise ValueError(route)


def ok(method: str, response: httpx.Response) -> bool:
    if method == "GET":
        return response.status_code == 200
    return response.status_code == 303 and "done=" in response.headers.get("location", "")


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "max_ms": round(ordered[-1], 2)}


async def sign_in(client: httpx.AsyncClient, token: str) -> str:
    form = await client.get("/review/signin")
    nonce = CSRF.search(form.text)
    assert nonce, form.text[:500]
    done = await client.post("/review/signin", data={"csrf_token": nonce.group(1), "token": token, "next": "/review"})
    assert done.status_code == 303, (done.status_code, done.text[:500])
    page = await client.get("/review")
    found = CSRF.search(page.text)
    assert page.status_code == 200 and found, (page.status_code, page.text[:500])
    return found.group(1)


async def probe(client: httpx.AsyncClient, plan: Plan) -> dict[str, str]:
    """Which optional routes exist: the next-page link and the proposition page."""
    absent = {}
    page = await client.get("/review")
    found = NEXT.search(page.text)
    if found:
        plan.page2 = (found.group(1) or found.group(2)).replace("&amp;", "&")
    else:
        absent["queue_page2"] = "no rel=\"next\" link on /review"
    method, url, _ = plan.request("proposition")
    answer = await client.get(url)
    if answer.status_code == 404:
        absent["proposition"] = f"GET {url} answered 404"
    return absent


async def run_route(client: httpx.AsyncClient, plan: Plan, route: str, count: int,
                    timer: Timed | None, budget: float) -> dict[str, Any]:
    """`count` measured requests after WARMUP unmeasured ones, fewer if the route takes over `budget` seconds."""
    server: list[float] = []
    wall: list[float] = []
    errors: dict[str, int] = {}
    load_before = os.getloadavg()[0]
    stop_at = time.perf_counter() + budget
    for i in range(WARMUP + count):
        if i > WARMUP and time.perf_counter() > stop_at:
            break
        method, url, form = plan.request(route)
        if method == "POST" and plan.think is not None:
            # The page the editor acts from, as a browser loads it after each action (untimed), then reading time:
            # the app warms the states its suggestions' actions need meanwhile (tracker/repository/warming.py).
            await client.get("/review")
            await asyncio.sleep(plan.think)
        started = time.perf_counter()
        response = await (client.get(url) if method == "GET" else client.post(url, data=form))
        elapsed = (time.perf_counter() - started) * 1000
        if not ok(method, response):
            key = f"{response.status_code} {response.headers.get('location', '')}".strip()
            errors[key] = errors.get(key, 0) + 1
        if i >= WARMUP:
            wall.append(elapsed)
            if timer is not None:
                server.append(timer.last_ms)
    out: dict[str, Any] = {"requests": len(wall), "cut_by_budget": len(wall) < count}
    if timer is not None:
        out["server"] = summary(server)
    out["wall"] = summary(wall)
    out["errors"] = errors
    out["load_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return out


def line(route: str, figures: dict[str, Any]) -> str:
    parts = [f"{route:18s}"]
    for kind in ("server", "wall"):
        if kind in figures:
            f = figures[kind]
            parts.append(f"{kind} p50 {f['p50_ms']:7.2f}  p95 {f['p95_ms']:7.2f}  max {f['max_ms']:7.2f} ms")
    if figures["errors"]:
        parts.append(f"errors {figures['errors']}")
    return "   ".join(parts)


# ---- in process -------------------------------------------------------------------------------------------------

def settings_for(url: str, workdir: Path) -> Settings:
    return Settings(database_url=url, audit_key_file=str(workdir / "audit.pem"), feeds_file=str(workdir / "none.toml"),
                    digest_secret_file=str(workdir / "secret"), seeds_dir=str(workdir / "no-seeds"),
                    outbox_dir=str(workdir / "outbox"))


async def in_process(db: Path, workdir: Path, routes: list[str], count: int, budget: float, profile: str | None,
                     seed: int, without_lifespan: bool = False,
                     think: float | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    token = add_user(engine, f"bench-{os.getpid()}", "editor")
    app = create_app(EventStore(engine), settings_for(url, workdir))
    timer = Timed(app)
    store = Store(db)
    plan = Plan(store, random.Random(seed))
    plan.think = think
    results: dict[str, Any] = {}
    # The app's lifespan runs as under `tracker serve` (ASGITransport alone would skip it): it sets the garbage
    # collector's serving thresholds (tracker/api/collector.py); --without-lifespan measures the defaults.
    lifespan = contextlib.nullcontext() if without_lifespan else app.router.lifespan_context(app)
    async with lifespan, httpx.AsyncClient(transport=httpx.ASGITransport(app=timer),
                                           base_url="http://testserver") as client:
        plan.csrf = await sign_in(client, token)
        absent = await probe(client, plan)
        for route in routes:
            if route in absent:
                print(f"{route:18s} skipped: {absent[route]}", file=sys.stderr)
                continue
            if route == profile:
                results[route] = await profiled(client, plan, route, count, timer, budget)
            else:
                results[route] = await run_route(client, plan, route, count, timer, budget)
            print(line(route, results[route]), file=sys.stderr)
    store.connection.close()
    engine.dispose()
    return results, absent


async def profiled(client: httpx.AsyncClient, plan: Plan, route: str, count: int, timer: Timed,
                   budget: float) -> dict[str, Any]:
    original = anyio.to_thread.run_sync

    async def inline(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    profile = cProfile.Profile()
    try:
        profile.enable()
        figures = await run_route(client, plan, route, count, timer, budget)
        profile.disable()
    finally:
        anyio.to_thread.run_sync = original  # type: ignore[assignment]
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(40)
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(25)
    print(f"---- cProfile of {route} ({figures['requests'] + WARMUP} requests, inline) ----\n{text.getvalue()}",
          file=sys.stderr)
    figures["profiled"] = True
    return figures


# ---- over a socket ----------------------------------------------------------------------------------------------

async def over_socket(db: Path, workdir: Path, routes: list[str], count: int, budget: float,
                      seed: int, think: float | None = None) -> dict[str, Any]:
    url = f"sqlite:///{db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({"TRACKER_DATABASE_URL": url, "TRACKER_FEEDS_FILE": str(workdir / "none.toml"),
                "TRACKER_AUDIT_KEY_FILE": str(workdir / "audit.pem"),
                "TRACKER_DIGEST_SECRET_FILE": str(workdir / "secret"), "TRACKER_SEEDS_DIR": str(workdir / "no-seeds"),
                "TRACKER_OUTBOX_DIR": str(workdir / "outbox")})
    engine = make_engine(url)
    token = add_user(engine, f"bench-socket-{os.getpid()}", "editor")
    engine.dispose()
    port = api_bench.free_port()
    server = api_bench.start_server(env, port, workdir / "serve.log")
    store = Store(db)
    plan = Plan(store, random.Random(seed + 1))
    plan.think = think
    results: dict[str, Any] = {}
    try:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as client:
            plan.csrf = await sign_in(client, token)
            absent = await probe(client, plan)
            for route in routes:
                if route in absent:
                    continue
                results[route] = await run_route(client, plan, route, count, None, budget)
                print("socket " + line(route, results[route]), file=sys.stderr)
    finally:
        api_bench.stop_server(server)
        store.connection.close()
    return results


# ---- main -------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="the benchmarks/api.py store (generated when missing, then kept); "
                        "default: <tmp>/policy-tracker-api-<propositions>-<events>.db")
    parser.add_argument("--propositions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per route in process")
    parser.add_argument("--socket-requests", type=int, default=50,
                        help="measured requests per route over a real socket (0: skip)")
    parser.add_argument("--route-seconds", type=float, default=60.0,
                        help="a route stops early (cut_by_budget) once its requests took this long")
    parser.add_argument("--routes", default=",".join(GET_ROUTES + POST_ROUTES))
    parser.add_argument("--profile", help="a route to run under cProfile (in process)")
    parser.add_argument("--in-place", action="store_true", help="act on --db itself instead of a copy")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--without-lifespan", action="store_true",
                        help="skip the app's lifespan (the garbage collector's default thresholds), for comparison")
    parser.add_argument("--think", type=float, default=0.5,
                        help="seconds on the queue page before each action: every POST follows an untimed GET "
                             "/review, as a browser's does, and this pause (an editor reads before acting)")
    parser.add_argument("--cold-actions", action="store_true",
                        help="POST without loading the queue page first (no time for warming: earlier runs' figures)")
    args = parser.parse_args(argv)
    think = None if args.cold_actions else args.think
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still stops the server and removes the copy
    routes = args.routes.split(",")
    unknown = set(routes) - set(GET_ROUTES + POST_ROUTES)
    if unknown:
        parser.error(f"unknown routes: {sorted(unknown)}")
    db = (args.db or Path(tempfile.gettempdir()) / f"policy-tracker-api-{args.propositions}-{args.events}.db")
    workdir = Path(tempfile.mkdtemp(prefix="review-bench-"))
    try:
        work, store_info = prepare(db.resolve(), args.propositions, args.events, args.in_place, workdir)
        print(f"store: {store_info}", file=sys.stderr)
        results, absent = asyncio.run(in_process(work, workdir, routes, args.requests, args.route_seconds,
                                                     args.profile, args.seed, args.without_lifespan, think))
        socket_results: dict[str, Any] = {}
        if args.socket_requests > 0:
            socket_results = asyncio.run(over_socket(work, workdir, routes, args.socket_requests,
                                                       args.route_seconds / 2, args.seed, think))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    goal = {route: f["server"]["p95_ms"] < GOAL_MS for route, f in results.items()}
    print(json.dumps({
        "in_process": results, "socket": socket_results, "absent": absent,
        "goal": {"p95_server_ms": GOAL_MS, "met": goal, "all_met": all(goal.values())},
        "store": store_info,
        "settings": {"requests": args.requests, "socket_requests": args.socket_requests, "warmup": WARMUP,
                     "route_seconds": args.route_seconds, "think_s": think,
                     "bulk": BULK, "seed": args.seed, "in_place": args.in_place},
        "measure": "server: time around the ASGI app in process (httpx ASGITransport), middleware included; "
                   "wall: client time per request (in process, or over a socket to tracker serve)",
        "machine": {"cpus": os.cpu_count(), "load_avg_end": [round(x, 2) for x in os.getloadavg()]},
        "python": sys.version.split()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
