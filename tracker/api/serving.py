"""How `tracker serve` runs uvicorn: timeouts and limits for slow or greedy clients, and logs without secrets."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tracker.config import get_settings

# The token redaction moved to logs.py; REDACTED, RedactTokens and redact stay importable from here.
from tracker.observability.logs import REDACTED, RedactTokens, dict_config, redact  # noqa: F401

# Seconds an idle keep-alive connection stays open after a response (uvicorn's default, made explicit).
KEEP_ALIVE_SECONDS = 5
# Seconds from a connection's (or a kept-alive request's) first byte to the end of its headers: a client
# dripping a header byte at a time (slowloris) is cut off. uvicorn has no option for this; see
# TimedHttpToolsProtocol (what `tracker serve` uses) and TimedH11Protocol (the fallback, TRACKER_HTTP_IMPL=h11).
HEADER_TIMEOUT_SECONDS = 10.0
# Request line plus headers above this many bytes get 400 and the connection is closed (h11's default, made
# explicit; httptools has no limit of its own, TimedHttpToolsProtocol adds it).
MAX_HEADER_BYTES = 16 * 1024
# Connections plus running requests before new requests get 503; sync routes share a 40-thread pool, so
# more than this would only queue.
MAX_CONCURRENCY = 200
# Seconds in-flight requests get to finish on shutdown before their connections are closed.
GRACEFUL_SHUTDOWN_SECONDS = 10

log = logging.getLogger("tracker.api")


class _HeaderTimer:
    """The header deadline's timer, shared by both protocols (each says in _headers_too_slow what a late head
    means for it)."""

    _header_timer: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop

    def _headers_too_slow(self) -> None:
        raise NotImplementedError

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None


class TimedH11Protocol(_HeaderTimer, H11Protocol):
    """uvicorn's h11 protocol plus a deadline for request headers (uvicorn only times out idle keep-alive)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the first bytes of a request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_header_timer()  # headers complete: the body has its own deadline (limits.py)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.debug("closed a connection whose request headers took over %ss", HEADER_TIMEOUT_SECONDS)
            self.transport.close()


class HeadersTooLarge(Exception):
    """Raised from a parser callback: httptools stops parsing and raises its HttpParserCallbackError, which uvicorn
    answers with 400 and a close, as any malformed request (h11's answer when its buffer outgrows
    `h11_max_incomplete_event_size`)."""


