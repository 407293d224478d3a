"""The SQLite database holds emails and token hashes: it and its -wal/-shm are readable by their owner only,
whatever the umask of the process that made them."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.test_security import _env, run_server
from tests.conftest import ROOT
from tracker.store.engine import make_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_store_made_by_serve_is_0600_with_its_wal_and_shm(tmp_path: Path) -> None:
    server = next(gen := run_server(["-m", "tracker.cli", "serve", "--no-scheduler"], tmp_path, umask=0o022))
    try:
        connection = server.connect()
        body = {"kind": "claim", "statement": "A write makes SQLite create its WAL and shared memory."}
        connection.request("POST", "/propositions", body=json.dumps(body),
                           headers={"Authorization": f"Bearer {server.admin}", "Content-Type": "application/json"})
        assert connection.getresponse().status == 201
        database = tmp_path / "tracker.db"
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        assert all(f.exists() for f in files)  # the server is still running: WAL and SHM are in use
        assert {f.name: oct(_mode(f)) for f in files} == {f.name: "0o600" for f in files}
    finally:
        gen.close()


def test_an_existing_world_readable_database_is_tightened_by_the_cli(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    env = _env(tmp_path, f"sqlite:///{database}")
    upgrade = [sys.executable, "-m", "tracker.cli", "db", "upgrade"]
    subprocess.run(upgrade, cwd=ROOT, env=env, check=True, capture_output=True)
    database.chmod(0o644)  # as made by an earlier version
    done = subprocess.run(upgrade, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    assert _mode(database) == 0o600
    assert done.stderr == ""  # commands keep their one-line output


def test_serve_tightens_an_existing_database_and_says_so(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    make_engine(f"sqlite:///{database}").dispose()
    database.chmod(0o644)
    server = next(gen := run_server(["-m", "tracker.cli", "serve", "--no-scheduler"], tmp_path))
    try:
        assert _mode(database) == 0o600
        assert server.text().count(f"tightened {database} from 644 to 600") == 1, server.text()
    finally:
        gen.close()


def test_tightening_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    database = tmp_path / "old.db"
    make_engine(f"sqlite:///{database}").dispose()
    for suffix in ("", "-wal"):
        Path(f"{database}{suffix}").touch()
        Path(f"{database}{suffix}").chmod(0o664)
    with caplog.at_level(logging.INFO, logger="tracker.store"):
        make_engine(f"sqlite:///{database}").dispose()
        make_engine(f"sqlite:///{database}").dispose()
    assert _mode(database) == _mode(Path(f"{database}-wal")) == 0o600
    assert [r.getMessage() for r in caplog.records] == [
        f"tightened {database} from 664 to 600: it holds emails and token hashes",
        f"tightened {database}-wal from 664 to 600: it holds emails and token hashes",
    ]


def test_engine_creation_makes_the_file_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    previous = os.umask(0o000)  # the worst case: files would otherwise be 0666
    try:
        engine = make_engine(f"sqlite:///{database}")
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x TEXT)")
            connection.exec_driver_sql("INSERT INTO t VALUES ('a@example.org')")
            wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
            assert _mode(database) == _mode(wal) == _mode(shm) == 0o600
        engine.dispose()
    finally:
        os.umask(previous)


def test_in_memory_databases_are_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a file named ":memory:" or "" would land here
    engine = make_engine("sqlite://")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()
    assert list(tmp_path.iterdir()) == []
