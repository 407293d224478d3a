"""Subscribers of the weekly digest (editor), and unsubscribing by signed link (no bearer token).

`router` is included by the app factory with the editor role. `public_router` holds /unsubscribe,
which must work from a mail client: the signed token in the link is the credential, so it is included
without authentication (see tracker/api/app.py).
"""

from __future__ import annotations

import html
import json
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from tracker.api.auth import require
from tracker.api.commanding import COMMAND, Outcome, run_command
from tracker.api.deps import get_app_settings, get_store, get_tracker
from tracker.api.middleware import CSP
from tracker.api.problems import problem
from tracker.config import Settings
from tracker.digest.tokens import BadToken, TokenExpired
from tracker.queries.subscribers import SubscriberRow
from tracker.queries.subscribers import list_subscribers as subscriber_list
from tracker.repository.unit_of_work import Tracker, UnitOfWork
from tracker.service import subscribers
from tracker.service.users import User
from tracker.store import EventStore

router = APIRouter(tags=["digest"])
public_router = APIRouter(tags=["digest"])
Editor = Annotated[User, Depends(require("editor"))]
Track = Annotated[Tracker, Depends(get_tracker)]
Config = Annotated[Settings, Depends(get_app_settings)]
Store = Annotated[EventStore, Depends(get_store)]
TOKEN_PATTERN = r"^[0-9a-f.A-Za-z_-]{1,200}$"


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actors: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=100)
    topics: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=100)
    kinds: list[Literal["claim", "prediction", "prescription"]] = Field(default_factory=list, max_length=3)
    propositions: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=100)


class SubscriberBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254, examples=["reader@example.org"])
    name: str = Field("", max_length=200, examples=["A. Reader"])
    filters: Filters = Field(default_factory=Filters)
    quiet_weeks: Literal["note", "skip"] = Field(
        "note", description="a week with nothing to report: send a short note, or nothing")
    editor: StrictBool = Field(False, description="an editor: the digest also shows the review backlog")


class SubscriberChange(BaseModel):
    """Only the fields given change; filters given replace the old ones as a whole."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200, examples=["A. Reader"])
    filters: Filters | None = None
    quiet_weeks: Literal["note", "skip"] | None = None
    editor: StrictBool | None = Field(None, description="an editor: the digest also shows the review backlog")


class SubscriberOut(BaseModel):
    id: str
    email: str
    name: str
    filters: dict[str, list[str]]
    quiet_weeks: str
    editor: bool
    active: bool
    subscription: int
    version: int


def _out(row: SubscriberRow) -> SubscriberOut:
    return SubscriberOut(id=row.id, email=row.email, name=row.name, filters=row.filters, quiet_weeks=row.quiet_weeks,
                         editor=row.editor, active=row.active, subscription=row.subscription, version=row.version)


def _outcome(status: int, row: SubscriberRow) -> Outcome:
    return Outcome(status, _out(row), str(row.version))


@router.post("/subscribers", dependencies=COMMAND, status_code=201, response_model=SubscriberOut,
             responses={409: {"description": "already subscribed"}, 422: {"description": "not a plain address"}})
def add_subscriber(body: SubscriberBody, request: Request, tracker: Track, user: Editor) -> JSONResponse:
    """Subscribe an address to the weekly digest, optionally only for some actors, topics, kinds or propositions."""

    def work(uow: UnitOfWork, _expected: int | None) -> Outcome:
        return _outcome(201, subscribers.add(uow, body.email, body.name, body.filters.model_dump(), body.quiet_weeks,
                                             body.editor))

    return run_command(request, tracker, user, body.model_dump(), work)


@router.get("/subscribers", response_model=list[SubscriberOut])
def list_subscribers(store: Store, _: Editor, include_removed: bool = False) -> list[SubscriberOut]:
    """Subscribers in address order; removed ones too with include_removed=true."""
    return [_out(row) for row in subscriber_list(store.engine, include_removed=include_removed)]


@router.delete("/subscribers/{subscriber_id}", dependencies=COMMAND, response_model=SubscriberOut)
def remove_subscriber(subscriber_id: str, request: Request, tracker: Track, user: Editor) -> JSONResponse:
    """Stop sending the digest to this subscriber (removing twice changes nothing)."""

    def work(uow: UnitOfWork, _expected: int | None) -> Outcome:
        return _outcome(200, subscribers.remove(uow, subscriber_id))

    return run_command(request, tracker, user, {"subscriber_id": subscriber_id}, work)


@router.patch("/subscribers/{subscriber_id}", dependencies=COMMAND, response_model=SubscriberOut,
              responses={404: {"description": "unknown subscriber"}, 409: {"description": "not subscribed"}})
def change_subscriber(subscriber_id: str, body: SubscriberChange, request: Request, tracker: Track,
                      user: Editor) -> JSONResponse:
    """Change a subscriber's name, filters, quiet-week choice or editor flag (SubscriberChanged)."""

    def work(uow: UnitOfWork, _expected: int | None) -> Outcome:
        return _outcome(200, subscribers.change(
            uow, subscriber_id, name=body.name, filters=body.filters.model_dump() if body.filters else None,
            quiet_weeks=body.quiet_weeks, editor=body.editor,
        ))

    return run_command(request, tracker, user, {"subscriber_id": subscriber_id, **body.model_dump()}, work)


