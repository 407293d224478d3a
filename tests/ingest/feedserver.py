"""A real, threaded HTTP server on 127.0.0.1 for ingestion tests.

Each path is scripted with a `Reply` (status, headers, body, stalls, drip) or a function of the request; the
server records every request it received (method, path, lowercased headers) so tests can assert what the
client actually sent. Stalls wait on an event that `stop()` sets, so a test never waits for a stalled handler.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # bytes are sent with Content-Length; an iterable of chunks is streamed and the connection closed after.
    body: bytes | Iterable[bytes] = b""
    stall_before_headers: float = 0.0
    stall_after_headers: float = 0.0
    chunk_delay: float = 0.0
    # Answer 304 when the request's If-None-Match / If-Modified-Since equal this reply's ETag / Last-Modified.
    conditional: bool = False


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]


Script = Reply | Callable[[Received], Reply]


class FeedServer:
    def __init__(self, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Script] = {}
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self.scheme = "http"
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="feedserver", daemon=True
        )
        self.host = host
        self.port = self._server.server_address[1]

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which must have started
            self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def route(self, path: str, script: Script) -> str:
        """Script `path` and return its full URL."""
        self.routes[path] = script
        return self.url(path)

    def received(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                request = Received("GET", self.path, {k.lower(): v for k, v in self.headers.items()})
                with server._lock:
                    server.requests.append(request)
                script = server.routes.get(self.path.split("?", 1)[0])
                if script is None:
                    reply = Reply(status=404, body=b"not found")
                else:
                    reply = script(request) if callable(script) else script
                self._send(reply, request)

            def _send(self, reply: Reply, request: Received) -> None:
                if reply.stall_before_headers and server._stopping.wait(reply.stall_before_headers):
                    return
                status, body = reply.status, reply.body
                if reply.conditional and _matches(reply.headers, request.headers):
                    status, body = 304, b""
                try:
                    self.send_response(status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if isinstance(body, bytes):
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.flush()
                    if reply.stall_after_headers and server._stopping.wait(reply.stall_after_headers):
                        return
                    chunks = [body] if isinstance(body, bytes) else body
                    for chunk in chunks:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if reply.chunk_delay and server._stopping.wait(reply.chunk_delay):
                            return
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (body cap, timeout): expected in these tests

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        return Handler


def _matches(reply_headers: dict[str, str], request_headers: dict[str, str]) -> bool:
    etag = {k.lower(): v for k, v in reply_headers.items()}.get("etag")
    modified = {k.lower(): v for k, v in reply_headers.items()}.get("last-modified")
    if etag and request_headers.get("if-none-match") == etag:
        return True
    return bool(modified and request_headers.get("if-modified-since") == modified)


__all__ = ["FeedServer", "Received", "Reply"]
