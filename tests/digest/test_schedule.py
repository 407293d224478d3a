"""The digest's scheduler jobs: the weekly slot, the start-up catch-up of a missed week, resuming."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler

from tests.digest.conftest import make_settings, subscribe
from tests.digest.smtpserver import SmtpServer
from tracker.config import Settings
from tracker.digest.schedule import add_digest_jobs, catch_up_job, retry_job, slot_passed, weekly_trigger
from tracker.digest.service import week_status
from tracker.digest.week import IsoWeek
from tracker.repository.unit_of_work import Tracker
from tracker.store.envelope import utc_now

W13 = IsoWeek.parse("2025-W13")


def test_the_weekly_slot_is_monday_seven_in_the_configured_zone(tmp_path: Path) -> None:
    utc = make_settings("sqlite://", None, tmp_path)
    assert not slot_passed(utc, W13, datetime(2025, 3, 31, 6, 59, tzinfo=UTC))
    assert slot_passed(utc, W13, datetime(2025, 3, 31, 7, 0, tzinfo=UTC))
    berlin = make_settings("sqlite://", None, tmp_path, timezone="Europe/Berlin")  # 07:00 CEST is 05:00 UTC
    assert slot_passed(berlin, W13, datetime(2025, 3, 31, 5, 0, tzinfo=UTC))
    assert not slot_passed(berlin, W13, datetime(2025, 3, 31, 4, 59, tzinfo=UTC))
    trigger = weekly_trigger(berlin)
    fire = trigger.get_next_fire_time(None, datetime(2025, 3, 26, tzinfo=UTC))
    assert fire is not None and (fire.isoformat(), fire.weekday()) == ("2025-03-31T07:00:00+02:00", 0)


def test_jobs_are_registered_with_the_cron_and_a_start_up_catch_up(tmp_path: Path, tracker: Tracker) -> None:
    settings = make_settings("sqlite://", None, tmp_path, digest_cron="30 6 * * tue")
    scheduler = BackgroundScheduler(timezone="UTC")
    add_digest_jobs(scheduler, tracker, settings)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"digest:weekly", "digest:retry", "digest:catch-up"}
    fire = jobs["digest:weekly"].trigger.get_next_fire_time(None, datetime(2025, 3, 26, tzinfo=UTC))
    assert fire is not None and fire.isoformat() == "2025-04-01T06:30:00+00:00"


def test_a_missed_week_is_sent_at_start_up_once(
    tracker: Tracker, database_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    # Cron at Monday 00:00: the slot of the last ended week has always passed, whatever the day the test runs.
    settings: Settings = make_settings(database_url, smtp.url, tmp_path, digest_cron="0 0 * * mon")
    subscribe(tracker, "ann@example.org")
    last = IsoWeek.last_ended(utc_now(), ZoneInfo("UTC"))
    assert retry_job(tracker, settings) is not None and week_status(tracker.store, last)["started"] is False, (
        "the retry job never starts a week")
    report = catch_up_job(tracker, settings)
    assert report is not None and report.week == last.label and report.sent == ["ann@example.org"]
    (message,) = smtp.recorder.messages()
    assert last.label in message["Subject"] and "no changes" in message["Subject"]
    again = catch_up_job(tracker, settings)
    assert again is not None and again.sent == [] and len(smtp.recorder.received) == 1
    assert week_status(tracker.store, last) == {"week": last.label, "started": True, "finished": True,
                                                "pending": 0, "intended": 0, "sent": 1, "failed": 0, "skipped": 0}


def test_catch_up_waits_for_the_slot(tracker: Tracker, database_url: str, smtp: SmtpServer, tmp_path: Path) -> None:
    settings = make_settings(database_url, smtp.url, tmp_path)
    subscribe(tracker, "ann@example.org")
    monday_early = datetime(2025, 3, 31, 6, 0, tzinfo=UTC)  # W13 ended, its 07:00 slot not yet come
    assert catch_up_job(tracker, settings, now=monday_early) is None
    assert smtp.recorder.received == []


def test_the_weekly_job_sends_only_the_ended_week_and_retries_serve_a_late_subscriber_once(
    tracker: Tracker, database_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    from tracker.digest.schedule import weekly_job

    settings = make_settings(database_url, smtp.url, tmp_path)
    subscribe(tracker, "ann@example.org")
    report = weekly_job(tracker, settings)
    last = IsoWeek.last_ended(utc_now(), ZoneInfo("UTC"))
    assert report is not None and report.week == last.label and report.sent == ["ann@example.org"]
    assert last.end(ZoneInfo("UTC")) <= utc_now(), "only a week that is over"
    current = IsoWeek.containing(utc_now().date())
    assert week_status(tracker.store, current)["started"] is False
    subscribe(tracker, "late@example.org")
    late = retry_job(tracker, settings)
    assert late is not None and late.sent == ["late@example.org"] and late.already_done == 1
    again = retry_job(tracker, settings)
    assert again is not None and again.sent == [] and len(smtp.recorder.received) == 2
