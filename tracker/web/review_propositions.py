"""A proposition's editor view, under /review/propositions (registered by tracker.web.review.install).

The list of propositions, and one proposition: its statement and status, its history (its events, newest first,
who and when), its confirmed evidence with stance, and forms to resolve, withdraw or reopen it, edit its match
profile (terms and exclusions) and mute or unmute its matching. Each form runs the use case the API's route runs
(tracker.service.propositions.act, tracker.service.matching_controls), validated by the API's own request models
(handed over in the Wiring, as the web layer may not import tracker.api), with the version from the page: when
the proposition changed meanwhile (another editor, or the same form sent twice) nothing is applied and the page
shows the current state. Readers see the page without forms and are refused (403) if they post; every post needs
the session's CSRF field. Sessions, CSRF and the page policy are tracker.web.review's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from tracker.domain import proposition as domain
from tracker.domain.errors import DomainError, InvalidCommand, UnknownMatch
from tracker.domain.events import Event, fold
from tracker.domain.user import allows
from tracker.projections.tables import evidence
from tracker.queries import paging
from tracker.queries import propositions as queries
from tracker.repository.errors import Invalid
from tracker.repository.unit_of_work import NotFound, Tracker, UnitOfWork, proposition_stream
from tracker.store import ConcurrencyError, RecordedEvent
from tracker.web import review
from tracker.web.render import STATUS_LABELS, long_date
from tracker.web.urls import public_path

log = logging.getLogger("tracker.web")
PREFIX = review.PREFIX + "/propositions"
HISTORY_SHOWN = 100  # newest events on the page; the API's /propositions/{id}/history has them all
LIST_SIZE = 50
OUTCOMES = domain.OUTCOMES
DONE = {
    "resolved": "Resolved.",
    "withdrawn": "Withdrawn: it is no longer tracked.",
    "reopened": "Reopened: its status follows its evidence again.",
    "profile": "Match profile saved.",
    "muted": "Matching muted: the matcher suggests nothing more for it (suggestions already queued stay).",
    "unmuted": "Matching unmuted.",
    "window": "Evidence window saved.",
}
RESCORED = " Recent evidence was scored against it again."  # after those the API follows with the backfill too
FOLLOW_UP_FAILED = ("The change was recorded, but scoring recent evidence against it again failed; some "
                    "suggestions may be missing until it runs again (the next amendment or feed pass).")
CONFLICT = ("This proposition changed after you loaded the page (another editor, or this form sent twice), so "
            "nothing was applied. Here is its current state; decide again if it still applies.")
LABELS = {"outcome": "Outcome", "note": "Note", "evidence_ids": "Deciding evidence", "reason": "Reason",
          "match_profile": "Match profile", "terms": "Terms", "exclusions": "Exclusions",
          "not_before": "Suggest items published from", "not_after": "Suggest items published until"}

router = APIRouter(prefix=PREFIX, include_in_schema=False)


# ---- what the pages show -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One event of the proposition, in words."""

    version: int
    event_type: str
    what: str
    detail: str
    actor: str
    recorded_at: str


@dataclass(frozen=True)
class Confirmed:
    match_id: str
    evidence_id: str
    stance: str
    note: str
    automatic: bool
    title: str
    link: str | None
    feed: str | None
    published_at: str | None

    @property
    def safe_link(self) -> str | None:
        return self.link if self.link and self.link.startswith(("https://", "http://")) else None


@dataclass(frozen=True)
class View:
    state: domain.Proposition
    version: int
    changes: list[Change]
    events: int  # how many it has in all; `changes` holds the newest HISTORY_SHOWN
    confirmed: list[Confirmed]
    awaiting_review: int

    @property
    def terminal(self) -> bool:
        return self.state.status in domain.TERMINAL

    @property
    def overdue(self) -> bool:
        return queries.is_overdue(self.state.resolve_by, (self.state.resolution or {}).get("outcome"))

    @property
    def profile(self) -> dict[str, Any]:
        return self.state.match_profile or {}


def _titles(engine: sa.Engine, evidence_ids: set[str]) -> dict[str, Any]:
    if not evidence_ids:
        return {}
    query = sa.select(evidence.c.evidence_id, evidence.c.title, evidence.c.link, evidence.c.feed,
                      evidence.c.published_at).where(evidence.c.evidence_id.in_(sorted(evidence_ids)))
    with engine.connect() as connection:
        return {row.evidence_id: row for row in connection.execute(query)}


def _status(value: Any) -> str:
    return STATUS_LABELS.get(str(value), str(value))


