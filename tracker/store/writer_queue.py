"""The queue SQLite writers wait in: threads of one process in order, processes on one host through a file lock.

SQLite lets one writer in at a time, and a writer that finds the lock taken polls it (the busy timeout), sleeping
longer after each miss. Threads of one process already waited on a lock of their own instead. Between processes
(`tracker serve --workers N` beside the CLI or another worker) the polling remained, and under a stream of
commands some writers lost the race for seconds. An exclusive `flock` on `<database>.writer`, taken before
BEGIN IMMEDIATE, makes them wait in the kernel, which wakes a waiter as soon as the holder lets go.

The file lock only orders writers; SQLite's own lock still guards the data. A writer that does not come through
here (a migration, another program) is still kept out by SQLite, and waits by polling as before. The kernel
drops the lock with the process, so a killed writer never leaves it held.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from types import TracebackType

log = logging.getLogger("tracker.store")


def writer_lock_path(database: str | None) -> Path | None:
    """`<database>.writer` beside a SQLite file; None for an in-memory database or a `file:` URI."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{database}.writer")


class WriterQueue:
    """Re-entrant for the thread that holds it, like the RLock it wraps (a transaction inside a transaction)."""

    def __init__(self, database: str | None) -> None:
        self._threads = threading.RLock()
        self._path = writer_lock_path(database)
        self._fd: int | None = None  # open while the lock is held
        self._depth = 0  # nesting of the holding thread; the file lock is taken at 1 and let go at 0

    def __enter__(self) -> WriterQueue:
        self._threads.acquire()
        try:
            if self._depth == 0:
                self._lock_file()
            self._depth += 1
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)  # closing the file lets the lock go
        finally:
            self._threads.release()

    def _lock_file(self) -> None:
        # Opened per transaction (about 10 us beside a commit's fsync), so no store keeps a descriptor open.
        if self._path is None:
            return
        try:  # owner-only, like the database beside it
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:  # a read-only directory: SQLite's own lock still orders the writers
            log.debug("no writer queue at %s (%s); writers poll SQLite's lock", self._path, error.strerror)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
