"""The review queue in the browser, for editors: /review (sign in with an API token, then confirm or reject
suggestions through the same service functions and version checks as the API).

A session is a signed cookie (tracker/web/sessions.py), HttpOnly, SameSite=Strict (Secure over https), that every
worker process and replica can check: no server memory. Each request looks the session's token up again, so
revoking the token ends the session at once; signing out records the session as ended for every process; a
session ends after SESSION_TTL regardless. Every POST carries a CSRF field derived from the session and compared
in constant time (the sign-in form's is a double-submit cookie, as there is no session yet). Works without
JavaScript; /review/static/review.js adds keyboard shortcuts. CSP: scripts and styles from this origin only, forms
to this origin only.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from tracker.domain.errors import DomainError
from tracker.domain.user import User, allows, token_hash
from tracker.projections.tables import evidence, matches, propositions
from tracker.queries import paging
from tracker.queries.paging import SortKey
from tracker.queries.review import BEST_FIRST
from tracker.repository.errors import Invalid
from tracker.repository.unit_of_work import NotFound, Tracker, proposition_stream
from tracker.store import ConcurrencyError, EventStore
from tracker.store.schema import events
from tracker.web import sessions
from tracker.web.render import render

PREFIX = "/review"
COOKIE = "tracker_review"
SIGNIN_COOKIE = "tracker_review_signin"
CSRF_FIELD = "csrf_token"
SESSION_TTL = sessions.SESSION_TTL
PAGE_SIZE = 50
COUNT_CAP = 1000  # the queue counts its suggestions up to here ("more than 1000"), so a huge queue stays fast
STANCES = ("supports", "contradicts", "context")
REVIEW_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = {"content-security-policy": REVIEW_CSP, "cache-control": "no-store"}
CSS = files("tracker.web").joinpath("static/record.css").read_bytes()
JS = files("tracker.web").joinpath("static/review.js").read_bytes()
REVIEW_CSS = files("tracker.web").joinpath("static/review.css").read_bytes()

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@dataclass(frozen=True)
class Wiring:
    """The use cases these pages call, handed over by the app (tracker/api/app.py) rather than imported: the web
    layer importing tracker.service would close an import cycle (service -> digest -> web.urls)."""

    user_for_token: Callable[[sa.Engine, str], Any]  # tracker.service.users.user_for_token
    review: Any  # the tracker.service.review module: the same confirm/reject/attach functions as the API
    propositions: Any  # tracker.service.propositions: act (amend, resolve, withdraw, reopen) and backfill_later
    controls: Any  # tracker.service.matching_controls: mute and unmute
    bodies: Any  # tracker.api.bodies: the API's request models, so a form is validated exactly as a JSON body


def install(app: FastAPI, wiring: Wiring) -> None:
    from tracker.web import review_propositions  # it builds on this module's sessions and forms

    app.state.review_wiring = wiring
    app.include_router(router)
    app.include_router(review_propositions.router)


def _wiring(request: Request) -> Wiring:
    wiring: Wiring = request.app.state.review_wiring
    return wiring


Session = sessions.Session  # id, token_sha256, issued, expires, csrf


def _session_key(request: Request) -> bytes:
    """The cookie key of this app's settings (derived from the digest secret; see tracker/web/sessions.py)."""
    key: bytes | None = getattr(request.app.state, "review_session_key", None)
    if key is None:
        key = request.app.state.review_session_key = sessions.session_key(request.app.state.settings)
    return key


