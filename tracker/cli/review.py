"""`tracker review ...`: editors' controls over the matcher (mute, unmute, evidence window) and bulk reject."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import wraps
from typing import Any

import click

from tracker.bootstrap import App
from tracker.cli.common import UserError, friendly, one_line, open_store
from tracker.queries.review import QueueFilter
from tracker.repository.errors import Invalid
from tracker.repository.unit_of_work import NotFound
from tracker.service import matching_controls, review
from tracker.store.envelope import iso

ACTOR = "user:cli"


def _review_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """An unknown proposition or a refused filter is one line too."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (NotFound, Invalid) as error:
            raise UserError(one_line(error)) from None

    return friendly(wrapper)


def _day(value: str | None, option: str) -> date | None:
    if value is None or value.strip().lower() in ("", "none", "open"):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UserError(f"{option} must be a date (YYYY-MM-DD), got {value!r}") from None


def _moment(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UserError(f"{option} must be a date or an ISO 8601 time, got {value!r}") from None
    return iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _score(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        score = float(value)
    except ValueError:
        score = math.nan
    if not math.isfinite(score):
        raise UserError(f"--max-score must be a number, got {value!r}")
    return score


def _backfill(app: App, proposition_id: str) -> None:
    """What the API does after unmuting or setting a window: score recent evidence against the proposition."""
    from tracker.suggestions import backfill  # the matcher loads word vectors: only when it runs

    made = backfill(app.tracker, app.settings, [proposition_id])
    click.echo(f"{made} new suggestion(s) from the last {app.settings.backfill_days} days of evidence")


@click.group("review")
def review_group() -> None:
    """Editors' controls over the matcher: mute a proposition, set its evidence window, reject in bulk."""


@review_group.command("mute")
@click.argument("proposition")
@click.option("--reason", default="", help="Why (kept in the event).")
@_review_errors
def mute(proposition: str, reason: str) -> None:
    """Suggest no more evidence for PROPOSITION (feed passes and backfill skip it); queued suggestions stay."""
    app = open_store()
    with app.tracker.unit_of_work(actor=ACTOR, correlation_id="cli:review-mute") as uow:
        matching_controls.mute(uow, proposition, reason)
    click.echo(f"matching muted for {proposition}")


@review_group.command("unmute")
@click.argument("proposition")
@click.option("--reason", default="", help="Why (kept in the event).")
@click.option("--no-backfill", is_flag=True, help="Do not score recent evidence against it now.")
@_review_errors
def unmute(proposition: str, reason: str, no_backfill: bool) -> None:
    """Suggest evidence for PROPOSITION again, then score recent evidence against it."""
    app = open_store()
    with app.tracker.unit_of_work(actor=ACTOR, correlation_id="cli:review-unmute") as uow:
        matching_controls.unmute(uow, proposition, reason)
    click.echo(f"matching unmuted for {proposition}")
    if not no_backfill:
        _backfill(app, proposition)


@review_group.command("window")
@click.argument("proposition")
@click.option("--not-before", metavar="DATE", help="First publication day suggested (UTC, inclusive).")
@click.option("--not-after", metavar="DATE", help="Last publication day suggested (UTC, inclusive).")
@click.option("--reason", default="", help="Why (kept in the event).")
@click.option("--no-backfill", is_flag=True, help="Do not score recent evidence against it now.")
@_review_errors
def window(proposition: str, not_before: str | None, not_after: str | None, reason: str, no_backfill: bool) -> None:
    """Set PROPOSITION's evidence window: only items published from --not-before to --not-after (days, UTC,
    inclusive) are suggested. The window is replaced whole: an end not given is open, neither clears it.
    Evidence never counts before the source's publication either; the later start wins."""
    start, end = _day(not_before, "--not-before"), _day(not_after, "--not-after")
    app = open_store()
    with app.tracker.unit_of_work(actor=ACTOR, correlation_id="cli:review-window") as uow:
        matching_controls.set_window(uow, proposition, start, end, reason)
    shown = f"{start or 'open'} .. {end or 'open'}"
    click.echo(f"evidence window of {proposition}: {shown}")
    if not no_backfill:
        _backfill(app, proposition)


@review_group.command("reject-bulk")
@click.option("--proposition", help="Only suggestions for this proposition.")
@click.option("--feed", help="Only evidence from this feed (its id).")
@click.option("--max-score", metavar="SCORE", help="Only scores at or below this.")
@click.option("--published-after", metavar="TIME", help="Only evidence published at or after this (date or ISO time).")
@click.option("--published-before", metavar="TIME", help="Only evidence published before this (date or ISO time).")
@click.option("--all", "everything", is_flag=True, help="Allow an empty filter: reject the whole queue.")
@click.option("--reason", default="", help="Why (kept in every event).")
@click.option("--dry-run", is_flag=True, help="List what would be rejected; write nothing.")
@_review_errors
def reject_bulk(proposition: str | None, feed: str | None, max_score: str | None, published_after: str | None,
                published_before: str | None, everything: bool, reason: str, dry_run: bool) -> None:
    """Reject every suggestion in a filtered part of the review queue, in one transaction: one MatchRejected
    per match, each recording the filter. A rejected pair is never suggested again. With no filter, --all is
    required."""
    part = QueueFilter(
        proposition_id=proposition, feed=feed, max_score=_score(max_score),
        published_after=_moment(published_after, "--published-after"),
        published_before=_moment(published_before, "--published-before"),
    )
    app = open_store()
    correlation = f"cli:reject-bulk:{uuid.uuid4().hex[:12]}"
    with app.tracker.unit_of_work(actor=ACTOR, correlation_id=correlation) as uow:
        done = review.reject_bulk(uow, part, reason, everything=everything, dry_run=dry_run)
    if dry_run:
        click.echo(f"would reject {len(done.match_ids)} suggestion(s)")
        for match_id in done.match_ids:
            click.echo(match_id)
        return
    click.echo(f"rejected {len(done.match_ids)} suggestion(s) (correlation {correlation})")
