"""The editors' matcher controls written through the HTTP API against a real feed pass, then a replay: the live
read models must equal the rebuilt ones (the check an auditor runs), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.ingest.feedserver import FeedServer, Reply
from tests.test_matching_controls_flow import APRIL, ARMS, ENERGY, LATER, MARCH, rss
from tracker.api.app import create_app
from tracker.config import Settings
from tracker.projections import rebuild
from tracker.projections.tables import propositions
from tracker.repository.unit_of_work import Tracker
from tracker.seeding import seed
from tracker.service.users import add_user
from tracker.store import EventStore
from tracker.store.engine import make_engine

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def test_controls_replay_to_the_live_read_models(database_url: str, tmp_path: Path, server: FeedServer) -> None:
    engine = make_engine(database_url)
    store = EventStore(engine)
    tracker = Tracker(store)
    settings = Settings(database_url=database_url, allow_private_feeds=True, audit_key_file=str(tmp_path / "a.pem"),
                        feeds_file=str(tmp_path / "none.toml"), backfill_days=100_000)
    seed(tracker, ROOT / "seeds")
    editor = {"Authorization": f"Bearer {add_user(engine, 'editor', 'editor')}"}
    try:
        with TestClient(create_app(store, settings, tracker)) as client:
            def ok(response: object, status: int = 200) -> dict:
                assert response.status_code == status, response.text  # type: ignore[attr-defined]
                return response.json()  # type: ignore[attr-defined]

            ok(client.post(f"/propositions/{ENERGY}/mute", json={"reason": "noisy"}, headers=editor))
            url = server.route("/wire.xml", Reply(body=rss(APRIL, MARCH, ARMS)))
            ok(client.post("/feeds", json={"name": "Wire", "url": url}, headers=editor), 201)
            assert ok(client.post("/feeds/wire/fetch", headers=editor))["items_new"] == 3
            queued = ok(client.get("/matches", params={"proposition_id": ENERGY}, headers=editor))["items"]
            assert queued == []  # muted: the pass suggested nothing for it

            ok(client.post(f"/propositions/{ENERGY}/evidence-window", json={"not_after": "2025-03-31"},
                           headers=editor))
            ok(client.post(f"/propositions/{ENERGY}/unmute", headers=editor))  # then the backfill runs
            queued = ok(client.get("/matches", params={"proposition_id": ENERGY}, headers=editor))["items"]
            assert {m["evidence"]["link"].rsplit("/", 1)[1] for m in queued} == {"mar"}  # April is outside

            detail = ok(client.get(f"/propositions/{ENERGY}", headers=editor))
            assert detail["muted"] is False and detail["evidence_window"]["not_after"] == "2025-03-31"

            url2 = server.route("/late.xml", Reply(body=rss(LATER)))
            ok(client.post("/feeds", json={"name": "Late", "url": url2}, headers=editor), 201)
            ok(client.post("/feeds/late/fetch", headers=editor))
            ok(client.post(f"/propositions/{ENERGY}/evidence-window", json={}, headers=editor))  # cleared
            bulk = ok(client.post("/matches/reject", json={"feed": "wire", "reason": "wire noise"}, headers=editor))
            assert bulk["rejected"] >= 2
            ok(client.post(f"/propositions/{ENERGY}/mute", headers=editor))

        with engine.connect() as connection:
            row = json.loads(connection.execute(
                sa.select(propositions.c.state).where(propositions.c.proposition_id == ENERGY)).scalar_one())
            untouched = json.loads(connection.execute(
                sa.select(propositions.c.state).where(propositions.c.proposition_id != ENERGY).limit(1)).scalar_one())
        assert row["muted"] is True and "window_not_after" not in row  # cleared controls leave the column
        assert not {"muted", "muted_reason", "window_not_before", "window_not_after"} & set(untouched)

        types = {e.event_type for e in store.read_all()}
        assert {"MatchingMuted", "MatchingUnmuted", "EvidenceWindowSet", "MatchRejected"} <= types
        env = {**os.environ, "TRACKER_DATABASE_URL": database_url, "TRACKER_AUDIT_KEY_FILE": str(tmp_path / "a.pem"),
               "TRACKER_FEEDS_FILE": str(tmp_path / "none.toml")}
        replay = subprocess.run([sys.executable, "-m", "tracker.cli", "audit", "replay", "--check"], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=300)
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert rebuild.check(store) == []
    finally:
        engine.dispose()
