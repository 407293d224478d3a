"""/metrics and the logs of `tracker serve --workers 2` as a real subprocess: a scrape answered by either worker sums
what both counted, the leader gauge is 1 across them before and after the leading worker is killed with SIGKILL,
and every line the server logs is JSON."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx

from tests.api.test_observability import sample
from tests.ingest.feedserver import FeedServer, Reply
from tests.test_workers import ITEMS, Served, pytestmark, rss, serve_env, start, stop, wait_for  # noqa: F401


def _scrape(served: Served) -> str:
    response = httpx.get(f"{served.base}/metrics", timeout=10, headers={"connection": "close"})  # from 127.0.0.1
    assert response.status_code == 200, response.text
    return response.text


def test_metrics_sum_every_worker_and_the_leader_count_stays_one(tmp_path: Path) -> None:
    with FeedServer() as feeds:
        url = feeds.route("/w.xml", Reply(body=rss(ITEMS), headers={"Content-Type": "application/rss+xml"}))
        feeds_file = tmp_path / "feeds.toml"
        feeds_file.write_text(f'[[feed]]\nname = "Workers"\nurl = "{url}"\ninterval_minutes = 60\n')
        served = start(tmp_path, serve_env(tmp_path, tmp_path / "tracker.db", feeds_file))
        try:
            _scenario(served)
        finally:
            stop(served)
    lines = [line for line in served.text().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]  # every log line parses
    assert any(e["logger"] == "uvicorn.error" and "Started server process" in e["message"] for e in entries)
    (traced,) = [e for e in entries if e.get("request_id") == "workers-trace"]
    assert (traced["route"], traced["status"]) == ("/health", 200)
    passes = [e for e in entries if e.get("event") == "feed_pass"]
    assert passes and {p["trigger"] for p in passes} == {"schedule"}
    # the first leader's pass brought the items; a later leader's run of the job found the feed not due yet
    assert [p["items_ingested"] for p in passes] == [ITEMS] + [0] * (len(passes) - 1)


def _scenario(served: Served) -> None:
    wait_for(lambda: sample(_scrape(served), "tracker_feed_items_total", result="ingested") == ITEMS, 60,
             "the leader's feed pass in the metrics")
    wait_for(lambda: sample(_scrape(served), "tracker_scheduler_leader") == 1, 30, "one leader")
    before = _scrape(served)
    answers = served.answers(40)  # fresh connections: the kernel spreads them over both workers
    assert {a["leader"] for a in answers} == {True, False}, "both workers answered"
    assert httpx.get(f"{served.base}/health", headers={"X-Request-ID": "workers-trace"}).status_code == 200
    health = {"method": "GET", "route": "/health", "status": "200"}
    counted = len(answers) + 1
    scrapes = [_scrape(served) for _ in range(6)]  # each answered by either worker: all say the same sum
    for text in scrapes:
        assert sample(text, "tracker_http_requests_total", **health) - sample(
            before, "tracker_http_requests_total", **health) == counted
        assert sample(text, "tracker_scheduler_leader") == 1
        assert sample(text, "tracker_feed_fetches_total", result="fetched") == 1
    assert sample(scrapes[-1], "tracker_store_position") > 0

    leader = served.leader_pid()
    assert leader is not None
    os.kill(leader, signal.SIGKILL)  # no lifespan shutdown, no word to anyone
    wait_for(lambda: served.leader_pid() not in (None, leader), 30, "a new leader")
    wait_for(lambda: len(served.workers()) == 2 and leader not in served.workers(), 60, "a replacement worker")
    time.sleep(1)
    after = _scrape(served)
    assert sample(after, "tracker_scheduler_leader") == 1, "the dead leader's share is gone, the new one counts"
    assert sample(after, "tracker_feed_items_total", result="ingested") == ITEMS, "the dead worker's counts stay"
    assert sample(after, "tracker_http_requests_total", **health) >= sample(scrapes[-1], "tracker_http_requests_total",
                                                                            **health)
