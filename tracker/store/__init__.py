"""The append-only, hash-chained event store."""

from tracker.store.envelope import NewEvent, RecordedEvent
from tracker.store.errors import ConcurrencyError, StoreError
from tracker.store.eventstore import EventStore

__all__ = ["ConcurrencyError", "EventStore", "NewEvent", "RecordedEvent", "StoreError"]
