"""`tracker subscribers ...` and `tracker digest ...`, attached to the main group by tracker/cli.py.

Heavy imports happen inside the commands, so `--help` stays fast and touches nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def register(main: click.Group, friendly: Callable[..., Any], user_error: type[click.ClickException],
             app_factory: Callable[[], Any]) -> None:
    """Add the two command groups to `main`; `friendly` turns known failures into one line."""

    def digest_errors(func: Callable[..., Any]) -> Callable[..., Any]:
        """Digest-specific failures as one line, then the shared handling."""
        from functools import wraps

        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from tracker.digest.deliver import BadSmtpUrl
            from tracker.digest.render import BadBaseUrl
            from tracker.digest.tokens import BadToken
            from tracker.digest.week import BadWeek
            from tracker.service.unit_of_work import NotFound

            try:
                return func(*args, **kwargs)
            except (BadWeek, BadSmtpUrl, BadBaseUrl, BadToken, NotFound) as error:
                raise user_error(" ".join(str(error).split())) from None
            except LookupError as error:
                raise user_error(str(error).strip("'\"")) from None

        return friendly(wrapper)

    @main.group()
    def subscribers() -> None:
        """People who receive the weekly digest."""

    @subscribers.command("add")
    @click.argument("email")
    @click.option("--name", default="", help="How the digest greets them.")
    @click.option("--actor", "actors", multiple=True, help="Only propositions about this actor (repeatable).")
    @click.option("--topic", "topics", multiple=True, help="Only propositions on this topic (repeatable).")
    @click.option("--kind", "kinds", multiple=True, type=click.Choice(["claim", "prediction", "prescription"]),
                  help="Only propositions of this kind (repeatable).")
    @click.option("--proposition", "propositions", multiple=True,
                  help="Always include this proposition id (repeatable).")
    @click.option("--quiet-weeks", type=click.Choice(["note", "skip"]), default="note", show_default=True,
                  help="A week with nothing to report: send a short note, or nothing.")
    @digest_errors
    def subscribers_add(email: str, name: str, actors: tuple[str, ...], topics: tuple[str, ...],
                        kinds: tuple[str, ...], propositions: tuple[str, ...], quiet_weeks: str) -> None:
        """Subscribe EMAIL to the weekly digest."""
        from tracker.domain.subscriber import AddSubscriber, normalise_email, subscriber_id_for
        from tracker.service.unit_of_work import subscriber_stream

        app = app_factory()
        filters = {"actors": list(actors), "topics": list(topics), "kinds": list(kinds),
                   "propositions": list(propositions)}
        subscriber_id = subscriber_id_for(email)
        with app.tracker.unit_of_work(actor="system:cli") as uow:
            uow.execute(subscriber_stream(subscriber_id),
                        AddSubscriber(email=email, name=name, filters=filters, quiet_weeks=quiet_weeks))
        click.echo(f"subscribed {normalise_email(email)} (id {subscriber_id})")

    @subscribers.command("change")
    @click.argument("email")
    @click.option("--name", default=None, help="A new greeting name.")
    @click.option("--actor", "actors", multiple=True, help="Follow only this actor (repeatable; replaces filters).")
    @click.option("--topic", "topics", multiple=True, help="Follow only this topic (repeatable; replaces filters).")
    @click.option("--kind", "kinds", multiple=True, type=click.Choice(["claim", "prediction", "prescription"]),
                  help="Follow only this kind (repeatable; replaces filters).")
    @click.option("--proposition", "propositions", multiple=True,
                  help="Always include this proposition id (repeatable; replaces filters).")
    @click.option("--everything", is_flag=True, help="Drop every filter: follow everything.")
    @click.option("--quiet-weeks", type=click.Choice(["note", "skip"]), default=None,
                  help="A week with nothing to report: send a short note, or nothing.")
    @digest_errors
    def subscribers_change(email: str, name: str | None, actors: tuple[str, ...], topics: tuple[str, ...],
                           kinds: tuple[str, ...], propositions: tuple[str, ...], everything: bool,
                           quiet_weeks: str | None) -> None:
        """Change what EMAIL receives. Any filter option replaces all the old filters."""
        from tracker.domain.subscriber import ChangeSubscriber, subscriber_id_for
        from tracker.service.unit_of_work import subscriber_stream

        filters = None
        if everything or actors or topics or kinds or propositions:
            filters = {"actors": list(actors), "topics": list(topics), "kinds": list(kinds),
                       "propositions": list(propositions)}
        app = app_factory()
        with app.tracker.unit_of_work(actor="system:cli") as uow:
            recorded = uow.execute(subscriber_stream(subscriber_id_for(email)),
                                   ChangeSubscriber(name=name, filters=filters, quiet_weeks=quiet_weeks))
        click.echo(f"changed {email.strip()}" if recorded else f"{email.strip()}: nothing to change")

    @subscribers.command("list")
    @click.option("--all", "show_all", is_flag=True, help="Include removed subscribers.")
    @digest_errors
    def subscribers_list(show_all: bool) -> None:
        """Subscribers with their filters."""
        from tracker.digest.service import load_subscribers

        app = app_factory()
        found = load_subscribers(app.store, active_only=not show_all)
        for s in sorted(found.values(), key=lambda s: s.email):
            follows = "; ".join(f"{k}={','.join(v)}" for k, v in s.filters.items() if v) or "everything"
            state = "" if s.active else "  (removed)"
            click.echo(f"{s.email:40} {s.name[:24]:24} quiet={s.quiet_weeks:4} follows {follows}{state}")
        click.echo(f"{len(found)} subscriber(s)", err=True)

    @subscribers.command("remove")
    @click.argument("email")
    @digest_errors
    def subscribers_remove(email: str) -> None:
        """Stop sending the digest to EMAIL."""
        from tracker.domain.subscriber import RemoveSubscriber, subscriber_id_for
        from tracker.service.unit_of_work import subscriber_stream

        app = app_factory()
        with app.tracker.unit_of_work(actor="system:cli") as uow:
            recorded = uow.execute(subscriber_stream(subscriber_id_for(email)),
                                   RemoveSubscriber(reason="removed from the command line", via="editor"))
        click.echo(f"removed {email.strip()}" if recorded else f"{email.strip()} was already removed")

    @main.group()
    def digest() -> None:
        """The weekly digest email."""

    @digest.command("preview")
    @click.option("--week", help="ISO week such as 2025-W13 (default: the last ended week).")
    @click.option("--subscriber", "email", help="As this subscriber sees it (default: unfiltered).")
    @click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                  help="Directory for the files (default: <outbox>/preview).")
    @digest_errors
    def digest_preview(week: str | None, email: str | None, out_dir: Path | None) -> None:
        """Render a week's digest to an HTML and a text file, and print where they are."""
        from tracker.digest.service import last_ended_week, preview, write_preview
        from tracker.digest.week import IsoWeek

        app = app_factory()
        target = IsoWeek.parse(week) if week else last_ended_week(app.settings)
        result = preview(app.tracker, app.settings, target, email)
        html, text = write_preview(result, out_dir or Path(app.settings.outbox_dir) / "preview")
        click.echo(f"subject: {result.rendered.subject}")
        click.echo(f"html: {html}")
        click.echo(f"text: {text}")

    @digest.command("send")
    @click.option("--week", help="ISO week such as 2025-W13 (default: the last ended week).")
    @click.option("--retry-now", is_flag=True, help="Retry failed addresses now, ignoring their back-off.")
    @digest_errors
    def digest_send(week: str | None, retry_now: bool) -> None:
        """Send a week's digest now to everyone not yet served (a rerun sends nothing twice)."""
        from tracker.digest.service import last_ended_week, send_week
        from tracker.digest.week import IsoWeek

        app = app_factory()
        target = IsoWeek.parse(week) if week else last_ended_week(app.settings)
        where = "SMTP" if app.settings.smtp_url else f"outbox {app.settings.outbox_dir}/"
        report = send_week(app.tracker, app.settings, target, ignore_backoff=retry_now)
        for email, error in report.failed:
            click.echo(f"  failed {email}: {error}", err=True)
        for email, why in report.waiting:
            click.echo(f"  waiting {email}: {why}", err=True)
        click.echo(f"{report.line()} via {where}")
        if report.stopped:
            raise user_error(f"delivery stopped: {report.stopped}")
