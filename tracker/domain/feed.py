"""The Feed aggregate: a news feed an editor registered, its URL and whether it is polled."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tracker.domain.errors import InvalidCommand, InvalidTransition
from tracker.domain.events import Event

UPDATABLE = ("url", "interval_minutes", "tags", "enabled")


@dataclass(frozen=True)
class RegisterFeed:
    feed_id: str
    name: str
    url: str | None
    path: str | None = None
    interval_minutes: int = 60
    tags: tuple[str, ...] = ()
    sample: bool = False


@dataclass(frozen=True)
class UpdateFeed:
    changes: dict[str, Any]
    reason: str = ""


@dataclass(frozen=True)
class DisableFeed:
    reason: str


@dataclass(frozen=True)
class Feed:
    feed_id: str
    name: str
    url: str | None
    path: str | None = None
    interval_minutes: int = 60
    tags: tuple[str, ...] = ()
    sample: bool = False
    enabled: bool = True
    disabled_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def decide(state: Feed | None, command: RegisterFeed | UpdateFeed | DisableFeed) -> list[Event]:
    if isinstance(command, RegisterFeed):
        if state is not None:
            raise InvalidTransition(f"feed {command.feed_id} is already registered")
        if (command.url is None) == (command.path is None):
            raise InvalidCommand("a feed needs exactly one of url or path")
        if not 1 <= command.interval_minutes <= 7 * 24 * 60:
            raise InvalidCommand("interval_minutes must be between 1 and 10080")
        data = {**vars(command), "tags": list(command.tags)}
        return [Event("FeedRegistered", data)]
    if state is None:
        raise InvalidTransition("no such feed")
    if isinstance(command, UpdateFeed):
        unknown = set(command.changes) - set(UPDATABLE)
        if unknown:
            raise InvalidCommand(f"cannot update {', '.join(sorted(unknown))}")
        current = {"url": state.url, "interval_minutes": state.interval_minutes,
                   "tags": list(state.tags), "enabled": state.enabled}
        real = {k: v for k, v in command.changes.items() if current.get(k) != v}
        if not real:
            return []
        return [Event("FeedUpdated", {"changes": real, "reason": command.reason})]
    if not state.enabled:
        return []
    return [Event("FeedDisabled", {"reason": command.reason})]


def evolve(state: Feed | None, event: Event) -> Feed:
    data = event.data
    if event.type == "FeedRegistered":
        return Feed(
            feed_id=data["feed_id"], name=data["name"], url=data.get("url"), path=data.get("path"),
            interval_minutes=data["interval_minutes"], tags=tuple(data.get("tags", ())),
            sample=data.get("sample", False),
        )
    assert state is not None
    if event.type == "FeedUpdated":
        changes = dict(data["changes"])
        if "tags" in changes:
            changes["tags"] = tuple(changes["tags"])
        if changes.get("enabled"):
            changes["disabled_reason"] = None
        return replace(state, **changes)
    if event.type == "FeedDisabled":
        return replace(state, enabled=False, disabled_reason=data.get("reason"))
    raise ValueError(f"unknown event type {event.type}")
