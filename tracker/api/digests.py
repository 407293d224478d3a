"""The weekly digest over HTTP (editor): preview a week as a subscriber sees it, send a week now, its ledger."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from tracker.api.auth import require
from tracker.api.deps import get_app_settings, get_tracker
from tracker.api.problems import Invalid
from tracker.config import Settings
from tracker.digest import service
from tracker.digest.deliver import BadSmtpUrl
from tracker.digest.render import BadBaseUrl
from tracker.digest.week import BadWeek, IsoWeek, WeekNotOver
from tracker.domain.errors import InvalidCommand
from tracker.repository.unit_of_work import NotFound, Tracker
from tracker.service.users import User

router = APIRouter(tags=["digest"])
Editor = Annotated[User, Depends(require("editor"))]
Track = Annotated[Tracker, Depends(get_tracker)]
Config = Annotated[Settings, Depends(get_app_settings)]


def _week(settings: Settings, label: str | None) -> IsoWeek:
    try:
        return IsoWeek.parse(label) if label else service.last_ended_week(settings)
    except BadWeek as error:
        raise Invalid("invalid-week", str(error)) from None


@router.get("/digests/preview", response_model=None, responses={
    200: {"description": "the digest: JSON, or the mail's HTML or text part (`format`)",
          "content": {"application/json": {}, "text/html": {"schema": {"type": "string"}},
                      "text/plain": {"schema": {"type": "string"}}}},
    404: {"description": "no subscriber has that address"},
    422: {"description": "not a week, or not a plain address"}})
def preview_digest(
    tracker: Track, settings: Config, _: Editor, week: str | None = None, subscriber: str | None = None,
    format: Literal["json", "html", "text"] = "json", editor: bool = False,
) -> Any:
    """The digest of `week` (default: the last ended one; the current week shows what was recorded so far) as
    `subscriber` (an email) would get it, or unfiltered as a reader (editor=true: as an editor, with the review
    backlog)."""
    try:
        result = service.preview(tracker, settings, _week(settings, week), subscriber, editor=editor)
    except InvalidCommand as error:
        raise Invalid("invalid-email", str(error)) from None
    except LookupError as error:
        raise NotFound(str(error)) from None
    except BadBaseUrl as error:
        raise HTTPException(503, f"the digest is misconfigured: {error}") from None
    if format == "html":
        return HTMLResponse(result.rendered.html)
    if format == "text":
        return PlainTextResponse(result.rendered.text)
    digest = result.digest
    return {
        "week": digest.week, "subscriber": None if subscriber is None else digest.email,
        "subject": result.rendered.subject, "quiet": digest.quiet, "editor": digest.editor,
        "counts": {
            "propositions": len(digest.stories), "changes": digest.change_count,
            "status_changes": len(digest.status_changes), "new_evidence": digest.new_evidence_count,
            "awaiting_review": digest.review.count, "due_soon": len(digest.due_soon),
            "overdue": len(digest.overdue), "resolved": len(digest.resolved),
        },
        "text": result.rendered.text, "html": result.rendered.html,
    }


@router.post("/digests/send", responses={422: {"description": "not a week, or a week that has not ended yet"}})
def send_digest(
    tracker: Track, settings: Config, _: Editor, week: str | None = None, retry_now: bool = False,
) -> JSONResponse:
    """Send what is still owed for an ended `week` now: to every active subscriber not yet served (one added
    since an earlier send included); those already served get nothing, so a rerun is safe."""
    target = _week(settings, week)
    try:
        report = service.send_week(tracker, settings, target, ignore_backoff=retry_now)
    except WeekNotOver as error:
        raise Invalid("week-not-ended", str(error)) from None
    except (BadSmtpUrl, BadBaseUrl) as error:
        raise HTTPException(503, f"digest delivery is misconfigured: {error}") from None
    return JSONResponse(report.as_dict())


@router.get("/digests/status")
def digest_status(tracker: Track, settings: Config, _: Editor, week: str | None = None) -> dict[str, Any]:
    """The week's delivery ledger: how many were sent, skipped, failed, in flight or still pending."""
    return service.week_status(tracker.store, _week(settings, week))
