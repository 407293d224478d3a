"""Subscriber use cases: add, change, remove (an editor), and unsubscribe by a signed link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker.config import Settings
from tracker.digest.tokens import BadToken, load_or_create_secret, read_token
from tracker.domain.subscriber import AddSubscriber, ChangeSubscriber, RemoveSubscriber, subscriber_id_for
from tracker.queries.subscribers import SubscriberRow, subscriber
from tracker.repository.unit_of_work import NotFound, Tracker, UnitOfWork, subscriber_stream
from tracker.store.envelope import utc_now


def _row(uow: UnitOfWork, subscriber_id: str) -> SubscriberRow:
    found = subscriber(uow.connection, subscriber_id)
    if found is None:
        raise NotFound(f"no subscriber {subscriber_id}")
    return found


def add(uow: UnitOfWork, email: str, name: str, filters: dict[str, Any], quiet_weeks: str,
        editor: bool = False) -> SubscriberRow:
    """Subscribe an address (again, after a removal: a new subscription); a current subscriber is refused.
    editor: their digest also shows the review backlog."""
    subscriber_id = subscriber_id_for(email)
    uow.execute(subscriber_stream(subscriber_id),
                AddSubscriber(email=email, name=name, filters=filters, quiet_weeks=quiet_weeks, editor=editor))
    return _row(uow, subscriber_id)


def change(uow: UnitOfWork, subscriber_id: str, *, name: str | None = None,
           filters: dict[str, Any] | None = None, quiet_weeks: str | None = None,
           editor: bool | None = None) -> SubscriberRow:
    """Change the fields given (None: unchanged); filters given replace the old ones as a whole."""
    uow.execute(subscriber_stream(subscriber_id),
                ChangeSubscriber(name=name, filters=filters, quiet_weeks=quiet_weeks, editor=editor))
    return _row(uow, subscriber_id)


def remove(uow: UnitOfWork, subscriber_id: str) -> SubscriberRow:
    """Stop sending the digest to this subscriber (removing twice changes nothing)."""
    uow.execute(subscriber_stream(subscriber_id), RemoveSubscriber(reason="removed by an editor", via="editor"))
    return _row(uow, subscriber_id)


@dataclass(frozen=True)
class Unsubscribed:
    email: str
    changed: bool  # False when the subscription had ended already


def _read(settings: Settings, token: str) -> Any:
    return read_token(load_or_create_secret(settings.digest_secret, settings.digest_secret_file), token,
                      today=utc_now().date(), max_age_weeks=settings.digest_unsubscribe_weeks)


@dataclass(frozen=True)
class UnsubscribeLink:
    email: str
    subscribed: bool  # False when the subscription the link names has ended already


def check_unsubscribe(tracker: Tracker, settings: Settings, token: str) -> UnsubscribeLink:
    """What a signed link would end, changing nothing (the page a GET shows); TokenExpired or BadToken."""
    wanted = _read(settings, token)
    with tracker.store.engine.connect() as connection:
        found = subscriber(connection, wanted.subscriber_id)
    if found is None:
        raise BadToken("no such subscription")
    return UnsubscribeLink(found.email, found.active and found.subscription == wanted.subscription)


def unsubscribe(tracker: Tracker, settings: Settings, token: str, via: str) -> Unsubscribed:
    """End the subscription a signed token names; TokenExpired or BadToken (also for no such subscriber)."""
    wanted = _read(settings, token)
    with tracker.unit_of_work(actor="system:unsubscribe", causation_id=f"unsubscribe:{via}") as uow:
        stream = subscriber_stream(wanted.subscriber_id)
        loaded = uow.load(stream)
        if loaded.state is None:
            raise BadToken("no such subscription")
        recorded = uow.execute(stream, RemoveSubscriber(reason="unsubscribe link", via=via,
                                                        subscription=wanted.subscription))
        return Unsubscribed(loaded.state.email, bool(recorded))
