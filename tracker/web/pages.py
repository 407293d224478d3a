"""Routes of the public reader pages: /record/ (index), propositions, sources, scorecard, verify, Atom feeds.

Read-only and unauthenticated, so they show only what tracker/queries/public.py gives them (confirmed evidence,
no notes). Included by tracker/api/app.py when settings.public_pages is on (TRACKER_PUBLIC_PAGES).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tracker.audit.checkpoint import latest_checkpoint
from tracker.config import Settings
from tracker.queries import public
from tracker.queries import scorecard as scorecards
from tracker.queries.paging import BadCursor
from tracker.store import EventStore
from tracker.web.claimreview import claim_review, script_json
from tracker.web.render import STATUS_LABELS, STATUS_MEANINGS, render, url
from tracker.web.urls import PREFIX, public_path, public_url

# The pages load their one stylesheet from /record/static and nothing else; the filter form submits to itself.
# A response's own CSP is kept by tracker/api/middleware.SecurityHeaders (it adds its strict default only when
# none is set). No script runs: JSON-LD is data, which CSP does not block.
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'self'")
PAGE_HEADERS = {"content-security-policy": PAGE_CSP, "cache-control": "public, max-age=60"}
PAGE_SIZE = 50
CSS = files("tracker.web").joinpath("static/record.css").read_bytes()

router = APIRouter(prefix=PREFIX, include_in_schema=False)
root_router = APIRouter(include_in_schema=False)
Text = Annotated[str | None, Query(max_length=200)]
Cursor = Annotated[str | None, Query(max_length=2000)]


def _store(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    base = _settings(request).public_base_url.rstrip("/")
    context.setdefault("canonical", base + request.url.path)
    html = render(template, base=base, **context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def _problem(request: Request, status_code: int, title: str, detail: str) -> HTMLResponse:
    return _page(request, "problem.html", status_code, title=title, detail=detail, canonical=None)


def _clean(*values: str | None) -> list[str | None]:
    """Empty form fields mean "any"; NUL characters cannot be stored (PostgreSQL refuses them)."""
    cleaned = [v.strip() or None if v is not None else None for v in values]
    if any(v is not None and "\x00" in v for v in cleaned):
        raise ValueError("NUL")
    return cleaned


@root_router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse(public_path("index"), status_code=302)


@router.get("/static/record.css")
def stylesheet() -> Response:
    return Response(CSS, media_type="text/css; charset=utf-8", headers={"cache-control": "public, max-age=3600"})


@router.get("/")
def index(request: Request, status: Text = None, kind: Text = None, actor: Text = None, topic: Text = None,
          q: Text = None, order: Text = None, cursor: Cursor = None) -> HTMLResponse:
    """Every proposition, filtered, 50 a page (keyset paging as in the API)."""
    try:
        status, kind, actor, topic, q, order, cursor = _clean(status, kind, actor, topic, q, order, cursor)
        engine = _store(request).engine
        page = public.list_propositions(engine, status=status, kind=kind, actor=actor, topic=topic, q=q,
                                        overdue_first=order == "overdue", limit=PAGE_SIZE, cursor=cursor)
    except (ValueError, BadCursor):
        return _problem(request, 400, "That page does not exist",
                        "The address has a filter or page marker this site did not make. Start again from the list.")
    filters = {"status": status, "kind": kind, "actor": actor, "topic": topic, "q": q,
               "order": "overdue" if order == "overdue" else None}
    # The canonical page of a listing is its first page with the same filters.
    canonical = _settings(request).public_base_url.rstrip("/") + url("index", **filters)
    sources = public.sources_by_id(engine, {r.source_id for r in page.items if r.source_id})
    return _page(request, "index.html", page=page, filters=filters, choices=public.choices(engine),
                 sources=sources, all_sources=public.list_sources(engine), first_page=cursor is None,
                 canonical=canonical)


@router.get("/propositions/{proposition_id}")
def proposition(request: Request, proposition_id: str) -> HTMLResponse:
    """One proposition: what was said, how sure, the evidence by stance, its status changes, its resolution."""
    found = public.proposition(_store(request).engine, proposition_id) if "\x00" not in proposition_id else None
    if found is None:
        return _problem(request, 404, "No such proposition", f"There is no proposition “{proposition_id}” on record.")
    base = _settings(request).public_base_url
    canonical = public_url(base, "proposition", found.id)
    review = claim_review(found, canonical)
    status = f"{STATUS_LABELS.get(found.status, found.status)}: {STATUS_MEANINGS.get(found.status, '')}"
    return _page(request, "proposition.html", p=found, canonical=canonical, description=status,
                 claim_review=script_json(review) if review else None)


@router.get("/sources/{source_id}")
def source(request: Request, source_id: str, cursor: Cursor = None) -> HTMLResponse:
    engine = _store(request).engine
    found = public.source(engine, source_id) if "\x00" not in source_id else None
    if found is None:
        return _problem(request, 404, "No such source", f"There is no source “{source_id}” on record.")
    try:
        page = public.list_propositions(engine, source_id=found.id, limit=PAGE_SIZE, cursor=cursor or None)
    except BadCursor:
        return _problem(request, 400, "That page does not exist", "Start again from the source's first page.")
    return _page(request, "source.html", source=found, page=page, first_page=not cursor,
                 canonical=public_url(_settings(request).public_base_url, "source", found.id))


@router.get("/scorecard")
def scorecard(request: Request) -> HTMLResponse:
    engine = _store(request).engine
    return _page(request, "scorecard.html", card=scorecards.scorecard(engine), calibration=public.calibration(engine),
                 sources=public.sources_by_id(engine, {s.id for s in public.list_sources(engine)}))


@router.get("/verify")
async def verify(request: Request) -> HTMLResponse:
    store = _store(request)
    latest, head = await run_in_threadpool(lambda: (latest_checkpoint(store), store.head()))
    return _page(request, "verify.html", latest=latest, head=head)


def _atom(request: Request, template: str, **context: Any) -> Response:
    base = _settings(request).public_base_url.rstrip("/")
    body = render(template, base=base, **context)
    return Response(body, media_type="application/atom+xml; charset=utf-8",
                    headers={"cache-control": "public, max-age=60"})


@router.get("/feed.atom")
def feed(request: Request) -> Response:
    """The newest 50 status changes of every proposition."""
    return _atom(request, "feed.atom", entries=public.recent_changes(_store(request).engine), proposition=None)


@router.get("/propositions/{proposition_id}/feed.atom")
def proposition_feed(request: Request, proposition_id: str) -> Response:
    found = public.proposition(_store(request).engine, proposition_id) if "\x00" not in proposition_id else None
    if found is None:
        return _problem(request, 404, "No such proposition", f"There is no proposition “{proposition_id}” on record.")
    entries = [public.FeedEntry(found.id, found.statement, change) for change in reversed(found.timeline)]
    return _atom(request, "feed.atom", entries=entries, proposition=found)
