"""Alembic environment: migrations run on the tracker's own engine (SQLite pragmas included)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from tracker.config import get_settings
from tracker.store.engine import make_engine

# Several replicas may run `tracker db upgrade` at once on PostgreSQL: one migrates, the others wait.
MIGRATION_LOCK_KEY = 0x6D69_6772  # "migr"


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


run_migrations()