def _in_words(event: RecordedEvent, state: domain.Proposition, titles: dict[str, Any]) -> tuple[str, str]:
    """(what happened, the editor's reason or note) for one event."""
    data = event.payload
    match = state.matches.get(str(data.get("match_id", "")))
    row = titles.get(match.evidence_id) if match is not None else None
    item = f"“{row.title}”" if row is not None else (f"item {match.evidence_id}" if match is not None else "an item")
    words: dict[str, Callable[[], tuple[str, str]]] = {
        "PropositionRegistered": lambda: ("Registered", ""),
        "PropositionAmended": lambda: ("Amended: " + ", ".join(sorted(data.get("changes", {}))).replace("_", " "),
                                       data.get("reason", "")),
        "MatchSuggested": lambda: (f"The matcher suggested {item} (score {data.get('score', 0) * 100:.0f}%)", ""),
        "MatchConfirmed": lambda: (f"Confirmed {item} as {data.get('stance')}"
                                   + (" (automatically)" if data.get("automatic") else ""), data.get("note", "")),
        "MatchRejected": lambda: (f"Rejected {item}" + (" in a bulk rejection" if data.get("bulk_filter") else ""),
                                  data.get("reason", "")),
        "MatchRetracted": lambda: (f"Retracted {item}", data.get("reason", "")),
        "PropositionResolved": lambda: (f"Resolved: {_status(data.get('outcome'))}", data.get("note", "")),
        "PropositionWithdrawn": lambda: ("Withdrawn", data.get("reason", "")),
        "PropositionReopened": lambda: (f"Reopened (it was {_status(data.get('was'))})", data.get("reason", "")),
        "MatchingMuted": lambda: ("Matching muted", data.get("reason", "")),
        "MatchingUnmuted": lambda: ("Matching unmuted", data.get("reason", "")),
        "EvidenceWindowSet": lambda: (f"Evidence window set: from {data.get('not_before') or 'any date'} to "
                                      f"{data.get('not_after') or 'any date'}", data.get("reason", "")),
        "StatusChanged": lambda: (f"Status {_status(data.get('from'))} → {_status(data.get('to'))}", ""),
    }
    what, detail = words.get(event.event_type, lambda: (event.event_type, ""))()
    return what, str(detail or "")


def _view(request: Request, proposition_id: str) -> View | None:
    """The proposition's stream read once: its state (folded as a replay folds it) and its history agree."""
    tracker: Tracker = request.app.state.tracker
    try:
        recorded = queries.history(tracker.store, proposition_id)
    except NotFound:
        return None
    state: domain.Proposition = fold(domain.evolve_owned, (Event(e.event_type, e.payload) for e in recorded))
    version = recorded[-1].stream_version
    shown = list(reversed(recorded[-HISTORY_SHOWN:]))
    confirmed = [m for m in state.matches.values() if m.state == "confirmed"]
    wanted = {m.evidence_id for m in confirmed}
    for event in shown:
        match = state.matches.get(str(event.payload.get("match_id", "")))
        if match is not None:
            wanted.add(match.evidence_id)
    titles = _titles(tracker.store.engine, wanted)
    changes = [Change(e.stream_version, e.event_type, *_in_words(e, state, titles), e.actor, e.recorded_at)
               for e in shown]
    items = []
    for m in confirmed:
        row = titles.get(m.evidence_id)
        items.append(Confirmed(m.match_id, m.evidence_id, m.stance or "", m.note, m.automatic,
                               row.title if row is not None else m.evidence_id, row.link if row is not None else None,
                               row.feed if row is not None else None, row.published_at if row is not None else None))
    items.sort(key=lambda c: (c.published_at or "", c.match_id), reverse=True)
    return View(state, version, changes, len(recorded), items, state.counts()["awaiting_review"])


def _when(text: str | None) -> str:
    """A stored UTC time as `2 December 2026, 03:12 UTC`."""
    if not text or len(text) < 16:
        return text or ""
    return f"{long_date(text)}, {text[11:16]} UTC"


def _page(request: Request, user: Any, session: review.Session, proposition_id: str, status_code: int = 200, *,
          message: str | None = None, error: str | None = None, conflict: str | None = None,
          given: review.Form | None = None, failed: str | None = None) -> Response:
    view = _view(request, proposition_id)
    if view is None:
        return review._problem(404, "Not found", f"There is no proposition {proposition_id}.")
    return review._html("review_proposition.html", status_code, user=user, csrf=session.csrf, v=view, p=view.state,
                        editor=allows(user.role, "editor"), message=message, error=error, conflict=conflict,
                        given=dict(given.items()) if given is not None else {}, failed=failed, outcomes=OUTCOMES,
                        when=_when,
                        shown=HISTORY_SHOWN, queue=review.PREFIX + "?" + urlencode({"proposition": proposition_id}),
                        here=f"{PREFIX}/{quote(proposition_id, safe='')}",
                        public=public_path("proposition", proposition_id))


def _signin_redirect(request: Request) -> Response:
    target = quote(request.url.path) + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse(review.PREFIX + "/signin?" + urlencode({"next": target}), status_code=303)


