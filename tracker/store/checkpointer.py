"""SQLite's WAL checkpoints in a background thread while the API serves, not inside an editor's commit.

By default SQLite checkpoints from the commit that takes the write-ahead log past 1,000 pages: that request then
copies ~4 MB into the database file and fsyncs it. On the benchmarks/api.py store a bulk reject of 20 writes ~200
pages, so every fifth one paid for it: its p95 was 72 ms against a p50 of 21 ms, and 31 ms with the checkpoint
moved out (benchmarks/README.md). While a WalCheckpointer runs, the engine's connections have
`wal_autocheckpoint=0` and this thread runs a PASSIVE checkpoint every `every` seconds: it takes no lock that
readers or writers wait on, and a checkpoint finding nothing new costs a few microseconds. Stopped, connections
are put back to SQLite's default as they are next checked out. On PostgreSQL there is nothing to do.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tracker.store.engine import is_sqlite

log = logging.getLogger(__name__)

SQLITE_DEFAULT_PAGES = 1000  # SQLite's own wal_autocheckpoint
_SETTING = "tracker_wal_autocheckpoint"  # what a pooled connection was last set to (its record's info)


class WalCheckpointer:
    def __init__(self, engine: Engine, *, every: float = 1.0) -> None:
        self.engine = engine
        self.every = every
        self.checkpoints = 0  # PASSIVE checkpoints run (tests, logs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening = False

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        database = self.engine.url.database
        if self.running or not is_sqlite(self.engine) or not database or database == ":memory:" \
                or database.startswith("file:"):
            return  # PostgreSQL, or a database this thread could not open by its path
        if not self._listening:
            sa.event.listen(self.engine, "checkout", self._on_checkout)
            self._listening = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tracker-wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after one last checkpoint; connections go back to SQLite's own checkpoints."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        try:
            self.checkpoint()
        except sqlite3.Error as error:  # the file gone or locked at shutdown: SQLite checkpoints at next open
            log.warning("last WAL checkpoint failed: %s", error)

    def _on_checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        wanted = 0 if self.running else SQLITE_DEFAULT_PAGES
        if record.info.get(_SETTING) != wanted:
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={wanted}")
            record.info[_SETTING] = wanted

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.checkpoint()
            except sqlite3.Error as error:  # a locked or missing file now and then: the next round retries
                log.warning("WAL checkpoint failed: %s", error)

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, pages in the log, pages checkpointed), as SQLite reports it."""
        # Its own connection, outside the pool: a checkpoint can take a while and must not hold a request's slot.
        # mode=rw: never create an empty database where the file has gone.
        uri = Path(self.engine.url.database).resolve().as_uri() + "?mode=rw"  # type: ignore[arg-type]
        connection = sqlite3.connect(uri, uri=True, timeout=1, isolation_level=None)
        try:
            row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            connection.close()
        self.checkpoints += 1
        return tuple(row)  # type: ignore[return-value]
