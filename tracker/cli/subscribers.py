"""`tracker subscribers ...`: people who receive the weekly digest."""

from __future__ import annotations

import click

from tracker.cli.common import open_store
from tracker.cli.digest import digest_errors
from tracker.digest.service import load_subscribers
from tracker.domain.subscriber import (
    AddSubscriber,
    ChangeSubscriber,
    RemoveSubscriber,
    normalise_email,
    subscriber_id_for,
)
from tracker.repository.unit_of_work import subscriber_stream

KINDS = click.Choice(["claim", "prediction", "prescription"])
QUIET_WEEKS = click.Choice(["note", "skip"])


@click.group()
def subscribers() -> None:
    """People who receive the weekly digest."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="How the digest greets them.")
@click.option("--actor", "actors", multiple=True, help="Only propositions about this actor (repeatable).")
@click.option("--topic", "topics", multiple=True, help="Only propositions on this topic (repeatable).")
@click.option("--kind", "kinds", multiple=True, type=KINDS, help="Only propositions of this kind (repeatable).")
@click.option("--proposition", "propositions", multiple=True,
              help="Always include this proposition id (repeatable).")
@click.option("--quiet-weeks", type=QUIET_WEEKS, default="note", show_default=True,
              help="A week with nothing to report: send a short note, or nothing.")
@click.option("--editor", is_flag=True, help="An editor: the digest also shows the review backlog.")
@digest_errors
def subscribers_add(email: str, name: str, actors: tuple[str, ...], topics: tuple[str, ...],
                    kinds: tuple[str, ...], propositions: tuple[str, ...], quiet_weeks: str, editor: bool) -> None:
    """Subscribe EMAIL to the weekly digest."""
    app = open_store()
    filters = {"actors": list(actors), "topics": list(topics), "kinds": list(kinds),
               "propositions": list(propositions)}
    subscriber_id = subscriber_id_for(email)
    with app.tracker.unit_of_work(actor="system:cli") as uow:
        uow.execute(subscriber_stream(subscriber_id),
                    AddSubscriber(email=email, name=name, filters=filters, quiet_weeks=quiet_weeks, editor=editor))
    click.echo(f"subscribed {normalise_email(email)} (id {subscriber_id}){' as an editor' if editor else ''}")


@subscribers.command("change")
@click.argument("email")
@click.option("--name", default=None, help="A new greeting name.")
@click.option("--actor", "actors", multiple=True, help="Follow only this actor (repeatable; replaces filters).")
@click.option("--topic", "topics", multiple=True, help="Follow only this topic (repeatable; replaces filters).")
@click.option("--kind", "kinds", multiple=True, type=KINDS,
              help="Follow only this kind (repeatable; replaces filters).")
@click.option("--proposition", "propositions", multiple=True,
              help="Always include this proposition id (repeatable; replaces filters).")
@click.option("--everything", is_flag=True, help="Drop every filter: follow everything.")
@click.option("--quiet-weeks", type=QUIET_WEEKS, default=None,
              help="A week with nothing to report: send a short note, or nothing.")
@click.option("--editor/--no-editor", default=None,
              help="An editor's digest also shows the review backlog (default: unchanged).")
@digest_errors
def subscribers_change(email: str, name: str | None, actors: tuple[str, ...], topics: tuple[str, ...],
                       kinds: tuple[str, ...], propositions: tuple[str, ...], everything: bool,
                       quiet_weeks: str | None, editor: bool | None) -> None:
    """Change what EMAIL receives. Any filter option replaces all the old filters."""
    filters = None
    if everything or actors or topics or kinds or propositions:
        filters = {"actors": list(actors), "topics": list(topics), "kinds": list(kinds),
                   "propositions": list(propositions)}
    app = open_store()
    with app.tracker.unit_of_work(actor="system:cli") as uow:
        recorded = uow.execute(subscriber_stream(subscriber_id_for(email)),
                               ChangeSubscriber(name=name, filters=filters, quiet_weeks=quiet_weeks, editor=editor))
    click.echo(f"changed {email.strip()}" if recorded else f"{email.strip()}: nothing to change")


@subscribers.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include removed subscribers.")
@digest_errors
def subscribers_list(show_all: bool) -> None:
    """Subscribers with their filters."""
    found = load_subscribers(open_store().store, active_only=not show_all)
    for s in sorted(found.values(), key=lambda s: s.email):
        follows = "; ".join(f"{k}={','.join(v)}" for k, v in s.filters.items() if v) or "everything"
        state = ("  (editor)" if s.editor else "") + ("" if s.active else "  (removed)")
        click.echo(f"{s.email:40} {s.name[:24]:24} quiet={s.quiet_weeks:4} follows {follows}{state}")
    click.echo(f"{len(found)} subscriber(s)", err=True)


@subscribers.command("remove")
@click.argument("email")
@digest_errors
def subscribers_remove(email: str) -> None:
    """Stop sending the digest to EMAIL."""
    app = open_store()
    with app.tracker.unit_of_work(actor="system:cli") as uow:
        recorded = uow.execute(subscriber_stream(subscriber_id_for(email)),
                               RemoveSubscriber(reason="removed from the command line", via="editor"))
    click.echo(f"removed {email.strip()}" if recorded else f"{email.strip()} was already removed")
