"""The FastAPI application factory: wiring happens here and nowhere else."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

from tracker.api import audit, problems, propositions
from tracker.api.deps import get_store
from tracker.api.schemas import Health
from tracker.service.handlers import Tracker
from tracker.store import EventStore


def create_app(store: EventStore) -> FastAPI:
    app = FastAPI(
        title="Policy Tracker",
        version="0.1.0",
        description="Claims and predictions from published articles, tracked against later evidence.",
    )
    app.state.store = store
    app.state.tracker = Tracker(store)
    problems.install(app)

    @app.get("/health", response_model=Health, tags=["health"])
    def health(store: Annotated[EventStore, Depends(get_store)]) -> Health:
        """Liveness and the store's highest position."""
        return Health(status="ok", position=store.head())

    app.include_router(propositions.router)
    app.include_router(audit.router)
    return app
