"""`tracker subscribers …` and `tracker digest …` as real subprocesses on a SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from tests.conftest import ROOT
from tests.digest.conftest import SECRET, this_week
from tests.digest.smtpserver import SmtpServer
from tracker.digest.week import IsoWeek
from tracker.store.envelope import utc_now


def run(url: str, tmp_path: Path, *args: str, smtp_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({"PYTHONPATH": str(ROOT), "TRACKER_DATABASE_URL": url, "TRACKER_DIGEST_SECRET": SECRET,
                "TRACKER_OUTBOX_DIR": str(tmp_path / "outbox")})
    if smtp_url:
        env["TRACKER_SMTP_URL"] = smtp_url
    return subprocess.run([sys.executable, "-m", "tracker.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_subscribers_and_digest_commands(sqlite_url: str, tmp_path: Path, smtp: SmtpServer) -> None:
    added = run(sqlite_url, tmp_path, "subscribers", "add", "Ann@Example.ORG", "--name", "Ann",
                "--actor", "Atlantis", "--topic", "truce", "--quiet-weeks", "note")
    assert added.returncode == 0, added.stderr
    assert "subscribed Ann@example.org" in added.stdout
    assert run(sqlite_url, tmp_path, "subscribers", "add", "bob@example.org").returncode == 0
    listed = run(sqlite_url, tmp_path, "subscribers", "list")
    assert "follows actors=Atlantis; topics=truce" in listed.stdout and "bob@example.org" in listed.stdout

    week = this_week().label
    preview = run(sqlite_url, tmp_path, "digest", "preview", "--week", week, "--subscriber", "ann@example.org")
    assert preview.returncode == 0, preview.stderr
    html = Path(preview.stdout.split("html: ")[1].splitlines()[0])
    text = Path(preview.stdout.split("text: ")[1].splitlines()[0])
    assert html.is_file() and text.is_file() and "Hello Ann," in text.read_text()

    sent = run(sqlite_url, tmp_path, "digest", "send", "--week", week, smtp_url=smtp.url)
    assert sent.returncode == 0, sent.stderr
    assert f"digest {week}: 2 sent" in sent.stdout
    assert sorted(r.rcpt_tos[0] for r in smtp.recorder.received) == ["Ann@example.org", "bob@example.org"]
    assert "0 sent" in run(sqlite_url, tmp_path, "digest", "send", "--week", week, smtp_url=smtp.url).stdout

    removed = run(sqlite_url, tmp_path, "subscribers", "remove", "bob@example.org")
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert "already removed" in run(sqlite_url, tmp_path, "subscribers", "remove", "bob@example.org").stdout
    assert "bob@example.org" not in run(sqlite_url, tmp_path, "subscribers", "list").stdout


def test_mistakes_are_one_line(sqlite_url: str, tmp_path: Path) -> None:
    for args, expected in [
        (("subscribers", "add", "not-an-address"), "plain address"),
        (("subscribers", "remove", "nobody@example.org"), "no subscriber"),
        (("digest", "preview", "--week", "2025-W60"), "not a week"),
        (("digest", "preview", "--subscriber", "nobody@example.org"), "no subscriber"),
    ]:
        result = run(sqlite_url, tmp_path, *args)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert len(lines) == 1 and expected in lines[0], (args, result.stderr)
    current = IsoWeek.containing(utc_now().date()).label
    future = IsoWeek.containing(utc_now().date() + timedelta(days=30)).label
    for week in (current, future):
        refused = run(sqlite_url, tmp_path, "digest", "send", "--week", week)
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert refused.returncode != 0 and len(lines) == 1 and f"week {week} has not ended yet" in lines[0], lines
    assert not (tmp_path / "outbox").exists()
    down = run(sqlite_url, tmp_path, "digest", "send", "--week", this_week().label, smtp_url="smtp://127.0.0.1:1?x=1")
    assert down.returncode != 0 and "unknown option" in down.stderr and "Traceback" not in down.stderr


def test_subscribers_change_replaces_filters(sqlite_url: str, tmp_path: Path) -> None:
    assert run(sqlite_url, tmp_path, "subscribers", "add", "cy@example.org", "--actor", "Atlantis").returncode == 0
    changed = run(sqlite_url, tmp_path, "subscribers", "change", "cy@example.org", "--topic", "truce",
                  "--quiet-weeks", "skip")
    assert changed.returncode == 0, changed.stderr
    assert "changed cy@example.org" in changed.stdout
    listed = run(sqlite_url, tmp_path, "subscribers", "list").stdout
    assert "quiet=skip" in listed and "follows topics=truce" in listed and "Atlantis" not in listed
    same = run(sqlite_url, tmp_path, "subscribers", "change", "cy@example.org", "--quiet-weeks", "skip")
    assert "nothing to change" in same.stdout
    everything = run(sqlite_url, tmp_path, "subscribers", "change", "cy@example.org", "--everything")
    assert everything.returncode == 0
    assert "follows everything" in run(sqlite_url, tmp_path, "subscribers", "list").stdout
    missing = run(sqlite_url, tmp_path, "subscribers", "change", "nobody@example.org", "--name", "X")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
