"""Pure ASGI middleware: the request's id, metrics and log line; the last line of error handling; the security
headers.

Pure ASGI rather than BaseHTTPMiddleware / @app.middleware("http"): those run the route in a second task,
turn a client that disconnects mid-body into "RuntimeError: No response returned" and re-raise route
errors after the 500 was sent, which made uvicorn log the error twice and close the keep-alive connection.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker.api.problems import problem
from tracker.observability import metrics
from tracker.observability.logs import redact

log = logging.getLogger("tracker.api")
access_log = logging.getLogger("tracker.access")
# A caller's X-Request-ID is kept when it is 1-128 visible ASCII characters (no spaces, no control characters:
# it goes into headers, logs and the events' correlation id); otherwise the request gets a fresh uuid4 hex.
_REQUEST_ID = re.compile(rb"^[\x21-\x7e]{1,128}$")
CLIENT_GONE = 499  # the status counted and logged for a request whose client left before any answer (as nginx)
UNMATCHED = "unmatched"  # the route label of a path no route has (404s of scanners must not add series)


def route_of(scope: Scope, root_path: str) -> str:
    """The template of the route that answered (`/propositions/{proposition_id}`), never the raw path: a mounted
    app's prefix plus `/{path}`, or UNMATCHED."""
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path", UNMATCHED)
    mounted = scope.get("root_path", root_path)
    if mounted != root_path:
        return mounted[len(root_path):] + "/{path}"
    return UNMATCHED


class Observe:
    """Outermost: every HTTP request gets an id (the caller's X-Request-ID when sane, else a fresh uuid4 hex) that
    is echoed on its response, whoever made the response (a route, a 413, a 500); then it is counted in the
    request metrics by route template and status and written as one line to the `tracker.access` logger
    (request id, method, route, path with tokens redacted, status, duration in ms, actor, client)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("ascii") if _REQUEST_ID.match(value) else None
                break
        if rid is None:
            rid = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid  # read by commanding.request_id (request.state) and the review pages
        root_path = scope.get("root_path", "")
        status = CLIENT_GONE

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(scope, root_path)
            method = scope["method"]
            metrics.observe_request(method, route, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                _log_request(scope, state, rid, method, route, status, elapsed)


def _log_request(scope: Scope, state: dict, rid: str, method: str, route: str, status: int, elapsed: float) -> None:
    query = scope.get("query_string", b"")
    path = redact(scope["path"] + ("?" + query.decode("latin-1") if query else ""))
    user = state.get("user")
    client = scope.get("client")
    access_log.info("%s %s %d", method, path, status, extra={
        "request_id": rid, "method": method, "route": route, "path": path, "status": status,
        "duration_ms": round(elapsed * 1000, 2), "actor": getattr(user, "actor", None),
        "client": client[0] if client else None,
    })

# Every response: no MIME sniffing, no framing, no Referer (unsubscribe links carry a token), and a CSP that
# lets a page load nothing but its own inline styles (the unsubscribe page styles one element inline).
COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
CSP = ("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'none'")
CSP_BYTES = CSP.encode()
# A page that needs more than CSP sets its own Content-Security-Policy header, which is kept: /docs and /redoc
# (tracker/api/docs.py), /unsubscribe (tracker/api/subscribers.py), the reader and review pages (tracker/web).


class SecurityHeaders:
    """Adds the security headers to every HTTP response, whoever made it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authenticated = any(name == b"authorization" for name, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in COMMON_HEADERS if name not in present]
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", CSP_BYTES))
                if authenticated and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))  # bearer-token answers never sit in caches
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ErrorGuard:
    """Any exception a route or middleware lets escape ends here, once: a 500 problem+json when no response
    has started (the connection stays usable), one log line for a client that went away mid-request.

    Nothing propagates to Starlette's ServerErrorMiddleware, which would re-raise after answering; uvicorn
    then logs a second traceback and closes the connection, resetting the client's next request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            log.info("client disconnected before sending the whole request: %s %s", scope["method"], scope["path"])
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                # Half a response is out; returning lets uvicorn close this one connection (one line, no trace).
                return
            response = problem(500, "internal-error", "Internal error", "the error was logged; nothing was written")
            await response(scope, receive, send)
