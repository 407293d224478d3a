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
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tracker.api.problems import Invalid, PreconditionFailed
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


def _response(status: int, body: str, etag: str | None, replayed: bool, rid: str) -> JSONResponse:
    headers = {"X-Request-ID": rid}
    if etag:
        headers["ETag"] = f'"{etag}"'
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(json.loads(body), status_code=status, headers=headers)


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
    if after is not None:
        try:
            after()
        except Exception:  # the command is committed; the follow-up can be redone later
            log.exception("follow-up after %s %s failed", request.method, request.url.path)
    return _response(outcome.status, body, outcome.etag, False, rid)


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
