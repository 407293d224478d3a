"""The FastAPI application factory: wiring happens here and nowhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from tracker.api import (
    admin,
    audit,
    bodies,
    catalog,
    collector,
    commands,
    contract,
    digests,
    docs,
    matches,
    problems,
    propositions,
    scorecard,
    scrape,
    sources,
    subscribers,
)
from tracker.api.auth import require
from tracker.api.deps import get_store
from tracker.api.limits import BodySizeLimit
from tracker.api.middleware import ErrorGuard, Observe, SecurityHeaders
from tracker.api.schemas import Health
from tracker.config import Settings, get_settings
from tracker.observability import metrics
from tracker.queries.hot import HotReads
from tracker.repository.unit_of_work import Tracker
from tracker.repository.warming import Warmer
from tracker.service import matching_controls
from tracker.service import propositions as propositions_service
from tracker.service import review as review_service
from tracker.service.users import user_for_token
from tracker.store import EventStore
from tracker.store.checkpointer import WalCheckpointer
from tracker.web import pages as reader_pages
from tracker.web import review as review_pages

# Routers given one role for every route here, whatever each route declares itself.
ROLE_ROUTERS = (
    (sources.router, "editor"), (scorecard.router, "reader"), (digests.router, "editor"),
    (subscribers.router, "editor"),
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While serving, the garbage collector runs less often (tracker/api/collector.py) and SQLite's WAL checkpoints
    run in a thread of their own (tracker/store/checkpointer.py). On a clean shutdown this process's live gauges stop
    counting (several workers share the metrics), and its hot-read connection and the state warmer are closed."""
    thresholds = collector.serve_thresholds()
    app.state.checkpointer.start()
    try:
        yield
    finally:
        app.state.checkpointer.stop()
        collector.restore(thresholds)
        app.state.reads.close()
        app.state.warmer.close()
        metrics.process_exiting()


def create_app(store: EventStore, settings: Settings | None = None, tracker: Tracker | None = None) -> FastAPI:
    """The app over `store`; pass the process's `tracker` so the API and the scheduler share one state cache."""
    app = FastAPI(
        title="Policy Tracker",
        version="0.1.0",
        description="Claims and predictions from published articles, tracked against later evidence. "
                    "Every endpoint but /health takes `Authorization: Bearer <token>`.",
        docs_url=None, redoc_url=None,  # served by tracker/api/docs.py from installed assets, not a CDN
        lifespan=lifespan,
    )
    docs.install(app)
    app.state.store = store
    app.state.tracker = tracker or Tracker(store)
    app.state.reads = HotReads(store.engine)  # the token check and the hot reads, on the event loop
    app.state.warmer = Warmer(app.state.tracker)  # the states a review page's actions will need, folded ahead
    app.state.checkpointer = WalCheckpointer(store.engine)  # SQLite: WAL checkpoints off the request path
    app.state.settings = settings or get_settings()
    problems.install(app)
    contract.install(app)  # /openapi.json: every route's problem responses, derived from its dependencies
    # Added innermost first: Observe (X-Request-ID, request metrics, the access log line) wraps everything, then
    # SecurityHeaders, ErrorGuard turns any escaped exception into one 500, BodySizeLimit answers 413 for bodies
    # over 1 MiB before any route reads them.
    app.add_middleware(BodySizeLimit)
    app.add_middleware(ErrorGuard)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Observe)

    @app.get("/health", response_model=Health, tags=["health"])
    def health(request: Request, store: Annotated[EventStore, Depends(get_store)]) -> Health:
        """Liveness, the store's highest position, and whether this replica is the scheduler's leader."""
        elector = getattr(request.app.state, "elector", None)
        return Health(status="ok", position=store.head(), leader=None if elector is None else elector.is_leader)

    scrape.install(app)  # GET /metrics, for Prometheus (TRACKER_METRICS says who may read it); not in OpenAPI
    app.include_router(propositions.router)
    app.include_router(commands.router)
    app.include_router(matches.router)
    app.include_router(catalog.router)
    app.include_router(audit.router)
    app.include_router(admin.router)
    for router, role in ROLE_ROUTERS:
        app.include_router(router, dependencies=[Depends(require(role))])
    app.include_router(subscribers.public_router)  # /unsubscribe: the signed link is the credential
    # /review: the review queue for editors (a session from an API token), calling the API's own use cases
    review_pages.install(app, review_pages.Wiring(user_for_token, review_service, propositions_service,
                                                  matching_controls, bodies))
    if app.state.settings.public_pages:  # /record/: the public reader pages, no token (TRACKER_PUBLIC_PAGES)
        app.include_router(reader_pages.router)
        app.include_router(reader_pages.root_router)  # / redirects to /record/
    return app