class TimedHttpToolsProtocol(_HeaderTimer, HttpToolsProtocol):
    """uvicorn's httptools protocol (llhttp, in C) with TimedH11Protocol's guarantees, which uvicorn's httptools path
    lacks: a deadline for request headers, HEADER_TIMEOUT_SECONDS from the connection's start or a request's first
    byte (llhttp's on_message_begin) to the end of its headers; and at most MAX_HEADER_BYTES of request line plus
    headers, answered 400 and closed otherwise.

    The size is checked twice. When the headers end, from what the parser handed over (method, target, version,
    every header name and value with its separators), so a complete head that arrived in one read is checked too
    (h11 checks only a head still incomplete). While they have not ended, from the bytes received since the request
    began, counted per read: llhttp keeps a partial header inside the parser, where no callback sees it, so this
    bounds the memory a client can make a connection hold. A read that carries the end of one request's body and
    the start of a pipelined request counts the body bytes too; only a pipelined head still incomplete after such
    a read can be refused early, which no browser sends.
    """

    _awaiting_headers = True  # from the connection's start or a request's first byte to the end of its headers
    _head_bytes: int | None = None  # bytes received since the current request began, while its headers have not ended

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # the parser's callbacks below run inside this call
        if self._head_bytes is not None and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEADER_BYTES:
                message = "Invalid HTTP request received."  # uvicorn's words for any request it cannot parse
                self.logger.warning(message)
                self.send_400_response(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        self._head_bytes = 0
        if self._header_timer is None:
            self._arm_header_timer()  # the first byte of a request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()  # headers complete: the body has its own deadline (limits.py)
        self._awaiting_headers = False
        self._head_bytes = None
        # "METHOD target HTTP/x.y\r\n", each "name: value\r\n", the blank line (llhttp drops optional spaces)
        size = len(self.parser.get_method()) + len(self.url) + 12 + 2
        for name, value in self.headers:
            size += len(name) + len(value) + 4
        if size > MAX_HEADER_BYTES:
            raise HeadersTooLarge(f"request line and headers of {size} bytes")
        super().on_headers_complete()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self._awaiting_headers or self.transport.is_closing():
            return
        log.debug("closed a connection whose request headers took over %ss", HEADER_TIMEOUT_SECONDS)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined request's head is late: finish the response, then close
        else:
            self.transport.close()


def log_config() -> dict[str, Any]:
    """The logging configuration uvicorn applies in the server and in every worker process: JSON lines on stderr,
    tokens redacted, uvicorn's access log replaced by the API's own line per request (tracker/observability/logs.py;
    the tracker's level from TRACKER_LOG_LEVEL, INFO by default)."""
    return dict_config(get_settings().log_level)


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for uvicorn.run, all limits explicit: httptools on uvloop, or h11 on asyncio when
    TRACKER_HTTP_IMPL=h11 (the same header deadline and size limit either way)."""
    h11_fallback = get_settings().http_impl == "h11"
    return {
        "http": TimedH11Protocol if h11_fallback else TimedHttpToolsProtocol,
        "loop": "asyncio" if h11_fallback else "uvloop",
        "log_config": log_config(),
        "log_level": "info",
        "access_log": False,  # tracker.access writes one JSON line per request (tracker/api/middleware.py)
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,  # TimedHttpToolsProtocol checks MAX_HEADER_BYTES itself
        "limit_concurrency": MAX_CONCURRENCY,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "server_header": False,  # do not advertise the server software
    }


# The app each worker of `tracker serve --workers N` builds (tracker/bootstrap.py), by import string: uvicorn starts
# workers as fresh interpreters (spawn) that import the app themselves.
WORKER_APP = "tracker.bootstrap:worker_app"
WORKER_APP_WITHOUT_SCHEDULER = "tracker.bootstrap:worker_app_without_scheduler"
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Seconds a worker may leave the supervisor's ping unanswered before it is killed and replaced, and a replacement
# (SIGHUP) may take to start serving; uvicorn's 5 s is short for a worker building its app on a busy machine.
WORKER_HEALTHCHECK_SECONDS = 30


@contextmanager
def multiprocess_metrics_dir() -> Iterator[str]:
    """A fresh, empty directory for prometheus-client's multiprocess mode, exported to the workers through the
    environment and removed at exit (the mode needs it empty at start: stale files would count old processes)."""
    path = tempfile.mkdtemp(prefix="tracker-metrics-")
    previous = os.environ.get(METRICS_DIR_VARIABLE)
    os.environ[METRICS_DIR_VARIABLE] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(METRICS_DIR_VARIABLE, None)
        else:
            os.environ[METRICS_DIR_VARIABLE] = previous
        shutil.rmtree(path, ignore_errors=True)


def run_workers(app: str, *, host: str, port: int, workers: int) -> bool:
    """`workers` processes serving `app` (an import string naming an app factory) on one listening socket.

    uvicorn's own supervisor: the parent binds the socket and hands it to every worker, restarts a worker that
    dies (checked every half second; one that answers no ping for WORKER_HEALTHCHECK_SECONDS is killed and
    replaced), replaces them one by one on SIGHUP (each replacement serving before its predecessor stops), and on
    SIGINT or SIGTERM sends every worker SIGTERM (each finishes its requests, up to GRACEFUL_SHUTDOWN_SECONDS) and
    waits for them. Returns False when a worker failed before it began serving (the parent then stops them all: the same
    failure would repeat), True after a clean shutdown.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Multiprocess

    config = uvicorn.Config(app, factory=True, host=host, port=port, workers=workers,
                            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS, **uvicorn_options())
    sock = config.bind_socket()
    supervisor = Multiprocess(config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        sock.close()
    return not any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
