"""Shutting the scheduler down while it submits a one-shot job (the digest catch-up) leaves no traceback.

APScheduler's thread removes a one-shot job right after submitting it; a shutdown() from another thread in
between (a worker's SIGTERM) used to kill that thread with JobLookupError. The race is made certain here: the
executor, while the job is being submitted, starts the shutdown and waits until the scheduler counts as stopped.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.date import DateTrigger

from tracker.scheduler import TrackerScheduler


class ShutdownDuringSubmit(BaseExecutor):
    def __init__(self) -> None:
        super().__init__()
        self.submitted = threading.Event()
        self.stopper: threading.Thread | None = None

    def _do_submit_job(self, job, run_times) -> None:  # type: ignore[no-untyped-def]
        # shutdown() marks the scheduler stopped, then waits for the job stores' lock this thread holds
        self.stopper = threading.Thread(target=self._scheduler.shutdown, kwargs={"wait": False}, daemon=True)
        self.stopper.start()
        while self._scheduler.state != STATE_STOPPED:
            threading.Event().wait(0.001)
        self.submitted.set()


def test_shutdown_while_a_one_shot_job_is_submitted_raises_nothing() -> None:
    failures: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: failures.append(args.exc_value)  # type: ignore[assignment,misc]
    try:
        executor = ShutdownDuringSubmit()
        scheduler = TrackerScheduler(timezone="UTC", executors={"default": executor})
        scheduler.add_job(print, DateTrigger(datetime.now(UTC) + timedelta(milliseconds=50)), id="once")
        scheduler.start()
        assert executor.submitted.wait(5), "the one-shot job was never submitted"
        assert executor.stopper is not None
        executor.stopper.join(5)  # shutdown() returns once the scheduler's thread has ended
        assert not executor.stopper.is_alive(), "shutdown() never returned"
    finally:
        threading.excepthook = previous
    assert failures == [], failures
