"""The tracker's Prometheus metrics, and their exposition in the text format for GET /metrics.

Every label takes values from a fixed set (route templates, command and event class names, result words), never
from a request's raw path or body, so the number of series stays bounded whatever clients send.

Two modes, chosen by prometheus-client when it is first imported:
- one process (the default): the metrics live in this process's memory, with the process and GC collectors;
- several worker processes (`PROMETHEUS_MULTIPROC_DIR` set to an empty directory before any worker imports
  prometheus-client): each process writes its values to files there and a scrape, answered by whichever worker
  the connection reaches, sums every process's files (MultiProcessCollector). Gauges of live processes only
  ("livesum") lose a process's share when it ends: `process_exiting()` on a clean exit (the app's lifespan),
  `worker_exited(pid)` from a supervisor that sees a worker die, and at every scrape `forget_dead_processes()` for
  whatever neither caught (a worker killed with SIGKILL).

Values read at scrape time (store position, review-queue depth) come from `ScrapeGauges`, which runs its queries
in the process that answers the scrape, in either mode.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("tracker.observability")

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Whether this process's values go to files (decided by prometheus-client at its import, from the environment).
MULTIPROCESS = values.ValueClass is not values.MutexValue
if os.environ.get(MULTIPROC_ENV) and not MULTIPROCESS:
    log.warning("%s was set after prometheus-client was imported: this process's metrics are its own only",
                MULTIPROC_ENV)

disable_created_metrics()  # no `_created` series beside every counter: twice the lines for nothing we alert on
REGISTRY = CollectorRegistry(auto_describe=True)
if not MULTIPROCESS:  # per-process figures; in multiprocess mode each scrape would show one arbitrary worker's
    ProcessCollector(registry=REGISTRY)
    PlatformCollector(registry=REGISTRY)
    GCCollector(registry=REGISTRY)

# ---- HTTP ----------------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "tracker_http_requests", "HTTP requests answered, by method, route template and status (route 'unmatched' when "
    "no route was reached: unknown paths, 413 bodies; status 499 when the client left before an answer)",
    ["method", "route", "status"], registry=REGISTRY)
HTTP_DURATION = Histogram(
    "tracker_http_request_duration_seconds", "Time from a request's arrival to the end of its answer",
    ["method", "route"], registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # others count as OTHER
FOLLOW_UPS_FAILED = Counter(
    "tracker_follow_up_failures", "Follow-ups (suggestion backfill) that failed after their command committed",
    registry=REGISTRY)

# ---- the write path ------------------------------------------------------------------------------------
COMMAND_OUTCOMES = ("ok", "conflict", "invalid", "error")
COMMANDS = Counter(
    "tracker_commands", "Commands on aggregates by type and outcome: ok (committed), conflict (stale version or "
    "refused by the current state), invalid (bad data, unknown id), error (anything else)",
    ["command", "outcome"], registry=REGISTRY)
EVENTS = Counter("tracker_events_appended", "Events committed to the store, by type", ["event_type"],
                 registry=REGISTRY)
SUGGESTIONS = Counter("tracker_suggestions", "Matches suggested to editors (MatchSuggested events committed)",
                      registry=REGISTRY)

# ---- feeds ---------------------------------------------------------------------------------------------
FEED_RESULTS = ("fetched", "not_modified", "failed", "disabled", "skipped")
FEED_FETCHES = Counter(
    "tracker_feed_fetches", "Feed refreshes by result: fetched, not_modified (304), failed (network, HTTP or "
    "parse error, or a failure inside the tracker), disabled (by this refresh), skipped (not due)",
    ["result"], registry=REGISTRY)
ITEM_RESULTS = ("ingested", "duplicate", "skipped", "sighted")
FEED_ITEMS = Counter(
    "tracker_feed_items", "Feed entries by result: ingested (new evidence), duplicate (known), skipped (cannot "
    "become evidence), sighted (a story already held, seen in another feed)", ["result"], registry=REGISTRY)
FEED_PASS_DURATION = Histogram(
    "tracker_feed_pass_duration_seconds", "Duration of one scheduled or requested feed pass", registry=REGISTRY,
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0))

# ---- digest, scheduler ---------------------------------------------------------------------------------
DIGEST_RESULTS = ("sent", "failed", "skipped")
DIGEST_SENDS = Counter("tracker_digest_sends", "Digest mails by result: sent, failed (refused or unreachable "
                       "server; retried with back-off), skipped (nothing owed, or given up)", ["result"],
                       registry=REGISTRY)
DIGEST_RUN_ERRORS = Counter("tracker_digest_run_errors", "Scheduled digest runs that ended in an exception",
                            registry=REGISTRY)
LEADER = Gauge("tracker_scheduler_leader", "1 while this process's scheduler runs jobs (it leads), else 0; "
               "summed over live processes", registry=REGISTRY, multiprocess_mode="livesum")

# Every known result starts at 0, so a rate works from the first scrape and an alert sees no gap.
for _result in FEED_RESULTS:
    FEED_FETCHES.labels(_result)
for _result in ITEM_RESULTS:
    FEED_ITEMS.labels(_result)
for _result in DIGEST_RESULTS:
    DIGEST_SENDS.labels(_result)

_request_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """One answered request (called by the API's middleware for every HTTP request)."""
    key = (method, route, status)
    series = _request_series.get(key)
    if series is None:
        label = method if method in METHODS else "OTHER"
        series = (HTTP_REQUESTS.labels(label, route, str(status)), HTTP_DURATION.labels(label, route))
        _request_series[key] = series
    series[0].inc()
    series[1].observe(seconds)


def command_done(command: str, outcome: str) -> None:
    COMMANDS.labels(command, outcome).inc()


def committed(commands: Iterable[str], event_types: Iterable[str], suggestions: int) -> None:
    """What one unit of work left behind once its transaction committed."""
    for name, count in _tally(commands).items():
        COMMANDS.labels(name, "ok").inc(count)
    for name, count in _tally(event_types).items():
        EVENTS.labels(name).inc(count)
    if suggestions:
        SUGGESTIONS.inc(suggestions)


def feed_pass(fetches: Mapping[str, int], items: Mapping[str, int], seconds: float) -> None:
    """One feed pass: refreshes by result (FEED_RESULTS) and entries by result (ITEM_RESULTS)."""
    for result, count in fetches.items():
        if count:
            FEED_FETCHES.labels(result).inc(count)
    for result, count in items.items():
        if count:
            FEED_ITEMS.labels(result).inc(count)
    FEED_PASS_DURATION.observe(seconds)


def digest_sends(*, sent: int, failed: int, skipped: int) -> None:
    for result, count in (("sent", sent), ("failed", failed), ("skipped", skipped)):
        if count:
            DIGEST_SENDS.labels(result).inc(count)


def set_leader(leading: bool) -> None:
    LEADER.set(1 if leading else 0)


def _tally(names: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts


class ScrapeGauges(Collector):
    """Gauges read when scraped: each a name, help and a function returning the value (a query). A function that
    raises is left out of that scrape, and `tracker_scrape_query_up` says 0, so one broken query (or the database
    being away) never hides the rest."""

    def __init__(self, gauges: Mapping[str, tuple[str, Callable[[], float]]]) -> None:
        self.gauges = dict(gauges)

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("tracker_scrape_query_up", "1 if the scrape-time query for a gauge answered",
                               labels=["gauge"])
        for name, (documentation, read) in self.gauges.items():
            try:
                value = read()
            except Exception as error:  # the scrape goes on; the log says why
                log.warning("metrics: %s not read: %s", name, " ".join(str(error).split())[:300])
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield GaugeMetricFamily(name, documentation, value=value)
        yield up


class _Registered(Collector):
    """This process's registry as one collector of a scrape's registry (one-process mode)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def exposition(*extra: Collector) -> bytes:
    """The text format of every metric (summed over processes in multiprocess mode) plus `extra` collectors."""
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS:
        forget_dead_processes()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Registered())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def forget_dead_processes(directory: str | None = None) -> list[int]:
    """Drop the live gauges of processes that no longer exist (a worker killed with SIGKILL cannot say so itself,
    and a supervisor may not tell): checked at every scrape. The directory is one host's, so are the pids."""
    directory = directory or os.environ.get(MULTIPROC_ENV)
    if not directory or not os.path.isdir(directory):
        return []
    dead = set()
    for name in os.listdir(directory):
        found = _LIVE_GAUGE_FILE.match(name)
        if found and not _alive(int(found.group(1))):
            dead.add(int(found.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)
    return sorted(dead)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def process_exiting() -> None:
    """A clean exit of this process: its live gauges (leader) stop counting. Nothing to do in one-process mode."""
    set_leader(False)
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())


def worker_exited(pid: int) -> None:
    """For a supervisor of worker processes: worker `pid` is gone (crashed or stopped); drop its live gauges.
    Counters and histograms keep its counts, as they should."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(pid)