class Form:
    """A urlencoded form body (the only kind these pages send), read without python-multipart."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields

    def get(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None

    def getlist(self, name: str) -> list[str]:
        return self.fields.get(name, [])

    def items(self) -> list[tuple[str, str]]:
        return [(k, v[0]) for k, v in self.fields.items() if v]


async def _form(request: Request) -> Form:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return Form({})
    body = (await request.body()).decode("utf-8", "replace")
    return Form(parse_qs(body, keep_blank_values=True, max_num_fields=500))


def _store(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


def _signed_in(request: Request) -> tuple[User, Session] | None:
    """The user behind the session cookie: a genuine, unexpired cookie whose token is still current (looked up
    again by its hash, so a revoked token ends the session) and that was not signed out."""
    session = sessions.read(_session_key(request), request.cookies.get(COOKIE))
    if session is None:
        return None
    user = sessions.user_of(_store(request).engine, session)
    if user is None:
        return None
    request.state.user = user  # the access log's actor, as for API requests
    return user, session


def _csrf_ok(given: Any, expected: str) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _html(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(template, **context), status_code=status_code, headers=HEADERS)


def _problem(status_code: int, title: str, detail: str) -> HTMLResponse:
    return _html("review_problem.html", status_code, title=title, detail=detail, user=None, csrf="")


def _safe_next(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX) or text.startswith("//") or "\\" in text:
        return PREFIX
    return text


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/static/record.css")
def stylesheet() -> Response:
    return Response(CSS, media_type="text/css; charset=utf-8", headers={"cache-control": "public, max-age=3600"})


@router.get("/static/review.css")
def review_stylesheet() -> Response:
    return Response(REVIEW_CSS, media_type="text/css; charset=utf-8", headers={"cache-control": "public, max-age=300"})


@router.get("/static/review.js")
def script() -> Response:
    return Response(JS, media_type="text/javascript; charset=utf-8", headers={"cache-control": "public, max-age=300"})


# ---- sign-in and sign-out ----------------------------------------------------------------------------------------

def _signin_page(request: Request, status_code: int = 200, error: str | None = None) -> HTMLResponse:
    nonce = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)
    response = _html("review_signin.html", status_code, error=error, csrf=nonce, user=None,
                     next=_safe_next(request.query_params.get("next")))
    response.set_cookie(SIGNIN_COOKIE, nonce, max_age=3600, path=PREFIX, httponly=True, samesite="strict",
                        secure=_secure(request))
    return response


@router.get("/signin")
def signin_form(request: Request) -> HTMLResponse:
    return _signin_page(request)


@router.post("/signin", response_model=None)
async def signin(request: Request) -> Response:
    form = await _form(request)
    if not _csrf_ok(form.get(CSRF_FIELD), request.cookies.get(SIGNIN_COOKIE, "")):
        return _problem(403, "Refused", "The form was not sent from this site's sign-in page. Reload it and try again.")
    token = form.get("token")
    token = token.strip() if isinstance(token, str) else ""
    user = _wiring(request).user_for_token(_store(request).engine, token) if token else None
    if user is None:
        return _signin_page(request, 401, "That token is not valid (unknown or revoked).")
    cookie, _ = sessions.issue(_session_key(request), token_hash(token))
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    response.set_cookie(COOKIE, cookie, max_age=SESSION_TTL, path=PREFIX, httponly=True, samesite="strict",
                        secure=_secure(request))
    response.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
    return response


@router.post("/signout", response_model=None)
async def signout(request: Request) -> Response:
    found = _signed_in(request)
    form = await _form(request)
    if found is not None:
        if not _csrf_ok(form.get(CSRF_FIELD), found[1].csrf):
            return _problem(403, "Refused", "The form had no valid CSRF field.")
        sessions.end(_store(request).engine, found[1])
    response = RedirectResponse(PREFIX + "/signin", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


# ---- the queue ---------------------------------------------------------------------------------------------------

FILTERS = ("proposition", "feed", "min_score", "max_score", "published_after", "published_before")
PAGE_KEYS = ("after", "before")  # keyset cursors: the page after a suggestion, or before one


@dataclass(frozen=True)
class Suggestion:
    id: str
    score: float
    suggested_stance: str | None
    explanation: str
    title: str | None
    link: str | None
    feed: str | None
    published_at: str | None
    summary: str | None
    proposition_id: str
    statement: str | None
    status: str | None
    version: int | None

    @property
    def host(self) -> str:
        return urlsplit(self.link).netloc if self.link else ""


def explanation_in_words(raw: str | None) -> str:
    try:
        found = json.loads(raw or "{}")
    except ValueError:
        return ""
    if not isinstance(found, dict):
        return ""
    if isinstance(found.get("summary"), str):
        return found["summary"]
    if found.get("manual"):
        return "Attached by hand."
    words = []
    entities = [e.get("entity") if isinstance(e, dict) else str(e) for e in found.get("entities", [])]
    terms = [t.get("term") if isinstance(t, dict) else str(t) for t in found.get("terms", [])]
    if entities:
        words.append("names in common: " + ", ".join(str(e) for e in entities[:5]))
    if terms:
        words.append("shared terms: " + ", ".join(str(t) for t in terms[:5]))
    return ("Matched on " + "; ".join(words) + ".") if words else "No explanation recorded."


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue (at most PAGE_SIZE, best first), the cursors of the pages either side (None at an
    end) and how many suggestions the filters select in all (COUNT_CAP + 1 meaning more than COUNT_CAP)."""

    items: list[Suggestion]
    total: int
    next: str | None
    previous: str | None
    bad_cursor: bool = False


