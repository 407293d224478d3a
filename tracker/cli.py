"""The `tracker` command line. User mistakes end as one clear line and a non-zero exit."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import alembic.util.exc
import click
import pydantic
import sqlalchemy.exc

from tracker.bootstrap import App, bootstrap
from tracker.domain.errors import DomainError
from tracker.store import StoreError


class UserError(click.ClickException):
    """A mistake the user can fix; shown without a traceback."""


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn known failures into one line on stderr instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tracker.seeding import SeedError

        try:
            return func(*args, **kwargs)
        except (DomainError, StoreError, SeedError, FileNotFoundError) as error:
            raise UserError(_one_line(error)) from None
        except pydantic.ValidationError as error:  # a bad TRACKER_* setting
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise UserError(f"invalid setting (TRACKER_* environment or .env): {problems}") from None
        except sqlalchemy.exc.ArgumentError as error:  # includes an unknown dialect in the URL
            raise UserError(f"invalid TRACKER_DATABASE_URL: {_one_line(error)}") from None
        except alembic.util.exc.CommandError as error:
            raise UserError(f"migration failed: {_one_line(error)}") from None
        except sqlalchemy.exc.DBAPIError as error:
            detail = _one_line(error.orig)
            if "no such table" in detail or "does not exist" in detail:
                detail += " (run `tracker db upgrade` first)"
            raise UserError(f"database error: {detail}") from None

    return wrapper


def _one_line(error: BaseException | None) -> str:
    """Driver messages can span lines; the user gets one."""
    return " ".join(str(error).split())


def _app() -> App:
    return bootstrap()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Policy Tracker: claims and predictions from published articles, held to account by the evidence."""


# ---- db -------------------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Apply Alembic migrations up to the newest (safe to repeat)."""
    from tracker.store.migrate import upgrade

    url = _app().settings.database_url
    upgrade(url)
    click.echo(f"database at head: {_redact(url)}")


def _redact(url: str) -> str:
    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)


# ---- seed -----------------------------------------------------------------------------------------

@main.command("seed")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@friendly
def seed_command(path: Path | None) -> None:
    """Load the source and propositions from PATH (default: seeds/). A second run adds nothing."""
    from tracker.seeding import seed

    app = _app()
    result = seed(app.tracker, path or Path(app.settings.seeds_dir), progress=lambda pid: click.echo(f"  + {pid}"))
    click.echo(
        f"seeded: {result.sources_added} source(s) and {result.propositions_added} proposition(s) added, "
        f"{result.propositions_present} already present"
    )


# ---- serve ----------------------------------------------------------------------------------------

@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Serve the API only; run no scheduled jobs.")
@friendly
def serve(host: str, port: int, no_scheduler: bool) -> None:
    """Run the HTTP API (and the scheduler). An empty store is migrated and seeded first."""
    import uvicorn

    from tracker.api.app import create_app
    from tracker.seeding import seed
    from tracker.store.migrate import upgrade

    app = _app()
    upgrade(app.settings.database_url)
    seeds_dir = Path(app.settings.seeds_dir)
    if app.store.head() == 0 and not (seeds_dir / "propositions.yaml").is_file():
        click.echo(f"empty store and no seed files in {seeds_dir}/: serving an empty tracker", err=True)
    elif app.store.head() == 0:
        result = seed(app.tracker, seeds_dir)
        click.echo(f"empty store: seeded {result.propositions_added} propositions")
    click.echo(f"serving on http://{host}:{port} (docs at /docs)")
    uvicorn.run(create_app(app.store), host=host, port=port, log_level="info")


# ---- audit ----------------------------------------------------------------------------------------

@main.group()
def audit() -> None:
    """Check and rebuild from the event history."""


def _bar(total: int, label: str) -> Any:
    return click.progressbar(length=max(total, 1), label=label, file=sys.stderr, show_pos=True)


@audit.command("verify")
@friendly
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 and name the first broken position if any."""
    from tracker.audit.verify import verify_store

    app = _app()
    with _bar(app.store.head(), "verifying") as bar:
        result = verify_store(app.store, progress=bar.update)
    if result.ok:
        click.echo(f"chain intact: {result.checked} events, head at position {result.head}")
        return
    click.echo(f"chain broken at position {result.broken_at}: {result.reason}", err=True)
    sys.exit(1)


@audit.command("replay")
@click.option("--check", is_flag=True, help="Rebuild in a scratch area and report differences (exit 1).")
@click.option("--to", "to_position", type=int, help="Stop at this position.")
@friendly
def audit_replay(check: bool, to_position: int | None) -> None:
    """Drop and rebuild every read model from the events."""
    from tracker.projections import rebuild

    app = _app()
    total = to_position or app.store.head()
    if check:
        with _bar(total, "replaying into scratch") as bar:
            differences = rebuild.check(app.store, progress=bar.update)
        if differences:
            for line in differences[:100]:
                click.echo(line)
            click.echo(f"{len(differences)} difference(s) between live read models and replay", err=True)
            sys.exit(1)
        click.echo("read models match a replay of the events")
        return
    with _bar(total, "replaying") as bar:
        count = rebuild.replay(app.store, to=to_position, progress=bar.update)
    click.echo(f"read models rebuilt from {count} events")


if __name__ == "__main__":
    main()
