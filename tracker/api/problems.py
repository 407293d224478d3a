"""RFC 9457 problem details: every error leaves the API as application/problem+json with a stable `type`."""

from __future__ import annotations

import logging
import sqlite3
from http import HTTPStatus

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from tracker.api.auth import Forbidden, Unauthorized
from tracker.domain.errors import DomainError, InvalidCommand, UnknownMatch
from tracker.queries.paging import BadCursor
from tracker.repository.errors import Invalid
from tracker.repository.unit_of_work import NotFound
from tracker.store import ConcurrencyError

PROBLEM = "application/problem+json"
BASE = "https://policy-tracker.example/problems/"
log = logging.getLogger("tracker.api")
__all__ = ["Invalid", "PreconditionFailed", "install", "problem"]  # Invalid: raised by use cases and routes


class PreconditionFailed(Exception):
    """If-Match named a version the resource has moved on from."""


# Problems raised by Starlette or FastAPI themselves (HTTPException), with a type and title of our own.
GENERIC: dict[int, tuple[str, str]] = {
    400: ("malformed-body", "The request body cannot be parsed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    503: ("unavailable", "The service is unavailable"),
}


def problem(
    status: int, kind: str, title: str, detail: str | None = None, headers: dict[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    body = {"type": BASE + kind, "title": title, "status": status, **extra}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(Unauthorized)
    async def unauthorized(_: Request, error: Unauthorized) -> JSONResponse:
        return problem(401, "unauthorized", "Authentication required", str(error),
                       headers={"WWW-Authenticate": 'Bearer realm="policy-tracker"'})

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, error: Forbidden) -> JSONResponse:
        return problem(403, "forbidden", "Your role does not allow this", str(error))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, error: NotFound) -> JSONResponse:
        return problem(404, "not-found", "Not found", str(error))

    @app.exception_handler(DomainError)
    async def refused(_: Request, error: DomainError) -> JSONResponse:
        # Data wrong on its own is a 422; a command that does not fit the current state is a 409.
        if isinstance(error, InvalidCommand):
            return problem(422, error.code, "The command is not valid", str(error))
        if isinstance(error, UnknownMatch):
            return problem(404, error.code, "Not found", str(error))
        return problem(409, error.code, "Command refused", str(error))

    @app.exception_handler(ConcurrencyError)
    async def conflict(_: Request, error: ConcurrencyError) -> JSONResponse:
        return problem(409, "stale-version", "The resource changed meanwhile", str(error))

    @app.exception_handler(PreconditionFailed)
    async def precondition(_: Request, error: PreconditionFailed) -> JSONResponse:
        return problem(412, "precondition-failed", "If-Match does not match the current version", str(error))

    @app.exception_handler(Invalid)
    async def invalid_request(_: Request, error: Invalid) -> JSONResponse:
        return problem(422, error.kind, "The request cannot be honoured", str(error))

    @app.exception_handler(BadCursor)
    async def bad_cursor(_: Request, error: BadCursor) -> JSONResponse:
        return problem(422, "invalid-cursor", "The cursor is not valid",
                       f"{error}: pass `next_cursor` from a previous page unchanged")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in error.errors()]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem(422, "invalid-request", "The request is not valid", detail[:1000], errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        status = error.status_code
        phrase = HTTPStatus(status).phrase
        kind, title = GENERIC.get(status, (f"http-{status}", phrase))
        detail = str(error.detail) if str(error.detail) != phrase else None
        headers = dict(getattr(error, "headers", None) or {})
        if status == 404 and detail is None:
            detail = f"no resource at {request.url.path}"
        if status == 405:  # every method the path has, not only those of the first route that matched
            headers["Allow"] = ", ".join(allowed_methods(request))
            detail = f"{request.method} is not allowed here; use {headers['Allow']}"
        return problem(status, kind, title, detail, headers=headers or None)

    # The store's hot paths use the driver's cursor directly, so the drivers' own errors are mapped too.
    @app.exception_handler(sqlalchemy.exc.DataError)
    @app.exception_handler(psycopg.DataError)
    @app.exception_handler(sqlite3.DataError)
    async def bad_data(request: Request, error: Exception) -> JSONResponse:
        # A value the database cannot store or compare (e.g. NUL in PostgreSQL text); the transaction rolled back.
        log.warning("database refused a value on %s %s: %s", request.method, request.url.path, _first_line(error))
        return problem(422, "invalid-data", "The request holds a value the database cannot take",
                       "text must not contain NUL characters or other unstorable values")

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    @app.exception_handler(sqlalchemy.exc.InterfaceError)
    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.InterfaceError)
    @app.exception_handler(sqlite3.OperationalError)
    async def unavailable(request: Request, error: Exception) -> JSONResponse:
        # The database went away, is locked or refuses writes: nothing was committed; the pool reconnects
        # (pool_pre_ping) once it is back. Driver messages can name hosts, so they go to the log only.
        reason = _first_line(error)
        log.error("database unavailable on %s %s: %s", request.method, request.url.path, reason)
        detail = "the database cannot be reached or refused the operation; nothing was written; retry shortly"
        if "readonly" in reason or "read-only" in reason:
            detail = "the database is read-only; nothing was written"
        return problem(503, "database-unavailable", "The database is unavailable", detail,
                       headers={"Retry-After": "5"})

    # Fallback only: middleware.ErrorGuard answers escaped errors first (this handler runs in Starlette's
    # ServerErrorMiddleware, which re-raises afterwards, so uvicorn would log twice and drop the connection).
    @app.exception_handler(Exception)
    async def crashed(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal-error", "Internal error", "the error was logged; nothing was written")


def allowed_methods(request: Request) -> list[str]:
    """The methods the app's routes accept on the request's path, whichever router holds them."""
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        if context.path_format and context.methods and compile_path(context.path_format)[0].match(request.url.path):
            methods |= set(context.methods)
    return sorted(methods)


def _first_line(error: BaseException) -> str:
    return " ".join(str(getattr(error, "orig", None) or error).split())[:300]
