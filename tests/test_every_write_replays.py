"""Every kind of write the product makes, then a replay: the live read models must equal the rebuilt ones.

Writes go through the product's own entry points (seeding, a feed pass against a real local feed server, the
HTTP API, the digest sender, the CLI for checkpoints), on SQLite and PostgreSQL, and the check is the one an
auditor runs: `tracker audit replay --check`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.ingest.feedserver import FeedServer, Reply
from tests.test_ingest_flow import ARMS, ENERGY, FOOTBALL, rss
from tracker.api.app import create_app
from tracker.config import Settings
from tracker.digest.week import IsoWeek
from tracker.projections import rebuild
from tracker.repository.unit_of_work import Tracker
from tracker.seeding import seed
from tracker.service.users import add_user
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.store.envelope import utc_now

ROOT = Path(__file__).resolve().parents[1]
SECRET = "every-write-secret-0123456789abcdef0123456789"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def _cli(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ, "TRACKER_DATABASE_URL": url, "TRACKER_AUDIT_KEY_FILE": str(tmp_path / "audit.pem"),
        "TRACKER_FEEDS_FILE": str(tmp_path / "none.toml"), "TRACKER_DIGEST_SECRET": SECRET,
    }
    return subprocess.run([sys.executable, "-m", "tracker.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_every_kind_of_write_replays_to_the_live_read_models(
    database_url: str, tmp_path: Path, server: FeedServer
) -> None:
    engine = make_engine(database_url)
    store = EventStore(engine)
    tracker = Tracker(store)
    settings = Settings(
        database_url=database_url, allow_private_feeds=True, audit_key_file=str(tmp_path / "audit.pem"),
        feeds_file=str(tmp_path / "none.toml"), digest_secret=SECRET, digest_secret_file=str(tmp_path / "secret"),
        outbox_dir=str(tmp_path / "outbox"), public_base_url="https://tracker.example", timezone="UTC",
    )
    seed(tracker, ROOT / "seeds")
    admin = {"Authorization": f"Bearer {add_user(engine, 'admin', 'admin')}"}
    editor = {"Authorization": f"Bearer {add_user(engine, 'editor', 'editor')}"}
    try:
        with TestClient(create_app(store, settings, tracker)) as client:
            def ok(response: object, status: int = 200) -> dict:
                assert response.status_code == status, response.text  # type: ignore[attr-defined]
                return response.json()  # type: ignore[attr-defined]

            # a feed added through the API and fetched: evidence, suggestions, feed events, fetch state
            url = server.route("/wire.xml", Reply(body=rss(ENERGY, ARMS, FOOTBALL)))
            ok(client.post("/feeds", json={"name": "Wire", "url": url}, headers=editor), 201)
            assert ok(client.post("/feeds/wire/fetch", headers=editor))["items_new"] == 3

            suggested = ok(client.get("/matches", params={"state": "suggested", "limit": 50}, headers=editor))
            first, second, *_ = suggested["items"]
            ok(client.post(f"/matches/{first['id']}/confirm", json={"stance": "supports"}, headers=editor))
            ok(client.post(f"/matches/{second['id']}/reject", json={"reason": "off topic"}, headers=editor))
            ok(client.post(f"/matches/{first['id']}/retract", headers=editor))

            # attach by hand, resolve, reopen
            ok(client.post("/propositions/energy-moratorium-breached/evidence", headers=editor, json={
                "url": "https://news.example.org/by-hand", "title": "Strike on a power plant during the truce",
                "published_at": "2025-04-01T08:00:00Z", "stance": "supports",
            }), 201)
            ok(client.post("/propositions/energy-moratorium-breached/resolve", json={"outcome": "confirmed"},
                           headers=editor))
            ok(client.post("/propositions/energy-moratorium-breached/reopen", headers=editor))

            # subscribers: add, change, remove, and one kept for the digest
            created = ok(client.post("/subscribers", json={"email": "ana@example.org", "name": "Ana"},
                                     headers=editor), 201)
            ok(client.patch(f"/subscribers/{created['id']}", json={"quiet_weeks": "skip"}, headers=editor))
            ok(client.delete(f"/subscribers/{created['id']}", headers=editor))
            ok(client.post("/subscribers", json={"email": "bo@example.org", "name": "Bo"}, headers=editor), 201)

            # the digest of a week that has ended: its ledger events
            week = IsoWeek.containing((utc_now() - timedelta(days=7)).date())
            ok(client.post("/digests/send", params={"week": week.label}, headers=editor))

            # users: add and revoke (a plain table, outside the events, must not disturb the check)
            ok(client.post("/users", json={"name": "temp", "role": "reader"}, headers=admin), 201)
            ok(client.post("/users/temp/revoke", headers=admin))
        head = store.head()
        checkpoint = _cli(database_url, tmp_path, "audit", "checkpoint")
        assert checkpoint.returncode == 0, checkpoint.stderr
        assert store.head() == head + 1

        types = {e.event_type for e in store.read_all()}
        for expected in ("PropositionRegistered", "EvidenceIngested", "MatchSuggested", "MatchConfirmed",
                         "MatchRejected", "MatchRetracted", "PropositionResolved", "PropositionReopened",
                         "SubscriberAdded", "SubscriberChanged", "SubscriberRemoved", "CheckpointRecorded"):
            assert expected in types, expected
        assert any(t.startswith("Digest") for t in types), types

        replay = _cli(database_url, tmp_path, "audit", "replay", "--check")
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert rebuild.check(store) == []
    finally:
        engine.dispose()