# ---- unsubscribe by link (no bearer token) --------------------------------------------------------
# A GET changes nothing: mail scanners and link previews fetch links. It shows what the link would end and a
# button that POSTs to the same URL (the CSP of /unsubscribe allows that form: tracker/api/middleware.py).
# A POST ends the subscription: the button, or RFC 8058 one-click (`List-Unsubscribe=One-Click`) from a mail
# client, which gets JSON; a browser (Accept: text/html) gets a page.

def _link_problem(error: BadToken) -> JSONResponse:
    if isinstance(error, TokenExpired):  # genuine but old: say so, and what to do instead
        return problem(410, "expired-unsubscribe-token", "The unsubscribe link has expired",
                       f"{error}; use the link in a recent digest, or ask the editors to remove you")
    return problem(400, "bad-unsubscribe-token", "The unsubscribe link is not valid", str(error))


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


# The strict policy, except that the confirmation page's button may POST to /unsubscribe itself.
PAGE_CSP = CSP.replace("form-action 'none'", "form-action 'self'")


def _page(title: str, text: str, status: int = 200, form_action: str | None = None) -> HTMLResponse:
    form = ""
    if form_action is not None:
        form = (f"<form method=\"post\" action=\"{html.escape(form_action)}\">"
                "<button type=\"submit\" style=\"font-size:1em;padding:0.4em 1.2em;\">Unsubscribe</button></form>")
    body = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title></head>"
        "<body style=\"font-family:Georgia,serif;max-width:40em;margin:3em auto;padding:0 1em;\">"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}</body></html>"
    )
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP}
    return HTMLResponse(body, status_code=status, headers=headers)


def _error_answer(request: Request, error: BadToken) -> HTMLResponse | JSONResponse:
    answer = _link_problem(error)
    if _wants_html(request):  # a person with a browser: a page, not JSON
        parsed = json.loads(answer.body)
        return _page(parsed["title"], parsed.get("detail", ""), answer.status_code)
    return answer


@public_router.get("/unsubscribe", response_class=HTMLResponse, response_model=None,
                   responses={400: {"description": "the token is malformed or forged"},
                              410: {"description": "the link is older than TRACKER_DIGEST_UNSUBSCRIBE_WEEKS"}})
def unsubscribe_page(
    request: Request, tracker: Track, settings: Config, token: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse | JSONResponse:
    """The link in a digest: a page asking to confirm with a button (a POST). Opening it changes nothing."""
    try:
        link = subscribers.check_unsubscribe(tracker, settings, token)
    except BadToken as error:
        return _error_answer(request, error)
    if not link.subscribed:
        return _page("Already unsubscribed", f"{link.email} no longer receives the Policy Tracker weekly digest.")
    return _page("Unsubscribe from the weekly digest?",
                 f"Press the button to stop sending the Policy Tracker weekly digest to {link.email}.",
                 form_action=f"/unsubscribe?{urlencode({'token': token})}")


@public_router.post("/unsubscribe", response_model=None,
                    responses={400: {"description": "the token is malformed or forged"},
                               410: {"description": "the link has expired"}})
def unsubscribe_post(
    request: Request, tracker: Track, settings: Config, token: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse | JSONResponse:
    """End the subscription: the confirmation page's button, or RFC 8058 one-click (mail clients POST
    `List-Unsubscribe=One-Click` to the List-Unsubscribe URL). Safe to repeat."""
    via = "unsubscribe-link" if _wants_html(request) else "one-click"
    try:
        done = subscribers.unsubscribe(tracker, settings, token, via)
    except BadToken as error:
        return _error_answer(request, error)
    if _wants_html(request):
        return _page("Unsubscribed", f"{done.email} will no longer receive the Policy Tracker weekly digest.")
    return JSONResponse({"unsubscribed": True, "changed": done.changed})
