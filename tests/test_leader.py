"""Leader election on SQLite: an exclusive flock next to the database file, held for the leader's life.

Real parts only: a real file, real flock, and a real second process killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import ROOT
from tracker.leader import LeaderElector, lock_file_path
from tracker.store.engine import make_engine

INTERVAL = 0.2
SLACK = 2.0  # a busy shared machine: "within an interval or so", not a timing benchmark


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    def elector(self, engine: sa.Engine) -> LeaderElector:
        return LeaderElector(engine, on_elected=lambda: self.events.append("elected"),
                             on_deposed=lambda: self.events.append("deposed"), interval=INTERVAL)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    found = make_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    yield found
    found.dispose()


def test_the_lock_file_is_next_to_the_database(engine: sa.Engine, tmp_path: Path) -> None:
    assert lock_file_path(engine) == tmp_path / "tracker.db.leader"


def test_one_of_two_electors_leads_and_the_other_takes_over_when_it_stops(engine: sa.Engine) -> None:
    first, second = Recorder(), Recorder()
    electors = [first.elector(engine), second.elector(engine)]
    for elector in electors:
        elector.start()
    try:
        wait_for(lambda: any(e.is_leader for e in electors), 5, "a leader")
        for _ in range(5):  # and only one, for several intervals
            time.sleep(INTERVAL)
            assert sum(e.is_leader for e in electors) == 1
        leader = next(e for e in electors if e.is_leader)
        other = next(e for e in electors if e is not leader)
        leader.stop()
        assert leader.is_leader is False
        taken = wait_for(lambda: other.is_leader, 5, "the other to take over")
        assert taken < INTERVAL + SLACK
        by_leader = first if leader is electors[0] else second
        assert by_leader.events == ["elected", "deposed"], "a stopping leader pauses its jobs before letting go"
        assert (second if by_leader is first else first).events == ["elected"]
    finally:
        for elector in electors:
            elector.stop()


HOLDER = """
import sys, time
from tracker.leader import LeaderElector
from tracker.store.engine import make_engine
elector = LeaderElector(make_engine(sys.argv[1]), on_elected=lambda: print("elected", flush=True),
                        on_deposed=lambda: None, interval=0.1)
elector.start()
time.sleep(600)
"""


def test_a_killed_leader_process_loses_the_lock_at_once(engine: sa.Engine, tmp_path: Path) -> None:
    """Another process leads; kill -9 it (no clean-up at all) and this process's elector takes over."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(engine.url)], cwd=ROOT, stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"elected"
        recorder = Recorder()
        elector = recorder.elector(engine)
        elector.start()
        try:
            time.sleep(INTERVAL * 4)
            assert not elector.is_leader, "the other process holds the lock"
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=10)
            taken = wait_for(lambda: elector.is_leader, 5, "leadership after the kill")
            assert taken < INTERVAL + SLACK
            assert recorder.events == ["elected"]
        finally:
            elector.stop()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
