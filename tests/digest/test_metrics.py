"""Digest sends in the metrics: a real send to a real SMTP server, one refusal, a rerun that owes nothing."""

from __future__ import annotations

from tests.api.test_observability import sample
from tests.digest.conftest import World
from tests.digest.smtpserver import SmtpServer
from tracker.config import Settings
from tracker.digest.service import send_week
from tracker.observability import metrics
from tracker.repository.unit_of_work import Tracker


def _sends() -> dict[str, float]:
    text = metrics.exposition().decode()
    return {result: sample(text, "tracker_digest_sends_total", result=result) for result in metrics.DIGEST_RESULTS}


def test_digest_sends_are_counted_by_result(tracker: Tracker, settings: Settings, smtp: SmtpServer,
                                           world: World) -> None:
    before = _sends()
    smtp.recorder.refuse["bob@example.org"] = "451 4.3.0 Try again later"
    report = send_week(tracker, settings, world.week)
    assert (report.sent, len(report.failed)) == (["ann@example.org"], 1)
    middle = _sends()
    assert (middle["sent"] - before["sent"], middle["failed"] - before["failed"]) == (1, 1)
    smtp.recorder.refuse.clear()
    send_week(tracker, settings, world.week, resume_only=True)  # Bob's back-off is not over: nothing is sent
    send_week(tracker, settings, world.week)
    after = _sends()
    assert after["sent"] - before["sent"] == len(smtp.recorder.received)
    assert after["failed"] - before["failed"] == 1
