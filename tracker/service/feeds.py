"""Feed use cases: register a feed (its URL checked first), re-enable one, fetch one now."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.config import Settings
from tracker.domain import feed as feed_domain
from tracker.ingest.netguard import ResolveError, UnsafeURL, check_url
from tracker.ingest.refresh import RefreshOutcome
from tracker.ingest.runner import enable_feed, feed_id_for
from tracker.queries.feeds import FeedRow, feed, feed_exists
from tracker.repository.errors import Invalid
from tracker.repository.unit_of_work import NotFound, Tracker, UnitOfWork, feed_stream
from tracker.service.feed_report import measured_pass
from tracker.store import RecordedEvent


@dataclass(frozen=True)
class FeedChanged:
    feed: FeedRow
    recorded: list[RecordedEvent]


def check_feed_url(url: str, settings: Settings) -> None:
    """Refuse a URL that resolves to a private or special address (Invalid, with the reason as its kind).
    Only http(s) URLs get here (the API's body pattern): local paths are never accepted from a caller."""
    try:
        check_url(url, allow_private=settings.allow_private_feeds)
    except UnsafeURL as error:
        raise Invalid("unsafe-url", str(error)) from None
    except ResolveError as error:
        raise Invalid("unresolvable-url", str(error)) from None
    except ValueError as error:
        raise Invalid("invalid-url", str(error)) from None


def register_feed(uow: UnitOfWork, name: str, url: str, interval_minutes: int, tags: list[str]) -> FeedChanged:
    """Register a feed under an id made from its name (a taken name: the domain refuses)."""
    feed_id = feed_id_for(name)
    recorded = uow.execute(feed_stream(feed_id), feed_domain.RegisterFeed(
        feed_id=feed_id, name=" ".join(name.split()), url=url, interval_minutes=interval_minutes, tags=tuple(tags),
    ), expected_version=None)
    return FeedChanged(_row(uow, feed_id), recorded)


def enable(uow: UnitOfWork, feed_id: str, *, actor: str) -> FeedChanged:
    """Re-enable a disabled feed; its back-off is forgotten, so it is polled at once."""
    recorded = enable_feed(uow, feed_id, reason=f"re-enabled by {actor}")
    return FeedChanged(_row(uow, feed_id), recorded)


def _row(uow: UnitOfWork, feed_id: str) -> FeedRow:
    found = feed(uow.connection, feed_id)
    assert found is not None, feed_id  # written by the command just executed in this unit
    return found


def require_feed(tracker: Tracker, feed_id: str) -> None:
    if not feed_exists(tracker.store.engine, feed_id):
        raise NotFound(f"no feed {feed_id}")


def fetch_now(tracker: Tracker, settings: Settings, feed_id: str) -> RefreshOutcome:
    """One ingestion pass over this feed, due or not: new items are ingested and matched (it commits itself);
    counted in the metrics and logged like a scheduled pass."""
    return measured_pass(tracker, settings, trigger="request", feed_ids=[feed_id]).outcomes[0]
