"""The matcher's learnt state is a fold of review events: open_propositions reads editors' decisions back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracker.domain import evidence as evidence_domain
from tracker.domain.proposition import ConfirmMatch, RejectMatch, match_id_for
from tracker.matching.matcher import Suggestion
from tracker.projections import rebuild
from tracker.repository.unit_of_work import Tracker, evidence_stream
from tracker.seeding import seed
from tracker.suggestions import open_propositions, record_suggestion

ROOT = Path(__file__).resolve().parents[1]
PID = "energy-moratorium-breached"


@pytest.fixture
def seeded(tracker: Tracker) -> Tracker:
    seed(tracker, ROOT / "seeds")
    return tracker


def ingest(tracker: Tracker, evidence_id: str, title: str, summary: str) -> None:
    with tracker.unit_of_work(actor="system:ingest") as uow:
        uow.execute(evidence_stream(evidence_id), evidence_domain.IngestEvidence(
            evidence_id=evidence_id, title=title, link=f"https://news.example.org/{evidence_id}", summary=summary,
            published_at="2025-03-25T10:00:00Z", published_is_fetch_time=False, feed="wire", guid=evidence_id,
            language="en", content_hash=evidence_id,
        ), occurred_at=datetime(2025, 3, 25, 10, tzinfo=UTC))
        record_suggestion(uow, evidence_id, Suggestion(PID, 0.5, {"summary": "test"}, "supports"))


def exemplars(tracker: Tracker) -> list[tuple[str, str | None, str]]:
    with tracker.store.engine.connect() as connection:
        (proposition,) = open_propositions(connection, [PID])
    return [(e.evidence_id, e.stance, e.title) for e in proposition.exemplars]


def test_confirmed_and_rejected_matches_become_exemplars_and_survive_a_replay(seeded: Tracker) -> None:
    ingest(seeded, "ev-hit", "Drones hit a substation near Kharkiv", "Thousands lost power.")
    ingest(seeded, "ev-miss", "Kharkiv football club wins the cup", "Fans celebrated.")
    ingest(seeded, "ev-open", "Power engineers meet in Kyiv", "")
    assert exemplars(seeded) == []  # suggestions alone teach nothing
    seeded.execute(PID, ConfirmMatch(match_id_for(PID, "ev-hit"), stance="supports"), actor="user:ed")
    seeded.execute(PID, RejectMatch(match_id_for(PID, "ev-miss"), "not about the truce"), actor="user:ed")
    learnt = exemplars(seeded)
    assert sorted(learnt) == [("ev-hit", "supports", "Drones hit a substation near Kharkiv"),
                              ("ev-miss", None, "Kharkiv football club wins the cup")]
    assert rebuild.check(seeded.store) == []
    rebuild.replay(seeded.store)
    assert sorted(exemplars(seeded)) == sorted(learnt)
