"""A feed pass, measured: the ingestion pass the scheduler and `POST /feeds/{id}/fetch` run, counted in the metrics
(fetches by result, entries by result, duration) and written as one log line (logger `tracker.feeds`), from the
summary the pass returns; ingestion itself knows nothing of either."""

from __future__ import annotations

import logging
import time
from typing import Any

from tracker.config import Settings
from tracker.ingest.runner import PassSummary, ingest_pass
from tracker.observability import metrics
from tracker.repository.unit_of_work import Tracker

log = logging.getLogger("tracker.feeds")


def measured_pass(tracker: Tracker, settings: Settings, *, trigger: str, **options: Any) -> PassSummary:
    """`ingest_pass(tracker, settings, **options)`, reported; `trigger` (schedule, request) goes in the log line.
    A pass that raises counts as one failed fetch per feed it was asked for and is re-raised."""
    started = time.perf_counter()
    try:
        summary = ingest_pass(tracker, settings, **options)
    except Exception:
        metrics.feed_pass({"failed": len(options.get("feed_ids") or [None])}, {}, time.perf_counter() - started)
        raise
    report(summary, time.perf_counter() - started, trigger=trigger)
    return summary


def report(summary: PassSummary, seconds: float, *, trigger: str) -> None:
    fetches = {result: getattr(summary, result) for result in metrics.FEED_RESULTS}
    items = {"ingested": summary.items_new, "duplicate": summary.items_duplicate, "skipped": summary.items_skipped,
             "sighted": summary.sightings}
    metrics.feed_pass(fetches, items, seconds)
    errors = [f"{o.feed_id}: {o.error}" for o in summary.outcomes if o.error]
    log.log(logging.WARNING if summary.failed else logging.INFO, "feed pass: %s", summary.line(), extra={
        "event": "feed_pass", "trigger": trigger, "feeds": [o.feed_id for o in summary.outcomes],
        "fetched": summary.fetched, "not_modified": summary.not_modified, "failed": summary.failed,
        "disabled": summary.disabled, "not_due": summary.skipped,
        "items_ingested": summary.items_new, "items_duplicate": summary.items_duplicate,
        "items_skipped": summary.items_skipped, "sightings": summary.sightings, "suggestions": summary.matches,
        "auto_confirmed": summary.auto_confirmed, "errors": errors, "duration_ms": round(seconds * 1000, 1),
    })
