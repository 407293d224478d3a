"""The metrics outside HTTP: the scheduler's leader gauge, and multiprocess mode across real processes (as under
`tracker serve --workers N`): counts summed over every process, a dead worker's leader share dropped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from tests.api.test_observability import sample
from tests.conftest import ROOT
from tracker.observability import metrics
from tracker.scheduler import track_leadership


def test_the_leader_gauge_follows_the_scheduler_the_elector_drives() -> None:
    scheduler = BackgroundScheduler()
    track_leadership(scheduler)
    scheduler.start(paused=True)  # as bootstrap starts it: jobs wait for an election
    try:
        assert sample(metrics.exposition().decode(), "tracker_scheduler_leader") == 0
        scheduler.resume()  # elected (LeaderElector on_elected)
        assert sample(metrics.exposition().decode(), "tracker_scheduler_leader") == 1
        scheduler.pause()  # deposed
        assert sample(metrics.exposition().decode(), "tracker_scheduler_leader") == 0
        scheduler.resume()
    finally:
        scheduler.shutdown(wait=False)
    assert sample(metrics.exposition().decode(), "tracker_scheduler_leader") == 0


WORKER = """
import json, os, sys
from tracker.observability import metrics
assert metrics.MULTIPROCESS
metrics.observe_request("GET", "/health", 200, 0.004)
metrics.committed(["ConfirmMatch"], ["MatchConfirmed", "StatusChanged"], 0)
metrics.set_leader(sys.argv[1] == "leader")
print(json.dumps({"pid": os.getpid()}), flush=True)
if sys.argv[2:] == ["stay"]:
    sys.stdin.readline()  # alive until the test says (or kills it)
"""

SCRAPE = """
import sys
from tracker.observability import metrics
for pid in sys.argv[1:]:
    metrics.worker_exited(int(pid))
sys.stdout.write(metrics.exposition().decode())
"""


def _env(directory: Path) -> dict[str, str]:
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}


def _run(script: str, directory: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=_env(directory), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _start(directory: Path, role: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-c", WORKER, role, "stay"], cwd=ROOT, env=_env(directory),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())["pid"]


def test_multiprocess_mode_sums_every_process_and_forgets_a_dead_leader(tmp_path: Path) -> None:
    leader, _ = _start(tmp_path, "leader")
    try:
        _run(WORKER, tmp_path, "follower")  # a worker that came and went
        text = _run(SCRAPE, tmp_path)  # a third process answers the scrape, as any worker may
        assert sample(text, "tracker_http_requests_total", method="GET", route="/health", status="200") == 2
        assert sample(text, "tracker_http_request_duration_seconds_count", method="GET", route="/health") == 2
        assert sample(text, "tracker_commands_total", command="ConfirmMatch", outcome="ok") == 2
        assert sample(text, "tracker_events_appended_total", event_type="StatusChanged") == 2
        assert sample(text, "tracker_scheduler_leader") == 1  # livesum: one leader among the live processes
        assert "process_cpu_seconds_total" not in text  # per-process collectors are off in this mode
    finally:
        leader.kill()  # SIGKILL: it cannot say it is going
        leader.wait(timeout=30)
    after = _run(SCRAPE, tmp_path)
    assert sample(after, "tracker_scheduler_leader") == 0  # the next scrape finds its process gone
    assert sample(after, "tracker_http_requests_total", method="GET", route="/health", status="200") == 2

    second, pid = _start(tmp_path, "leader")
    try:
        assert sample(_run(SCRAPE, tmp_path), "tracker_scheduler_leader") == 1
        # a supervisor that saw the worker go says so at once (worker_exited), whatever the pid table says
        assert sample(_run(SCRAPE, tmp_path, str(pid)), "tracker_scheduler_leader") == 0
    finally:
        assert second.stdin is not None
        second.stdin.write("\n")
        second.stdin.flush()
        second.wait(timeout=30)
