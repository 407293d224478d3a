"""Evidence and feeds: search the evidence, list and register feeds, fetch one feed now."""

from __future__ import annotations

import json
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tracker.api import paging
from tracker.api.auth import require
from tracker.api.bodies import FeedBody
from tracker.api.commanding import Outcome, run_command, run_outside
from tracker.api.commands import Editor, Track, refs
from tracker.api.deps import get_app_settings, get_store
from tracker.api.problems import Invalid
from tracker.api.schemas import EvidencePage, EvidenceSummary, FeedCreated, FeedPage, FeedSummary, FetchResult
from tracker.config import Settings
from tracker.domain import feed as feed_domain
from tracker.ingest.runner import enable_feed, feed_id_for
from tracker.projections.tables import evidence, feeds
from tracker.service.unit_of_work import NotFound, UnitOfWork, feed_stream
from tracker.store import EventStore

router = APIRouter(tags=["evidence and feeds"])
Reader = Depends(require("reader"))
Store = Annotated[EventStore, Depends(get_store)]
Config = Annotated[Settings, Depends(get_app_settings)]


@router.get("/evidence", response_model=EvidencePage, dependencies=[Reader])
def list_evidence(store: Store, q: paging.SearchText = None, limit: paging.Limit = 50,
                  cursor: paging.Cursor = None) -> EvidencePage:
    """Evidence items, newest first; `q` searches titles and summaries."""
    query = (sa.select(evidence).order_by(evidence.c.published_at.desc(), evidence.c.evidence_id)
             .limit(limit + 1))
    if q:
        query = query.where(sa.or_(evidence.c.title.icontains(q, autoescape=True),
                                   evidence.c.summary.icontains(q, autoescape=True)))
    if cursor:
        published, evidence_id = paging.decode(cursor, str, str)
        query = query.where(sa.or_(
            evidence.c.published_at < published,
            sa.and_(evidence.c.published_at == published, evidence.c.evidence_id > evidence_id),
        ))
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return EvidencePage(
        items=[EvidenceSummary(id=r.evidence_id, title=r.title, link=r.link, summary=r.summary,
                               published_at=r.published_at, feed=r.feed, language=r.language,
                               sightings=r.sightings) for r in rows],
        next_cursor=paging.encode(rows[-1].published_at, rows[-1].evidence_id) if more else None,
    )


def _feed(row: Any) -> FeedSummary:
    return FeedSummary(id=row.feed_id, name=row.name, url=row.url, interval_minutes=row.interval_minutes,
                       tags=json.loads(row.tags), enabled=bool(row.enabled), disabled_reason=row.disabled_reason,
                       version=row.version)


@router.get("/feeds", response_model=FeedPage, dependencies=[Reader])
def list_feeds(store: Store, limit: paging.Limit = 100, cursor: paging.Cursor = None) -> FeedPage:
    """Registered feeds in id order."""
    query = sa.select(feeds).order_by(feeds.c.feed_id).limit(limit + 1)
    if cursor:
        query = query.where(feeds.c.feed_id > paging.decode(cursor, str)[0])
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return FeedPage(items=[_feed(r) for r in rows],
                    next_cursor=paging.encode(rows[-1].feed_id) if more else None)


def _checked(url: str, settings: Settings) -> None:
    # Only http(s) URLs reach here (the body pattern); local paths are never accepted through the API.
    from tracker.ingest.netguard import ResolveError, UnsafeURL, check_url

    try:
        check_url(url, allow_private=settings.allow_private_feeds)
    except UnsafeURL as error:
        raise Invalid("unsafe-url", str(error)) from None
    except ResolveError as error:
        raise Invalid("unresolvable-url", str(error)) from None
    except ValueError as error:
        raise Invalid("invalid-url", str(error)) from None


@router.post("/feeds", response_model=FeedCreated, status_code=201,
             responses={409: {"description": "a feed with that name exists"}, 422: {"description": "unsafe URL"}})
def register_feed(body: FeedBody, request: Request, user: Editor, tracker: Track, settings: Config) -> JSONResponse:
    """Register a news feed. The URL must be http(s) and resolve only to public addresses."""
    _checked(body.url, settings)
    feed_id = feed_id_for(body.name)

    def work(uow: UnitOfWork, _: int | None) -> Outcome:
        recorded = uow.execute(feed_stream(feed_id), feed_domain.RegisterFeed(
            feed_id=feed_id, name=" ".join(body.name.split()), url=body.url, interval_minutes=body.interval_minutes,
            tags=tuple(body.tags),
        ), expected_version=None)
        row = uow.connection.execute(sa.select(feeds).where(feeds.c.feed_id == feed_id)).first()
        return Outcome(201, FeedCreated(feed=_feed(row), events=refs(recorded)))

    return run_command(request, tracker, user, body.model_dump(mode="json"), work)


@router.post("/feeds/{feed_id}/enable", response_model=FeedCreated,
             responses={404: {"description": "unknown feed"}})
def enable(feed_id: paging.PathId, request: Request, user: Editor, tracker: Track) -> JSONResponse:
    """Re-enable a feed that was disabled (after repeated failures or a 410): it is polled again at once."""

    def work(uow: UnitOfWork, _: int | None) -> Outcome:
        recorded = enable_feed(uow, feed_id, reason=f"re-enabled by {user.actor}")
        row = uow.connection.execute(sa.select(feeds).where(feeds.c.feed_id == feed_id)).first()
        return Outcome(200, FeedCreated(feed=_feed(row), events=refs(recorded)))

    return run_command(request, tracker, user, {"feed": feed_id}, work)


@router.post("/feeds/{feed_id}/fetch", response_model=FetchResult,
             responses={404: {"description": "unknown feed"}})
def fetch_feed(feed_id: paging.PathId, request: Request, user: Editor, tracker: Track,
               settings: Config) -> JSONResponse:
    """Fetch this feed now (due or not): new items are ingested and matched, as in a scheduled pass."""
    with tracker.store.engine.connect() as connection:
        row = connection.execute(sa.select(feeds.c.path).where(feeds.c.feed_id == feed_id)).first()
    if row is None:
        raise NotFound(f"no feed {feed_id}")

    def work() -> Outcome:
        from tracker.ingest.runner import ingest_pass

        outcome = ingest_pass(tracker, settings, feed_ids=[feed_id]).outcomes[0]
        return Outcome(200, FetchResult(
            feed_id=outcome.feed_id, result=outcome.result, status=outcome.status, items_new=outcome.items_new,
            items_duplicate=outcome.items_duplicate, sightings=outcome.sightings, matches=outcome.matches,
            auto_confirmed=outcome.auto_confirmed, error=outcome.error,
        ))

    return run_outside(request, tracker, user, {"feed": feed_id}, work)
