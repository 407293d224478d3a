"""The garbage collector's thresholds while the API serves.

A serving process holds a large, long-lived state cache (up to 4,096 proposition states of ~90 matches each). With
CPython's default thresholds (700, 10, 10) its collections ran often and, now and then, through all of it: about 1 s
pauses that made the p95 of a bulk reject 209-324 ms while its p50 was ~50 ms (benchmarks/review_pages.py; with the
thresholds below 46 / 88 ms, with the collector off 42 / 80 ms). Reference counting still frees almost everything;
the collector is only for cycles, which a request makes few of, so collecting them less often costs little memory.
"""

from __future__ import annotations

import gc

SERVING_THRESHOLDS = (100_000, 50, 1_000)


def serve_thresholds() -> tuple[int, int, int]:
    """Raise the thresholds for serving; returns the previous ones, to put back at shutdown."""
    previous = gc.get_threshold()
    gc.set_threshold(*SERVING_THRESHOLDS)
    return previous  # type: ignore[return-value]


def restore(previous: tuple[int, int, int]) -> None:
    gc.set_threshold(*previous)
