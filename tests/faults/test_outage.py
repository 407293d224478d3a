"""PostgreSQL going away mid-request: its backends terminated under traffic (pg_terminate_backend), then
unreachable altogether (a proxy in front of it cut). Requests fail as 503 problem+json, never 500; the
service recovers by itself when the database is back; acknowledged writes are all there, once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import ROOT, drop_pg_schema, make_pg_schema_url, pg_base_url
from tests.digest.smtpserver import free_port
from tests.faults.tcpproxy import TcpProxy
from tracker.audit.checks import verify_log
from tracker.service.users import add_user
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.store.migrate import upgrade

pytestmark = pytest.mark.postgres
PROBLEM = "application/problem+json"


@pytest.fixture
def pg() -> Iterator[tuple[str, str]]:
    base = pg_base_url()
    url, schema = make_pg_schema_url(base)
    upgrade(url)
    try:
        yield url, schema
    finally:
        drop_pg_schema(base, schema)


def proposition(pid: str) -> dict[str, object]:
    return {"id": pid, "kind": "prediction", "statement": f"Made-up outage proposition {pid} holds.", "actors": []}


def test_database_going_away(pg: tuple[str, str], tmp_path: Path) -> None:
    url, schema = pg
    engine = make_engine(url)
    token = add_user(engine, "editor", "editor")
    target = sa.engine.make_url(url)
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
    proxy.up()
    app_name = f"faults-{schema}"
    proxied = target.set(host="127.0.0.1", port=proxy.port).update_query_dict({"application_name": app_name})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({"PYTHONPATH": str(ROOT), "TRACKER_DATABASE_URL": proxied.render_as_string(hide_password=False),
                "TRACKER_FEEDS_FILE": str(tmp_path / "none.toml"), "TRACKER_SEEDS_DIR": str(tmp_path / "no-seeds")})
    log = tmp_path / "serve.log"
    process = subprocess.Popen([sys.executable, "-m", "tracker.cli", "serve", "--port", str(port), "--no-scheduler"],
                               cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
            _wait_ok(client, process, log, 60)
            acknowledged = _terminate_under_traffic(client, engine, app_name)

            proxy.down()  # the database is gone for this service
            for method, path, body in [("GET", "/propositions", None), ("GET", "/health", None),
                                       ("POST", "/propositions", proposition("during-outage"))]:
                response = client.request(method, path, json=body)
                assert response.status_code == 503, (path, response.status_code, response.text)
                assert response.headers["content-type"].startswith(PROBLEM)
                assert response.json()["type"].endswith("/database-unavailable")
                assert response.headers["retry-after"]
            proxy.up()
            recovered = _wait_ok(client, process, log, 15)  # no restart: the pool reconnects by itself
            print(f"\nrecovered {recovered:.2f} s after the database came back; "
                  f"{len(acknowledged)} writes acknowledged under pg_terminate_backend")

            assert client.get("/propositions/during-outage").status_code == 404, "a refused write left nothing"
            assert client.post("/propositions", json=proposition("during-outage")).status_code == 201
    finally:
        process.terminate()
        process.wait(timeout=15)
        proxy.down()
    with engine.connect() as connection:
        registered = Counter(connection.execute(sa.text(
            "SELECT stream_id FROM events WHERE event_type = 'PropositionRegistered'")).scalars())
    assert set(registered.values()) == {1}
    assert {f"proposition-{pid}" for pid in acknowledged} <= set(registered), "an acknowledged write was lost"
    assert verify_log(EventStore(engine)).ok
    engine.dispose()
    # (SQLAlchemy's pool logs the dead connections it discards, with a traceback: expected; a request that
    # crashed would show up as one of these.)
    for crash in ("unhandled error", "Exception in ASGI application"):
        assert crash not in log.read_text(), log.read_text()[-3000:]


def _wait_ok(client: httpx.Client, process: subprocess.Popen[bytes], log: Path, timeout: float) -> float:
    start = time.monotonic()
    while True:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if client.get("/propositions").status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        assert time.monotonic() - start < timeout, "the service did not recover"
        time.sleep(0.1)


def _terminate_under_traffic(client: httpx.Client, engine: sa.Engine, app_name: str) -> list[str]:
    """Writers and readers keep going while the service's backends are terminated again and again."""
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    acknowledged: list[str] = []
    bad: list[str] = []

    def traffic(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            pid = f"t{worker}-{n}"
            for response in (client.post("/propositions", json=proposition(pid)), client.get("/propositions")):
                statuses[response.status_code] += 1
                if response.status_code not in (200, 201, 503):
                    bad.append(f"{response.status_code} {response.text[:200]}")
                elif response.status_code == 503 and not response.headers["content-type"].startswith(PROBLEM):
                    bad.append("503 without problem+json")
            if client.get(f"/propositions/{pid}").status_code == 200:
                acknowledged.append(pid)

    threads = [threading.Thread(target=traffic, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    terminated = 0
    with engine.connect() as connection:
        for _ in range(15):
            time.sleep(0.15)
            terminated += connection.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :name"
            ), {"name": app_name}).scalar() or 0
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not bad, bad[:5]
    assert terminated > 0, "no backend of the service was terminated"
    assert statuses[201] > 0
    print(f"\npg_terminate_backend x{terminated}: responses {dict(statuses)}")
    return acknowledged
