"""A cap on request bodies (pure ASGI): larger ones get 413 problem+json before any route sees them.

A declared Content-Length over the cap is refused at once; a body sent without one (chunked) is read up to
the cap and refused as soon as it goes over, so a client cannot make the server buffer more than the cap.
The whole body must arrive within BODY_TIMEOUT_SECONDS (a slow-drip client gets 408 and is disconnected),
and a client that disconnects mid-body costs one log line, not a traceback.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker.api.problems import problem

MAX_BODY_BYTES = 1024 * 1024
BODY_TIMEOUT_SECONDS = 30.0
log = logging.getLogger("tracker.api")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = BODY_TIMEOUT_SECONDS if timeout is None else timeout  # read late: tests shorten it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        if declared is None and b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)  # no body to guard
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        log.info("client disconnected after %d body bytes: %s %s",
                                 size, scope["method"], scope["path"])
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_bytes:
                        await self._refuse(scope, receive, send)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            log.info("request body not complete after %ss (%d bytes): %s %s",
                     self.timeout, size, scope["method"], scope["path"])
            response = problem(408, "body-timeout", "The request body took too long",
                               f"the whole body must arrive within {self.timeout:g} seconds")
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "body-too-large", "The request body is too large",
                           f"request bodies are limited to {self.max_bytes} bytes")
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
