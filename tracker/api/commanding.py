"""Running a command over HTTP: request id, If-Match, Idempotency-Key, one unit of work, the response.

The idempotency record is read and written inside the command's own transaction, which holds the store's
append lock: a retry, even a concurrent one, either sees the first response or waits for it, and a command
that fails stores nothing (so it can be retried).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tracker.api.problems import Invalid, PreconditionFailed
from tracker.observability import metrics
from tracker.repository.unit_of_work import Tracker, UnitOfWork
from tracker.service import idempotency
from tracker.service.idempotency import StoredResponse
from tracker.service.users import User
from tracker.store import ConcurrencyError

log = logging.getLogger("tracker.api")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ETAG = re.compile(r'^(W/)?"?(\d{1,12})"?$')


@dataclass(frozen=True)
class Outcome:
    status: int
    body: BaseModel
    etag: str | None = None  # a stream version, sent as a quoted ETag


# ---- the headers a command route reads, declared for OpenAPI (tracker/api/contract.py reads these markers) --
# They validate nothing themselves: run_command parses them, so a bad If-Match stays a 412 and a bad
# Idempotency-Key a 422 `invalid-idempotency-key`, as before.

IF_MATCH_PATTERN = r'^[ \t]*(\*|(W/)?"?[0-9]{1,12}"?)[ \t]*$'
# str.isprintable() over the Latin-1 a header arrives in: no control characters, no NBSP or soft hyphen.
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e\xa1-\xac\xae-\xff]{1,200}$"

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", description="1-200 printable characters; a repeat of the same request with the same "
    "key gets the first response again (header `Idempotent-Replayed: true`) instead of running twice",
    json_schema_extra={"pattern": IDEMPOTENCY_KEY_PATTERN, "maxLength": 200, "minLength": 1})]
IfMatch = Annotated[str | None, Header(
    alias="If-Match", description="the ETag (stream version) the command expects; 412 when the resource has "
    "moved on", json_schema_extra={"pattern": IF_MATCH_PATTERN, "examples": ['"3"']})]


# The three markers below are async because they do nothing: a sync dependency costs a trip through the thread
# pool and back through the event loop, and under a flood of reads each trip waits behind them (a confirm's p95
# in the saturated mix fell from 123-134 to 85-93 ms; benchmarks/README.md, "Commands' trips through the pool").
async def command_headers(idempotency_key: IdempotencyKey = None) -> None:
    """Marks a route that runs `run_command` (If-Match is parsed, though this route does not compare it)."""


async def versioned_command_headers(if_match: IfMatch = None, idempotency_key: IdempotencyKey = None) -> None:
    """Marks a route that runs `run_command` and honours If-Match."""


async def outside_headers(idempotency_key: IdempotencyKey = None) -> None:
    """Marks a route that runs `run_outside` (Idempotency-Key only)."""


COMMAND = [Depends(command_headers)]
VERSIONED_COMMAND = [Depends(versioned_command_headers)]
OUTSIDE_COMMAND = [Depends(outside_headers)]


def request_id(request: Request) -> str:
    """The caller's X-Request-ID when it is sane, else one made here (the middleware sets it once)."""
    found = getattr(request.state, "request_id", None)
    if found:
        return found
    given = request.headers.get("x-request-id", "")
    value = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    request.state.request_id = value
    return value


def expected_version(request: Request) -> int | None:
    """If-Match as a stream version; None when absent or `*`. Anything unparseable cannot match: 412."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    found = _ETAG.match(header.strip())
    if not found:
        raise PreconditionFailed(f"If-Match {header!r} is not a version this API issued")
    return int(found.group(2))


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= 200 or not key.isprintable():
        raise Invalid("invalid-idempotency-key", "Idempotency-Key must be 1-200 printable characters")
    return key


def request_hash(request: Request, payload: Any) -> str:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    text = f"{request.method} {request.url.path}?{request.url.query}\n{body}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _response(status: int, body: str, etag: str | None, replayed: bool, rid: str,
              warnings: list[str] | None = None) -> JSONResponse:
    headers = {"X-Request-ID": rid}
    if etag:
        headers["ETag"] = f'"{etag}"'
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    content = json.loads(body)
    if warnings:
        headers[FOLLOW_UP_WARNING] = "; ".join(warnings)
        if isinstance(content, dict):
            content["warnings"] = warnings
    return JSONResponse(content, status_code=status, headers=headers)


def run_command(
    request: Request,
    tracker: Tracker,
    user: User,
    payload: Any,
    work: Callable[[UnitOfWork, int | None], Outcome],
    *,
    after: Callable[[], None] | None = None,
) -> JSONResponse:
    """Do `work(uow, expected_version)` in one unit of work under the caller's name, honouring Idempotency-Key.

    `after` runs once the command has committed (not on a replay): follow-up work such as backfilling
    suggestions, which must not undo the command if it fails.
    """
    rid = request_id(request)
    key = idempotency_key(request)
    expected = expected_version(request)
    digest = request_hash(request, payload)
    with tracker.unit_of_work(actor=user.actor, correlation_id=rid,
                              causation_id=f"http:{request.method} {request.url.path}") as uow:
        if key is not None:
            stored = idempotency.recorded(uow.connection, user.name, key, digest)
            if stored is not None:
                return _response(stored.status_code, stored.body, stored.etag, True, rid)
        try:
            outcome = work(uow, expected)
        except ConcurrencyError as error:
            if expected is None:
                raise
            raise PreconditionFailed(str(error)) from None
        body = outcome.body.model_dump_json()
        if key is not None:
            idempotency.record(uow.connection, user.name, key, digest,
                               StoredResponse(outcome.status, body, outcome.etag))
    warnings = _follow_up(request, after) if after is not None else []
    return _response(outcome.status, body, outcome.etag, False, rid, warnings)


FOLLOW_UP_WARNING = "Tracker-Warning"  # also in the body's `warnings`; absent when all went well


def _follow_up(request: Request, after: Callable[[], None]) -> list[str]:
    """Run the follow-up; its failure does not undo the committed command, but the caller is told (the
    `warnings` field and a header), not only the log."""
    try:
        after()
    except Exception as error:
        log.exception("follow-up after %s %s failed", request.method, request.url.path)
        follow_up_failed(request.url.path)
        what = " ".join((after.__doc__ or "the follow-up").split())
        return [f"the command was recorded, but {what} failed ({type(error).__name__}); "
                "some suggestions may be missing until it is run again"]
    return []


def follow_up_failed(path: str) -> None:
    """Counted in tracker_follow_up_failures_total; the log line is above."""
    metrics.FOLLOW_UPS_FAILED.inc()


def run_outside(
    request: Request, tracker: Tracker, user: User, payload: Any, work: Callable[[], Outcome]
) -> JSONResponse:
    """For work that cannot sit in one transaction (a feed fetch does network I/O and commits on its own):
    the key is checked before and recorded after; a concurrent duplicate may run twice, but the fetch is
    itself idempotent (known items add nothing)."""
    rid = request_id(request)
    key = idempotency_key(request)
    digest = request_hash(request, payload)
    if key is not None:
        stored = idempotency.recorded_outside(tracker, user.name, key, digest)
        if stored is not None:
            return _response(stored.status_code, stored.body, stored.etag, True, rid)
    outcome = work()
    body = outcome.body.model_dump_json()
    if key is not None:  # a concurrent duplicate may have recorded its response first: that one stays
        idempotency.record_outside(tracker, user.name, key, digest, StoredResponse(outcome.status, body, outcome.etag))
    return _response(outcome.status, body, outcome.etag, False, rid)
