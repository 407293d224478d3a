"""Application service for propositions and sources.

Each handler is load -> decide -> append(+ read models). The stream version read at load time is the
expected version of the append, so a concurrent writer makes the second command fail cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracker.domain import proposition, source
from tracker.domain.events import Event
from tracker.projections import readmodels
from tracker.store import ConcurrencyError, EventStore, NewEvent, RecordedEvent
from tracker.store.upcasters import current_version


class NotFound(LookupError):
    """No stream with that id."""


def proposition_stream(proposition_id: str) -> str:
    return f"proposition-{proposition_id}"


def source_stream(source_id: str) -> str:
    return f"source-{source_id}"


@dataclass(frozen=True)
class Loaded:
    state: Any
    version: int


def to_new_events(events: list[Event], occurred_at: datetime | None = None) -> list[NewEvent]:
    return [NewEvent(e.type, e.data, current_version(e.type), occurred_at) for e in events]


class Tracker:
    """Handles commands against the event store."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    # ---- reads ----------------------------------------------------------------------------------

    def load(self, stream_id: str, *, as_of: datetime | str | None = None) -> Loaded:
        found = readmodels.aggregate_of(stream_id)
        assert found is not None, stream_id
        state = None
        version = 0
        for event in self.store.read_stream(stream_id, as_of=as_of):
            state = found[0].evolve(state, Event(event.event_type, event.payload))
            version = event.stream_version
        return Loaded(state, version)

    def proposition(self, proposition_id: str, *, as_of: datetime | str | None = None) -> Loaded:
        loaded = self.load(proposition_stream(proposition_id), as_of=as_of)
        if loaded.state is None:
            raise NotFound(f"no proposition {proposition_id}")
        return loaded

    # ---- commands -------------------------------------------------------------------------------

    def execute(
        self,
        proposition_id: str,
        command: proposition.Command,
        *,
        actor: str,
        expected_version: int | None = None,
        occurred_at: datetime | None = None,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> list[RecordedEvent]:
        """Run one command on a proposition; a stale expected_version raises ConcurrencyError."""
        stream_id = proposition_stream(proposition_id)
        loaded = self.load(stream_id)
        if expected_version is not None and expected_version != loaded.version:
            raise ConcurrencyError(stream_id, expected_version, loaded.version)
        if loaded.state is None and not isinstance(command, proposition.RegisterProposition):
            raise NotFound(f"no proposition {proposition_id}")
        events = proposition.decide(loaded.state, command)
        new_state = proposition.fold(loaded.state, events)
        return self.store.append(
            stream_id, loaded.version, to_new_events(events, occurred_at), actor=actor,
            causation_id=causation_id, correlation_id=correlation_id,
            project=readmodels.projector(new_state),
        )

    def register_source(
        self, command: source.RegisterSource, *, actor: str, correlation_id: str | None = None
    ) -> list[RecordedEvent]:
        stream_id = source_stream(command.source_id)
        loaded = self.load(stream_id)
        events = source.decide(loaded.state, command)
        new_state = source.evolve(None, events[0])
        published = datetime.fromisoformat(command.published_at)
        return self.store.append(
            stream_id, loaded.version, to_new_events(events, published), actor=actor,
            correlation_id=correlation_id, project=readmodels.projector(new_state),
        )
