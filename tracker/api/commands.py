"""Proposition commands: register, amend, resolve, withdraw, reopen (editor)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tracker.api.auth import require
from tracker.api.bodies import AmendBody, ReasonBody, RegisterBody, ResolveBody, WindowBody
from tracker.api.commanding import COMMAND, VERSIONED_COMMAND, Outcome, run_command
from tracker.api.deps import get_app_settings, get_tracker
from tracker.api.paging import PathId
from tracker.api.problems import Invalid
from tracker.api.propositions import detail_from_state
from tracker.api.schemas import CommandResult, RecordedRef
from tracker.config import Settings
from tracker.domain import proposition as domain
from tracker.repository.unit_of_work import Tracker, UnitOfWork, proposition_stream
from tracker.service import matching_controls, propositions
from tracker.service.propositions import backfill_later
from tracker.service.users import User
from tracker.store import RecordedEvent

router = APIRouter(tags=["commands"])
Editor = Annotated[User, Depends(require("editor"))]
Track = Annotated[Tracker, Depends(get_tracker)]
Config = Annotated[Settings, Depends(get_app_settings)]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown proposition"},
    409: {"description": "the domain refuses the command in the current state"},
    412: {"description": "If-Match names a stale version"},
    422: {"description": "invalid body, or a command whose data is wrong on its own"},
}


def refs(recorded: list[RecordedEvent]) -> list[RecordedRef]:
    return [RecordedRef(position=e.position, stream_id=e.stream_id, stream_version=e.stream_version,
                        event_type=e.event_type) for e in recorded]


def result(uow: UnitOfWork, proposition_id: str, recorded: list[RecordedEvent], status: int = 200,
           **extra: Any) -> Outcome:
    loaded = uow.load(proposition_stream(proposition_id))
    body = CommandResult(proposition=detail_from_state(loaded.state, loaded.version, None), events=refs(recorded),
                         **extra)
    return Outcome(status, body, str(loaded.version))


def _plain(value: Any) -> Any:
    return value.model_dump(exclude_none=True) if hasattr(value, "model_dump") else value


def register_command(body: RegisterBody) -> domain.RegisterProposition:
    return domain.RegisterProposition(
        proposition_id=body.id or propositions.slug_for(body.statement), kind=body.kind,
        statement=" ".join(body.statement.split()),
        source_id=body.source_id, actors=tuple(body.actors), topics=tuple(body.topics),
        locator=_plain(body.locator), stated_confidence=_plain(body.stated_confidence), condition=body.condition,
        resolve_by=body.resolve_by.isoformat() if body.resolve_by else None,
        resolution_criteria=body.resolution_criteria, match_profile=_plain(body.match_profile),
    )


@router.post("/propositions", dependencies=COMMAND, response_model=CommandResult, status_code=201, responses=ERRORS)
def register(body: RegisterBody, request: Request, user: Editor, tracker: Track, settings: Config) -> JSONResponse:
    """Register a proposition in our own words; recent evidence is then scored against it (backfill)."""
    command = register_command(body)

    def work(uow: UnitOfWork, _: int | None) -> Outcome:
        return result(uow, command.proposition_id, propositions.register(uow, command), 201)

    return run_command(request, tracker, user, body.model_dump(mode="json"), work,
                       after=backfill_later(tracker, settings, command.proposition_id))


def _on_proposition(
    request: Request, tracker: Tracker, user: User, proposition_id: str, body: Any, command: Any,
    after: Any = None,
) -> JSONResponse:
    def work(uow: UnitOfWork, expected: int | None) -> Outcome:
        return result(uow, proposition_id, propositions.act(uow, proposition_id, command, expected))

    return run_command(request, tracker, user, body.model_dump(mode="json"), work, after=after)


@router.post("/propositions/{proposition_id}/amend", dependencies=VERSIONED_COMMAND,
             response_model=CommandResult, responses=ERRORS)
def amend(proposition_id: PathId, body: AmendBody, request: Request, user: Editor, tracker: Track,
          settings: Config) -> JSONResponse:
    """Change the fields given (not the id, source or locator); send the ETag as If-Match."""
    changes = {
        name: _plain(getattr(body, name)) for name in body.model_fields_set if name != "reason"
    }
    if "resolve_by" in changes and changes["resolve_by"] is not None:
        changes["resolve_by"] = changes["resolve_by"].isoformat()
    for name in ("actors", "topics"):
        if name in changes and changes[name] is None:
            changes[name] = []
    if "statement" in changes and changes["statement"] is not None:
        changes["statement"] = " ".join(changes["statement"].split())
    for name in ("statement", "kind"):
        if name in changes and changes[name] is None:
            raise Invalid("invalid-command", f"{name} cannot be removed")
    command = domain.AmendProposition(changes=changes, reason=body.reason)
    return _on_proposition(request, tracker, user, proposition_id, body, command,
                           after=backfill_later(tracker, settings, proposition_id))


@router.post("/propositions/{proposition_id}/resolve", dependencies=VERSIONED_COMMAND,
             response_model=CommandResult, responses=ERRORS)
def resolve(proposition_id: PathId, body: ResolveBody, request: Request, user: Editor, tracker: Track) -> JSONResponse:
    """Confirmed, refuted or annulled, with a note and the deciding (confirmed) evidence; predictions get a
    Brier score."""
    command = domain.ResolveProposition(outcome=body.outcome, note=body.note, evidence_ids=tuple(body.evidence_ids))
    return _on_proposition(request, tracker, user, proposition_id, body, command)


@router.post("/propositions/{proposition_id}/withdraw", dependencies=VERSIONED_COMMAND,
             response_model=CommandResult, responses=ERRORS)
def withdraw(proposition_id: PathId, request: Request, user: Editor, tracker: Track,
             body: ReasonBody | None = None) -> JSONResponse:
    """Take the proposition out of tracking (not scored)."""
    body = body or ReasonBody()
    return _on_proposition(request, tracker, user, proposition_id, body, domain.WithdrawProposition(body.reason))


@router.post("/propositions/{proposition_id}/reopen", dependencies=VERSIONED_COMMAND,
             response_model=CommandResult, responses=ERRORS)
def reopen(proposition_id: PathId, request: Request, user: Editor, tracker: Track,
           body: ReasonBody | None = None) -> JSONResponse:
    """Return a resolved or withdrawn proposition to the statuses its evidence implies."""
    body = body or ReasonBody()
    return _on_proposition(request, tracker, user, proposition_id, body, domain.ReopenProposition(body.reason))


# ---- editors' controls over the matcher ------------------------------------------------------------

def _control(request: Request, tracker: Tracker, user: User, proposition_id: str, body: Any,
             act: Any, after: Any = None) -> JSONResponse:
    def work(uow: UnitOfWork, expected: int | None) -> Outcome:
        return result(uow, proposition_id, act(uow, expected))

    return run_command(request, tracker, user, body.model_dump(mode="json"), work, after=after)


@router.post("/propositions/{proposition_id}/mute", dependencies=VERSIONED_COMMAND, response_model=CommandResult,
             responses=ERRORS)
def mute(proposition_id: PathId, request: Request, user: Editor, tracker: Track,
         body: ReasonBody | None = None) -> JSONResponse:
    """Stop suggesting evidence for this proposition (feed passes and backfill skip it); suggestions already
    in the queue stay. 409 when already muted; If-Match takes the proposition's ETag."""
    given = body or ReasonBody()
    return _control(request, tracker, user, proposition_id, given,
                    lambda uow, expected: matching_controls.mute(uow, proposition_id, given.reason, expected))


