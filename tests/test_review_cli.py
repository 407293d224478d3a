"""`tracker review ...` run as a real subprocess against a real SQLite file: the controls work, and a mistake
ends as one line on stderr with a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_cli import assert_one_line_error
from tracker.domain import evidence as evidence_domain
from tracker.domain import proposition as domain
from tracker.repository.unit_of_work import Tracker, evidence_stream, proposition_stream
from tracker.store import EventStore
from tracker.store.engine import make_engine


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACKER_DATABASE_URL": url, "TRACKER_FEEDS_FILE": str(ROOT / "no-such-feeds.toml")}
    return subprocess.run([sys.executable, "-m", "tracker.cli", "review", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def store(sqlite_url: str) -> EventStore:
    engine = make_engine(sqlite_url)
    tracker = Tracker(EventStore(engine))
    with tracker.unit_of_work(actor="system:test") as uow:
        uow.execute(proposition_stream("p1"), domain.RegisterProposition(
            proposition_id="p1", kind="claim", statement="Talks stalled in the spring"))
        for n, (feed, score) in enumerate([("wire", 0.2), ("wire", 0.7), ("tass", 0.3)], 1):
            uow.execute(evidence_stream(f"e{n}"), evidence_domain.IngestEvidence(
                evidence_id=f"e{n}", title=f"Item {n}", link=f"https://news.example.org/{n}", summary="",
                published_at="2025-04-01T08:00:00.000000Z", published_is_fetch_time=False, feed=feed, guid=str(n),
                language="en", content_hash=str(n)))
            uow.execute(proposition_stream("p1"), domain.SuggestMatch(f"m{n}", f"e{n}", score))
    return tracker.store


def state(store: EventStore) -> domain.Proposition:
    loaded = Tracker(store).proposition("p1")
    return loaded.state


def test_mute_unmute_and_window(store: EventStore, sqlite_url: str) -> None:
    muted = run(sqlite_url, "mute", "p1", "--reason", "noisy")
    assert muted.returncode == 0, muted.stderr
    assert "matching muted for p1" in muted.stdout
    assert state(store).muted and state(store).muted_reason == "noisy"
    assert_one_line_error(run(sqlite_url, "mute", "p1"), "already muted")

    unmuted = run(sqlite_url, "unmute", "p1", "--no-backfill")
    assert unmuted.returncode == 0, unmuted.stderr
    assert not state(store).muted

    window = run(sqlite_url, "window", "p1", "--not-before", "2025-03-19", "--not-after", "2025-06-30",
                 "--no-backfill")
    assert window.returncode == 0, window.stderr
    assert "2025-03-19 .. 2025-06-30" in window.stdout
    assert (state(store).window_not_before, state(store).window_not_after) == ("2025-03-19", "2025-06-30")
    cleared = run(sqlite_url, "window", "p1", "--no-backfill")
    assert cleared.returncode == 0 and "open .. open" in cleared.stdout
    assert (state(store).window_not_before, state(store).window_not_after) == (None, None)
    history = [e.event_type for e in store.read_stream("proposition-p1")][-4:]
    assert history == ["MatchingMuted", "MatchingUnmuted", "EvidenceWindowSet", "EvidenceWindowSet"]
    assert {e.actor for e in store.read_stream("proposition-p1")[-4:]} == {"user:cli"}


def test_unmute_backfills_recent_evidence(store: EventStore, sqlite_url: str) -> None:
    assert run(sqlite_url, "mute", "p1").returncode == 0
    unmuted = run(sqlite_url, "unmute", "p1")
    assert unmuted.returncode == 0, unmuted.stderr
    assert "new suggestion(s) from the last" in unmuted.stdout


def test_reject_bulk(store: EventStore, sqlite_url: str) -> None:
    dry = run(sqlite_url, "reject-bulk", "--feed", "wire", "--max-score", "0.5", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == ["would reject 1 suggestion(s)", "m1"]
    head = store.head()
    done = run(sqlite_url, "reject-bulk", "--proposition", "p1", "--max-score", "0.5", "--reason", "noise")
    assert done.returncode == 0, done.stderr
    assert "rejected 2 suggestion(s)" in done.stdout
    recorded = list(store.read_all(head))
    assert [(e.event_type, e.payload["match_id"]) for e in recorded] == [
        ("MatchRejected", "m1"), ("MatchRejected", "m3")]
    assert len({e.correlation_id for e in recorded}) == 1 and recorded[0].correlation_id.startswith("cli:reject-bulk:")
    assert recorded[0].payload["bulk_filter"] == {"state": "suggested", "proposition_id": "p1", "max_score": 0.5}
    assert {m.match_id for m in state(store).matches.values() if m.state == "suggested"} == {"m2"}


@pytest.mark.parametrize(("args", "expected"), [
    (("reject-bulk",), "empty filter"),
    (("reject-bulk", "--reason", "all of it"), "empty filter"),
    (("reject-bulk", "--max-score", "high"), "--max-score must be a number"),
    (("reject-bulk", "--max-score", "nan"), "--max-score must be a number"),
    (("reject-bulk", "--published-before", "last week"), "--published-before must be a date"),
    (("reject-bulk", "--proposition", "nope"), "no proposition nope"),
    (("window", "p1", "--not-before", "2025-13-01"), "--not-before must be a date"),
    (("window", "p1", "--not-before", "2025-05-01", "--not-after", "2025-04-01"), "the window is empty"),
    (("window", "p1", "--no-backfill"), "already"),
    (("mute", "nope"), "no proposition nope"),
    (("unmute", "p1"), "not muted"),
])
def test_mistakes_are_one_line(store: EventStore, sqlite_url: str, args: tuple[str, ...], expected: str) -> None:
    head = store.head()
    assert_one_line_error(run(sqlite_url, *args), expected)
    assert store.head() == head


def test_reject_all_needs_the_flag(store: EventStore, sqlite_url: str) -> None:
    done = run(sqlite_url, "reject-bulk", "--all")
    assert done.returncode == 0, done.stderr
    assert "rejected 3 suggestion(s)" in done.stdout


def test_no_database_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run(f"sqlite:///{tmp_path / 'missing.db'}", "mute", "p1"), "no database")
    assert not (tmp_path / "missing.db").exists()
