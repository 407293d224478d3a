"""Application service: every command is load -> decide -> append (+ read models) in one transaction.

A UnitOfWork holds the store's append lock, so the state a command is decided on cannot change before
its events are written; several commands on several streams (one feed's ingestion pass, say) can share
one unit and commit or fail together.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracker.domain import proposition, source
from tracker.domain.errors import DomainError, InvalidCommand, UnknownMatch
from tracker.domain.events import Event
from tracker.domain.registry import (
    Kind,
    evidence_stream,
    feed_stream,
    fold,
    kind_of,
    proposition_stream,
    source_stream,
    subscriber_stream,
)
from tracker.observability import metrics
from tracker.projections import readmodels
from tracker.projections.asof import load_as_of
from tracker.repository.errors import Invalid
from tracker.store import ConcurrencyError, EventStore, NewEvent, RecordedEvent
from tracker.store.eventstore import Transaction
from tracker.store.upcasters import current_version

# Stream names are the registry's; re-exported here for the callers that build a command's stream.
__all__ = [
    "Loaded", "NotFound", "StateCache", "Tracker", "UnitOfWork", "evidence_stream", "feed_stream",
    "proposition_stream", "source_stream", "subscriber_stream", "to_new_events",
]


SUGGESTED = "MatchSuggested"  # the event of a suggestion made to editors (tracker_suggestions_total)


class NotFound(LookupError):
    """No stream with that id."""


@dataclass(frozen=True)
class Loaded:
    state: Any
    version: int


def to_new_events(events: list[Event], occurred_at: datetime | None = None) -> list[NewEvent]:
    return [NewEvent(e.type, e.data, current_version(e.type), occurred_at) for e in events]


def _kind(stream_id: str) -> Kind:
    kind = kind_of(stream_id)
    if kind is None:
        raise NotFound(f"unknown kind of stream: {stream_id}")
    return kind


def outcome_of(error: BaseException) -> str:
    """A failed command's outcome for the metrics, as the API answers it: conflict (409: a stale version, or a
    command the current state refuses), invalid (422/404: bad data, an unknown match or stream), error (else)."""
    if isinstance(error, (InvalidCommand, UnknownMatch, NotFound, Invalid)):
        return "invalid"
    if isinstance(error, (ConcurrencyError, DomainError)):
        return "conflict"
    return "error"


def _fold(stream_id: str, recorded: list[RecordedEvent], state: Any = None, version: int = 0) -> Loaded:
    kind = _kind(stream_id)
    # From the stream's beginning the fold owns every state it makes, so evolve_owned may update them in place
    # (half the time of a ~100-event proposition stream: benchmarks/review_pages.py's bulk_reject reads 20 of them).
    # From a state someone else holds (a cached one), evolve, which leaves it untouched.
    evolve = (kind.evolve_owned or kind.evolve) if state is None else kind.evolve
    state = fold(evolve, (Event(e.event_type, e.payload) for e in recorded), state)
    return Loaded(state, recorded[-1].stream_version if recorded else version)


_new = object.__new__


def _event(event_type: str, data: dict[str, Any]) -> Event:
    """Event(event_type, data) without the frozen dataclass __init__ (an object.__setattr__ per field)."""
    event = _new(Event)
    event.__dict__.update(type=event_type, data=data)
    return event


def _fold_rows(stream_id: str, rows: list[tuple[str, int, Any, str]]) -> Loaded:
    """A stream folded from its beginning, given as Transaction.read_stream_rows gives it."""
    kind = _kind(stream_id)
    evolve = kind.evolve_owned or kind.evolve  # from None: the fold owns every state it makes (see _fold)
    state = None
    for event_type, _, data, _ in rows:
        state = evolve(state, _event(event_type, data))
    return Loaded(state, rows[-1][1] if rows else 0)


# A committed state: (state, version, hash of the event at that version).
Cached = tuple[Any, int, str]


class StateCache:
    """Recently committed aggregate states, per process (LRU, bounded), so a command need not refold its stream.

    Only states whose events have committed go in (Tracker.unit_of_work adds them after the commit). A
    reader takes a cached state only after checking, under the append lock, that the event at its version
    still has the same hash, and folds whatever other writers appended since.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._states: OrderedDict[str, Cached] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, stream_id: str) -> Cached | None:
        with self._lock:
            found = self._states.get(stream_id)
            if found is not None:
                self._states.move_to_end(stream_id)
            return found

    def put(self, stream_id: str, cached: Cached) -> None:
        with self._lock:
            known = self._states.get(stream_id)
            if known is not None and known[1] > cached[1]:
                return  # another thread committed a later version meanwhile
            self._states[stream_id] = cached
            self._states.move_to_end(stream_id)
            while len(self._states) > self.size:
                self._states.popitem(last=False)

    def discard(self, stream_id: str) -> None:
        with self._lock:
            self._states.pop(stream_id, None)

    def clear(self) -> None:
        with self._lock:
            self._states.clear()


