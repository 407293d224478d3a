"""Fixtures for the digest tests: a real SMTP server, settings pointing at it, and a small populated store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.digest.smtpserver import SmtpServer
from tracker.config import Settings
from tracker.digest.week import IsoWeek
from tracker.domain import evidence, proposition
from tracker.domain.subscriber import AddSubscriber, subscriber_id_for
from tracker.repository.unit_of_work import Tracker, evidence_stream, subscriber_stream
from tracker.store import NewEvent
from tracker.store.envelope import iso, utc_now

SECRET = "test-secret-0123456789abcdef0123456789abcdef"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def settings(database_url: str, smtp: SmtpServer, tmp_path: Path) -> Settings:
    return make_settings(database_url, smtp.url, tmp_path)


def make_settings(database_url: str, smtp_url: str | None, tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url, "smtp_url": smtp_url, "digest_secret": SECRET,
        "public_base_url": "https://tracker.example", "outbox_dir": str(tmp_path / "outbox"), "timezone": "UTC",
        "digest_secret_file": str(tmp_path / "secret"), "feeds_file": str(tmp_path / "none.toml"),
        "audit_key_file": str(tmp_path / "audit.pem"),
    }
    return Settings(**{**values, **extra})  # type: ignore[arg-type]


RECORDED_AGO = timedelta(days=7)


@pytest.fixture(autouse=True)
def recorded_a_week_ago(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only an ended week can be sent, and a week's content is what was recorded in it: so the events these
    tests append are recorded a week ago (the store's clock, nothing else), in the last ended week."""
    import tracker.store.eventstore

    monkeypatch.setattr(tracker.store.eventstore, "utc_now", lambda: utc_now() - RECORDED_AGO)


def this_week() -> IsoWeek:
    """The week the tests' events are recorded in: the last one that has ended (see recorded_a_week_ago)."""
    return IsoWeek.containing((utc_now() - RECORDED_AGO).date())


def subscribe(tracker: Tracker, email: str, name: str = "", quiet_weeks: str = "note",
              **filters: list[str]) -> str:
    with tracker.unit_of_work(actor="system:test") as uow:
        uow.execute(subscriber_stream(subscriber_id_for(email)),
                    AddSubscriber(email=email, name=name, filters=dict(filters), quiet_weeks=quiet_weeks))
    return subscriber_id_for(email)


def ingest(tracker: Tracker, evidence_id: str, title: str, link: str | None = None) -> None:
    """An EvidenceIngested event as ingestion writes it. Appended to the store directly: the digest reads the
    events, not the evidence read model (whose projection belongs to the ingestion work)."""
    (event,) = evidence.decide(None, evidence.IngestEvidence(
        evidence_id=evidence_id, title=title, link=link or f"https://news.example/{evidence_id}",
        summary="", published_at=iso(utc_now()), published_is_fetch_time=False, feed="test-feed",
        guid=evidence_id, language="en", content_hash="0" * 64,
    ))
    tracker.store.append(evidence_stream(evidence_id), 0, [NewEvent(event.type, event.data)], actor="system:test")


def register(tracker: Tracker, pid: str, statement: str, *, kind: str = "prediction", actors: list[str] | None = None,
             topics: list[str] | None = None, probability: float | None = 0.8, resolve_by: str | None = None) -> None:
    tracker.execute(pid, proposition.RegisterProposition(
        proposition_id=pid, kind=kind, statement=statement, actors=tuple(actors or ()), topics=tuple(topics or ()),
        stated_confidence={"phrase": "likely", "probability": probability} if probability is not None else None,
        resolve_by=resolve_by,
    ), actor="system:test")


def confirm(tracker: Tracker, pid: str, evidence_id: str, stance: str, title: str) -> None:
    ingest(tracker, evidence_id, title)
    match_id = f"m-{evidence_id}"
    tracker.execute(pid, proposition.SuggestMatch(match_id, evidence_id, 0.9), actor="system:matcher")
    tracker.execute(pid, proposition.ConfirmMatch(match_id, stance), actor="user:editor")


@dataclass(frozen=True)
class World:
    """Two propositions on different actors, one confirmed piece of evidence each, one resolution."""

    week: IsoWeek
    ann: str
    bob: str


@pytest.fixture
def world(tracker: Tracker) -> World:
    soon = (date.today() + timedelta(days=20)).isoformat()
    register(tracker, "truce-holds", "The made-up truce between Atlantis and Lemuria will hold.",
             actors=["Atlantis"], topics=["truce"], resolve_by=soon)
    register(tracker, "talks-happen", "Made-up talks in Utopia will take place before summer.",
             actors=["Utopia"], topics=["talks"], probability=0.3)
    confirm(tracker, "truce-holds", "ev-truce", "contradicts", "Shelling resumes along the made-up border")
    confirm(tracker, "talks-happen", "ev-talks", "supports", "Delegations arrive in Utopia for made-up talks")
    tracker.execute("talks-happen", proposition.ResolveProposition("confirmed", evidence_ids=("ev-talks",)),
                    actor="user:editor")
    ann = subscribe(tracker, "ann@example.org", "Ann Example")
    bob = subscribe(tracker, "bob@example.org", "Bob", actors=["atlantis"])
    return World(this_week(), ann, bob)