ITEM_FILTERS = ("feed", "published_after", "published_before")
# Up to this many items selected by the feed and date filters, the queue is read from the items' side: a seek per
# item in ix_matches_evidence_state_score. Beyond it, best first, each suggestion tested against the set of items.
FEW_ITEMS = 2000
WIDE_SCORES = 0.5  # a min_score..max_score range at least this wide counts from the items' side even when many


def _selected_items(filters: dict[str, str]) -> sa.Select[Any] | None:
    """The ids of the items (evidence) the feed and date filters select, or None when there are no such filters.
    Read from ix_evidence_feed_published or ix_evidence_published_at alone (both end with evidence_id)."""
    if not any(filters.get(name) for name in ITEM_FILTERS):
        return None
    query = sa.select(evidence.c.evidence_id)
    if filters.get("feed"):
        query = query.where(evidence.c.feed == filters["feed"])
    if filters.get("published_after"):
        query = query.where(evidence.c.published_at >= filters["published_after"])
    if filters.get("published_before"):
        query = query.where(evidence.c.published_at < filters["published_before"])
    return query


def _narrowed(query: sa.Select[Any], filters: dict[str, str], items: sa.Select[Any] | None,
              key: tuple[tuple[SortKey, ...], tuple[Any, ...]] | None = None, membership: str = "test",
              ) -> sa.Select[Any]:
    """The filters on matches only, the feed and date ones as membership of the selected items; with `key` (an
    order and a suggestion's key in it), only the suggestions after that one. `membership`: "seek" reads from
    the items' side (a seek per item), "test" tests each suggestion walked against the list of items, "exists"
    looks each suggestion's item up instead (no list to build: cheaper for a short walk among many items).

    The score is bounded once on each side, the tighter of the filter's bound and the key's: paging.after's OR
    alone hides the score range from SQLite, which then walked every suggestion (0.5 s a page on
    benchmarks/api.py's store), and of two bounds on one side SQLite may seek with the looser one (min_score's:
    every suggestion between it and the page walked)."""
    items_first = membership == "seek"
    low, high = _number(filters.get("min_score")), _number(filters.get("max_score"))
    if key is not None:
        order, values = key
        if order[0].descending:
            high = values[0] if high is None else min(high, values[0])
        else:
            low = values[0] if low is None else max(low, values[0])
    query = query.where(matches.c.state == "suggested")
    if low is not None:
        query = query.where(matches.c.score >= low)
    if high is not None:
        # From the items, a range bounded on both sides made SQLite prefer walking it best first
        # (ix_matches_state_score) to a seek per item: the upper bound is then only checked, on an expression.
        score = matches.c.score + sa.literal_column("0") if items_first and low is not None else matches.c.score
        query = query.where(score <= high)
    if key is not None:
        order, values = key
        if items_first:
            # The OR on the plain columns would have SQLite seek ix_matches_state_score once per branch
            # (MULTI-INDEX OR), best first again: on an expression it is only checked, per item found.
            order = tuple(SortKey(k.column + sa.literal_column("0"), k.type, k.descending)
                          if k.column is matches.c.score else k for k in order)
        query = query.where(paging.after(order, values))
    if filters.get("proposition"):
        query = query.where(matches.c.proposition_id == filters["proposition"])
    if items is not None and membership == "exists":
        query = query.where(items.where(evidence.c.evidence_id == matches.c.evidence_id).exists())
    elif items is not None:
        # From the items, SQLite seeks ix_matches_evidence_state_score once per item in the list. Otherwise the
        # membership is only tested, on an expression, so SQLite cannot choose that seek (it has no statistics and
        # took a list of 100 items for a short one) and walks best first, or one proposition's index.
        member = matches.c.evidence_id if items_first else sa.func.coalesce(matches.c.evidence_id, "")
        query = query.where(member.in_(items.scalar_subquery()))
    return query


