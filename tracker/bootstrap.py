"""Build the real dependencies from settings, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.config import Settings, get_settings
from tracker.service.unit_of_work import Tracker
from tracker.store import EventStore
from tracker.store.engine import make_engine


@dataclass(frozen=True)
class App:
    settings: Settings
    store: EventStore
    tracker: Tracker


def bootstrap(settings: Settings | None = None) -> App:
    settings = settings or get_settings()
    store = EventStore(make_engine(settings.database_url))
    return App(settings, store, Tracker(store))
