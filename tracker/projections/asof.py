"""What the tracker knew at a moment: aggregate state as of a time, from the events alone.

"As of T" means the events recorded at or before T. Positions are numbered under the append lock, and
recorded_at is stamped there too, so within a stream recorded_at never decreases with the version and
the events known at T are a prefix of the stream.

Long proposition streams are read from a snapshot (table `snapshots`, migration 0002): the newest one
recorded at or before T, plus the events after it. Snapshots are a cache: one is written whenever a read
had to fold SNAPSHOT_EVERY events or more past the last one, and rows from an older state layout
(`format`) are ignored, so a change of the Proposition dataclass never resurrects stale state.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from tracker.domain import proposition
from tracker.domain.events import Event
from tracker.domain.registry import PROPOSITION, fold, kind_of
from tracker.store import EventStore
from tracker.store.envelope import iso
from tracker.store.eventstore import decode_payload
from tracker.store.schema import events

SNAPSHOT_EVERY = 100

_metadata = sa.MetaData()
snapshots = sa.Table(
    "snapshots",
    _metadata,
    sa.Column("stream_id", sa.String(200), primary_key=True),
    sa.Column("stream_version", sa.Integer, primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("format", sa.Integer, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
)


# ---- state <-> JSON for the Proposition aggregate --------------------------------------------------

def _tuple_fields(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls) if str(f.type).startswith("tuple"))


def _layout(cls: type) -> str:
    return ",".join(f"{f.name}:{f.type}" for f in dataclasses.fields(cls))


# Changes whenever either dataclass gains, loses or retypes a field; bump "v1" when evolve() changes meaning.
FORMAT = zlib.crc32(f"v1|{_layout(proposition.Proposition)}|{_layout(proposition.Match)}".encode()) & 0x7FFFFFFF
_PROPOSITION_TUPLES = _tuple_fields(proposition.Proposition)
_MATCH_TUPLES = _tuple_fields(proposition.Match)


_MATCH_FIELDS = tuple(f.name for f in dataclasses.fields(proposition.Match))
_PROPOSITION_FIELDS = tuple(f.name for f in dataclasses.fields(proposition.Proposition) if f.name != "matches")


def encode_state(state: proposition.Proposition) -> str:
    """Matches as rows, not objects: a 10,000-event stream holds thousands and this halves the decode."""
    data: dict[str, Any] = {name: getattr(state, name) for name in _PROPOSITION_FIELDS}
    data["matches"] = [[getattr(m, name) for name in _MATCH_FIELDS] for m in state.matches.values()]
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode_state(text: str) -> proposition.Proposition:
    # Thousands of small objects at once: without this the cyclic GC runs several times per decode
    # (it cannot free anything here) and doubles the time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _decode_state(text)
    finally:
        if enabled:
            gc.enable()


def _decode_state(text: str) -> proposition.Proposition:
    data = json.loads(text)
    matches: dict[str, proposition.Match] = {}
    new = object.__new__
    for row in data.pop("matches"):
        # The layout is pinned by FORMAT, so the frozen dataclass's __init__ can be skipped (it is the
        # slow part with thousands of matches); the result compares equal to a folded state.
        match = new(proposition.Match)
        fields = dict(zip(_MATCH_FIELDS, row, strict=True))
        for name in _MATCH_TUPLES:
            fields[name] = tuple(fields[name])
        match.__dict__.update(fields)
        matches[match.match_id] = match
    for name in _PROPOSITION_TUPLES:
        data[name] = tuple(data[name])
    return proposition.Proposition(**data, matches=matches)


# ---- reads ----------------------------------------------------------------------------------------

def _stamp(as_of: datetime | str) -> str:
    return as_of if isinstance(as_of, str) else iso(as_of)


def _latest_snapshot(store: EventStore, stream_id: str, stamp: str) -> tuple[int, str] | None:
    query = (
        sa.select(snapshots.c.stream_version, snapshots.c.state)
        .where(snapshots.c.stream_id == stream_id, snapshots.c.recorded_at <= stamp, snapshots.c.format == FORMAT)
        .order_by(snapshots.c.stream_version.desc()).limit(1)
    )
    try:
        with store.engine.connect() as connection:
            row = connection.execute(query).first()
    except DBAPIError:  # no snapshots table (database not upgraded): read the whole stream
        return None
    return (row[0], row[1]) if row else None


def _events_after(store: EventStore, stream_id: str, version: int, stamp: str) -> list[tuple[int, int, str, Event]]:
    """(stream version, position, recorded_at, decoded event) after `version`, recorded at or before `stamp`."""
    query = (
        sa.select(events.c.stream_version, events.c.position, events.c.recorded_at, events.c.event_type,
                  events.c.schema_version, events.c.payload)
        .where(events.c.stream_id == stream_id, events.c.stream_version > version, events.c.recorded_at <= stamp)
        .order_by(events.c.stream_version)
    )
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        (version, position, recorded_at, Event(event_type, decode_payload(event_type, schema_version, payload)[1]))
        for version, position, recorded_at, event_type, schema_version, payload in rows
    ]


def _save_snapshot(store: EventStore, stream_id: str, version: int, position: int, recorded_at: str,
                   state: proposition.Proposition) -> None:
    row = {"stream_id": stream_id, "stream_version": version, "position": position, "recorded_at": recorded_at,
           "format": FORMAT, "state": encode_state(state)}
    try:
        with store.engine.begin() as connection:
            connection.execute(snapshots.insert(), [row])
    except (IntegrityError, DBAPIError):  # written by a concurrent reader, or no table: a cache may miss
        pass


def load_as_of(store: EventStore, stream_id: str, as_of: datetime | str) -> tuple[Any, int]:
    """(state, version) of a stream as recorded at `as_of`; (None, 0) if it did not exist yet."""
    kind = kind_of(stream_id)
    if kind is None:
        raise LookupError(f"unknown kind of stream: {stream_id}")
    evolve = kind.evolve
    stamp = _stamp(as_of)
    snapshotted = stream_id.startswith("proposition-")
    state: Any = None
    version = 0
    base = _latest_snapshot(store, stream_id, stamp) if snapshotted else None
    if base is not None:
        version, state = base[0], decode_state(base[1])
    base_version = version
    best: tuple[int, int, str, Any] | None = None
    for stream_version, position, recorded_at, event in _events_after(store, stream_id, version, stamp):
        state = fold(evolve, (event,), state)
        version = stream_version
        if snapshotted and version % SNAPSHOT_EVERY == 0 and version - base_version >= SNAPSHOT_EVERY:
            best = (version, position, recorded_at, state)
    if best is not None:
        _save_snapshot(store, stream_id, *best)
    return state, version


def build_snapshots(store: EventStore, stream_id: str) -> int:
    """Write every missing snapshot of one proposition stream (e.g. before a burst of as-of reads)."""
    state = None
    written = 0
    for stream_version, position, recorded_at, event in _events_after(store, stream_id, 0, "9999"):
        state = fold(PROPOSITION.evolve, (event,), state)
        if stream_version % SNAPSHOT_EVERY == 0:
            _save_snapshot(store, stream_id, stream_version, position, recorded_at, state)
            written += 1
    return written


# ---- every proposition at once ----------------------------------------------------------------------

def propositions_as_of(
    store: EventStore, as_of: datetime | str, *, progress: Callable[[int], None] | None = None
) -> Iterator[tuple[proposition.Proposition, int, str]]:
    """(state, version, last recorded_at) of every proposition that existed at `as_of`, in id order.

    One pass over the log in pages; memory grows with the number of propositions, not of events.
    """
    stamp = _stamp(as_of)
    states: dict[str, tuple[proposition.Proposition, int, str]] = {}
    for rows in store.raw_pages(0, page_size=5000):
        for row in rows:
            stream_id, stream_version, event_type, schema_version = row[2], row[3], row[4], row[5]
            recorded_at = row[7]
            if recorded_at > stamp or not stream_id.startswith("proposition-"):
                continue
            event = Event(event_type, decode_payload(event_type, schema_version, row[11])[1])
            previous = states.get(stream_id)
            state = fold(PROPOSITION.evolve, (event,), previous[0] if previous else None)
            states[stream_id] = (state, stream_version, recorded_at)
        if progress:
            progress(len(rows))
    for stream_id in sorted(states):
        yield states[stream_id]
