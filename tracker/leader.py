"""One scheduler among many replicas or worker processes: leadership is a lock that dies with its holder.

PostgreSQL: a session advisory lock on a dedicated connection. PostgreSQL releases it the moment that
connection dies (process killed, host gone), so another replica's next attempt wins within one polling
interval. SQLite: the store is one file on one machine, so an exclusive `flock` on `<database>.leader` next to
it plays the same role between processes (the `tracker serve --workers N` workers, or several `tracker serve`
on one host). The kernel drops a flock when the last descriptor of its open file closes, so a killed leader
(even kill -9) frees it at once; the file is opened close-on-exec, and the tracker's child processes (feed
parsers) are started with exec, so no child keeps a dead leader's lock alive.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import Engine

log = logging.getLogger("tracker.leader")
LEADER_LOCK_KEY = 0x6C65_6164  # "lead"


def lock_file_path(engine: Engine) -> Path:
    """Where SQLite's leadership lock lives: next to the database file."""
    return Path(f"{engine.url.database or 'tracker.db'}.leader")


class LeaderElector:
    """Polls for leadership; calls on_elected once when won and on_deposed if it is lost."""

    def __init__(
        self,
        engine: Engine,
        *,
        on_elected: Callable[[], None],
        on_deposed: Callable[[], None],
        interval: float = 5.0,
    ) -> None:
        self.engine = engine
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.interval = interval
        self.is_leader = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._connection: Any = None
        self._lock_file: IO[bytes] | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; a leader first pauses its jobs (on_deposed), then lets the lock go for the next one."""
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
        if self.is_leader:
            self.is_leader = False
            try:
                self.on_deposed()
            except Exception as error:  # the scheduler may be shut down already: nothing left to pause
                log.debug("pausing jobs at stop: %s", error)
        self._release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                held = self._still_held() if self.is_leader else self._try_acquire()
            except Exception as error:  # the database went away: we can no longer prove leadership
                log.warning("leader check failed: %s", error)
                held = False
            if held and not self.is_leader:
                self.is_leader = True
                log.info("elected leader: starting scheduled jobs")
                self.on_elected()
            elif not held and self.is_leader:
                self.is_leader = False
                log.warning("lost leadership: stopping scheduled jobs")
                self._release()
                self.on_deposed()
            self._stop.wait(self.interval)

    def _try_acquire(self) -> bool:
        if self.engine.dialect.name == "sqlite":
            return self._try_file_lock()
        self._release()
        self._connection = self.engine.raw_connection()
        self._connection.autocommit = True  # type: ignore[attr-defined]
        cursor = self._connection.cursor()
        cursor.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,))
        won = bool(cursor.fetchone()[0])
        cursor.close()
        if not won:
            self._release()
        return won

    def _still_held(self) -> bool:
        if self.engine.dialect.name == "sqlite":
            return self._lock_file is not None
        cursor = self._connection.cursor()
        cursor.execute("SELECT 1")  # a dead connection means the lock is gone too
        cursor.close()
        return True

    def _try_file_lock(self) -> bool:
        handle = lock_file_path(self.engine).open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    def _release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()  # closing the session releases the advisory lock
            except Exception:  # already dead
                pass
            self._connection = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

