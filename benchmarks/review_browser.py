"""A scripted review of 50 suggestions in the browser (/review), as an editor using the keyboard would.

    .venv/bin/python benchmarks/review_browser.py [--suggestions 50] [--chromium /usr/bin/chromium]

A fresh SQLite store (a temporary directory) gets ten propositions and --suggestions suggested matches; then
`python -m tracker.cli serve --no-scheduler` runs on a free port, an editor is created, and a headless chromium
(Playwright) signs in and works down the queue with the keyboard: `j` to select the best suggestion, then `s`
(confirm as supports) for two in three and `r` (reject) for the rest, waiting for each page to come back.
Every decision goes through the same service functions and version checks as the API. The last line printed is
one JSON object: actions, seconds, actions per minute, and the median/p95 seconds per action.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.domain import evidence as ev  # noqa: E402
from tracker.domain import proposition as p  # noqa: E402
from tracker.repository.unit_of_work import Tracker, evidence_stream  # noqa: E402
from tracker.service.users import add_user  # noqa: E402
from tracker.store import EventStore  # noqa: E402
from tracker.store.engine import make_engine  # noqa: E402
from tracker.store.migrate import upgrade  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _seed(url: str, count: int) -> str:
    store = EventStore(make_engine(url))
    tracker = Tracker(store)
    for i in range(10):
        tracker.execute(f"bench-{i}", p.RegisterProposition(
            proposition_id=f"bench-{i}", kind="claim", source_id=None, actors=("NATO",), topics=("security",),
            statement=f"Benchmark proposition {i} about deterrence."), actor="system:bench")
    for n in range(count):
        evidence_id = f"ev-bench-{n}"
        with tracker.unit_of_work(actor="system:ingest") as uow:
            uow.execute(evidence_stream(evidence_id), ev.IngestEvidence(
                evidence_id=evidence_id, title=f"Item {n} on deterrence", link=f"https://news.example.org/b/{n}",
                summary=f"Summary of item {n}.", published_at=f"2025-04-{n % 28 + 1:02d}T08:00:00.000000Z",
                published_is_fetch_time=False, feed="bench-wire", guid=f"b-{n}", language="en",
                content_hash=f"{n:064x}"))
        pid = f"bench-{n % 10}"
        tracker.execute(pid, p.SuggestMatch(p.match_id_for(pid, evidence_id), evidence_id, 0.5 + n / (4 * count),
                                            {"terms": [{"term": "deterrence"}]}, "supports"), actor="system:matcher")
    token = add_user(store.engine, "bench-editor", "editor")
    store.engine.dispose()
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suggestions", type=int, default=50)
    parser.add_argument("--chromium", default=os.environ.get("TRACKER_TEST_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'tracker.db'}"
        upgrade(url)
        token = _seed(url, args.suggestions)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        env.update({"TRACKER_DATABASE_URL": url, "PYTHONPATH": str(ROOT), "TRACKER_FEEDS_FILE": str(tmp / "none.toml"),
                    "TRACKER_AUDIT_KEY_FILE": str(tmp / "audit.pem"), "TRACKER_OUTBOX_DIR": str(tmp / "outbox"),
                    "TRACKER_DIGEST_SECRET_FILE": str(tmp / "secret"), "TRACKER_SEEDS_DIR": str(tmp / "no-seeds"),
                    "TRACKER_PUBLIC_BASE_URL": base})
        log = (tmp / "server.log").open("wb")
        server = subprocess.Popen([sys.executable, "-m", "tracker.cli", "serve", "--no-scheduler", "--port", str(port)],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((tmp / "server.log").read_text(errors="replace"))
                time.sleep(0.2)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=[
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"])
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                page.goto(base + "/review")
                page.get_by_label("API token").fill(token)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_selector("h1:text('Review queue')")
                durations: list[float] = []
                started = time.perf_counter()
                for i in range(args.suggestions):
                    t0 = time.perf_counter()
                    page.keyboard.press("j")
                    with page.expect_navigation():
                        page.keyboard.press("r" if i % 3 == 2 else "s")
                    page.wait_for_selector("li.suggestion, p.none")
                    durations.append(time.perf_counter() - t0)
                elapsed = time.perf_counter() - started
                left = page.locator("li.suggestion").count()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
            log.close()
    durations.sort()
    result = {"benchmark": "review_browser", "actions": len(durations), "left_in_queue": left,
              "seconds": round(elapsed, 3), "actions_per_minute": round(60 * len(durations) / elapsed, 1),
              "median_seconds": round(statistics.median(durations), 4),
              "p95_seconds": round(durations[max(0, int(len(durations) * 0.95) - 1)], 4)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
