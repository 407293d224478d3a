"""Request-scoped access to the wiring made in the app factory.

Async on purpose: each is an attribute read, and a sync dependency would cost a trip through the thread pool."""

from __future__ import annotations

from fastapi import Request

from tracker.config import Settings
from tracker.queries.hot import HotReads
from tracker.repository.unit_of_work import Tracker
from tracker.store import EventStore


async def get_store(request: Request) -> EventStore:
    return request.app.state.store  # type: ignore[no-any-return]


async def get_tracker(request: Request) -> Tracker:
    return request.app.state.tracker  # type: ignore[no-any-return]


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def hot_reads(request: Request) -> HotReads:
    """This process's connection for the reads made on the event loop (tracker/queries/hot.py)."""
    return request.app.state.reads  # type: ignore[no-any-return]
