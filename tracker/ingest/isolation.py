"""Run feed parsing in a few disposable worker processes, so hostile input cannot take the service down.

Why: a feed's bytes reach C code (expat) and pure-Python parsers we do not control. expat 2.5 segfaults on
100,000 nested entities (CVE-2024-8176) and a 5 MB feed once grew the server from 116 MB to 1.9 GB. Refusing
entity declarations (`parse.refusal`) closes the known tricks; isolation contains the unknown ones.

How:
- Each worker is a fresh interpreter (`python -m tracker.ingest.parse_worker`, started by subprocess: fork +
  exec, so the service's threads and locks are not copied, and unlike multiprocessing's spawn/forkserver the
  service's `__main__` is not re-imported). It serves one parse at a time over its own socket. One channel per
  worker, rather than a shared `ProcessPoolExecutor` queue, pins a failure on the parse that caused it: only
  that worker is killed and replaced, and parses running on the other workers are untouched.
- At start a worker caps its address space (RLIMIT_AS) and disables core files; before every parse it allows
  itself `cpu_seconds` more CPU (RLIMIT_CPU, so a reused worker never inherits an earlier parse's usage). The
  parent waits at most `timeout_seconds` for the answer.
- A worker that dies (signal, CPU limit), runs out of memory or overruns the wall clock is killed; its slot
  is refilled lazily by the next parse. The parse comes back as `ParsedFeed(error=...)`, so the refresh
  records an ordinary failed fetch and backs off.
- Cheap in the common case: workers start on first use and are reused; results are the `ParsedFeed` itself
  (feedparser's FeedParserDict entries pickle as they are and keep their aliases, e.g. `entry["guid"]`).
  The pool is shut down at interpreter exit.
- A worker is treated as possibly compromised: it gets no environment but PYTHONPATH (no database URL or
  secrets), none of the service's file descriptors, and its answer is unpickled with only the few classes a
  ParsedFeed holds allowed (a forged pickle cannot call anything else), with a size cap.
"""

from __future__ import annotations

import atexit
import io
import math
import os
import pickle
import queue
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from tracker.ingest.parse import ParsedFeed, parse_unguarded


@dataclass(frozen=True)
class Limits:
    """Per-worker limits. The defaults leave room for the largest feed fetch accepts (15 MB, which parses in
    ~2.5 s and ~120 MB here) and stop a blow-up long before it hurts the service."""

    memory_bytes: int = 1024 * 1024 * 1024
    cpu_seconds: int = 30
    timeout_seconds: float = 45.0


class WorkerFailed(Exception):
    """The worker died, overran a limit or ran out of memory; it has been killed."""


class PoolClosed(RuntimeError):
    """The pool was shut down (interpreter exit)."""


class _AnswerUnpickler(pickle.Unpickler):
    """Only what a ParsedFeed is made of; anything else in a worker's answer is an attack or a bug."""

    ALLOWED = frozenset({
        ("tracker.ingest.parse", "ParsedFeed"), ("feedparser.util", "FeedParserDict"), ("time", "struct_time"),
    })

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"a parser worker's answer may not contain {module}.{name}")
        return super().find_class(module, name)


