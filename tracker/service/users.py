"""API users: add a user (returning its token once), revoke, list, look up by token.

Deliberately a plain table (service/tables.py), not events.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from tracker.domain.user import InvalidUser, User, check_user, new_token, token_hash
from tracker.repository.tables import api_users
from tracker.store.envelope import iso


def add_user(engine: sa.Engine, name: str, role: str) -> str:
    """Create the user (or re-activate a revoked one) and return its new token; the token is not kept."""
    check_user(name, role)
    token = new_token()
    now = iso(datetime.now(UTC))
    with engine.begin() as connection:
        row = connection.execute(sa.select(api_users.c.revoked_at).where(api_users.c.name == name)).first()
        if row is not None and row.revoked_at is None:
            raise InvalidUser(f"user {name} exists already (revoke it first to issue a new token)")
        values = {"role": role, "token_sha256": token_hash(token), "created_at": now, "revoked_at": None}
        if row is None:
            connection.execute(api_users.insert().values(name=name, **values))
        else:
            connection.execute(api_users.update().where(api_users.c.name == name).values(**values))
    return token


def revoke_user(engine: sa.Engine, name: str) -> bool:
    with engine.begin() as connection:
        done = connection.execute(
            api_users.update().where(api_users.c.name == name, api_users.c.revoked_at.is_(None))
            .values(revoked_at=iso(datetime.now(UTC)))
        )
    return done.rowcount > 0


def user_for_token(engine: sa.Engine, token: str) -> User | None:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(api_users.c.name, api_users.c.role)
            .where(api_users.c.token_sha256 == token_hash(token), api_users.c.revoked_at.is_(None))
        ).first()
    return User(row.name, row.role) if row else None


def list_users(engine: sa.Engine) -> list[tuple[str, str, str, str | None]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(  # type: ignore[misc]
            sa.select(api_users.c.name, api_users.c.role, api_users.c.created_at, api_users.c.revoked_at)
            .order_by(api_users.c.name)
        )]


def first_admin_token(engine: sa.Engine, name: str = "admin") -> str | None:
    """On a tracker with no users at all, create an admin and return its token; otherwise None.

    Several replicas starting at once race on the primary key: one wins, the others see a user and print nothing.
    """
    with engine.connect() as connection:
        if connection.execute(sa.select(sa.func.count()).select_from(api_users)).scalar():
            return None
    try:
        return add_user(engine, name, "admin")
    except (sa.exc.IntegrityError, InvalidUser):
        return None
