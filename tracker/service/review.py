"""Review use cases: confirm, reject or retract a match, reject a filtered part of the queue at once, and attach
evidence to a proposition by hand."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tracker.domain import evidence as evidence_domain
from tracker.domain import proposition as domain
from tracker.ingest.normalise import canonical_link
from tracker.queries.evidence import evidence_id_for_link
from tracker.queries.review import QueueFilter, proposition_of_match, propositions_of_matches, queue_part
from tracker.repository.errors import Invalid
from tracker.repository.unit_of_work import NotFound, UnitOfWork, evidence_stream, proposition_stream
from tracker.store import ConcurrencyError, RecordedEvent
from tracker.store.envelope import iso

MANUAL_FEED = "manual"


@dataclass(frozen=True)
class Decided:
    proposition_id: str
    recorded: list[RecordedEvent]
    evidence_id: str | None = None  # the match's evidence, so a response can name what was decided about


def proposition_of(uow: UnitOfWork, match_id: str) -> str:
    """The proposition whose stream holds the match; NotFound for an unknown match."""
    found = proposition_of_match(uow.connection, match_id)
    if found is None:
        raise NotFound(f"no match {match_id}")
    return found


def _on_match(uow: UnitOfWork, match_id: str, command: domain.Command, expected_version: int | None) -> Decided:
    proposition_id = proposition_of(uow, match_id)
    stream = proposition_stream(proposition_id)
    recorded = uow.execute(stream, command, expected_version=expected_version)
    state: domain.Proposition | None = uow.load(stream).state  # cached in the unit of work: no second read
    match = state.matches.get(match_id) if state is not None else None
    return Decided(proposition_id, recorded, match.evidence_id if match is not None else None)


def confirm(uow: UnitOfWork, match_id: str, stance: str, note: str = "",
            expected_version: int | None = None) -> Decided:
    return _on_match(uow, match_id, domain.ConfirmMatch(match_id=match_id, stance=stance, note=note),
                     expected_version)


def reject(uow: UnitOfWork, match_id: str, reason: str = "", expected_version: int | None = None) -> Decided:
    return _on_match(uow, match_id, domain.RejectMatch(match_id=match_id, reason=reason), expected_version)


def retract(uow: UnitOfWork, match_id: str, reason: str = "", expected_version: int | None = None) -> Decided:
    return _on_match(uow, match_id, domain.RetractMatch(match_id=match_id, reason=reason), expected_version)


def reject_selected(uow: UnitOfWork, selected: list[tuple[str, int | None]], reason: str = "") -> list[Decided]:
    """Reject the suggestions an editor ticked, each given with the version of its proposition the page showed,
    in this unit of work: one MatchRejected per match. A version is checked at its proposition's first
    rejection (the unit holds the append lock, so it cannot move after). NotFound for an unknown match, and
    nothing is applied. The owners are looked up in one query, and a proposition's read-model rows are written
    once, when the unit ends."""
    owners = propositions_of_matches(uow.connection, [match_id for match_id, _ in selected])
    # Their streams in one query (each folded as load() would): 20 separate reads were half the request.
    uow.preload([proposition_stream(owners[match_id]) for match_id, _ in selected if match_id in owners])
    checked: set[str] = set()
    decided = []
    for match_id, version in selected:
        proposition_id = owners.get(match_id)
        if proposition_id is None:
            raise NotFound(f"no match {match_id}")
        expected = version if proposition_id not in checked else None
        checked.add(proposition_id)
        stream = proposition_stream(proposition_id)
        recorded = uow.execute(stream, domain.RejectMatch(match_id=match_id, reason=reason),
                               expected_version=expected, defer_read_models=True)
        state: domain.Proposition | None = uow.load(stream).state
        match = state.matches.get(match_id) if state is not None else None
        decided.append(Decided(proposition_id, recorded, match.evidence_id if match is not None else None))
    return decided


@dataclass(frozen=True)
class BulkRejected:
    match_ids: list[str]
    bulk_filter: dict[str, Any]  # as recorded in each MatchRejected
    recorded: list[RecordedEvent]
    version: int | None = None  # the proposition's version after, when the filter names one


def reject_bulk(uow: UnitOfWork, part: QueueFilter, reason: str = "", *, everything: bool = False,
                dry_run: bool = False, expected_version: int | None = None) -> BulkRejected:
    """Reject every suggestion in the filtered part of the queue, one MatchRejected per match, in this unit of
    work (so one transaction, contiguous positions and the unit's correlation id). Each event records the
    filter as `bulk_filter`. An empty filter would reject the whole queue: refused unless `everything`.
    `expected_version` (If-Match) applies only to a filter naming one proposition. `dry_run` writes nothing."""
    if part.state != "suggested":
        raise Invalid("invalid-filter", "only suggestions (state=suggested) can be rejected")
    if part.is_empty() and not everything:
        raise Invalid("empty-filter", "an empty filter would reject the whole queue; narrow it or say all=true")
    if part.proposition_id is not None:
        stream = proposition_stream(part.proposition_id)
        loaded = uow.load(stream)
        if loaded.state is None:
            raise NotFound(f"no proposition {part.proposition_id}")
        if expected_version is not None and expected_version != loaded.version:
            raise ConcurrencyError(stream, expected_version, loaded.version)
    elif expected_version is not None:
        raise Invalid("if-match-not-applicable", "If-Match applies only to a filter naming one proposition")
    recorded_filter = {**part.given(), **({"all": True} if everything else {})}
    found = queue_part(uow.connection, part)
    recorded: list[RecordedEvent] = []
    if not dry_run:
        uow.preload([proposition_stream(proposition_id) for _, proposition_id in found])  # one read, not one each
        for match_id, proposition_id in found:
            recorded += uow.execute(
                proposition_stream(proposition_id),
                domain.RejectMatch(match_id=match_id, reason=reason, bulk_filter=recorded_filter),
                defer_read_models=True,  # a proposition's row is written once, when the unit ends
            )
    version = uow.load(proposition_stream(part.proposition_id)).version if part.proposition_id is not None else None
    return BulkRejected([match_id for match_id, _ in found], recorded_filter, recorded, version)


@dataclass(frozen=True)
class ManualEvidence:
    """An item an editor attaches by hand, its link already in canonical form."""

    link: str
    title: str
    summary: str
    published_at: datetime  # timezone-aware
    stance: str
    note: str


def manual_evidence(url: str, title: str, summary: str, published_at: datetime, stance: str,
                    note: str) -> ManualEvidence:
    """Checked before any transaction: the same canonical link as ingestion, so a hand-attached item and a feed
    item are one story; a naive time is taken as UTC."""
    link = canonical_link(url)
    if link is None:
        raise Invalid("invalid-url", "the URL must be an absolute http(s) link")
    published = published_at if published_at.tzinfo else published_at.replace(tzinfo=UTC)
    return ManualEvidence(link, title, summary, published, stance, note)


@dataclass(frozen=True)
class Attached:
    match_id: str
    evidence_id: str
    recorded: list[RecordedEvent]


def attach_evidence(uow: UnitOfWork, proposition_id: str, item: ManualEvidence, *, actor: str,
                    expected_version: int | None = None) -> Attached:
    """Ingest the item (or find it by its link), suggest it to the proposition unless the matcher did, and
    confirm it with the stance given, all in this unit of work."""
    stream = proposition_stream(proposition_id)
    loaded = uow.load(stream)
    state: domain.Proposition | None = loaded.state
    if state is None:
        raise NotFound(f"no proposition {proposition_id}")
    if expected_version is not None and expected_version != loaded.version:
        raise ConcurrencyError(stream, expected_version, loaded.version)
    evidence_id = (evidence_id_for_link(uow.connection, item.link)
                   or "manual-" + hashlib.sha256(item.link.encode()).hexdigest()[:20])
    recorded = uow.execute(evidence_stream(evidence_id), evidence_domain.IngestEvidence(
        evidence_id=evidence_id, title=" ".join(item.title.split()), link=item.link, summary=item.summary,
        published_at=iso(item.published_at), published_is_fetch_time=False, feed=MANUAL_FEED, guid=item.link,
        language=None, content_hash=hashlib.sha256(f"{item.title}\n{item.summary}".encode()).hexdigest(),
    ), occurred_at=item.published_at)
    match_id = domain.match_id_for(proposition_id, evidence_id)
    existing = state.matches.get(match_id) or next(
        (m for m in state.matches.values() if m.evidence_id == evidence_id), None)
    if existing is None:
        recorded += uow.execute(stream, domain.SuggestMatch(
            match_id=match_id, evidence_id=evidence_id, score=1.0,
            explanation={"manual": True, "attached_by": actor},
        ))
    else:
        match_id = existing.match_id  # confirm the matcher's suggestion, or be refused if already decided
    recorded += uow.execute(stream, domain.ConfirmMatch(match_id=match_id, stance=item.stance, note=item.note))
    return Attached(match_id, evidence_id, recorded)
