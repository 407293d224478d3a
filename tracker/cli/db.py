"""`tracker db ...`: the schema."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from tracker.bootstrap import bootstrap
from tracker.cli.common import friendly
from tracker.store.migrate import upgrade


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Apply Alembic migrations up to the newest (safe to repeat)."""
    url = bootstrap().settings.database_url
    upgrade(url)
    click.echo(f"database at head: {make_url(url).render_as_string(hide_password=True)}")
