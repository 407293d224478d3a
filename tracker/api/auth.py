"""Bearer-token authentication and role checks: `Depends(require("editor"))` on a route or router.

401 when the token is missing or unknown (with WWW-Authenticate: Bearer), 403 when the user's role does not
satisfy the route's; every denial is logged on the `tracker.api.auth` logger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tracker.api.deps import get_store, hot_reads
from tracker.domain.user import allows
from tracker.service.users import User
from tracker.store import EventStore

log = logging.getLogger("tracker.api.auth")

# auto_error=False: we answer 401 ourselves, as problem+json; the scheme still appears in OpenAPI.
bearer = HTTPBearer(auto_error=False, description="a token from `tracker users add NAME --role ROLE`")


class Unauthorized(Exception):
    """No usable credentials."""


class Forbidden(Exception):
    """Authenticated, but the role does not allow this."""


def _deny(request: Request, status: int, why: str, user: str | None = None) -> None:
    client = request.client.host if request.client else "-"
    log.warning("access denied %s: %s %s user=%s client=%s: %s",
                status, request.method, request.url.path, user or "-", client, why)


def require(role: str) -> Callable[..., User]:
    """A dependency that returns the calling user when its role satisfies `role`.

    Async: the token is looked up on the event loop, on this process's hot-read connection (one indexed row, a
    prepared statement; tracker/queries/hot.py), not through the thread pool. Every request asks the database, so
    a token revoked by any process is refused at once by every worker."""

    async def dependency(
        request: Request,
        store: Annotated[EventStore, Depends(get_store)],  # documents the store's 503 (contract.py)
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> User:
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            _deny(request, 401, "no bearer token")
            raise Unauthorized("a bearer token is required")
        user = hot_reads(request).user_for_token(credentials.credentials)
        if user is None:
            _deny(request, 401, "unknown or revoked token")
            raise Unauthorized("the token is not valid")
        if not allows(user.role, role):
            _deny(request, 403, f"role {user.role} lacks {role}", user.name)
            raise Forbidden(f"this needs the {role} role; {user.name} is {user.role}")
        request.state.user = user
        return user

    dependency.__name__ = f"require_{role}"
    return dependency


READER = Depends(require("reader"))
EDITOR = Depends(require("editor"))
AUDITOR = Depends(require("auditor"))
ADMIN = Depends(require("admin"))