class UnitOfWork:
    """Commands on any streams inside one write transaction; states are cached as they evolve."""

    def __init__(
        self, tx: Transaction, *, actor: str, causation_id: str | None = None, correlation_id: str | None = None,
        cache: StateCache | None = None,
    ) -> None:
        self.tx = tx
        self.actor = actor
        self.causation_id = causation_id
        self.correlation_id = correlation_id
        self._loaded: dict[str, Loaded] = {}
        self._hashes: dict[str, str] = {}  # hash of the event at each loaded stream's version
        self._cache = cache
        self.recorded: list[RecordedEvent] = []
        self.commands: list[str] = []  # class names of the commands executed, counted once the unit commits
        # Read-model updates held back until the unit ends: (latest state, events since last write).
        self._deferred: dict[str, tuple[Any, list[RecordedEvent]]] = {}

    @property
    def connection(self) -> Any:
        return self.tx.connection

    def load(self, stream_id: str) -> Loaded:
        loaded = self._loaded.get(stream_id)
        if loaded is None:
            loaded = self._loaded[stream_id] = self._read(stream_id)
        return loaded

    def _read(self, stream_id: str) -> Loaded:
        cached = self._cache.get(stream_id) if self._cache is not None else None
        if cached is not None:
            state, version, digest = cached
            # From the cached version itself: its event must still be there with the same hash.
            recorded = self.tx.read_stream(stream_id, from_version=version)
            if recorded and recorded[0].stream_version == version and recorded[0].hash == digest:
                self._hashes[stream_id] = recorded[-1].hash
                return _fold(stream_id, recorded[1:], state, version)
            self._cache.discard(stream_id)  # type: ignore[union-attr]
        return self._fold_read([stream_id])[stream_id]

    def _fold_read(self, stream_ids: list[str]) -> dict[str, Loaded]:
        """Streams read from their beginning in one query and folded (no envelope kept but the last hash)."""
        folded = {}
        for stream_id, rows in self.tx.read_stream_rows(stream_ids).items():
            if rows:
                self._hashes[stream_id] = rows[-1][3]
            folded[stream_id] = _fold_rows(stream_id, rows)
        return folded

    def preload(self, stream_ids: list[str], *, chunk: int = 100) -> None:
        """Load the streams a unit is about to command, the uncached ones in one query per `chunk` streams
        (a bulk reject of 20 proposition streams: one statement, one round trip on PostgreSQL, not 20).
        The states are those load() would give; streams already loaded or cached go through load()."""
        wanted = []
        for stream_id in dict.fromkeys(stream_ids):
            if stream_id in self._loaded:
                continue
            _kind(stream_id)
            if self._cache is not None and self._cache.get(stream_id) is not None:
                self.load(stream_id)
            else:
                wanted.append(stream_id)
        for start in range(0, len(wanted), chunk):
            self._loaded.update(self._fold_read(wanted[start:start + chunk]))

    def committed(self) -> list[tuple[str, Cached]]:
        """The states this unit leaves behind, for the cache once its transaction has committed."""
        return [
            (stream_id, (loaded.state, loaded.version, self._hashes[stream_id]))
            for stream_id, loaded in self._loaded.items()
            if loaded.version > 0 and stream_id in self._hashes
        ]

    def execute(
        self,
        stream_id: str,
        command: Any,
        *,
        expected_version: int | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
        defer_read_models: bool = False,
    ) -> list[RecordedEvent]:
        """Decide and append one command; raises DomainError/ConcurrencyError/NotFound with nothing written.

        `actor` overrides the unit's actor for this command (e.g. system:matcher inside an ingestion pass).
        `defer_read_models` writes this stream's read-model rows once, when the unit ends, instead of after
        every command: an ingestion pass suggesting 50 items to one proposition rewrites its row once.
        """
        try:
            recorded = self._execute(stream_id, command, expected_version, occurred_at, actor, defer_read_models)
        except Exception as error:
            metrics.command_done(type(command).__name__, outcome_of(error))
            raise
        self.commands.append(type(command).__name__)
        return recorded

    def _execute(
        self, stream_id: str, command: Any, expected_version: int | None, occurred_at: datetime | None,
        actor: str | None, defer_read_models: bool,
    ) -> list[RecordedEvent]:
        kind = _kind(stream_id)
        loaded = self.load(stream_id)
        if expected_version is not None and expected_version != loaded.version:
            raise ConcurrencyError(stream_id, expected_version, loaded.version)
        if loaded.state is None and not isinstance(command, kind.creates):
            raise NotFound(f"no {kind.name} {stream_id.partition('-')[2]}")
        events = kind.decide(loaded.state, command)
        if not events:
            return []
        new = fold(kind.evolve, events, loaded.state)
        with self.tx.pipelined():  # PostgreSQL: the events and their read-model rows in one round trip
            recorded = self.tx.append(
                stream_id, loaded.version, to_new_events(events, occurred_at), actor=actor or self.actor,
                causation_id=self.causation_id, correlation_id=self.correlation_id,
            )
            if defer_read_models or stream_id in self._deferred:
                held = self._deferred.get(stream_id, (None, []))[1]
                self._deferred[stream_id] = (new, held + recorded)
            else:
                readmodels.apply(self.tx.connection, recorded, new)
        self._loaded[stream_id] = Loaded(new, recorded[-1].stream_version)
        self._hashes[stream_id] = recorded[-1].hash
        self.recorded.extend(recorded)
        return recorded

    def read(self, stream_id: str) -> list[RecordedEvent]:
        """A stream that is not an aggregate's (a digest ledger, say), read under the append lock."""
        return self.tx.read_stream(stream_id)

    def record(
        self, stream_id: str, expected_version: int | None, events: list[Event], *, actor: str | None = None
    ) -> list[RecordedEvent]:
        """Append to a stream that is not an aggregate's (digest ledger, checkpoints): no decide, no state, but
        the same transaction, envelope and history rows as every command. Aggregates go through execute()."""
        if kind_of(stream_id) is not None:
            raise ValueError(f"{stream_id} belongs to an aggregate: use execute() with a command")
        with self.tx.pipelined():
            recorded = self.tx.append(
                stream_id, expected_version, to_new_events(events), actor=actor or self.actor,
                causation_id=self.causation_id, correlation_id=self.correlation_id,
            )
            readmodels.apply(self.tx.connection, recorded, None)
        self.recorded.extend(recorded)
        return recorded

    def flush(self) -> None:
        """Write the deferred read-model rows; runs inside the unit's transaction, before it commits."""
        if not self._deferred:
            return
        with self.tx.pipelined():
            for state, recorded in self._deferred.values():
                readmodels.apply(self.tx.connection, recorded, state)
        self._deferred.clear()


