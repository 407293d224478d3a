"""A small store for the reader pages: a source, confirmed evidence, a suggestion, a rejected match with a note,
a retracted one, a resolved prediction, an overdue one, a subscriber and a signed checkpoint.

SECRETS are strings that must never appear on a public page (internal notes, unconfirmed evidence, subscriber
data); PUBLIC are strings that must.
"""

from __future__ import annotations

from pathlib import Path

from tracker.audit.checkpoint import load_or_create_key, record_checkpoint
from tracker.domain import evidence as ev
from tracker.domain import proposition as p
from tracker.domain.source import RegisterSource
from tracker.repository.unit_of_work import Tracker, evidence_stream, source_stream
from tracker.service import subscribers
from tracker.store import EventStore
from tracker.store.engine import make_engine

SOURCE = "src-web-1"
RESOLVED = "energy-halt-breached"
OVERDUE = "talks-by-june"
CLAIM = "grid-resilient"
FILLERS = 55  # more than one page of 50

SECRETS = {
    "confirm note": "CONFIRM-NOTE-7f3a internal",
    "reject reason": "REJECT-REASON-91bc sport story",
    "retract reason": "RETRACT-REASON-55de wrong city",
    "resolve note": "RESOLVE-NOTE-c0ffee editor reasoning",
    "suggested evidence": "SUGGESTED-ONLY gas storage headline",
    "rejected evidence": "REJECTED-ITEM football final",
    "retracted evidence": "RETRACTED-ITEM blackout in Lviv",
    "subscriber email": "reader-8d2e@example.org",
    "subscriber name": "Subscriber Name 8d2e",
    "actor": "user:editor-x9",
}
PUBLIC = {
    "supporting evidence": "Drones hit a power substation near Kharkiv",
    "context evidence": "Grid operator reports overnight repairs",
    "contradicting evidence": "Power restored across the region within a day",
}


def _evidence(tracker: Tracker, n: int, title: str) -> str:
    evidence_id = f"ev-web-{n}"
    with tracker.unit_of_work(actor="system:ingest") as uow:
        uow.execute(evidence_stream(evidence_id), ev.IngestEvidence(
            evidence_id=evidence_id, title=title, link=f"https://news.example.org/{n}", summary=f"Summary {n}.",
            published_at=f"2025-04-{n + 1:02d}T08:00:00.000000Z", published_is_fetch_time=False,
            feed="sample-wire", guid=f"g-{n}", language="en", content_hash=f"{n:064x}"))
    return evidence_id


def _suggest(tracker: Tracker, pid: str, evidence_id: str) -> str:
    match_id = p.match_id_for(pid, evidence_id)
    tracker.execute(pid, p.SuggestMatch(match_id, evidence_id, 0.8, {"terms": ["energy"]}, "supports"),
                    actor="system:matcher")
    return match_id


def seed(url: str, key_file: Path) -> None:
    store = EventStore(make_engine(url))
    tracker = Tracker(store)
    with tracker.unit_of_work(actor="system:seed") as uow:
        uow.execute(source_stream(SOURCE), RegisterSource(
            source_id=SOURCE, outlet="Foreign Policy", author="Ada Example",
            title="An op-ed on the energy truce (our description)", published_at="2025-03-19T00:00:00.000000Z",
            url="https://example.org/op-ed", text_sha256="0" * 64))
    actor = SECRETS["actor"]
    tracker.execute(RESOLVED, p.RegisterProposition(
        proposition_id=RESOLVED, kind="prediction", source_id=SOURCE, actors=("Russia", "Ukraine"),
        topics=("ceasefire", "energy-infrastructure"),
        statement="Russia will not fully keep the 30-day halt on strikes against Ukraine's energy infrastructure.",
        locator={"paragraph": 5, "start": 908, "end": 1083, "sha256": "1" * 64},
        stated_confidence={"phrase": "effectively nil", "probability": 0.98, "negated": True},
        resolve_by="2025-04-17", resolution_criteria="Confirmed if credible reporting documents strikes on energy "
        "sites between 18 March and 17 April 2025."), actor="system:seed")
    tracker.execute(OVERDUE, p.RegisterProposition(
        proposition_id=OVERDUE, kind="prediction", source_id=SOURCE, actors=("Russia", "United States"),
        topics=("ceasefire",), statement="A general ceasefire will be agreed before June 2025.",
        locator={"paragraph": 7, "start": 1500, "end": 1600, "sha256": "2" * 64},
        stated_confidence={"phrase": "unlikely", "probability": 0.3}, condition="If talks continue in Riyadh.",
        resolve_by="2025-06-01", resolution_criteria="Confirmed if both governments announce a ceasefire."),
        actor="system:seed")
    tracker.execute(CLAIM, p.RegisterProposition(
        proposition_id=CLAIM, kind="claim", source_id=SOURCE, actors=("Ukraine",), topics=("energy-infrastructure",),
        statement="Ukraine's power grid cannot recover from a week of strikes.",
        locator={"paragraph": 3, "start": 100, "end": 200, "sha256": "3" * 64}), actor="system:seed")
    for i in range(FILLERS):
        tracker.execute(f"filler-{i:03d}", p.RegisterProposition(
            proposition_id=f"filler-{i:03d}", kind="prescription", source_id=SOURCE, actors=("NATO",),
            topics=("security",), statement=f"Filler proposition number {i} about deterrence."), actor="system:seed")

    supporting = _evidence(tracker, 1, PUBLIC["supporting evidence"])
    context = _evidence(tracker, 2, PUBLIC["context evidence"])
    contradicting = _evidence(tracker, 3, PUBLIC["contradicting evidence"])
    suggested = _evidence(tracker, 4, SECRETS["suggested evidence"])
    rejected = _evidence(tracker, 5, SECRETS["rejected evidence"])
    retracted = _evidence(tracker, 6, SECRETS["retracted evidence"])

    # the resolved prediction: supported, a retracted item, a rejected one, then resolved confirmed
    tracker.execute(RESOLVED, p.ConfirmMatch(_suggest(tracker, RESOLVED, supporting), "supports",
                                             SECRETS["confirm note"]), actor=actor)
    tracker.execute(RESOLVED, p.ConfirmMatch(_suggest(tracker, RESOLVED, retracted), "contradicts"), actor=actor)
    tracker.execute(RESOLVED, p.RetractMatch(p.match_id_for(RESOLVED, retracted), SECRETS["retract reason"]),
                    actor=actor)
    tracker.execute(RESOLVED, p.RejectMatch(_suggest(tracker, RESOLVED, rejected), SECRETS["reject reason"]),
                    actor=actor)
    tracker.execute(RESOLVED, p.ResolveProposition("confirmed", SECRETS["resolve note"], (supporting,)), actor=actor)
    # the overdue one: context evidence and a suggestion still awaiting review
    tracker.execute(OVERDUE, p.ConfirmMatch(_suggest(tracker, OVERDUE, context), "context"), actor=actor)
    _suggest(tracker, OVERDUE, suggested)
    # the claim: contradicted
    tracker.execute(CLAIM, p.ConfirmMatch(_suggest(tracker, CLAIM, contradicting), "contradicts"), actor=actor)

    with tracker.unit_of_work(actor="system:test") as uow:
        subscribers.add(uow, SECRETS["subscriber email"], SECRETS["subscriber name"], {}, "note")
    record_checkpoint(tracker, load_or_create_key(key_file))
    store.engine.dispose()