def _sane(value: Any, limit: int = 200) -> str | None:
    if isinstance(value, str) and value.strip() and "\x00" not in value and len(value) <= limit:
        return value.strip()
    return None


# ---- reading -----------------------------------------------------------------------------------------------------

@router.get("", response_model=None)
def proposition_list(request: Request) -> Response:
    """Every proposition in id order, filtered by status and words, LIST_SIZE a page (keyset, as the API)."""
    found = review._signed_in(request)
    if found is None:
        return _signin_redirect(request)
    user, session = found
    params = request.query_params
    status = _sane(params.get("status"))
    status = status if status in STATUS_LABELS else None
    words = _sane(params.get("q"))
    filters = {k: v for k, v in (("status", status), ("q", words)) if v}
    message = None
    try:
        page = queries.list_propositions(review._store(request).engine, status=status, q=words, limit=LIST_SIZE,
                                         cursor=_sane(params.get("after"), 2000))
    except paging.BadCursor:
        message = "That page link is not valid (changed, or from elsewhere): here is the first page."
        page = queries.list_propositions(review._store(request).engine, status=status, q=words, limit=LIST_SIZE)
    following = PREFIX + "?" + urlencode({**filters, "after": page.next_cursor}) if page.next_cursor else None
    return review._html("review_propositions.html", user=user, csrf=session.csrf, items=page.items, filters=filters,
                        statuses=STATUS_LABELS, message=message, following=following,
                        first=PREFIX + ("?" + urlencode(filters) if filters else "") if params.get("after") else None)


@router.get("/{proposition_id}", response_model=None)
def proposition_page(request: Request, proposition_id: str) -> Response:
    found = review._signed_in(request)
    if found is None:
        return _signin_redirect(request)
    user, session = found
    done = request.query_params.get("done") or ""
    message = DONE.get(done)
    error = None
    if message and request.query_params.get("followup") == "failed":
        error = FOLLOW_UP_FAILED
    elif done in ("profile", "unmuted", "window"):
        message = (message or "") + RESCORED
    return _page(request, user, session, proposition_id, message=message, error=error)


# ---- deciding ----------------------------------------------------------------------------------------------------

Work = Callable[[UnitOfWork, int], object]


@dataclass(frozen=True)
class Prepared:
    work: Work
    backfill: bool = False  # score recent evidence again once committed, as the API does after amend and unmute


def _errors_in_words(error: ValidationError) -> str:
    said = []
    for found in error.errors()[:5]:
        names = [str(p) for p in found["loc"] if isinstance(p, str) and p != "match_profile"]
        lines = [p for p in found["loc"] if isinstance(p, int)]
        where = LABELS.get(names[-1], names[-1]) if names else "The form"
        if lines:
            where += f", line {lines[0] + 1}"
        message = str(found["msg"]).removeprefix("Value error, ")
        if not names:  # a check over the whole body names its field itself
            for name, label in LABELS.items():
                message = message.replace(f"{name}: ", f"{label}: ")
            said.append(message)
        else:
            said.append(f"{where}: {message}")
    return "; ".join(said) + "."


def _lines(text: str | None) -> list[str]:
    """One entry a line, trimmed, blank lines and repeats dropped."""
    return list(dict.fromkeys(line.strip() for line in (text or "").splitlines() if line.strip()))


async def _command(request: Request, proposition_id: str, action: str,
                   prepare: Callable[[review.Wiring, review.Form], Prepared]) -> Response:
    checked = await review._editor_form(request)  # signed in, CSRF, editor role: 403 otherwise
    if isinstance(checked, Response):
        return checked
    user, session, form = checked
    wiring = review._wiring(request)

    def refused(status_code: int, error: str | None = None, conflict: str | None = None) -> Response:
        # a refused input is shown again to be corrected; after a conflict, the current state is what counts
        return _page(request, user, session, proposition_id, status_code, error=error, conflict=conflict,
                     given=form if conflict is None else None, failed=action)

    try:
        prepared = prepare(wiring, form)
    except ValidationError as error:
        return refused(422, "Nothing was changed. " + _errors_in_words(error))
    expected = review._version(form)
    if expected is None:
        return refused(422, "Nothing was changed: the form carried no version of the proposition. Reload the page.")
    tracker: Tracker = request.app.state.tracker
    try:
        with tracker.unit_of_work(actor=user.actor, correlation_id=getattr(request.state, "request_id", None),
                                  causation_id=f"web:{request.method} {request.url.path}") as uow:
            prepared.work(uow, expected)
    except ConcurrencyError:
        return refused(409, conflict=CONFLICT)
    except NotFound:
        return review._problem(404, "Not found", f"There is no proposition {proposition_id}; nothing was changed.")
    except (InvalidCommand, UnknownMatch, Invalid) as error:
        return refused(422, f"Nothing was changed: {error}.")
    except DomainError as error:
        return refused(409, f"Nothing was applied: {error}.")
    query = {"done": action}
    if prepared.backfill:
        try:
            wiring.propositions.backfill_later(tracker, request.app.state.settings, proposition_id)()
        except Exception:
            log.exception("scoring recent evidence after %s %s failed", request.method, request.url.path)
            query["followup"] = "failed"
    return RedirectResponse(f"{PREFIX}/{quote(proposition_id, safe='')}?{urlencode(query)}", status_code=303)


