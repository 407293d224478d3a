"""`tracker digest ...`: the weekly digest email (its subscribers: tracker/cli/subscribers.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from tracker.cli.common import UserError, friendly, one_line, open_store
from tracker.digest.deliver import BadSmtpUrl
from tracker.digest.render import BadBaseUrl
from tracker.digest.service import last_ended_week, preview, send_week, write_preview
from tracker.digest.tokens import BadToken
from tracker.digest.week import BadWeek, IsoWeek
from tracker.repository.unit_of_work import NotFound


def digest_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Digest and subscriber failures as one line, then the shared handling."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (BadWeek, BadSmtpUrl, BadBaseUrl, BadToken, NotFound) as error:
            raise UserError(one_line(error)) from None
        except LookupError as error:
            raise UserError(str(error).strip("'\"")) from None

    return friendly(wrapper)


@click.group()
def digest() -> None:
    """The weekly digest email."""


@digest.command("preview")
@click.option("--week", help="ISO week such as 2025-W13 (default: the last ended week).")
@click.option("--subscriber", "email", help="As this subscriber sees it (default: unfiltered).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the files (default: <outbox>/preview).")
@click.option("--editor", is_flag=True, help="Unfiltered, as an editor subscriber sees it (with the review backlog).")
@digest_errors
def digest_preview(week: str | None, email: str | None, out_dir: Path | None, editor: bool) -> None:
    """Render a week's digest to an HTML and a text file, and print where they are.

    Any week can be previewed, the current one too (what was recorded so far); only ended weeks can be sent."""
    app = open_store()
    target = IsoWeek.parse(week) if week else last_ended_week(app.settings)
    result = preview(app.tracker, app.settings, target, email, editor=editor)
    html, text = write_preview(result, out_dir or Path(app.settings.outbox_dir) / "preview")
    click.echo(f"subject: {result.rendered.subject}")
    digest = result.digest
    click.echo(f"propositions with changes: {len(digest.stories)} ({digest.change_count} change(s))")
    click.echo(f"html: {html}")
    click.echo(f"text: {text}")


@digest.command("send")
@click.option("--week", help="An ended ISO week such as 2025-W13 (default: the last ended week).")
@click.option("--retry-now", is_flag=True, help="Retry failed addresses now, ignoring their back-off.")
@digest_errors
def digest_send(week: str | None, retry_now: bool) -> None:
    """Send an ended week's digest now to every subscriber not yet served, including those added since an
    earlier send (a rerun sends nothing twice). A week that has not ended is refused."""
    app = open_store()
    target = IsoWeek.parse(week) if week else last_ended_week(app.settings)
    where = "SMTP" if app.settings.smtp_url else f"outbox {app.settings.outbox_dir}/"
    report = send_week(app.tracker, app.settings, target, ignore_backoff=retry_now)
    for email, error in report.failed:
        click.echo(f"  failed {email}: {error}", err=True)
    for email, why in report.waiting:
        click.echo(f"  waiting {email}: {why}", err=True)
    click.echo(f"{report.line()} via {where}")
    if report.stopped:
        raise UserError(f"delivery stopped: {report.stopped}")
