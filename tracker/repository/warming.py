"""A background thread that folds, ahead of time, the states an editor is about to act on.

The review queue shows up to 50 suggestions; the editor then confirms, rejects or ticks some of them. Folding a
cold proposition stream (~100 events) is most of a command's time, and a bulk reject of 20 folds 20 of them, so
the page asks for its propositions to be warmed into the Tracker's state cache while the editor reads it. Only
the latest request waits: a newer page replaces an older one not yet started. A failure is logged and
forgotten: a command that finds no cached state folds the stream itself, as without the warmer.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from tracker.repository.unit_of_work import Tracker

log = logging.getLogger(__name__)


class Warmer:
    def __init__(self, tracker: Tracker) -> None:
        self._tracker = tracker
        self._lock = threading.Lock()
        self._pending: list[str] | None = None
        self._running = False
        self._idle = threading.Event()
        self._idle.set()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracker-warm")

    def request(self, stream_ids: list[str]) -> None:
        """Warm these streams soon, in the background; replaces a request that has not started yet."""
        if not stream_ids:
            return
        with self._lock:
            self._pending = stream_ids
            if self._running:
                return
            self._running = True
            self._idle.clear()
        try:
            self._executor.submit(self._run)
        except RuntimeError:  # shut down: nothing to warm for any more
            with self._lock:
                self._running = False
                self._idle.set()

    def _run(self) -> None:
        while True:
            with self._lock:
                stream_ids, self._pending = self._pending, None
                if stream_ids is None:
                    self._running = False
                    self._idle.set()
                    return
            try:
                self._tracker.warm(stream_ids)
            except Exception:  # noqa: BLE001 - a cache warm-up must never take the page or the server down
                log.warning("warming %d states failed", len(stream_ids), exc_info=True)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Whether every request made so far has been handled (tests, benchmarks)."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        with self._lock:
            self._pending = None
        self._executor.shutdown(wait=True)
