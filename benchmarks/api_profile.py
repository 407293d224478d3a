"""CPU per API read, in process, split by layer: the whole app (middleware included), the app without its
middleware (the router alone), and the parts a read is made of timed on their own: the token check, the query,
the serialisation (the SQLAlchemy queries and response models the routes used before, and the hot reads of
tracker/queries/hot.py they use now, query and JSON together). No sockets, no uvicorn: each request is one call
of the ASGI app in one event loop (as a worker runs it), so the figures are CPU of our code and the libraries
under it.

    .venv/bin/python benchmarks/api_profile.py --db STORE.db [--pg] [--requests 400] [--rounds 3] [--cprofile list]

STORE.db is benchmarks/api.py's store (with --pg: its PostgreSQL copy made by benchmarks/api_throughput.py --pg).
Each figure is the best round of --rounds (CPU ms per request, process_time). The last line printed is one JSON
object, on stdout (the access lines go to stderr). --cprofile ENDPOINT prints the top functions of that
endpoint through the whole app.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PATHS = {
    "list": ("/propositions", b"status=open&kind=prediction&limit=50"),
    "detail": None,  # a random proposition id each time
    "queue": ("/matches", b"state=suggested&limit=50"),
    "health": ("/health", b""),
}


def asgi_get(app: Any, path: str, query: bytes, token: str, owner: Any = None) -> Callable[[], Any]:
    app_is_router = not hasattr(app, "router")
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode()), (b"accept", b"*/*")]

    async def call() -> int:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "state": {}}
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        if app_is_router:  # what FastAPI's own outer middleware puts in the scope
            async with AsyncExitStack() as stack:
                scope["fastapi_middleware_astack"] = stack
                scope["app"] = owner
                await app(scope, receive, send)
        else:
            await app(scope, receive, send)
        if status != 200:
            raise RuntimeError(f"{path}: {status}")
        return status
    return call


def cpu_ms(loop: asyncio.AbstractEventLoop, make: Callable[[], Callable[[], Any]], requests: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        calls = [make() for _ in range(requests)]

        async def all_calls(calls: list[Callable[[], Any]] = calls) -> None:  # one running loop, as in a worker
            for call in calls:
                await call()

        started = time.process_time()
        loop.run_until_complete(all_calls())
        best = min(best, (time.process_time() - started) * 1000 / requests)
    return round(best, 3)


def cpu_ms_sync(work: Callable[[], Any], requests: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            work()
        best = min(best, (time.process_time() - started) * 1000 / requests)
    return round(best, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--pg-schema", default="api_bench")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cprofile", default="")
    args = parser.parse_args(argv)
    url = f"sqlite:///{args.db.resolve()}"
    if args.pg:
        base = os.environ.get("TRACKER_TEST_PG_URL", PG_DEFAULT)
        url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={args.pg_schema}')}"
    os.environ["TRACKER_DATABASE_URL"] = url
    os.environ.setdefault("TRACKER_LOG_LEVEL", "INFO")

    import logging.config

    from tracker.api.app import create_app
    from tracker.bootstrap import bootstrap
    from tracker.observability.logs import dict_config
    from tracker.service.users import add_user, user_for_token

    logging.config.dictConfig(dict_config("INFO"))  # the access line is written, as when serving (to stderr:
    # run with 2>/dev/null; the figures go to stdout)
    tracker_app = bootstrap()
    app = create_app(tracker_app.store, tracker_app.settings, tracker_app.tracker)
    engine = tracker_app.store.engine
    token = add_user(engine, f"profile-{random.randrange(10**9)}", "reader")
    with engine.connect() as connection:
        ids = list(connection.execute(sa.text("SELECT proposition_id FROM propositions")).scalars())
    loop = asyncio.new_event_loop()

    def request_maker(target: Any, name: str) -> Callable[[], Callable[[], Any]]:
        if name == "detail":
            return lambda: asgi_get(target, f"/propositions/{random.choice(ids)}", b"", token, app)
        path, query = PATHS[name]
        return lambda: asgi_get(target, path, query, token, app)

    # FastAPI builds its middleware stack on the first call; warm every path (and SQLAlchemy's caches) first.
    for name in PATHS:
        for _ in range(20):
            loop.run_until_complete(request_maker(app, name)()())
    results: dict[str, Any] = {}
    for name in ("list", "detail", "queue", "health"):
        whole = cpu_ms(loop, request_maker(app, name), args.requests, args.rounds)
        router = cpu_ms(loop, request_maker(app.router, name), args.requests, args.rounds)
        results[name] = {"whole_app_ms": whole, "router_only_ms": router,
                         "middleware_ms": round(whole - router, 3)}
    results["parts"] = parts(engine, ids, token, user_for_token, args.requests, args.rounds)
    if args.cprofile:
        make = request_maker(app, args.cprofile)
        calls = [make() for _ in range(args.requests)]
        profiler = cProfile.Profile()

        async def profiled() -> None:
            for call in calls:
                await call()

        profiler.enable()
        loop.run_until_complete(profiled())
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(45)
    for name, figures in results.items():
        print(f"{name}: {figures}")
    print(json.dumps({"url": url.split("?")[0], "requests": args.requests, "rounds": args.rounds,
                      "load_avg": [round(x, 2) for x in os.getloadavg()], "cpu_ms_per_request": results}))
    return 0


def parts(engine: Any, ids: list[str], token: str, user_for_token: Any, requests: int, rounds: int) -> dict[str, Any]:
    """The pieces of a read, each on its own."""
    from tracker.api import matches as match_routes
    from tracker.api import propositions as proposition_routes
    from tracker.api.schemas import MatchPage, PropositionPage
    from tracker.queries import propositions as queries
    from tracker.queries.review import review_queue

    out: dict[str, Any] = {"token_check_ms": cpu_ms_sync(lambda: user_for_token(engine, token), requests, rounds)}
    page = queries.list_propositions(engine, status="open", kind="prediction", limit=50)
    out["list_query_ms"] = cpu_ms_sync(lambda: queries.list_propositions(engine, status="open", kind="prediction",
                                                                         limit=50), requests, rounds)
    out["list_serialise_ms"] = cpu_ms_sync(lambda: PropositionPage(
        items=[proposition_routes._summary(r) for r in page.items], next_cursor=page.next_cursor).model_dump_json(),
        requests, rounds)
    queue = review_queue(engine, state="suggested", limit=50)
    out["queue_query_ms"] = cpu_ms_sync(lambda: review_queue(engine, state="suggested", limit=50), requests, rounds)
    out["queue_serialise_ms"] = cpu_ms_sync(lambda: MatchPage(
        items=[match_routes._item(m) for m in queue.items], next_cursor=queue.next_cursor).model_dump_json(),
        requests, rounds)
    try:
        from tracker.queries.hot import HotReads
    except ImportError:  # before the hot reads existed
        return out
    # What the routes run now (tracker/queries/hot.py): the query and the JSON text together.
    hot = HotReads(engine)
    out["hot_token_check_ms"] = cpu_ms_sync(lambda: hot.user_for_token(token), requests, rounds)
    out["hot_detail_ms"] = cpu_ms_sync(lambda: hot.proposition(random.choice(ids)), requests, rounds)
    out["hot_list_ms"] = cpu_ms_sync(lambda: hot.propositions_json(status="open", kind="prediction", limit=50),
                                     requests, rounds)
    out["hot_queue_ms"] = cpu_ms_sync(lambda: hot.queue_json(state="suggested", limit=50), requests, rounds)
    hot.close()
    return out


if __name__ == "__main__":
    sys.exit(main())