class Tracker:
    """Handles commands against the event store."""

    def __init__(self, store: EventStore, *, cache_size: int = 4096) -> None:
        self.store = store
        self.cache = StateCache(cache_size)

    @contextmanager
    def unit_of_work(
        self, *, actor: str, causation_id: str | None = None, correlation_id: str | None = None
    ) -> Iterator[UnitOfWork]:
        with self.store.transaction() as tx:
            uow = UnitOfWork(
                tx, actor=actor, causation_id=causation_id, correlation_id=correlation_id, cache=self.cache,
            )
            yield uow
            uow.flush()
        # Reached only when the transaction committed: a rolled-back unit leaves the cache as it was, and its
        # commands count only by the outcome of the one that failed.
        for stream_id, cached in uow.committed():
            self.cache.put(stream_id, cached)
        types = [e.event_type for e in uow.recorded]
        metrics.committed(uow.commands, types, types.count(SUGGESTED))

    # ---- reads ----------------------------------------------------------------------------------

    def load(self, stream_id: str, *, as_of: datetime | str | None = None) -> Loaded:
        """An aggregate's state and version, now or as recorded at `as_of` (from snapshots where it helps)."""
        if as_of is not None and kind_of(stream_id) is not None:
            return Loaded(*load_as_of(self.store, stream_id, as_of))
        return _fold(stream_id, self.store.read_stream(stream_id, as_of=as_of))

    def proposition(self, proposition_id: str, *, as_of: datetime | str | None = None) -> Loaded:
        loaded = self.load(proposition_stream(proposition_id), as_of=as_of)
        if loaded.state is None:
            raise NotFound(f"no proposition {proposition_id}")
        return loaded

    def warm(self, stream_ids: list[str]) -> int:
        """Fold the aggregate streams not already cached, read in one query outside the append lock, and cache
        their states: what an editor is about to act on (the review page shows it), so the command finds its
        state cached instead of folding ~100 events per stream while the editor waits. Only committed events
        are read, and a command still checks the cached version's hash under the lock and folds what other
        writers appended since (StateCache). Returns how many states were cached."""
        wanted = [
            stream_id for stream_id in dict.fromkeys(stream_ids)
            if kind_of(stream_id) is not None and self.cache.get(stream_id) is None
        ]
        cached = 0
        for stream_id, rows in self.store.read_stream_rows(wanted).items():
            if rows:
                loaded = _fold_rows(stream_id, rows)
                self.cache.put(stream_id, (loaded.state, loaded.version, rows[-1][3]))
                cached += 1
        return cached

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
        with self.unit_of_work(actor=actor, causation_id=causation_id, correlation_id=correlation_id) as uow:
            return uow.execute(
                proposition_stream(proposition_id), command,
                expected_version=expected_version, occurred_at=occurred_at,
            )

    def register_source(
        self, command: source.RegisterSource, *, actor: str, correlation_id: str | None = None
    ) -> list[RecordedEvent]:
        published = datetime.fromisoformat(command.published_at)
        with self.unit_of_work(actor=actor, correlation_id=correlation_id) as uow:
            return uow.execute(source_stream(command.source_id), command, expected_version=0, occurred_at=published)
