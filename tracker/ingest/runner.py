"""Ingestion passes: register feeds from feeds.toml, refresh feeds, backfill new propositions.

The functions here only call the service layer; the scheduler and the CLI both use them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from tracker.config import Settings
from tracker.domain import feed as feed_domain
from tracker.ingest import fetchstate
from tracker.ingest.feeds_config import FeedConfig, load_feeds
from tracker.ingest.fetch import FetchSettings
from tracker.ingest.refresh import RefreshOutcome, RefreshSettings, refresh_feed
from tracker.projections.tables import feeds as feeds_table
from tracker.repository.unit_of_work import Tracker, UnitOfWork, feed_stream
from tracker.store import RecordedEvent
from tracker.suggestions import Suggester, lazy_suggester


def feed_id_for(name: str) -> str:
    """A stable, URL-safe id from a feed's name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "feed"


def sync_feeds(tracker: Tracker, configs: list[FeedConfig]) -> list[str]:
    """Register feeds new to the store and apply changed intervals/tags; returns the ids touched.

    A feed's URL is taken from the file only when it is first registered: later URL changes come from
    permanent redirects (recorded as FeedUpdated), which the file must not undo.
    """
    touched: list[str] = []
    with tracker.unit_of_work(actor="system:config", correlation_id="feeds.toml") as uow:
        for config in configs:
            feed_id = feed_id_for(config.name)
            stream = feed_stream(feed_id)
            current = uow.load(stream).state
            if current is None:
                command: object = feed_domain.RegisterFeed(
                    feed_id=feed_id, name=config.name, url=config.url,
                    path=os.path.relpath(config.path) if config.path else None,
                    interval_minutes=config.interval_minutes, tags=tuple(config.tags), sample=config.sample,
                )
            else:
                command = feed_domain.UpdateFeed(
                    {"interval_minutes": config.interval_minutes, "tags": list(config.tags)},
                    reason="feeds.toml changed",
                )
            if uow.execute(stream, command):
                touched.append(feed_id)
    return touched


def enable_feed(uow: UnitOfWork, feed_id: str, *, reason: str) -> list[RecordedEvent]:
    """Re-enable a disabled feed: a FeedUpdated event, and its back-off forgotten so it is polled at once."""
    recorded = uow.execute(feed_stream(feed_id), feed_domain.UpdateFeed({"enabled": True}, reason=reason))
    state = fetchstate.load(uow.connection, feed_id)
    state.error_count, state.next_check_at = 0, None
    fetchstate.save(uow.connection, state)
    return recorded


@dataclass
class PassSummary:
    fetched: int = 0
    not_modified: int = 0
    failed: int = 0
    disabled: int = 0
    skipped: int = 0
    items_new: int = 0
    items_duplicate: int = 0
    items_skipped: int = 0
    sightings: int = 0
    matches: int = 0
    auto_confirmed: int = 0
    outcomes: list[RefreshOutcome] = field(default_factory=list)

    def add(self, outcome: RefreshOutcome) -> None:
        self.outcomes.append(outcome)
        setattr(self, outcome.result, getattr(self, outcome.result) + 1)  # one counter per result
        self.items_new += outcome.items_new
        self.items_duplicate += outcome.items_duplicate
        self.items_skipped += outcome.items_skipped
        self.sightings += outcome.sightings
        self.matches += outcome.matches
        self.auto_confirmed += outcome.auto_confirmed

    def line(self) -> str:
        return (
            f"feeds: {self.fetched} fetched, {self.not_modified} not modified, {self.failed} failed, "
            f"{self.disabled} disabled, {self.skipped} not due; items: {self.items_new} new, "
            f"{self.items_duplicate} duplicate, {self.items_skipped} skipped, {self.sightings} seen again elsewhere; "
            f"matches suggested: {self.matches} ({self.auto_confirmed} auto-confirmed)"
        )


def refresh_settings(settings: Settings) -> RefreshSettings:
    return RefreshSettings(fetch=FetchSettings.from_settings(settings), max_errors=settings.feed_max_errors)


def enabled_feed_ids(tracker: Tracker) -> list[str]:
    with tracker.store.engine.connect() as connection:
        return list(connection.execute(
            sa.select(feeds_table.c.feed_id).where(feeds_table.c.enabled.is_(True)).order_by(feeds_table.c.feed_id)
        ).scalars())


def ingest_pass(
    tracker: Tracker,
    settings: Settings,
    *,
    feed_ids: list[str] | None = None,
    force: bool = True,
    now: datetime | None = None,
    suggester: Suggester | None = None,
    on_feed: Callable[[RefreshOutcome], None] | None = None,
) -> PassSummary:
    """Refresh the given feeds (default: every enabled feed) one after the other."""
    summary = PassSummary()
    # Built when the first new item needs matching, and reused while its inputs are unchanged.
    suggester = suggester or lazy_suggester(tracker, settings)
    refresh = refresh_settings(settings)
    for feed_id in feed_ids if feed_ids is not None else enabled_feed_ids(tracker):
        outcome = refresh_feed(
            tracker, feed_id, suggester=suggester, settings=refresh,
            now=now or datetime.now(UTC), force=force,
        )
        summary.add(outcome)
        if on_feed:
            on_feed(outcome)
    return summary


def load_and_sync(tracker: Tracker, settings: Settings) -> list[FeedConfig]:
    """Read feeds.toml (when present) and register what is new."""
    path = Path(settings.feeds_file)
    if not path.is_file():
        return []
    configs = load_feeds(path, allow_private=settings.allow_private_feeds)
    sync_feeds(tracker, configs)
    return configs

