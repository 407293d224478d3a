"""The delivery ledger of one week: stream `digest-<ISO week>`, folded into who is owed what.

Who gets the week is decided per subscriber, at each send: every subscriber active then who has not been
served yet, plus anyone the ledger already names with something outstanding (a failure to retry, a claim
without an outcome; if they unsubscribed meanwhile, that is recorded as a skip). A subscriber added after the
week's first send gets it on the next send; one who got it and then left (or left and came back: the stream
and so the ledger entry follow the address) is done and never gets it twice.

Events (all in that stream):
- DigestStarted {week, subscribers}: the first send of the week, with who was active then. Before per-subscriber
  delivery this list was a closed batch; it is still folded (its members are owed the week, as before), but it
  no longer limits who gets the week;
- DigestIntended {subscriber_id, message_id, attempt, owner, lease_until}: a sender's claim, recorded
  before the SMTP conversation (appended with the stream version the sender saw, so of two senders only
  one claims a subscriber);
- DigestSent {subscriber_id, message_id, attempt}: the server accepted the message;
- DigestFailed {subscriber_id, message_id, attempt, failures, code, permanent, error, retry_after};
- DigestSkipped {subscriber_id, reason}: nothing to send (quiet week, unsubscribed, gave up).

An intent with no outcome whose owner is gone (dead process on this host, or lease over) is sent again
with the same Message-ID, so a receiving server that saw the first copy can drop the second.
Pure: no I/O; the caller passes the time and how to tell whether an owner is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from tracker.domain.events import Event, fold
from tracker.store.envelope import iso, parse_iso

STARTED = "DigestStarted"
INTENDED = "DigestIntended"
SENT = "DigestSent"
FAILED = "DigestFailed"
SKIPPED = "DigestSkipped"

BACKOFF_BASE_SECONDS = 300
BACKOFF_CAP_SECONDS = 6 * 3600
MAX_FAILURES = 8
LEASE_SECONDS = 600


def stream_id(week: str) -> str:
    return f"digest-{week}"


def message_id(week: str, subscriber_id: str) -> str:
    """Deterministic per (week, subscriber): a resend after a crash carries the same id."""
    return f"<digest-{week}-{subscriber_id}@policy-tracker>"


def backoff(failures: int) -> timedelta:
    """5 min, 10, 20, ... capped at 6 h."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(failures - 1, 0), BACKOFF_CAP_SECONDS))


@dataclass(frozen=True)
class Entry:
    subscriber_id: str
    message_id: str
    state: str = "pending"  # pending | intended | sent | failed | skipped
    attempts: int = 0  # intents recorded
    failures: int = 0
    owner: dict[str, Any] | None = None
    lease_until: str | None = None
    retry_after: str | None = None
    last_error: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Ledger:
    week: str
    version: int = 0
    batch: tuple[str, ...] = ()
    entries: dict[str, Entry] = field(default_factory=dict)

    @property
    def started(self) -> bool:
        return self.version > 0

    def entry(self, subscriber_id: str) -> Entry:
        return self.entries.get(subscriber_id) or Entry(subscriber_id, message_id(self.week, subscriber_id))

    def recipients(self, active: Iterable[str]) -> tuple[str, ...]:
        """Everyone this week concerns at a send: the active subscribers and whoever the ledger names
        (served ones included, so a reader who got the week and then left still counts as done)."""
        return tuple(sorted(set(active) | set(self.batch) | set(self.entries)))

    def counts(self, active: Iterable[str]) -> dict[str, int]:
        tally = {"pending": 0, "intended": 0, "sent": 0, "failed": 0, "skipped": 0}
        for subscriber_id in self.recipients(active):
            tally[self.entry(subscriber_id).state] += 1
        return tally

    def finished(self, active: Iterable[str]) -> bool:
        """Begun, and nobody concerned is still owed anything."""
        return self.started and all(self.entry(s).state in ("sent", "skipped") for s in self.recipients(active))


