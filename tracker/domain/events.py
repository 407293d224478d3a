"""The domain's view of an event: a type and its data. The store adds the envelope."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]


Evolve = Callable[[Any, Event], Any]


def fold(evolve: Evolve, events: Iterable[Event], state: Any = None) -> Any:
    """The one fold: apply `events` in order to `state` (None: the stream's beginning)."""
    for event in events:
        state = evolve(state, event)
    return state
