"""Refresh one feed: fetch, parse, normalise, dedupe, match, and record it all as one unit of work.

Reads like a script on purpose (after Miniflux's RefreshFeed). The network fetch happens before the
transaction; everything the pass writes (evidence, sightings, suggestions, feed events, fetch state)
commits together, so a crash mid-feed leaves all of the pass or none of it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tracker.domain import evidence as evidence_domain
from tracker.domain import feed as feed_domain
from tracker.domain.errors import DomainError
from tracker.ingest import fetchstate
from tracker.ingest.fetch import FeedResponse, FetchKind, FetchSettings, fetch_feed
from tracker.ingest.normalise import EvidenceItem, entry_to_item, similar_titles, title_key
from tracker.ingest.parse import parse_feed
from tracker.projections.tables import evidence as evidence_table
from tracker.repository.unit_of_work import (
    NotFound,
    Tracker,
    UnitOfWork,
    evidence_stream,
    feed_stream,
)
from tracker.store.envelope import iso, parse_iso
from tracker.suggestions import Recorded, Suggester, record_suggestion

ACTOR = "system:scheduler"
DUPLICATE_TITLE_WINDOW = timedelta(days=3)
log = logging.getLogger("tracker.ingest")


@dataclass(frozen=True)
class RefreshSettings:
    fetch: FetchSettings = field(default_factory=FetchSettings)
    max_errors: int = 5
    max_backoff: timedelta = timedelta(hours=24)


@dataclass
class RefreshOutcome:
    feed_id: str
    result: str  # fetched | not_modified | failed | disabled | skipped
    status: int | None = None
    items_new: int = 0
    items_duplicate: int = 0
    items_skipped: int = 0  # entries that cannot become evidence; the pass goes on without them
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    sightings: int = 0
    matches: int = 0
    auto_confirmed: int = 0
    error: str | None = None
    warning: str | None = None

    def count(self, recorded: Recorded) -> None:
        self.matches += recorded.suggested
        self.auto_confirmed += recorded.confirmed

    def skipped_line(self) -> str | None:
        """"2 entries skipped (2 no title or summary)", or None when nothing was skipped."""
        if not self.items_skipped:
            return None
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped_reasons.items()))
        return f"{self.items_skipped} {'entry' if self.items_skipped == 1 else 'entries'} skipped ({reasons})"


def _next_check(now: datetime, interval: timedelta, result: FeedResponse | None, errors: int, cap: timedelta) -> str:
    """Back off exponentially on errors; honour Retry-After, TTL and max-age by only ever waiting longer."""
    wait = interval
    if errors:
        wait = min(interval * (2 ** (errors - 1)), cap)
    if result is not None:
        for seconds in (result.retry_after, result.max_age):
            if seconds:
                wait = max(wait, timedelta(seconds=min(seconds, cap.total_seconds())))
    return iso(now + wait)


def refresh_feed(
    tracker: Tracker,
    feed_id: str,
    *,
    suggester: Suggester,
    settings: RefreshSettings,
    now: datetime,
    force: bool = False,
) -> RefreshOutcome:
    """One polling pass over one feed. Returns what happened; errors are recorded, never raised.

    A failure inside the tracker (a bug, a database error mid-pass) rolls the pass back and then counts as
    an error like a network one: the feed backs off and is disabled in the end, never retried forever.
    """
    try:
        return _refresh(tracker, feed_id, suggester=suggester, settings=settings, now=now, force=force)
    except NotFound:
        raise
    except Exception as error:
        log.exception("feed %s: the pass failed inside the tracker", feed_id)
        return _record_internal_failure(tracker, feed_id, error, settings=settings, now=now)


def _record_internal_failure(
    tracker: Tracker, feed_id: str, error: Exception, *, settings: RefreshSettings, now: datetime
) -> RefreshOutcome:
    message = f"internal error: {type(error).__name__}: {' '.join(str(error).split())[:300]}"
    outcome = RefreshOutcome(feed_id, "failed", error=message)
    # Its own unit of work: the failed one was rolled back, so nothing of the pass itself is kept.
    with tracker.unit_of_work(actor=ACTOR, correlation_id=f"refresh:{feed_id}:{iso(now)}:failed") as uow:
        feed: feed_domain.Feed | None = uow.load(feed_stream(feed_id)).state
        state = fetchstate.load(uow.connection, feed_id)
        state.last_fetch_at = iso(now)
        state.last_result = "internal_error"
        state.error_count += 1
        state.last_error = message
        interval = timedelta(minutes=feed.interval_minutes if feed else 60)
        state.next_check_at = _next_check(now, interval, None, state.error_count, settings.max_backoff)
        if feed is not None and feed.enabled and state.error_count >= settings.max_errors:
            uow.execute(feed_stream(feed_id), feed_domain.DisableFeed(
                f"{state.error_count} consecutive failures; last: {message}"))
            outcome.result = "disabled"
        fetchstate.save(uow.connection, state)
    return outcome


def _refresh(
    tracker: Tracker,
    feed_id: str,
    *,
    suggester: Suggester,
    settings: RefreshSettings,
    now: datetime,
    force: bool,
) -> RefreshOutcome:
    loaded = tracker.load(feed_stream(feed_id))
    feed: feed_domain.Feed | None = loaded.state
    if feed is None:
        raise NotFound(f"no feed {feed_id}")
    with tracker.store.engine.connect() as connection:
        state = fetchstate.load(connection, feed_id)
    read_before = replace(state)
    if not feed.enabled:
        return RefreshOutcome(feed_id, "disabled", error=feed.disabled_reason)
    if not force and state.next_check_at and parse_iso(state.next_check_at) > now:
        return RefreshOutcome(feed_id, "skipped")

    target = feed.url if feed.url else Path(str(feed.path)).resolve().as_uri()
    result = fetch_feed(
        target, etag=state.etag, last_modified=state.last_modified,
        settings=settings.fetch, allow_local=feed.path is not None, now=now,
    )
    interval = timedelta(minutes=feed.interval_minutes)
    state.last_fetch_at = iso(now)
    state.last_status = result.status
    state.last_result = result.kind.value
    outcome = RefreshOutcome(feed_id, "failed", status=result.status)
    not_modified = result.kind is FetchKind.NOT_MODIFIED

    parsed = None
    if result.kind is FetchKind.OK:
        parsed = parse_feed(result.body, result.headers, base_url=result.final_url or result.url)
        if not parsed.entries:
            outcome.error = parsed.error or "the feed holds no entries"
    elif not not_modified:
        outcome.error = result.error or result.kind.value

    with tracker.unit_of_work(actor=ACTOR, correlation_id=f"refresh:{feed_id}:{iso(now)}") as uow:
        if fetchstate.load(uow.connection, feed_id) != read_before:
            # Compare-and-set under the append lock: another pass on this feed (an overlapping leader)
            # committed since we read the state; it did this slot's work, so this pass records nothing.
            return RefreshOutcome(feed_id, "skipped", status=result.status)
        if result.permanent_redirect_to and feed.url and result.permanent_redirect_to != feed.url:
            uow.execute(feed_stream(feed_id), feed_domain.UpdateFeed(
                {"url": result.permanent_redirect_to}, reason="the server redirected the feed permanently",
            ))
        if outcome.error is None:
            state.error_count = 0
            state.last_error = None
            state.etag = result.etag or state.etag
            state.last_modified = result.last_modified or state.last_modified
            if not_modified:
                outcome.result = "not_modified"
            else:
                assert parsed is not None
                outcome.result = "fetched"
                _ingest_entries(uow, feed, parsed.entries, parsed.language, suggester, now, outcome)
                # No column of its own: the skipped entries are told with the parser's warning (feeds list).
                notes = [note for note in (parsed.warning, outcome.skipped_line()) if note]
                state.warning = outcome.warning = "; ".join(notes) or None
                state.items_total += outcome.items_new
            ttl = timedelta(minutes=parsed.ttl_minutes) if parsed and parsed.ttl_minutes else timedelta(0)
            state.next_check_at = _next_check(now, max(interval, ttl), result, 0, settings.max_backoff)
        else:
            state.error_count += 1
            state.last_error = outcome.error
            state.next_check_at = _next_check(now, interval, result, state.error_count, settings.max_backoff)
            reason = None
            if result.kind is FetchKind.GONE:
                reason = "the server says the feed is gone (HTTP 410)"
            elif state.error_count >= settings.max_errors:
                reason = f"{state.error_count} consecutive failures; last: {outcome.error}"
            if reason:
                uow.execute(feed_stream(feed_id), feed_domain.DisableFeed(reason))
                outcome.result = "disabled"
        fetchstate.save(uow.connection, state)
    return outcome


def _ingest_entries(
    uow: UnitOfWork,
    feed: feed_domain.Feed,
    entries: Sequence[Any],
    feed_language: str | None,
    suggester: Suggester,
    now: datetime,
    outcome: RefreshOutcome,
) -> None:
    items: list[EvidenceItem] = []
    skipped: Counter[str] = Counter()
    for entry in entries:
        found = entry_to_item(entry, feed_name=feed.feed_id, fetched_at=now, feed_language=feed_language)
        if isinstance(found, EvidenceItem):
            items.append(found)
        else:
            skipped[found] += 1
    outcome.items_skipped = sum(skipped.values())
    outcome.skipped_reasons = dict(skipped)
    known = _KnownStories.load(uow.connection, items)
    prepare = getattr(suggester, "prepare", None)
    if prepare is not None:  # embed the items that will likely be new together: the same suggestions, less CPU
        prepare([item for item in items if known.same_story(item) is None])
    seen_in_pass: set[str] = set()
    for item in items:
        evidence_id = known.same_story(item) or item.evidence_id
        if evidence_id in seen_in_pass:
            outcome.items_duplicate += 1
            continue
        seen_in_pass.add(evidence_id)
        command = evidence_domain.IngestEvidence(
            evidence_id=evidence_id, title=item.title, link=item.link, summary=item.summary,
            published_at=iso(item.published), published_is_fetch_time=item.published_is_fetch_time,
            feed=feed.feed_id, guid=item.guid, language=item.language, content_hash=item.content_hash,
        )
        try:
            recorded = uow.execute(evidence_stream(evidence_id), command, occurred_at=item.published)
        except DomainError as refused:  # nothing was written: one refused entry must not sink the pass
            outcome.items_skipped += 1
            reason = f"refused: {refused}"
            outcome.skipped_reasons[reason] = outcome.skipped_reasons.get(reason, 0) + 1
            continue
        if not recorded:
            outcome.items_duplicate += 1
            continue
        if recorded[0].event_type == "EvidenceSighted":
            outcome.sightings += 1
            continue
        known.add(evidence_id, item)
        outcome.items_new += 1
        for suggestion in suggester(item):
            outcome.count(record_suggestion(uow, evidence_id, suggestion))


@dataclass
class _KnownStories:
    """Stored stories a pass's items could repeat, fetched in two queries for the whole pass.

    The same story is the same canonical link, or a near-identical title published within a few days.
    Items ingested earlier in the same pass are added as they go.
    """

    by_link: dict[str, str]
    by_title_key: dict[str, list[tuple[str, str, datetime]]]

    @classmethod
    def load(cls, connection: sa.Connection, items: Sequence[EvidenceItem]) -> _KnownStories:
        links = sorted({i.link for i in items if i.link})
        keys = sorted({k for i in items if (k := title_key(i.title))})
        by_link: dict[str, str] = {}
        by_title_key: dict[str, list[tuple[str, str, datetime]]] = {}
        for chunk in _chunks(links):
            query = sa.select(evidence_table.c.link, evidence_table.c.evidence_id)
            query = query.where(evidence_table.c.link.in_(chunk))
            by_link.update({link: evidence_id for link, evidence_id in connection.execute(query)})
        for chunk in _chunks(keys):
            query = sa.select(
                evidence_table.c.title_key, evidence_table.c.evidence_id, evidence_table.c.title,
                evidence_table.c.published_at,
            ).where(evidence_table.c.title_key.in_(chunk))
            for key, evidence_id, title, published in connection.execute(query):
                by_title_key.setdefault(key, []).append((evidence_id, title, parse_iso(published)))
        return cls(by_link, by_title_key)

    def same_story(self, item: EvidenceItem) -> str | None:
        if item.link and item.link in self.by_link:
            return self.by_link[item.link]
        for evidence_id, title, published in self.by_title_key.get(title_key(item.title), ()):
            if abs(published - item.published) <= DUPLICATE_TITLE_WINDOW and similar_titles(title, item.title):
                return evidence_id
        return None

    def add(self, evidence_id: str, item: EvidenceItem) -> None:
        if item.link:
            self.by_link[item.link] = evidence_id
        if key := title_key(item.title):
            self.by_title_key.setdefault(key, []).append((evidence_id, item.title, item.published))


def _chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