def _act(wiring: review.Wiring, proposition_id: str, command: Any) -> Work:
    return lambda uow, expected: wiring.propositions.act(uow, proposition_id, command, expected)


@router.post("/{proposition_id}/resolve", response_model=None)
async def resolve(request: Request, proposition_id: str) -> Response:
    def prepare(wiring: review.Wiring, form: review.Form) -> Prepared:
        body = wiring.bodies.ResolveBody.model_validate({
            "outcome": form.get("outcome") or "", "note": form.get("note") or "",
            "evidence_ids": form.getlist("evidence_ids")})
        return Prepared(_act(wiring, proposition_id, domain.ResolveProposition(
            outcome=body.outcome, note=body.note, evidence_ids=tuple(body.evidence_ids))))

    return await _command(request, proposition_id, "resolved", prepare)


def _reason(wiring: review.Wiring, form: review.Form) -> str:
    reason: str = wiring.bodies.ReasonBody.model_validate({"reason": form.get("reason") or ""}).reason
    return reason


@router.post("/{proposition_id}/withdraw", response_model=None)
async def withdraw(request: Request, proposition_id: str) -> Response:
    return await _command(request, proposition_id, "withdrawn", lambda wiring, form: Prepared(_act(
        wiring, proposition_id, domain.WithdrawProposition(_reason(wiring, form)))))


@router.post("/{proposition_id}/reopen", response_model=None)
async def reopen(request: Request, proposition_id: str) -> Response:
    return await _command(request, proposition_id, "reopened", lambda wiring, form: Prepared(_act(
        wiring, proposition_id, domain.ReopenProposition(_reason(wiring, form)))))


@router.post("/{proposition_id}/profile", response_model=None)
async def profile(request: Request, proposition_id: str) -> Response:
    """The amend use case with a new match profile: terms and exclusions as given (one a line), the rest of the
    profile (entities, stance cues, examples) kept as it is."""

    def prepare(wiring: review.Wiring, form: review.Form) -> Prepared:
        body = wiring.bodies.AmendBody.model_validate({
            "match_profile": {"terms": _lines(form.get("terms")), "exclusions": _lines(form.get("exclusions"))},
            "reason": form.get("reason") or ""})

        def work(uow: UnitOfWork, expected: int) -> object:
            current = uow.load(proposition_stream(proposition_id)).state
            kept = dict(current.match_profile or {}) if current is not None else {}
            changed = {**kept, "terms": body.match_profile.terms, "exclusions": body.match_profile.exclusions}
            command = domain.AmendProposition(changes={"match_profile": changed}, reason=body.reason)
            return wiring.propositions.act(uow, proposition_id, command, expected)

        return Prepared(work, backfill=True)

    return await _command(request, proposition_id, "profile", prepare)


@router.post("/{proposition_id}/mute", response_model=None)
async def mute(request: Request, proposition_id: str) -> Response:
    def prepare(wiring: review.Wiring, form: review.Form) -> Prepared:
        reason = _reason(wiring, form)
        return Prepared(lambda uow, expected: wiring.controls.mute(uow, proposition_id, reason, expected))

    return await _command(request, proposition_id, "muted", prepare)


@router.post("/{proposition_id}/unmute", response_model=None)
async def unmute(request: Request, proposition_id: str) -> Response:
    def prepare(wiring: review.Wiring, form: review.Form) -> Prepared:
        reason = _reason(wiring, form)
        return Prepared(lambda uow, expected: wiring.controls.unmute(uow, proposition_id, reason, expected),
                        backfill=True)

    return await _command(request, proposition_id, "unmuted", prepare)


@router.post("/{proposition_id}/window", response_model=None)
async def window(request: Request, proposition_id: str) -> Response:
    """The evidence window, replaced whole (an empty date is an open end; both empty clear it)."""

    def prepare(wiring: review.Wiring, form: review.Form) -> Prepared:
        body = wiring.bodies.WindowBody.model_validate({
            "not_before": form.get("not_before") or None, "not_after": form.get("not_after") or None,
            "reason": form.get("reason") or ""})
        return Prepared(lambda uow, expected: wiring.controls.set_window(
            uow, proposition_id, body.not_before, body.not_after, body.reason, expected), backfill=True)

    return await _command(request, proposition_id, "window", prepare)