@dataclass(frozen=True)
class _Plan:
    """How the page and its probes read: `items` the selected items (None: no feed or date filter); `membership`
    (see _narrowed): "seek" when the items are few and so is what they select, "exists" when they are many (a
    large share of the queue: the walk best first is short, shorter than building their list), else "test"."""

    items: sa.Select[Any] | None
    membership: str

    @property
    def from_items(self) -> bool:
        return self.membership == "seek"


def _queue(engine: sa.Engine, filters: dict[str, str]) -> QueuePage:
    """Keyset paging in BEST_FIRST order: `after` continues past a page's last suggestion, `before` goes back
    from a page's first one. A decision removes a suggestion without shifting the pages around it.

    Statements: with feed or date filters (and no proposition), a capped count of the items they select; the
    capped count of suggestions; the page's keys (one more than a page, so the side it reads towards needs no
    probe); the page's rows by id; a probe for a page on the other side (none on the first page, which starts at
    the top). Without those filters, or with many items, best first: ix_matches_state_score, whose entries carry
    evidence_id, so testing an item's membership does not leave the index. With few items (FEW_ITEMS), from the
    items: a seek per item, and the page sorted."""
    backwards = tuple(SortKey(k.column, k.type, not k.descending) for k in BEST_FIRST)
    order, key, bad = BEST_FIRST, None, False
    try:
        if filters.get("before"):
            order, key = backwards, paging.decode(filters["before"], *(k.type for k in BEST_FIRST))
        elif filters.get("after"):
            key = paging.decode(filters["after"], *(k.type for k in BEST_FIRST))
    except paging.BadCursor:
        order, key, bad = BEST_FIRST, None, True
    items = _selected_items(filters)
    with engine.connect() as connection:
        few = False
        if items is not None and not filters.get("proposition"):
            # One proposition's suggestions are few anyway: they are read from its own index, items tested.
            found = connection.execute(sa.select(sa.func.count()).select_from(
                items.limit(FEW_ITEMS + 1).subquery())).scalar_one()
            few = found <= FEW_ITEMS
        # The count stops at COUNT_CAP + 1. From the items' side it does when the items are few, or when the score
        # range leaves each item most of its suggestions (a few dozen items reach it: one feed of benchmarks/api.py's
        # store, 5-15 ms best first, 1-3 ms so). With a narrow score range among many items, best first (each
        # suggestion's item tested in the index), which finds them soon, where a seek per item could cost one per
        # item of thousands that keep no suggestion.
        wide = (_number(filters.get("max_score")) or 1.0) - (_number(filters.get("min_score")) or 0.0) >= WIDE_SCORES
        if items is not None and not filters.get("proposition") and not few and wide:
            # Not `IN (items)`: SQLite would index all the items first (20,000 of them: 20 ms). The LIMIT keeps
            # it from flattening the subquery into a join it would start from matches; the items are read in a
            # plain list and their suggestions sought one item after the other until COUNT_CAP + 1.
            selected = items.limit(2**31 - 1).subquery("selected")
            counted = _narrowed(sa.select(matches.c.match_id).select_from(
                selected.join(matches, matches.c.evidence_id == selected.c.evidence_id)), filters, None)
        else:
            counted = _narrowed(sa.select(matches.c.match_id), filters, items, membership="seek" if few else "test")
            if items is not None and not few:
                counted = counted.order_by(matches.c.score.desc())
        counted = counted.limit(COUNT_CAP + 1)
        total = connection.execute(sa.select(sa.func.count()).select_from(counted.subquery())).scalar_one()
        # From the items only when what they select is small too: then the sort is of at most COUNT_CAP rows.
        plan = _Plan(items, "seek" if few and total <= COUNT_CAP else "test" if few else "exists")

        def keys(keys: tuple[SortKey, ...], key: tuple[Any, ...] | None, limit: int) -> list[Any]:
            query = _narrowed(sa.select(matches.c.match_id, matches.c.score), filters, plan.items,
                              None if key is None else (keys, key), plan.membership)
            if plan.from_items:
                # An expression SQLite cannot read in order from ix_matches_state_score, so it seeks per item
                # (ix_matches_evidence_state_score) and sorts what it found, instead of walking best first.
                sort = [(k.column + sa.literal_column("0")) if k.column is matches.c.score else k.column
                        for k in keys]
            else:
                sort = [k.column for k in keys]
            query = query.order_by(*(s.desc() if k.descending else s for s, k in zip(sort, keys, strict=True)))
            return connection.execute(query.limit(limit)).all()

        found_keys = keys(order, key, PAGE_SIZE + 1)
        further = len(found_keys) > PAGE_SIZE
        found_keys = found_keys[:PAGE_SIZE]
        if order is backwards:
            found_keys.reverse()
        rows = []
        if found_keys:
            joined = (matches.outerjoin(evidence, evidence.c.evidence_id == matches.c.evidence_id)
                      .outerjoin(propositions, propositions.c.proposition_id == matches.c.proposition_id))
            by_id = {r.match_id: r for r in connection.execute(
                sa.select(matches.c.match_id, matches.c.score, matches.c.suggested_stance, matches.c.explanation,
                          matches.c.proposition_id, evidence.c.title, evidence.c.link, evidence.c.feed,
                          evidence.c.published_at, evidence.c.summary, propositions.c.statement,
                          propositions.c.status, propositions.c.version)
                .select_from(joined).where(matches.c.match_id.in_([k.match_id for k in found_keys])))}
            rows = [by_id[k.match_id] for k in found_keys if k.match_id in by_id]

        def beyond(row: Any, direction: tuple[SortKey, ...]) -> str | None:
            found = bool(keys(direction, (row.score, row.match_id), 1))
            return paging.encode(row.score, row.match_id) if found else None

        following = preceding = None
        if found_keys:
            first, last = found_keys[0], found_keys[-1]
            if order is backwards:
                preceding = paging.encode(first.score, first.match_id) if further else None
                following = beyond(last, BEST_FIRST)
            else:
                following = paging.encode(last.score, last.match_id) if further else None
                # The first page starts at the top of the queue: nothing can come before it.
                preceding = beyond(first, backwards) if key is not None else None
    items_found = [Suggestion(r.match_id, r.score, r.suggested_stance, explanation_in_words(r.explanation), r.title,
                              r.link, r.feed, r.published_at, r.summary, r.proposition_id, r.statement, r.status,
                              r.version)
                   for r in rows]
    return QueuePage(items_found, total, following, preceding, bad)


