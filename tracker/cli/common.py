"""What every command shares: user mistakes end as one clear line and a non-zero exit; progress bars on stderr.

Kept apart from `tracker/cli/__init__.py` so the command modules can import it while `__init__` imports them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import alembic.util.exc
import click
import pydantic
import sqlalchemy.exc

from tracker.bootstrap import App, bootstrap
from tracker.config import ConfigFileError, get_settings
from tracker.domain.errors import DomainError
from tracker.seeding import SeedError
from tracker.store import StoreError
from tracker.store.engine import missing_sqlite_file

# PostgreSQL's words for a database that is not there (a missing table is `relation "..." does not exist`).
_NO_DATABASE = re.compile(r'database "(?P<name>[^"]+)" does not exist')


class UserError(click.ClickException):
    """A mistake the user can fix; shown without a traceback."""


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn known failures into one line on stderr instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (DomainError, StoreError, SeedError, ConfigFileError, FileNotFoundError) as error:
            raise UserError(one_line(error)) from None
        except OSError as error:  # a file named in a setting or an argument: a folder, not readable, ...
            if error.filename is None:
                raise
            raise UserError(f"{error.filename}: {error.strerror or one_line(error)}") from None
        except pydantic.ValidationError as error:  # a bad TRACKER_* setting
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise UserError(f"invalid setting (TRACKER_* environment or .env): {problems}") from None
        except sqlalchemy.exc.ArgumentError as error:  # includes an unknown dialect in the URL
            raise UserError(f"invalid TRACKER_DATABASE_URL: {one_line(error)}") from None
        except alembic.util.exc.CommandError as error:
            raise UserError(f"migration failed: {one_line(error)}") from None
        except sqlalchemy.exc.DBAPIError as error:
            detail = one_line(error.orig)
            if missing := _NO_DATABASE.search(detail):
                # `tracker db upgrade` creates tables, not databases: say how to create the database itself.
                name = missing.group("name")
                raise UserError(f'database error: the PostgreSQL database "{name}" does not exist; create it '
                                f'(`createdb {name}`, or `CREATE DATABASE "{name}";` in psql), then run '
                                "`tracker db upgrade`") from None
            if "no such table" in detail or "does not exist" in detail:
                detail += " (run `tracker db upgrade` first)"
            raise UserError(f"database error: {detail}") from None

    return wrapper


def open_store() -> App:
    """`bootstrap()` for every command that uses an existing store (all but `db upgrade` and `serve`): a SQLite
    file that is not there is a mistake (a typo in TRACKER_DATABASE_URL, another working directory), reported
    without creating an empty database file."""
    settings = get_settings()
    missing = missing_sqlite_file(settings.database_url)
    if missing is not None:
        raise UserError(f"no database at {missing} (TRACKER_DATABASE_URL); create it with `tracker db upgrade`")
    return bootstrap(settings)


def one_line(error: BaseException | None) -> str:
    """Driver messages can span lines; the user gets one."""
    return " ".join(str(error).split())


def progress(total: int, label: str) -> Any:
    """A bar on stderr, so stdout stays the command's output."""
    return click.progressbar(length=max(total, 1), label=label, file=sys.stderr, show_pos=True)
