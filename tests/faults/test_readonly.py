"""A read-only SQLite database: writes fail with a clear message (CLI: one line; API: 503 problem+json),
reads keep working, and nothing is half-written.

The test runs as root, which file permissions do not stop, so the file is opened read-only the way SQLite
itself enforces it (`mode=ro` URI); the error path in the tracker is the same as for a read-only file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.digest.smtpserver import free_port
from tests.faults.conftest import child_env
from tracker.repository.unit_of_work import Tracker
from tracker.seeding import seed
from tracker.service.users import add_user
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.store.migrate import upgrade


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_only_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "tracker.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    store = EventStore(engine)
    seed(Tracker(store), ROOT / "seeds")
    token = add_user(engine, "editor", "editor")
    head = store.head()
    engine.dispose()  # last connection closed: the WAL is checkpointed into the file
    if os.geteuid() != 0:
        path.chmod(0o444)
    before = _digest(path)
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    env = child_env(read_only, TRACKER_SEEDS_DIR=str(ROOT / "seeds"), TRACKER_FEEDS_FILE=str(tmp_path / "none.toml"))

    for args in (["users", "add", "someone", "--role", "reader"], ["audit", "replay"]):
        result = subprocess.run([sys.executable, "-m", "tracker.cli", *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip() and "replaying" not in line]
        assert len(lines) == 1 and "readonly" in lines[0], result.stderr
    verify = subprocess.run([sys.executable, "-m", "tracker.cli", "audit", "verify"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0 and "chain intact" in verify.stdout, verify.stderr

    port = free_port()
    log = tmp_path / "serve.log"
    process = subprocess.Popen([sys.executable, "-m", "tracker.cli", "serve", "--port", str(port), "--no-scheduler"],
                               cwd=tmp_path, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    client.get("/health")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            assert client.get("/propositions").status_code == 200, "reads keep working"
            refused = client.post("/propositions", json={
                "id": "read-only", "kind": "claim", "statement": "A made-up claim that cannot be stored.",
                "actors": []})
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert "read-only" in refused.json()["detail"]
            assert client.get("/health").json()["position"] == head
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert _digest(path) == before, "the database file is byte for byte unchanged"
    assert "unhandled error" not in log.read_text()