def _feeds(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return [f for (f,) in connection.execute(sa.select(evidence.c.feed).distinct().order_by(evidence.c.feed))
                if f]


def _proposition_ids(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(propositions.c.proposition_id).where(
            propositions.c.status.not_in(("withdrawn",))).order_by(propositions.c.proposition_id).limit(1000)
        ).scalars())


@dataclass(frozen=True)
class _Choices:
    """The queue form's feed list and the datalist of proposition ids (markup), as of the log's head."""

    head: int
    feeds: list[str]
    proposition_options: Markup


def _choices(request: Request, engine: sa.Engine) -> _Choices:
    """Read again only when the log has moved (every write appends to it): the two queries and the 1,000 options
    were about 15 ms of every queue page (most of it Jinja's loop over the ids), for lists that rarely change."""
    with engine.connect() as connection:
        head = connection.execute(sa.select(sa.func.max(events.c.position))).scalar() or 0
    cached: _Choices | None = getattr(request.app.state, "review_choices", None)
    if cached is not None and cached.head == head:
        return cached
    options = Markup("".join(f'<option value="{escape(pid)}">' for pid in _proposition_ids(engine)))
    found = request.app.state.review_choices = _Choices(head, _feeds(engine), options)
    return found


def _filters(values: Any) -> dict[str, str]:
    """The queue's filters and its page (a cursor), as given in a query string or a form's hidden fields."""
    found = {}
    for name in (*FILTERS, *PAGE_KEYS):
        value = values.get(name)
        if isinstance(value, str) and value.strip() and "\x00" not in value and len(value) <= 200:
            found[name] = value.strip()
    return found


