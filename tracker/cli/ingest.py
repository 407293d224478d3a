"""`tracker ingest` and `tracker feeds ...`: news feeds, configured in feeds/feeds.toml.

tracker.ingest.runner is imported inside the commands: it brings httpx and feedparser (~100 ms), which
`tracker --help` and every other command would otherwise pay.
"""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa

from tracker.cli.common import UserError, friendly, open_store
from tracker.ingest import fetchstate
from tracker.projections.tables import feeds as feeds_table
from tracker.repository.unit_of_work import NotFound


@click.command("ingest")
@click.option("--feed", "feed_name", help="Only this feed (its name or id).")
@friendly
def ingest(feed_name: str | None) -> None:
    """One ingestion pass now over every enabled feed (due or not), with a summary."""
    from tracker.ingest.runner import enabled_feed_ids, feed_id_for, ingest_pass, load_and_sync

    app = open_store()
    load_and_sync(app.tracker, app.settings)
    feed_ids = enabled_feed_ids(app.tracker)
    if feed_name is not None:
        wanted = feed_id_for(feed_name)
        if wanted not in feed_ids:
            raise UserError(f"no enabled feed named {feed_name!r} (see `tracker feeds list`)")
        feed_ids = [wanted]
    with click.progressbar(length=len(feed_ids), label="fetching feeds", file=sys.stderr,
                           item_show_func=lambda o: o.feed_id if o else "") as bar:
        summary = ingest_pass(app.tracker, app.settings, feed_ids=feed_ids, on_feed=lambda o: bar.update(1, o))
    for outcome in summary.outcomes:
        if outcome.error:
            click.echo(f"  {outcome.feed_id}: {outcome.result}: {outcome.error}", err=True)
        if skipped := outcome.skipped_line():
            click.echo(f"  {outcome.feed_id}: {skipped}", err=True)
    click.echo(summary.line())


@click.group()
def feeds() -> None:
    """News feeds (configured in feeds/feeds.toml)."""


@feeds.command("list")
@friendly
def feeds_list() -> None:
    """Each feed's state: last fetch, HTTP status, error count, next check, items."""
    from tracker.ingest.runner import load_and_sync

    app = open_store()
    load_and_sync(app.tracker, app.settings)
    with app.store.engine.connect() as connection:
        rows = connection.execute(sa.select(feeds_table).order_by(feeds_table.c.feed_id)).all()
        states = fetchstate.load_all(connection)
    header = f"{'feed':32} {'on':3} {'last fetch':20} {'http':4} {'err':3} {'next check':20} {'items':>5}"
    click.echo(header)
    for row in rows:
        state = states.get(row.feed_id) or fetchstate.FetchState(row.feed_id)
        click.echo(
            f"{row.feed_id[:32]:32} {'yes' if row.enabled else 'no':3} {(state.last_fetch_at or '-')[:19]:20} "
            f"{state.last_status or '-':>4} {state.error_count:>3} {(state.next_check_at or 'now')[:19]:20} "
            f"{state.items_total:>5}"
        )
        if not row.enabled and row.disabled_reason:
            click.echo(f"    disabled: {row.disabled_reason}")
        elif state.last_error:
            click.echo(f"    last error: {state.last_error}")
        if state.warning:  # the parser's warning and the entries the last pass skipped
            click.echo(f"    last pass: {state.warning}")


@feeds.command("enable")
@click.argument("name")
@friendly
def feeds_enable(name: str) -> None:
    """Re-enable a disabled feed (its back-off is forgotten; it is polled at the next pass)."""
    from tracker.ingest.runner import enable_feed, feed_id_for

    app = open_store()
    feed_id = feed_id_for(name)
    try:
        with app.tracker.unit_of_work(actor="user:cli", correlation_id="cli:feeds-enable") as uow:
            recorded = enable_feed(uow, feed_id, reason="re-enabled from the command line")
    except NotFound:
        raise UserError(f"no feed named {name!r} (see `tracker feeds list`)") from None
    click.echo(f"{feed_id}: {'enabled' if recorded else 'was already enabled'}; it will be polled at the next pass")
