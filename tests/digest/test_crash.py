"""Exactly once across processes: a sender killed between two recipients, a sender killed after SMTP
accepted a message but before it was recorded, and two senders racing on the same week.

The senders are real `tracker digest send` processes; TRACKER_DIGEST_FAULT makes one exit hard (os._exit,
no cleanup) at a chosen point, as a kill -9 would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.conftest import ROOT
from tests.digest.conftest import SECRET, subscribe, this_week
from tests.digest.smtpserver import SmtpServer
from tracker.digest import ledger
from tracker.repository.unit_of_work import Tracker

EMAILS = [f"reader{i}@example.org" for i in range(5)]


def _env(database_url: str, smtp: SmtpServer, tmp_path: Path, fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({
        "PYTHONPATH": str(ROOT), "TRACKER_DATABASE_URL": database_url, "TRACKER_SMTP_URL": smtp.url,
        "TRACKER_DIGEST_SECRET": SECRET, "TRACKER_PUBLIC_BASE_URL": "https://tracker.example",
        "TRACKER_TIMEZONE": "UTC", "TRACKER_OUTBOX_DIR": str(tmp_path / "outbox"),
    })
    if fault:
        env["TRACKER_DIGEST_FAULT"] = fault
    return env


def _send(database_url: str, smtp: SmtpServer, tmp_path: Path, fault: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "digest", "send", "--week", this_week().label],
        cwd=tmp_path, env=_env(database_url, smtp, tmp_path, fault), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def _recipients(smtp: SmtpServer) -> Counter[str]:
    return Counter(r.rcpt_tos[0] for r in smtp.recorder.received)


def _types(tracker: Tracker) -> list[str]:
    return [e.event_type for e in tracker.store.read_stream(ledger.stream_id(this_week().label))]


def test_killed_between_recipients_the_rerun_sends_only_the_missing(
    tracker: Tracker, database_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    for email in EMAILS:
        subscribe(tracker, email)
    code, _, _ = _finish(_send(database_url, smtp, tmp_path, fault="exit-after-sent=2"))
    assert code == 75, "the fault hook did not fire"
    assert sum(_recipients(smtp).values()) == 2
    assert _types(tracker).count("DigestSent") == 2

    code, out, err = _finish(_send(database_url, smtp, tmp_path))
    assert code == 0, err
    assert "3 sent" in out and "2 already done" in out
    assert _recipients(smtp) == Counter(EMAILS), "each reader exactly once"
    code, out, _ = _finish(_send(database_url, smtp, tmp_path))
    assert code == 0 and "0 sent" in out and sum(_recipients(smtp).values()) == len(EMAILS)


def test_killed_after_smtp_accepted_the_message_is_resent_with_the_same_message_id(
    tracker: Tracker, database_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    for email in EMAILS[:3]:
        subscribe(tracker, email)
    code, _, _ = _finish(_send(database_url, smtp, tmp_path, fault="exit-after-smtp=1"))
    assert code == 75
    assert _types(tracker) == ["DigestStarted", "DigestIntended"], "the claim is recorded, the outcome is not"
    (first,) = smtp.recorder.received

    code, out, err = _finish(_send(database_url, smtp, tmp_path))
    assert code == 0, err
    counts = _recipients(smtp)
    assert sorted(counts) == sorted(EMAILS[:3])
    assert counts[first.rcpt_tos[0]] == 2, "the unconfirmed message goes out again"
    copies = [m for m in smtp.recorder.messages() if m["To"].addresses[0].addr_spec == first.rcpt_tos[0]]
    assert copies[0]["Message-ID"] == copies[1]["Message-ID"], "same Message-ID, so the receiver can dedupe"
    events = tracker.store.read_stream(ledger.stream_id(this_week().label))
    resent = [e.payload for e in events if e.event_type == "DigestSent"
              and e.payload["message_id"] == copies[0]["Message-ID"]]
    assert [p["attempt"] for p in resent] == [2]


def test_two_senders_at_once_serve_each_subscriber_once(
    tracker: Tracker, database_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    many = [f"r{i}@example.org" for i in range(12)]
    for email in many:
        subscribe(tracker, email)
    go = tmp_path / "go"
    processes = [_send(database_url, smtp, tmp_path, fault=f"hold-until={go}") for _ in range(2)]
    while len(list(tmp_path.glob("go.ready.*"))) < 2 and all(p.poll() is None for p in processes):
        time.sleep(0.02)  # both senders have read the ledger and wait at the start line
    go.touch()
    results = [_finish(p) for p in processes]
    assert all(code == 0 for code, _, _ in results), [err for _, _, err in results]
    assert _recipients(smtp) == Counter(many)
    types = Counter(_types(tracker))
    assert types["DigestStarted"] == 1 and types["DigestSent"] == len(many) and types["DigestIntended"] == len(many)
