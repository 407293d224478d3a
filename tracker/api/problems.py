"""RFC 9457 problem details: every error leaves the API as application/problem+json."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracker.domain.errors import DomainError
from tracker.service.handlers import NotFound
from tracker.store import ConcurrencyError

PROBLEM = "application/problem+json"
BASE = "https://policy-tracker.example/problems/"


def problem(status: int, kind: str, title: str, detail: str | None = None, **extra: object) -> JSONResponse:
    body = {"type": BASE + kind, "title": title, "status": status, **extra}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def install(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(_: Request, error: NotFound) -> JSONResponse:
        return problem(404, "not-found", "Not found", str(error))

    @app.exception_handler(DomainError)
    async def refused(_: Request, error: DomainError) -> JSONResponse:
        return problem(409, error.code, "Command refused", str(error))

    @app.exception_handler(ConcurrencyError)
    async def conflict(_: Request, error: ConcurrencyError) -> JSONResponse:
        return problem(409, "stale-version", "The resource changed meanwhile", str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in error.errors()]
        return problem(422, "invalid-request", "The request is not valid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem(error.status_code, f"http-{error.status_code}", str(error.detail))