@router.post("/propositions/{proposition_id}/unmute", dependencies=VERSIONED_COMMAND,
             response_model=CommandResult, responses=ERRORS)
def unmute(proposition_id: PathId, request: Request, user: Editor, tracker: Track, settings: Config,
           body: ReasonBody | None = None) -> JSONResponse:
    """Suggest evidence for this proposition again; recent evidence is then scored against it (backfill).
    409 when not muted."""
    given = body or ReasonBody()
    return _control(request, tracker, user, proposition_id, given,
                    lambda uow, expected: matching_controls.unmute(uow, proposition_id, given.reason, expected),
                    after=backfill_later(tracker, settings, proposition_id))


@router.post("/propositions/{proposition_id}/evidence-window", dependencies=VERSIONED_COMMAND,
             response_model=CommandResult, responses=ERRORS)
def evidence_window(proposition_id: PathId, body: WindowBody, request: Request, user: Editor, tracker: Track,
                    settings: Config) -> JSONResponse:
    """Set the days (UTC, inclusive) whose items may be suggested for this proposition, replacing the old
    window; a null end is open, both null clear it. Evidence also never counts before the source's
    publication: the later start wins. Recent evidence is then scored again (backfill)."""
    return _control(request, tracker, user, proposition_id, body,
                    lambda uow, expected: matching_controls.set_window(
                        uow, proposition_id, body.not_before, body.not_after, body.reason, expected),
                    after=backfill_later(tracker, settings, proposition_id))
