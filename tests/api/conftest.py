"""An app over a real, migrated database with one user per role, driven through FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tracker.api.app import create_app
from tracker.config import Settings
from tracker.domain import proposition as domain
from tracker.repository.unit_of_work import Tracker
from tracker.service.users import add_user
from tracker.store import EventStore
from tracker.store.engine import make_engine

ROLES = ("reader", "editor", "auditor", "admin")


@dataclass
class Api:
    client: TestClient
    store: EventStore
    tracker: Tracker
    tokens: dict[str, str]

    def auth(self, role: str | None, **headers: str) -> dict[str, str]:
        extra = {k.replace("_", "-"): v for k, v in headers.items()}
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra} if role else extra

    def head(self) -> int:
        return self.store.head()


def make_api(url: str, tmp_path: object) -> Iterator[Api]:
    engine = make_engine(url)
    store = EventStore(engine)
    settings = Settings(database_url=url, audit_key_file=f"{tmp_path}/audit.pem", feeds_file=f"{tmp_path}/none.toml",
                        digest_secret_file=f"{tmp_path}/digest-secret")  # review sessions' key derives from it
    tokens = {role: add_user(engine, role, role) for role in ROLES}
    tokens["editor2"] = add_user(engine, "editor2", "editor")
    with TestClient(create_app(store, settings)) as client:
        yield Api(client, store, Tracker(store), tokens)
    engine.dispose()


@pytest.fixture
def api(sqlite_url: str, tmp_path: object) -> Iterator[Api]:
    yield from make_api(sqlite_url, tmp_path)


@pytest.fixture
def api_any(database_url: str, tmp_path: object) -> Iterator[Api]:
    """The same on SQLite and PostgreSQL."""
    yield from make_api(database_url, tmp_path)


def register(
    tracker: Tracker, pid: str, statement: str = "Russia will strike energy sites again", **fields: object
) -> None:
    tracker.execute(pid, domain.RegisterProposition(
        proposition_id=pid, kind=str(fields.pop("kind", "prediction")), statement=statement,
        stated_confidence={"phrase": "likely", "probability": 0.7}, **fields,  # type: ignore[arg-type]
    ), actor="system:test")


def suggest(tracker: Tracker, pid: str, match_id: str, score: float, evidence_id: str | None = None) -> None:
    tracker.execute(pid, domain.SuggestMatch(
        match_id=match_id, evidence_id=evidence_id or f"ev-{match_id}", score=score,
        explanation={"terms": ["energy"]}, suggested_stance="supports",
    ), actor="system:matcher")
