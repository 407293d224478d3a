"""Shared fixtures: real SQLite files and a real PostgreSQL (one schema per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tracker.repository.unit_of_work import Tracker
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ROOT.parent / "shared" / "seed" / "foreign-policy-2025-03-19-bristow.txt"
PG_ENV = "TRACKER_TEST_PG_URL"


def pg_base_url() -> str:
    """The PostgreSQL URL for tests; skips (or fails under CI=true) when none is reachable."""
    url = os.environ.get(PG_ENV)
    why = None
    if not url:
        why = f"PostgreSQL tests need {PG_ENV}, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test"
    else:
        try:
            engine = make_engine(url)
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            engine.dispose()
        except sa.exc.OperationalError as error:
            why = f"PostgreSQL at {PG_ENV} does not answer: {error.orig}"
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true requires PostgreSQL tests to run: {why}", pytrace=False)
        pytest.skip(why)
    assert url is not None
    return url


def make_pg_schema_url(base: str) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = make_engine(base)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}", schema


def drop_pg_schema(base: str, schema: str) -> None:
    engine = make_engine(base)
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tracker.db'}"
        upgrade(url)
        yield url
        return
    base = pg_base_url()
    url, schema = make_pg_schema_url(base)
    upgrade(url)
    try:
        yield url
    finally:
        drop_pg_schema(base, schema)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    upgrade(url)
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[EventStore]:
    engine = make_engine(database_url)
    yield EventStore(engine)
    engine.dispose()


@pytest.fixture
def tracker(store: EventStore) -> Tracker:
    return Tracker(store)
