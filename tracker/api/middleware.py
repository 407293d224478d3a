"""Pure ASGI middleware: the last line of error handling, the correlation id and the security headers.

Pure ASGI rather than BaseHTTPMiddleware / @app.middleware("http"): those run the route in a second task,
turn a client that disconnects mid-body into "RuntimeError: No response returned" and re-raise route
errors after the 500 was sent, which made uvicorn log the error twice and close the keep-alive connection.
"""

from __future__ import annotations

import logging
import re
import uuid

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker.api.problems import problem

log = logging.getLogger("tracker.api")
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")

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
# A page that needs more than CSP sets its own Content-Security-Policy header, which is kept: /docs and /redoc
# (tracker/api/docs.py), /unsubscribe (tracker/api/subscribers.py), the reader and review pages (tracker/web).


class SecurityHeaders:
    """Adds the security headers and X-Request-ID to every HTTP response, whoever made it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"")
        rid = given.decode("ascii") if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid  # read by commanding.request_id (request.state)
        csp = CSP.encode()
        authenticated = b"authorization" in headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in COMMON_HEADERS if name not in present]
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", csp))
                if authenticated and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))  # bearer-token answers never sit in caches
                if b"x-request-id" not in present:
                    extra.append((b"x-request-id", rid.encode()))
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
