"""While the app serves, the garbage collector runs with the serving thresholds (tracker/api/collector.py), and the
process's own thresholds come back when the app shuts down."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tracker.api import collector
from tracker.api.app import create_app
from tracker.config import Settings
from tracker.store import EventStore
from tracker.store.engine import make_engine


@pytest.fixture
def default_thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()  # type: ignore[misc]
    gc.set_threshold(*before)


def test_serving_raises_the_thresholds_and_shutdown_restores_them(sqlite_url: str, tmp_path: object,
                                                                   default_thresholds: tuple[int, int, int]) -> None:
    engine = make_engine(sqlite_url)
    settings = Settings(database_url=sqlite_url, audit_key_file=f"{tmp_path}/audit.pem",
                        feeds_file=f"{tmp_path}/none.toml", digest_secret_file=f"{tmp_path}/digest-secret")
    app = create_app(EventStore(engine), settings)
    assert gc.get_threshold() == default_thresholds  # creating the app changes nothing
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_threshold() == collector.SERVING_THRESHOLDS
        assert gc.isenabled()  # cycles are still collected, only less often
    assert gc.get_threshold() == default_thresholds
    engine.dispose()
