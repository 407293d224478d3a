"""The WAL checkpointer: while it runs, commits leave checkpoints to its thread (the log grows past SQLite's
1,000 pages instead of a commit copying it back); its thread checkpoints; stopped, SQLite's default is back."""

from __future__ import annotations

import os
import time
from pathlib import Path

import sqlalchemy as sa

from tracker.store.checkpointer import SQLITE_DEFAULT_PAGES, WalCheckpointer
from tracker.store.engine import make_engine

PAGE = 4096


def _write_pages(engine: sa.Engine, pages: int) -> None:
    """Commits of ~20 pages each, as a bulk reject makes."""
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, body BLOB)")
    for _ in range(pages // 20):
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO blobs (body) VALUES (?)", (os.urandom(20 * PAGE),))


def _autocheckpoint(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()


def _wal_pages(db: Path) -> int:
    return os.path.getsize(f"{db}-wal") // PAGE


def test_commits_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    engine = make_engine(f"sqlite:///{db}")
    checkpointer = WalCheckpointer(engine, every=3600)  # its thread never gets round to it in this test
    checkpointer.start()
    try:
        assert _autocheckpoint(engine) == 0
        _write_pages(engine, 2 * SQLITE_DEFAULT_PAGES)
        assert _wal_pages(db) > 1.5 * SQLITE_DEFAULT_PAGES  # no commit copied the log back
    finally:
        checkpointer.stop()  # one last checkpoint
    busy, logged, done = checkpointer.checkpoint()
    assert busy == 0 and logged == done
    assert _autocheckpoint(engine) == SQLITE_DEFAULT_PAGES
    engine.dispose()


def test_without_it_a_commit_checkpoints(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    engine = make_engine(f"sqlite:///{db}")
    _write_pages(engine, 2 * SQLITE_DEFAULT_PAGES)
    assert _wal_pages(db) < 1.2 * SQLITE_DEFAULT_PAGES  # the log was reset after a commit's checkpoint
    engine.dispose()


def test_the_thread_checkpoints(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    engine = make_engine(f"sqlite:///{db}")
    checkpointer = WalCheckpointer(engine, every=0.02)
    checkpointer.start()
    try:
        _write_pages(engine, 200)
        deadline = time.monotonic() + 10
        while os.path.getsize(db) < 200 * PAGE and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.path.getsize(db) >= 200 * PAGE  # the thread copied the log into the database file
        assert checkpointer.checkpoints >= 1
    finally:
        checkpointer.stop()
    engine.dispose()


def test_a_database_gone_at_shutdown_is_not_created_again(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    engine = make_engine(f"sqlite:///{db}")
    _write_pages(engine, 40)
    checkpointer = WalCheckpointer(engine, every=3600)
    checkpointer.start()
    engine.dispose()
    for file in tmp_path.iterdir():
        file.unlink()
    checkpointer.stop()  # its last checkpoint fails, quietly
    assert list(tmp_path.iterdir()) == []


def test_postgres_and_memory_databases_are_left_alone() -> None:
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    checkpointer = WalCheckpointer(engine)
    checkpointer.start()
    assert not checkpointer.running
    checkpointer.stop()
    memory = WalCheckpointer(sa.create_engine("sqlite://"))
    memory.start()
    assert not memory.running