def _queue_page(request: Request, user: User, session: Session, filters: dict[str, str], status_code: int = 200,
                message: str | None = None, conflict: str | None = None) -> HTMLResponse:
    engine = _store(request).engine
    page = _queue(engine, filters)
    narrowing = {k: v for k, v in filters.items() if k in FILTERS}
    if page.bad_cursor:
        filters = narrowing
        message = message or "That page link is not valid (changed, or from elsewhere): here is the first page."
    pages = {"next": page.next and PREFIX + "?" + urlencode({**narrowing, "after": page.next}),
             "previous": page.previous and PREFIX + "?" + urlencode({**narrowing, "before": page.previous}),
             "first": PREFIX + ("?" + urlencode(narrowing) if narrowing else "")}
    choices = _choices(request, engine)
    if allows(user.role, "editor"):
        # While the editor reads the page, fold the states its actions will need (tracker/repository/warming.py).
        _warm(request, [item.proposition_id for item in page.items])
    return _html("review_queue.html", status_code, user=user, csrf=session.csrf, items=page.items, total=page.total,
                 pages=pages, filters=filters, feeds=choices.feeds, proposition_options=choices.proposition_options,
                 count_cap=COUNT_CAP, editor=allows(user.role, "editor"), message=message, conflict=conflict,
                 stances=STANCES)


def _warm(request: Request, proposition_ids: list[str]) -> None:
    warmer = getattr(request.app.state, "warmer", None)
    if warmer is not None:
        warmer.request([proposition_stream(proposition_id) for proposition_id in proposition_ids])  # warm() dedupes


@router.get("", response_model=None)
@router.get("/", response_model=None)
def queue(request: Request) -> Response:
    found = _signed_in(request)
    if found is None:
        target = PREFIX + ("?" + request.url.query if request.url.query else "")
        return RedirectResponse(PREFIX + "/signin?" + urlencode({"next": target}), status_code=303)
    user, session = found
    done = request.query_params.get("done")
    message = {"confirmed": "Confirmed.", "rejected": "Rejected.", "bulk": "The selected suggestions were rejected.",
               "moved": "Rejected here and attached to the other proposition."
               }.get(done or "")
    return _queue_page(request, user, session, _filters(request.query_params), message=message)


# ---- actions -----------------------------------------------------------------------------------------------------

async def _editor_form(request: Request) -> tuple[User, Session, Any] | Response:
    found = _signed_in(request)
    if found is None:
        return _problem(403, "Signed out", "Your session ended. Sign in again; nothing was changed.")
    user, session = found
    form = await _form(request)
    if not _csrf_ok(form.get(CSRF_FIELD), session.csrf):
        return _problem(403, "Refused", "The form had no valid CSRF field; nothing was changed.")
    if not allows(user.role, "editor"):
        return _problem(403, "Not allowed", f"Reviewing needs the editor role; {user.name} is a {user.role}.")
    return user, session, form


def _version(form: Any) -> int | None:
    try:
        return int(form.get("version"))
    except (TypeError, ValueError):
        return None


