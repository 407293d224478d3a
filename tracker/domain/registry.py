"""Every kind of aggregate in one table: its stream prefix, decide, evolve and the commands that create it.

This is where an aggregate is defined for the rest of the code: the unit of work decides and folds with it,
replay and as-of reads fold with it, the read models key their rows by its name. Other streams (the digest
ledger, audit checkpoints) are process records without a decide function and are not listed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracker.domain import evidence, feed, proposition, source, subscriber
from tracker.domain.events import Event, Evolve, fold

__all__ = [
    "EVIDENCE", "FEED", "KINDS", "PROPOSITION", "SOURCE", "SUBSCRIBER", "Evolve", "Kind", "entity_of",
    "evidence_stream", "feed_stream", "fold", "kind_of", "proposition_stream", "source_stream", "subscriber_stream",
]


@dataclass(frozen=True)
class Kind:
    """One kind of aggregate. Its streams are named `<name>-<entity id>`."""

    name: str
    decide: Callable[[Any, Any], list[Event]]
    evolve: Evolve
    creates: tuple[type, ...]  # commands that may start a stream; any other on an empty stream is "not found"
    # The same fold for a caller that owns the state and never looks at an earlier one (a replay): may update
    # in place, which keeps folding long streams linear.
    evolve_owned: Evolve | None = None

    def stream(self, entity_id: str) -> str:
        return f"{self.name}-{entity_id}"


PROPOSITION = Kind("proposition", proposition.decide, proposition.evolve, (proposition.RegisterProposition,),
                   proposition.evolve_owned)
SOURCE = Kind("source", source.decide, source.evolve, (source.RegisterSource,))
FEED = Kind("feed", feed.decide, feed.evolve, (feed.RegisterFeed,))
EVIDENCE = Kind("evidence", evidence.decide, evidence.evolve, (evidence.IngestEvidence,))
SUBSCRIBER = Kind("subscriber", subscriber.decide, subscriber.evolve, (subscriber.AddSubscriber,))

KINDS: dict[str, Kind] = {kind.name: kind for kind in (PROPOSITION, SOURCE, FEED, EVIDENCE, SUBSCRIBER)}


def kind_of(stream_id: str) -> Kind | None:
    """The aggregate kind a stream belongs to, or None for a stream that is not an aggregate's."""
    return KINDS.get(stream_id.partition("-")[0])


def entity_of(stream_id: str) -> str:
    return stream_id.partition("-")[2]


def proposition_stream(proposition_id: str) -> str:
    return PROPOSITION.stream(proposition_id)


def source_stream(source_id: str) -> str:
    return SOURCE.stream(source_id)


def feed_stream(feed_id: str) -> str:
    return FEED.stream(feed_id)


def evidence_stream(evidence_id: str) -> str:
    return EVIDENCE.stream(evidence_id)


def subscriber_stream(subscriber_id: str) -> str:
    return SUBSCRIBER.stream(subscriber_id)
