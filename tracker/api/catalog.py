"""Evidence and feeds: search the evidence, list and register feeds, fetch one feed now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tracker.api import paging
from tracker.api.auth import require
from tracker.api.bodies import FeedBody
from tracker.api.commanding import COMMAND, OUTSIDE_COMMAND, Outcome, run_command, run_outside
from tracker.api.commands import Editor, Track, refs
from tracker.api.deps import get_app_settings, get_store
from tracker.api.schemas import EvidencePage, EvidenceSummary, FeedCreated, FeedPage, FeedSummary, FetchResult
from tracker.config import Settings
from tracker.queries.evidence import list_evidence as evidence_page
from tracker.queries.feeds import FeedRow
from tracker.queries.feeds import list_feeds as feed_page
from tracker.repository.unit_of_work import UnitOfWork
from tracker.service import feeds
from tracker.store import EventStore

router = APIRouter(tags=["evidence and feeds"])
Reader = Depends(require("reader"))
Store = Annotated[EventStore, Depends(get_store)]
Config = Annotated[Settings, Depends(get_app_settings)]


@router.get("/evidence", response_model=EvidencePage, dependencies=[Reader])
def list_evidence(store: Store, q: paging.SearchText = None, limit: paging.Limit = 50,
                  cursor: paging.Cursor = None) -> EvidencePage:
    """Evidence items, newest first; `q` searches titles and summaries."""
    page = evidence_page(store.engine, q=q, limit=limit, cursor=cursor)
    return EvidencePage(
        items=[EvidenceSummary(id=r.id, title=r.title, link=r.link, summary=r.summary, published_at=r.published_at,
                               feed=r.feed, language=r.language, sightings=r.sightings) for r in page.items],
        next_cursor=page.next_cursor,
    )


def _feed(row: FeedRow) -> FeedSummary:
    return FeedSummary(id=row.id, name=row.name, url=row.url, interval_minutes=row.interval_minutes, tags=row.tags,
                       enabled=row.enabled, disabled_reason=row.disabled_reason, version=row.version)


@router.get("/feeds", response_model=FeedPage, dependencies=[Reader])
def list_feeds(store: Store, limit: paging.Limit = 100, cursor: paging.Cursor = None) -> FeedPage:
    """Registered feeds in id order."""
    page = feed_page(store.engine, limit=limit, cursor=cursor)
    return FeedPage(items=[_feed(r) for r in page.items], next_cursor=page.next_cursor)


@router.post("/feeds", dependencies=COMMAND, response_model=FeedCreated, status_code=201,
             responses={409: {"description": "a feed with that name exists"}, 422: {"description": "unsafe URL"}})
def register_feed(body: FeedBody, request: Request, user: Editor, tracker: Track, settings: Config) -> JSONResponse:
    """Register a news feed. The URL must be http(s) and resolve only to public addresses."""
    feeds.check_feed_url(body.url, settings)

    def work(uow: UnitOfWork, _: int | None) -> Outcome:
        changed = feeds.register_feed(uow, body.name, body.url, body.interval_minutes, body.tags)
        return Outcome(201, FeedCreated(feed=_feed(changed.feed), events=refs(changed.recorded)))

    return run_command(request, tracker, user, body.model_dump(mode="json"), work)


@router.post("/feeds/{feed_id}/enable", dependencies=COMMAND, response_model=FeedCreated,
             responses={404: {"description": "unknown feed"}})
def enable(feed_id: paging.PathId, request: Request, user: Editor, tracker: Track) -> JSONResponse:
    """Re-enable a feed that was disabled (after repeated failures or a 410): it is polled again at once."""

    def work(uow: UnitOfWork, _: int | None) -> Outcome:
        changed = feeds.enable(uow, feed_id, actor=user.actor)
        return Outcome(200, FeedCreated(feed=_feed(changed.feed), events=refs(changed.recorded)))

    return run_command(request, tracker, user, {"feed": feed_id}, work)


@router.post("/feeds/{feed_id}/fetch", dependencies=OUTSIDE_COMMAND, response_model=FetchResult,
             responses={404: {"description": "unknown feed"}})
def fetch_feed(feed_id: paging.PathId, request: Request, user: Editor, tracker: Track,
               settings: Config) -> JSONResponse:
    """Fetch this feed now (due or not): new items are ingested and matched, as in a scheduled pass."""
    feeds.require_feed(tracker, feed_id)

    def work() -> Outcome:
        outcome = feeds.fetch_now(tracker, settings, feed_id)
        return Outcome(200, FetchResult(
            feed_id=outcome.feed_id, result=outcome.result, status=outcome.status, items_new=outcome.items_new,
            items_duplicate=outcome.items_duplicate, items_skipped=outcome.items_skipped,
            skipped_reasons=outcome.skipped_reasons, sightings=outcome.sightings, matches=outcome.matches,
            auto_confirmed=outcome.auto_confirmed, error=outcome.error,
        ))

    return run_outside(request, tracker, user, {"feed": feed_id}, work)