def evolve(ledger: Ledger, event: Event) -> Ledger:
    # The week's stream holds only ledger events, so each one is the next stream version.
    version = ledger.version + 1
    data = event.data
    if event.type == STARTED:
        return replace(ledger, version=version, batch=tuple(data["subscribers"]))
    entry = ledger.entry(data["subscriber_id"])
    match event.type:
        case "DigestIntended":
            entry = replace(entry, state="intended", attempts=data["attempt"], owner=data.get("owner"),
                            lease_until=data.get("lease_until"), message_id=data["message_id"])
        case "DigestSent":
            entry = replace(entry, state="sent", owner=None, lease_until=None)
        case "DigestFailed":
            entry = replace(entry, state="failed", failures=data["failures"], retry_after=data.get("retry_after"),
                            last_error=data.get("error"), owner=None, lease_until=None)
        case "DigestSkipped":
            entry = replace(entry, state="skipped", reason=data.get("reason"), owner=None, lease_until=None)
        case _:
            raise ValueError(f"unknown event type {event.type}")
    return replace(ledger, version=version, entries={**ledger.entries, entry.subscriber_id: entry})


def load(week: str, events: Iterable[Event]) -> Ledger:
    """The week's ledger from its stream's events, in order (the one fold, with the ledger's evolve)."""
    return fold(evolve, events, Ledger(week))


# ---- what to do next for one subscriber -----------------------------------------------------------

@dataclass(frozen=True)
class Step:
    action: str  # done | busy | wait | give-up | send
    attempt: int = 0
    resend: bool = False  # an earlier intent had no outcome: the same message goes out again
    until: str | None = None


def next_step(
    ledger: Ledger, subscriber_id: str, now: datetime, owner_gone: Callable[[dict[str, Any]], bool],
    *, max_failures: int = MAX_FAILURES, ignore_backoff: bool = False,
) -> Step:
    entry = ledger.entry(subscriber_id)
    if entry.state in ("sent", "skipped"):
        return Step("done")
    if entry.state == "intended":
        lease_over = entry.lease_until is not None and parse_iso(entry.lease_until) <= now
        if not lease_over and not owner_gone(entry.owner or {}):
            return Step("busy", until=entry.lease_until)
        return Step("send", attempt=entry.attempts + 1, resend=True)
    if entry.state == "failed":
        if entry.failures >= max_failures:
            return Step("give-up")
        if not ignore_backoff and entry.retry_after is not None and parse_iso(entry.retry_after) > now:
            return Step("wait", until=entry.retry_after)
    return Step("send", attempt=entry.attempts + 1)


# ---- events ---------------------------------------------------------------------------------------

def started(week: str, subscribers: list[str]) -> Event:
    return Event(STARTED, {"week": week, "subscribers": subscribers})


def intended(ledger: Ledger, subscriber_id: str, attempt: int, owner: dict[str, Any], now: datetime) -> Event:
    return Event(INTENDED, {
        "subscriber_id": subscriber_id, "message_id": ledger.entry(subscriber_id).message_id,
        "attempt": attempt, "owner": owner, "lease_until": iso(now + timedelta(seconds=LEASE_SECONDS)),
    })


def sent(ledger: Ledger, subscriber_id: str, attempt: int) -> Event:
    return Event(SENT, {
        "subscriber_id": subscriber_id, "message_id": ledger.entry(subscriber_id).message_id, "attempt": attempt,
    })


def failed(
    ledger: Ledger, subscriber_id: str, attempt: int, *, code: int | None, permanent: bool, error: str,
    now: datetime,
) -> Event:
    failures = ledger.entry(subscriber_id).failures + 1
    return Event(FAILED, {
        "subscriber_id": subscriber_id, "message_id": ledger.entry(subscriber_id).message_id,
        "attempt": attempt, "failures": failures, "code": code, "permanent": permanent,
        "error": error[:500], "retry_after": iso(now + backoff(failures)),
    })


def skipped(subscriber_id: str, reason: str) -> Event:
    return Event(SKIPPED, {"subscriber_id": subscriber_id, "reason": reason})