def _decide(request: Request, user: User, session: Session, form: Any, action: str,
            work: Any) -> Response:
    filters = _filters(form)
    tracker: Tracker = request.app.state.tracker
    try:
        with tracker.unit_of_work(actor=user.actor, correlation_id=getattr(request.state, "request_id", None),
                                  causation_id=f"web:{request.method} {request.url.path}") as uow:
            work(uow)
    except ConcurrencyError:
        return _queue_page(request, user, session, filters, 409, conflict=(
            "Another editor changed this proposition after you loaded the page, so nothing was applied. "
            "Here is its current state; decide again if it still applies."))
    except (DomainError, Invalid, NotFound) as error:
        return _queue_page(request, user, session, filters, 409, conflict=f"Nothing was applied: {error}")
    return RedirectResponse(PREFIX + "?" + urlencode({**filters, "done": action}), status_code=303)


@router.post("/matches/{match_id}/confirm", response_model=None)
async def confirm(request: Request, match_id: str) -> Response:
    checked = await _editor_form(request)
    if isinstance(checked, Response):
        return checked
    user, session, form = checked
    stance = form.get("stance")
    if stance not in STANCES:
        return _problem(400, "Choose a stance", "A confirmation needs a stance: supports, contradicts or context.")
    note = str(form.get("note") or "")[:2000]
    return _decide(request, user, session, form, "confirmed",
                   lambda uow: _wiring(request).review.confirm(uow, match_id, stance, note, _version(form)))


@router.post("/matches/{match_id}/reject", response_model=None)
async def reject(request: Request, match_id: str) -> Response:
    checked = await _editor_form(request)
    if isinstance(checked, Response):
        return checked
    user, session, form = checked
    reason = str(form.get("reason") or "")[:2000]
    return _decide(request, user, session, form, "rejected",
                   lambda uow: _wiring(request).review.reject(uow, match_id, reason, _version(form)))


@router.post("/reject", response_model=None)
async def reject_selected(request: Request) -> Response:
    """Reject the ticked suggestions in one unit of work. Each value is `match_id@version`: the version is
    checked at a proposition's first rejection (the unit holds the append lock, so it cannot move after)."""
    checked = await _editor_form(request)
    if isinstance(checked, Response):
        return checked
    user, session, form = checked
    selected = [str(v) for v in form.getlist("selected")][:PAGE_SIZE]
    if not selected:
        return _queue_page(request, user, session, _filters(form), 400, conflict="Tick at least one suggestion.")
    reason = str(form.get("reason") or "")[:2000]

    ticked = [(match_id, int(version) if version.isdigit() else None)
              for match_id, _, version in (value.rpartition("@") for value in selected)]
    return _decide(request, user, session, form, "bulk",
                   lambda uow: _wiring(request).review.reject_selected(uow, ticked, reason))


@router.post("/matches/{match_id}/move", response_model=None)
async def move(request: Request, match_id: str) -> Response:
    """"Belongs to another proposition": reject the suggestion here (with the version check) and attach its
    item to the proposition named, confirmed with the stance chosen, in one unit of work."""
    checked = await _editor_form(request)
    if isinstance(checked, Response):
        return checked
    user, session, form = checked
    target = str(form.get("target") or "").strip()
    stance = form.get("stance")
    if not target or stance not in STANCES:
        return _problem(400, "Name the proposition", "Give the id of the proposition it belongs to and a stance.")

    def work(uow: Any) -> None:
        row = uow.connection.execute(
            sa.select(evidence.c.title, evidence.c.link, evidence.c.summary, evidence.c.published_at)
            .select_from(matches.join(evidence, evidence.c.evidence_id == matches.c.evidence_id))
            .where(matches.c.match_id == match_id)).first()
        if row is None or not row.link:
            raise Invalid("no-link", "this item has no link, so it cannot be attached elsewhere")
        published = datetime.fromisoformat(row.published_at) if row.published_at else datetime.now().astimezone()
        item = _wiring(request).review.manual_evidence(row.link, row.title or row.link, row.summary or "", published,
                                              stance, f"moved from a suggestion for another proposition ({match_id})")
        _wiring(request).review.reject(uow, match_id, f"belongs to {target}", _version(form))
        _wiring(request).review.attach_evidence(uow, target, item, actor=user.actor)

    return _decide(request, user, session, form, "moved", work)
