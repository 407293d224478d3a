"""The one place that wires the application (as in cosmicpython's bootstrap.py).

Every command gets `bootstrap()`: settings, the store over its engine, and the Tracker that writes to it.
`tracker serve` gets `bootstrap_server()`: the same, plus a migrated (and, if empty, seeded) store, the HTTP
API, and the scheduler whose jobs run only while the leader elector says this replica leads.

`tracker serve --workers N` splits that in two: the parent calls `prepare_server()` once (migrate, seed, first
admin, feeds.toml into the store), then each worker process builds its own app with `worker_app()` (uvicorn
imports it by name in every worker): its own engine, Tracker, scheduler and elector, started and stopped with
the app's lifespan. Every worker competes for leadership, so one of them runs the jobs, as among replicas.
"""

from __future__ import annotations

import logging.config
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tracker.config import Settings, get_settings
from tracker.leader import LeaderElector
from tracker.observability.logs import configure_logging
from tracker.repository.unit_of_work import Tracker
from tracker.seeding import seed
from tracker.service.users import first_admin_token
from tracker.store import ConcurrencyError, EventStore
from tracker.store.engine import make_engine
from tracker.store.migrate import upgrade

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from fastapi import FastAPI


class Echo(Protocol):
    """Where start-up notes go (click.echo): told as they happen, since the first admin token is shown once."""

    def __call__(self, message: str, *, err: bool = False) -> None: ...


@dataclass(frozen=True)
class App:
    settings: Settings
    store: EventStore
    tracker: Tracker


def bootstrap(settings: Settings | None = None) -> App:
    settings = settings or get_settings()
    configure_logging(settings.log_level)  # JSON lines; once per process (serving configured them already)
    store = EventStore(make_engine(settings.database_url))
    return App(settings, store, Tracker(store))


@dataclass(frozen=True)
class Server:
    """`tracker serve`, wired but not running: start() the scheduler side, serve `api`, then stop()."""

    api: FastAPI
    scheduler: BackgroundScheduler | None
    elector: LeaderElector | None

    def start(self) -> None:
        if self.scheduler is not None and self.elector is not None:
            self.scheduler.start(paused=True)  # jobs run only while this replica is the leader
            self.elector.start()

    def stop(self) -> None:
        if self.elector is not None:
            self.elector.stop()  # a leader pauses its jobs, then lets leadership go
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)


def bootstrap_server(*, with_scheduler: bool, echo: Echo) -> Server:
    """Migrate, seed an empty store, create the first admin, then wire the scheduler, the elector and the API.

    What only a server needs (uvicorn, APScheduler, httpx and feedparser, FastAPI) is imported here, not at
    the top: every other command, and `tracker --help`, would pay ~400 ms for it.
    """
    from tracker.api.serving import log_config

    logging.config.dictConfig(log_config())  # before the store opens: its startup notes are shown too
    app = bootstrap()
    _prepare_store(app, echo)
    return _wire(app, with_scheduler=with_scheduler)


def prepare_server(*, with_scheduler: bool, echo: Echo) -> None:
    """What `tracker serve --workers N` does once, in the parent, before any worker starts: migrate, seed an empty
    store, create the first admin and (with the scheduler) register feeds.toml's feeds, so the workers find the
    store ready and race on none of it."""
    from tracker.api.serving import log_config

    logging.config.dictConfig(log_config())
    app = bootstrap()
    try:
        _prepare_store(app, echo)
        if with_scheduler:
            from tracker.ingest.runner import load_and_sync

            load_and_sync(app.tracker, app.settings)
    finally:
        app.store.engine.dispose()


def worker_app() -> FastAPI:
    """The app of one `tracker serve --workers N` worker (uvicorn calls this factory in each worker process)."""
    return _worker(with_scheduler=True)


def worker_app_without_scheduler() -> FastAPI:
    """The same for `tracker serve --workers N --no-scheduler`: the API only, no elector."""
    return _worker(with_scheduler=False)


def _worker(*, with_scheduler: bool) -> FastAPI:
    server = _wire(bootstrap(), with_scheduler=with_scheduler)  # the parent migrated and seeded already
    api = server.api
    inner: Callable[[FastAPI], Any] = api.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        server.start()  # this worker's scheduler (paused) and elector: it runs jobs only while it leads
        try:
            async with inner(app) as state:
                yield state
        finally:
            server.stop()

    api.router.lifespan_context = lifespan
    return api


def _wire(app: App, *, with_scheduler: bool) -> Server:
    scheduler: BackgroundScheduler | None = None
    elector: LeaderElector | None = None
    if with_scheduler:
        from tracker.scheduler import build_scheduler

        scheduler = build_scheduler(app.tracker, app.settings)  # after seeding: it syncs feeds into the store
        elector = LeaderElector(app.store.engine, on_elected=scheduler.resume, on_deposed=scheduler.pause,
                                interval=app.settings.leader_interval_seconds)
    from tracker.api.app import create_app

    api = create_app(app.store, app.settings, app.tracker)  # one Tracker: the API and the jobs share its cache
    api.state.elector = elector  # GET /health reports whether this replica leads
    return Server(api, scheduler, elector)


def _prepare_store(app: App, echo: Echo) -> None:
    upgrade(app.settings.database_url)
    seeds_dir = Path(app.settings.seeds_dir)
    if app.store.head() == 0 and not (seeds_dir / "propositions.yaml").is_file():
        echo(f"empty store and no seed files in {seeds_dir}/: serving an empty tracker", err=True)
    elif app.store.head() == 0:
        try:
            result = seed(app.tracker, seeds_dir, article_dir=Path(app.settings.article_dir))
            echo(f"empty store: seeded {result.propositions_added} propositions")
        except ConcurrencyError:  # several replicas started on one empty store: another one is seeding
            echo("empty store: another replica is seeding it")
    token = first_admin_token(app.store.engine)
    if token is not None:
        echo(f"no users yet: created user 'admin'; its token (shown only this once): {token}")
