"""Request-scoped access to the wiring made in the app factory."""

from __future__ import annotations

from fastapi import Request

from tracker.config import Settings
from tracker.repository.unit_of_work import Tracker
from tracker.store import EventStore


def get_store(request: Request) -> EventStore:
    return request.app.state.store


def get_tracker(request: Request) -> Tracker:
    return request.app.state.tracker


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings
