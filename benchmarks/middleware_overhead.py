"""CPU the request observer (tracker/api/middleware.py Observe: X-Request-ID, request metrics, access log line) adds
to each request, measured in process (no sockets, no TestClient), as CPU time per request.

Two measurements, the variants measured in turn several rounds over and the best of each kept (the machine is
shared, and its speed drifts more between runs than the figures differ):
- isolated: a trivial ASGI app that answers 200, with and without Observe around it; Observe with the access log
  off (the tracker logger at WARNING, as in tests and the CLI) and on (INFO, JSON lines to /dev/null, as in serve);
- whole app: GET /health (one SQLite query) through create_app's full middleware stack, with and without Observe,
  measured in turn several rounds over (the best of each), since a millisecond request drifts more than 5 µs.

    .venv/bin/python benchmarks/middleware_overhead.py [--requests N]

Prints a JSON object on the last line (microseconds of CPU per request, and the machine's load average).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.api.app import create_app  # noqa: E402
from tracker.api.middleware import Observe  # noqa: E402
from tracker.config import Settings  # noqa: E402
from tracker.observability.logs import JsonFormatter  # noqa: E402
from tracker.store import EventStore  # noqa: E402
from tracker.store.engine import make_engine  # noqa: E402
from tracker.store.migrate import upgrade  # noqa: E402


class _Route:
    path = "/propositions/{proposition_id}"


async def trivial(scope: dict, receive: Any, send: Any) -> None:
    scope["route"] = _Route
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


def _scope(path: str) -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": [(b"host", b"bench"), (b"x-request-id", b"bench-1")], "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000)}


def _runs(app: Any, path: str, requests: int, repeats: int) -> list[float]:
    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: dict) -> None:
        return None

    async def run() -> None:
        for _ in range(requests):
            await app(_scope(path), receive, send)

    found = []
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run())  # warm up (middleware stack built, series created)
        for _ in range(repeats):
            started = time.process_time()
            loop.run_until_complete(run())
            found.append((time.process_time() - started) / requests)
    finally:
        loop.close()
    return found


def interleaved(variants: dict[str, tuple[Any, bool]], path: str, requests: int, rounds: int) -> dict[str, float]:
    """Each variant (app, access log on) measured in turn, `rounds` times over; the best of each, in microseconds."""
    best = {name: float("inf") for name in variants}
    for _ in range(rounds):
        for name, (app, logged) in variants.items():
            access_log(logged)
            best[name] = min(best[name], min(_runs(app, path, requests, 1)))
    return {name: value * 1e6 for name, value in best.items()}


def access_log(on: bool) -> None:
    logger = logging.getLogger("tracker")
    logger.handlers.clear()
    logger.propagate = False
    if on:
        handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO if on else logging.WARNING)


def whole_app(url: str, tmp: str, observed: bool) -> Any:
    settings = Settings(database_url=url, audit_key_file=f"{tmp}/audit.pem", feeds_file=f"{tmp}/none.toml")
    app = create_app(EventStore(make_engine(url)), settings)
    if not observed:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not Observe]
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    n = args.requests
    results: dict[str, Any] = {"requests_per_run": n, "load_average_before": os.getloadavg()}

    observed = Observe(trivial)
    found = interleaved({"bare": (trivial, False), "observe_log_off": (observed, False),
                         "observe_log_on": (observed, True)}, "/propositions/p1", n // 5, rounds=9)
    results["isolated_us"] = {**{k: round(v, 2) for k, v in found.items()},
                              "added_log_off": round(found["observe_log_off"] - found["bare"], 2),
                              "added_log_on": round(found["observe_log_on"] - found["bare"], 2)}

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        plain, observed = whole_app(url, tmp, observed=False), whole_app(url, tmp, observed=True)
        found = interleaved({"without_observe": (plain, False), "observe_log_off": (observed, False),
                             "observe_log_on": (observed, True)}, "/health", n // 10, rounds=7)
    results["health_us"] = {**{k: round(v, 1) for k, v in found.items()},
                            "added_log_off": round(found["observe_log_off"] - found["without_observe"], 1),
                            "added_log_on": round(found["observe_log_on"] - found["without_observe"], 1)}
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