def serve(connection: Connection, limits: Limits, crash_marker: bytes | None) -> None:
    """Worker main loop (see `parse_worker`): apply limits, then answer (function, args) requests until told
    to stop or the parent goes away."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crashing parser must not litter the disk with cores
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = limits.memory_bytes if hard == resource.RLIM_INFINITY else min(limits.memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return  # the parent went away
        if request is None:
            return
        function, args = request
        _allow_cpu(limits.cpu_seconds)
        if crash_marker is not None and function is _parse_job and crash_marker in args[0]:
            os.kill(os.getpid(), signal.SIGSEGV)  # test hook: a real crash in the middle of a parse
        try:
            answer: tuple[str, Any] = ("ok", function(*args))
        except MemoryError:
            answer = ("memory", None)
        except BaseException as error:  # noqa: BLE001 - reported to the parent, which decides
            answer = ("raised", f"{type(error).__name__}: {error}")
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            answer, data = ("memory", None), pickle.dumps(("memory", None))
        except Exception as error:  # noqa: BLE001 - e.g. an unpicklable result: report it rather than vanish
            answer = ("raised", f"an unpicklable answer ({type(error).__name__}: {error})")
            data = pickle.dumps(answer)
        try:
            connection.send_bytes(data)
        except OSError:
            return
        if answer[0] != "ok":
            return  # after MemoryError or an unexpected exception the process state is suspect: retire


def _allow_cpu(seconds: int) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime) + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _parse_job(body: bytes, headers: dict[str, str] | None, base_url: str | None) -> ParsedFeed:
    return parse_unguarded(body, headers, base_url)


class _Worker:
    def __init__(self, limits: Limits, crash_marker: bytes | None) -> None:
        parent_end, child_end = socket.socketpair()
        self.limits = limits
        argv = [sys.executable, "-m", "tracker.ingest.parse_worker", str(child_end.fileno()),
                str(limits.memory_bytes), str(limits.cpu_seconds)]
        if crash_marker is not None:
            argv.append(crash_marker.hex())
        # Nothing from our environment (it holds the database URL and secrets) but where to import from: the
        # worker must import what this process imports (tracker, and in tests the tests' modules).
        environment = {"PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
        try:
            self.process = subprocess.Popen(
                argv, pass_fds=(child_end.fileno(),), env=environment, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, start_new_session=True,  # no terminal Ctrl-C tracebacks from workers
            )
        finally:
            child_end.close()
        # Bound every single read and write too: poll() bounds waiting for an answer, but a worker gone rogue
        # could stop reading a request or stall halfway through an answer.
        window = struct.pack("ll", math.ceil(limits.timeout_seconds), 0)
        parent_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, window)
        parent_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, window)
        self.connection = Connection(parent_end.detach())

    def call(self, function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        try:
            self.connection.send((function, args))
            if not self.connection.poll(self.limits.timeout_seconds):
                raise WorkerFailed(f"timed out after {self.limits.timeout_seconds:g} s")
            answer = self.connection.recv_bytes(self.limits.memory_bytes)
        except (EOFError, OSError):
            raise WorkerFailed(self._death()) from None
        try:
            status, value = _AnswerUnpickler(io.BytesIO(answer)).load()
        except Exception as error:  # noqa: BLE001 - any malformed answer means the worker is not to be trusted
            raise WorkerFailed(f"sent a malformed answer ({type(error).__name__})") from None
        if status == "memory":
            raise WorkerFailed(f"ran out of memory (limit {self.limits.memory_bytes // 2**20} MB)")
        if status == "raised":
            raise WorkerFailed(f"raised {value}")
        return value

    def _death(self) -> str:
        try:
            code = self.process.wait(1.0)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        if code < 0:
            if -code == signal.SIGXCPU:
                return f"exceeded its CPU limit ({self.limits.cpu_seconds} s)"
            return f"crashed ({signal.Signals(-code).name})"
        return f"died (exit code {code})"

    def stop(self, *, gracefully: bool) -> None:
        if gracefully and self.process.poll() is None:
            try:
                self.connection.send(None)
                self.process.wait(1.0)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5.0)
        self.connection.close()


class ParserPool:
    """Up to `workers` parser processes, started on demand and reused. Thread-safe: a caller takes an idle
    worker (waiting while all are busy; each wait is bounded by the others' timeouts).

    `crash_marker` is a test hook only: a body containing it makes the worker kill itself with SIGSEGV.
    """

    def __init__(self, workers: int = 2, limits: Limits | None = None, *, crash_marker: bytes | None = None) -> None:
        self.limits = limits or Limits()
        self._crash_marker = crash_marker
        self._slots: queue.LifoQueue[_Worker | None] = queue.LifoQueue()  # LIFO: reuse the warmest worker
        for _ in range(workers):
            self._slots.put(None)  # None: a slot whose process starts when first needed
        self._closed = False
        self._lock = threading.Lock()
        self.replaced = 0  # workers killed after a failure (for tests and diagnostics)

    def parse(self, body: bytes, headers: dict[str, str] | None = None, *, base_url: str | None = None) -> ParsedFeed:
        """`parse.parse_feed` in a worker; a worker failure comes back as the feed's error."""
        try:
            return self.call(_parse_job, body, headers, base_url)
        except WorkerFailed as failure:
            return ParsedFeed(error=f"parser failed: the isolated parser {failure}")
        except PoolClosed:
            return ParsedFeed(error="parser failed: the parser pool is shut down")

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a picklable module-level `function(*args)` in a worker; raises WorkerFailed when the worker
        had to be killed. Used by `parse`, and by tests to put a real crash in a real worker."""
        worker = self._slots.get()
        try:
            if self._closed:
                raise PoolClosed("the parser pool is shut down")
            if worker is not None and worker.process.poll() is not None:
                worker.stop(gracefully=False)  # died while idle (e.g. the kernel's OOM killer): not this feed's fault
                worker = None
            if worker is None:
                try:
                    worker = _Worker(self.limits, self._crash_marker)
                except OSError as error:  # e.g. out of processes or file descriptors: fail this feed, not the pass
                    raise WorkerFailed(f"could not start ({error})") from None
            return worker.call(function, args)
        except WorkerFailed:
            if worker is not None:
                worker.stop(gracefully=False)
                worker = None
            with self._lock:
                self.replaced += 1
            raise
        finally:
            if self._closed and worker is not None:
                worker.stop(gracefully=True)  # it was busy while the pool closed
                worker = None
            self._slots.put(worker)

    def worker_pids(self) -> list[int]:
        """Pids of the idle, started workers (diagnostics and tests)."""
        with self._slots.mutex:
            return [w.process.pid for w in self._slots.queue if w is not None]

    def close(self) -> None:
        """Stop idle workers now; busy ones stop when their parse returns. Later calls fail fast."""
        self._closed = True
        drained = 0
        while True:
            try:
                worker = self._slots.get_nowait()
            except queue.Empty:
                break
            drained += 1
            if worker is not None:
                worker.stop(gracefully=True)
        for _ in range(drained):
            self._slots.put(None)  # keep the slot count, so a caller racing close() gets PoolClosed, not a hang


_default: ParserPool | None = None
_default_lock = threading.Lock()


def default_pool() -> ParserPool:
    """The process-wide pool `parse.parse_feed` uses, created on first use and closed at exit."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ParserPool()
        return _default


def install(pool: ParserPool | None) -> None:
    """Replace the process-wide pool (e.g. with other limits), closing the old one. `None` means a default
    pool created on next use."""
    global _default
    with _default_lock:
        old, _default = _default, pool
    if old is not None and old is not pool:
        old.close()


def shutdown() -> None:
    """Close the process-wide pool; it stays installed (closed), so no worker is started during exit."""
    with _default_lock:
        pool = _default
    if pool is not None:
        pool.close()


atexit.register(shutdown)
