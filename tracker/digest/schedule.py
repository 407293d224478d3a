"""Digest jobs for the scheduler: the weekly send, retries with back-off, and a catch-up at start-up.

Every replica may run these: the ledger makes sure each subscriber gets a week's digest once.
Every job sends IsoWeek.last_ended only, a week that is over by construction (and send_week refuses any other
with WeekNotOver, so nothing here can mark an unfinished week done).
- weekly (TRACKER_DIGEST_CRON in TRACKER_TIMEZONE): the week that just ended;
- every RETRY_MINUTES: finish a week already begun (failures whose back-off is over, dead senders' claims,
  and subscribers added since the weekly send, who get that week once); a week not yet begun waits for its slot;
- once at start-up: if the slot for the last ended week has passed (the server was down), send it now.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from tracker.config import Settings
from tracker.digest.service import RunReport, send_week
from tracker.digest.week import IsoWeek, zone
from tracker.observability import metrics
from tracker.repository.unit_of_work import Tracker
from tracker.store.envelope import utc_now

log = logging.getLogger("tracker.digest.schedule")
RETRY_MINUTES = 10
MISFIRE_GRACE_SECONDS = 3600


def weekly_trigger(settings: Settings) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(settings.digest_cron, timezone=zone(settings.timezone))
    except ValueError as error:
        raise ValueError(f"TRACKER_DIGEST_CRON {settings.digest_cron!r} is not a crontab line: {error}") from None


def slot_passed(settings: Settings, week: IsoWeek, now: datetime) -> bool:
    """Whether the weekly run for `week` was due by `now` (first cron time after the week's end)."""
    tz = zone(settings.timezone)
    due = weekly_trigger(settings).get_next_fire_time(None, week.end(tz).astimezone(tz))
    return due is not None and due <= now


def weekly_job(tracker: Tracker, settings: Settings) -> RunReport | None:
    return _run(tracker, settings, resume_only=False)


def retry_job(tracker: Tracker, settings: Settings) -> RunReport | None:
    return _run(tracker, settings, resume_only=True)


def catch_up_job(tracker: Tracker, settings: Settings, now: datetime | None = None) -> RunReport | None:
    """At start-up: send the last ended week if its slot passed while we were not running."""
    now = now or utc_now()
    week = IsoWeek.last_ended(now, zone(settings.timezone))
    if not slot_passed(settings, week, now):
        return None  # the weekly job will send it at its time
    return _run(tracker, settings, resume_only=False, week=week)


def _run(tracker: Tracker, settings: Settings, *, resume_only: bool, week: IsoWeek | None = None) -> RunReport | None:
    try:
        week = week or IsoWeek.last_ended(utc_now(), zone(settings.timezone))
        report = send_week(tracker, settings, week, resume_only=resume_only)
        if report.sent or report.failed or report.skipped:
            log.info(report.line())
        return report
    except Exception:  # a job must never kill the scheduler thread; the next run retries
        metrics.DIGEST_RUN_ERRORS.inc()
        log.exception("digest run failed")
        return None


def add_digest_jobs(scheduler: BaseScheduler, tracker: Tracker, settings: Settings) -> None:
    common = {"args": (tracker, settings), "max_instances": 1, "coalesce": True, "replace_existing": True}
    scheduler.add_job(weekly_job, weekly_trigger(settings), id="digest:weekly", name="weekly digest",
                      misfire_grace_time=MISFIRE_GRACE_SECONDS, **common)
    scheduler.add_job(retry_job, IntervalTrigger(minutes=RETRY_MINUTES, jitter=30), id="digest:retry",
                      name="digest retries", misfire_grace_time=RETRY_MINUTES * 60, **common)
    scheduler.add_job(catch_up_job, DateTrigger(utc_now() + timedelta(seconds=5)), id="digest:catch-up",
                      name="digest catch-up", misfire_grace_time=None, **common)
