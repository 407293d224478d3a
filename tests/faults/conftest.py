"""Shared pieces of the fault suite (`pytest tests/faults`): how many kills, a seeded random source, the
checks that must hold after every fault, and killing a real subprocess at a random moment.

FAULTS_RUNS (default 8) is the number of kill -9 per scenario and backend; FAULTS_SEED fixes the moments.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracker.audit.checks import verify_log
from tracker.projections import rebuild
from tracker.store import EventStore

RUNS = int(os.environ.get("FAULTS_RUNS", "8"))


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    seed = int(os.environ.get("FAULTS_SEED", str(time.time_ns() % 1_000_000)))
    print(f"\n{request.node.name}: FAULTS_SEED={seed}")
    return random.Random(seed)


def child_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({"PYTHONPATH": str(ROOT), "TRACKER_DATABASE_URL": database_url, **extra})
    return env


def spawn(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@dataclass
class Tally:
    """Where the kills landed, printed as one JSON line per scenario and backend."""

    scenario: str
    backend: str
    killed_mid_work: int = 0
    finished_before_kill: int = 0
    delays_ms: list[int] = field(default_factory=list)

    window: float = 1.5  # upper bound of the random delay; shrinks to the work's observed length

    def kill(self, process: subprocess.Popen[bytes], started: Callable[[], bool], rng: random.Random,
             timeout: float = 60) -> None:
        """Wait until the process has begun its work, then a random delay, then SIGKILL.

        When the work ends before the kill, the window shrinks below that duration, so later kills land
        inside the work rather than after it."""
        deadline = time.monotonic() + timeout
        while not started() and process.poll() is None:
            assert time.monotonic() < deadline, "the process never started its work"
            time.sleep(0.005)
        began = time.monotonic()
        delay = rng.uniform(0, self.window)
        while time.monotonic() - began < delay and process.poll() is None:
            time.sleep(0.002)
        self.delays_ms.append(round(delay * 1000))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            self.killed_mid_work += 1
        else:
            self.finished_before_kill += 1
            self.window = max(0.02, min(self.window, (time.monotonic() - began) * 0.8))
        process.wait(timeout=30)

    def report(self) -> None:
        print(json.dumps({"scenario": self.scenario, "backend": self.backend, "runs": len(self.delays_ms),
                          "killed_mid_work": self.killed_mid_work,
                          "finished_before_kill": self.finished_before_kill,
                          "delay_ms_range": [min(self.delays_ms, default=0), max(self.delays_ms, default=0)]}))


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


def assert_consistent(store: EventStore) -> None:
    """After any fault: the chain verifies, read models equal a replay, and no event is doubled."""
    result = verify_log(store)
    assert result.ok, f"chain broken at {result.broken_at}: {result.reason}"
    differences = rebuild.check(store)
    assert not differences, differences[:10]
    events = list(store.read_all())
    assert [e.position for e in events] == list(range(1, len(events) + 1))
    assert len({e.event_id for e in events}) == len(events)
    assert len({(e.stream_id, e.stream_version) for e in events}) == len(events)
    created = Counter(e.stream_id for e in events if e.event_type.endswith(("Ingested", "Registered", "Started")))
    assert not [s for s, n in created.items() if n > 1], "a stream was created twice"
