"""SQLite writers queue on `<database>.writer` (tracker/store/writer_queue.py): held for a write transaction's
whole life, let go at its end (also when it fails), re-entrant, owner-only, and absent for in-memory stores."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.store.envelope import NewEvent
from tracker.store.migrate import upgrade
from tracker.store.writer_queue import WriterQueue, writer_lock_path


def _taken(path: Path) -> bool:
    """Whether another open file description (as another process would have) finds the lock taken."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also lets go of the lock if it was ours
    return False


def test_a_write_transaction_holds_the_queue_until_it_ends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = EventStore(engine)
    lock = tmp_path / "tracker.db.writer"
    try:
        with store.transaction() as tx:
            assert _taken(lock)
            tx.append("s-1", 0, [NewEvent("Noted", {"n": 1})], actor="test")
        assert not _taken(lock)
        assert oct(lock.stat().st_mode & 0o777) == "0o600"
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.append("s-1", 1, [NewEvent("Noted", {"n": 2})], actor="test")
            raise RuntimeError("the command failed")
        assert not _taken(lock)
        assert store.head() == 1  # the failed transaction appended nothing
    finally:
        engine.dispose()


def test_the_queue_is_reentrant_and_lets_go_at_the_outermost_end(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "t.db"))
    lock = tmp_path / "t.db.writer"
    with queue:
        with queue:
            assert _taken(lock)
        assert _taken(lock)  # the inner end did not let go
    assert not _taken(lock)


@pytest.mark.parametrize("database", [None, "", ":memory:", "file:t.db?mode=memory"])
def test_no_lock_file_without_a_plain_database_file(database: str | None, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert writer_lock_path(database) is None
    with WriterQueue(database):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_directory_it_cannot_write_leaves_the_writers_to_sqlite(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "t.db"  # os.open fails here as in a read-only directory
    with WriterQueue(str(missing)):
        pass
    assert not missing.parent.exists()
