"""APScheduler jobs inside `tracker serve`. Jobs only call service functions.

One job per enabled feed, at the feed's interval with jitter; max_instances=1 and coalescing so a slow
fetch never stacks up; a misfire grace time so a short pause does not skip a poll. When a feed is next
due comes from the store (feed_fetch_state.next_check_at), so a restart neither forgets back-off nor
polls everything at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.events import (
    EVENT_SCHEDULER_PAUSED,
    EVENT_SCHEDULER_RESUMED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_START,
    SchedulerEvent,
)
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED, BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from tracker.config import Settings
from tracker.ingest import fetchstate
from tracker.ingest.runner import enabled_feed_ids, load_and_sync
from tracker.observability import metrics
from tracker.repository.unit_of_work import Tracker, feed_stream
from tracker.service.feed_report import measured_pass
from tracker.store.envelope import parse_iso

log = logging.getLogger("tracker.scheduler")
JITTER_SECONDS = 30
MISFIRE_GRACE_SECONDS = 300
FEED_SYNC_SECONDS = 60


class TrackerScheduler(BackgroundScheduler):
    """APScheduler's background scheduler, safe to shut down while a one-shot job is being submitted.

    After submitting a job with no next run (the digest catch-up), the scheduler thread removes it; if
    shutdown() ran in between (SIGTERM to a worker), the scheduler already counts as stopped, finds the job
    in no store and the thread dies with JobLookupError. The in-memory job stores end with the process, so
    that removal has nothing left to do.
    """

    def remove_job(self, job_id: str, jobstore: str | None = None) -> None:
        try:
            super().remove_job(job_id, jobstore)
        except JobLookupError:
            if self.state != STATE_STOPPED:
                raise


def poll_feed(tracker: Tracker, settings: Settings, feed_id: str) -> None:
    """The job body: refresh one feed if it is due (back-off is honoured inside); the pass is counted in the
    metrics and logged as one line (tracker/service/feed_report.py)."""
    try:
        measured_pass(tracker, settings, trigger="schedule", feed_ids=[feed_id], force=False)
    except Exception:  # a job must never kill the scheduler thread; the next run retries
        log.exception("feed %s: refresh failed", feed_id)


def track_leadership(scheduler: BaseScheduler) -> None:
    """tracker_scheduler_leader follows the scheduler: the elector resumes it on election and pauses it when
    deposed (tracker/bootstrap.py), so 1 exactly while this process runs the jobs."""

    def changed(event: SchedulerEvent) -> None:
        metrics.set_leader(event.code == EVENT_SCHEDULER_RESUMED or
                           (event.code == EVENT_SCHEDULER_START and scheduler.state == STATE_RUNNING))

    scheduler.add_listener(changed, EVENT_SCHEDULER_START | EVENT_SCHEDULER_RESUMED | EVENT_SCHEDULER_PAUSED
                           | EVENT_SCHEDULER_SHUTDOWN)


def first_run(next_check_at: str | None, now: datetime) -> datetime:
    if next_check_at is None:
        return now + timedelta(seconds=5)
    return max(parse_iso(next_check_at), now + timedelta(seconds=5))


def schedule_feeds(scheduler: BaseScheduler, tracker: Tracker, settings: Settings) -> None:
    """One job per enabled feed; feeds added (API) or disabled since the last call are picked up."""
    now = datetime.now(UTC)
    with tracker.store.engine.connect() as connection:
        states = fetchstate.load_all(connection)
    enabled = set(enabled_feed_ids(tracker))
    for job in scheduler.get_jobs():
        if job.id.startswith("feed:") and job.id.removeprefix("feed:") not in enabled:
            job.remove()
    for feed_id in sorted(enabled):
        if scheduler.get_job(f"feed:{feed_id}") is not None:
            continue
        feed = tracker.load(feed_stream(feed_id)).state
        state = states.get(feed_id)
        scheduler.add_job(
            poll_feed,
            IntervalTrigger(minutes=feed.interval_minutes, jitter=JITTER_SECONDS, timezone=UTC),
            args=(tracker, settings, feed_id),
            id=f"feed:{feed_id}",
            name=f"poll {feed.name}",
            next_run_time=first_run(state.next_check_at if state else None, now),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
        )


def build_scheduler(tracker: Tracker, settings: Settings) -> TrackerScheduler:
    """A scheduler with one job per enabled feed (and the digest jobs); call .start() to run it."""
    load_and_sync(tracker, settings)
    scheduler = TrackerScheduler(timezone=settings.timezone)
    track_leadership(scheduler)
    schedule_feeds(scheduler, tracker, settings)
    scheduler.add_job(
        schedule_feeds, IntervalTrigger(seconds=FEED_SYNC_SECONDS, timezone=UTC),
        args=(scheduler, tracker, settings), id="feeds:sync", name="pick up added or disabled feeds",
        max_instances=1, coalesce=True,
    )
    from tracker.digest.schedule import add_digest_jobs  # weekly digest, its retries and start-up catch-up

    add_digest_jobs(scheduler, tracker, settings)
    return scheduler
