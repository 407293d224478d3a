"""Engines for SQLite (embedded default) and PostgreSQL, with the settings the store relies on."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tracker.store.errors import StoreError

# Appends open their connection with this option so SQLite takes the write lock at BEGIN
# (BEGIN IMMEDIATE); readers keep plain deferred transactions and never block each other.
WRITE = {"tracker_write": True}
log = logging.getLogger("tracker.store")


# The dialects the store is written and tested for (the append lock, the triggers, the JSON text): anything
# else is refused up front instead of failing on a missing driver (mysql:// -> "No module named 'MySQLdb'").
SUPPORTED_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"})
SUPPORTED_HINT = "sqlite (sqlite:///path/to/tracker.db) or postgresql+psycopg (postgresql+psycopg://user@host/db)"


class UnsupportedDatabase(StoreError):
    """TRACKER_DATABASE_URL names a database or driver the tracker does not support."""


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def check_database_url(url: str) -> None:
    """Refuse a URL of a dialect or driver we do not support, naming the ones we do (no secret echoed)."""
    drivername = sa.engine.make_url(url).drivername  # ArgumentError when it is no URL at all
    if drivername not in SUPPORTED_DRIVERS:
        raise UnsupportedDatabase(
            f"TRACKER_DATABASE_URL: {drivername!r} is not supported; use {SUPPORTED_HINT}")


def missing_sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names when it does not exist (None for other databases, memory and URI names):
    commands that only use an existing store check this first, so a typo creates no empty database."""
    parsed = sa.engine.make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return None if path.exists() else path


def make_engine(url: str, **kwargs: Any) -> Engine:
    check_database_url(url)
    if url.startswith("sqlite"):
        _private_sqlite_files(url)
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def _private_sqlite_files(url: str) -> None:
    """The database file (emails, token hashes) is created 0600, and an existing one is tightened to 0600.

    SQLite creates -wal, -shm and -journal with the mode of the database file itself (whatever the umask),
    so a 0600 database file makes them 0600 too; ones already there are tightened as well."""
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return  # in memory, or a URI filename (mode= and friends are the caller's choice)
    path = Path(database)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError:
        return  # no such folder, or not writable: SQLite's own error says so on first connect
    else:
        os.close(fd)  # an empty file is a valid, empty SQLite database
    for file in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if not mode & 0o077:
            continue
        try:
            file.chmod(mode & 0o700)
        except OSError as error:  # not its owner, or a read-only file system
            log.warning("cannot tighten %s (mode %o): %s", file, mode, error.strerror)
        else:
            # INFO: commands keep their one-line output; `tracker serve` shows it (it sets logging up first).
            log.info("tightened %s from %o to %o: it holds emails and token hashes", file, mode, mode & 0o700)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling is wrong here).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get("tracker_write", False)
        # Straight to the driver: going through exec_driver_sql cost more than the BEGIN itself.
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
