"""Preview and send one week's digest, exactly once per subscriber, across reruns, crashes and replicas.

Only a week that has ended can be sent (WeekNotOver otherwise, before anything is recorded).
For each subscriber the week concerns (the active ones at this send, and whoever the ledger names: see
tracker/digest/ledger.py): decide from the ledger what is owed,
claim it by appending DigestIntended with the stream version just read (a second sender gets a
ConcurrencyError, re-reads and finds the claim), send, then record DigestSent or DigestFailed.
A crash after the claim leaves an intent without outcome; once its owner is gone it is sent again with
the same Message-ID. An unreachable server stops the batch (the rest would fail the same way); a refusal
for one address is recorded for that address and the batch goes on.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tracker.config import Settings
from tracker.digest import ledger as ledgers
from tracker.digest.compose import Digest, WeekSnapshot, compose, everything, snapshot
from tracker.digest.deliver import DeliveryError, Envelope, Transport, build_message, from_address, transport_for
from tracker.digest.render import Rendered, base_url, render
from tracker.digest.tokens import load_or_create_secret, make_token
from tracker.digest.week import IsoWeek, zone
from tracker.domain.events import Event, fold
from tracker.domain.subscriber import Subscriber, normalise_email, subscriber_id_for
from tracker.observability import metrics
from tracker.projections.tables import subscribers as subscribers_table
from tracker.repository.unit_of_work import Tracker
from tracker.store import ConcurrencyError, EventStore
from tracker.store.envelope import utc_now

log = logging.getLogger("tracker.digest")
ACTOR = "system:digest"
FAULT_ENV = "TRACKER_DIGEST_FAULT"  # test hook: "exit-after-sent=N" or "exit-after-smtp=N"

_HOST = socket.gethostname()
_ACTIVE_RUNS: set[str] = set()
_ACTIVE_LOCK = threading.Lock()


# ---- reading --------------------------------------------------------------------------------------

def load_subscribers(store: EventStore, *, active_only: bool = False) -> dict[str, Subscriber]:
    query = sa.select(subscribers_table).order_by(subscribers_table.c.subscriber_id)
    if active_only:
        query = query.where(subscribers_table.c.active.is_(True))
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    return {
        row.subscriber_id: Subscriber(
            subscriber_id=row.subscriber_id, email=row.email, name=row.name, filters=json.loads(row.filters),
            quiet_weeks=row.quiet_weeks, active=bool(row.active), subscription=row.subscription,
            editor=bool(row.editor),
        )
        for row in rows
    }


def load_snapshot(store: EventStore, week: IsoWeek, timezone: str) -> WeekSnapshot:
    return snapshot(week, timezone, store.read_all())


def load_ledger(store: EventStore, week: IsoWeek) -> ledgers.Ledger:
    recorded = store.read_stream(ledgers.stream_id(week.label))
    return ledgers.load(week.label, (Event(e.event_type, e.payload) for e in recorded))


def _append(tracker: Tracker, ledger: ledgers.Ledger, events: list[Event], *, checked: bool = False,
            keep: Callable[[ledgers.Ledger], list[Event]] | None = None) -> ledgers.Ledger:
    """Append to the week's stream through the unit of work and return the ledger folded forward.

    Unchecked: expect the version the caller read (ConcurrencyError if anything landed since).
    Checked: re-read the stream under the append lock and let `keep` decide on the fresh ledger.
    """
    stream = ledgers.stream_id(ledger.week)
    with tracker.unit_of_work(actor=ACTOR) as uow:
        if checked:
            ledger = ledgers.load(ledger.week, (Event(e.event_type, e.payload) for e in uow.read(stream)))
            events = keep(ledger) if keep else events
        uow.record(stream, ledger.version, events)
    return fold(ledgers.evolve, events, ledger)


# ---- one message ----------------------------------------------------------------------------------

def unsubscribe_url(settings: Settings, subscriber: Subscriber, issued: date | None = None) -> str:
    """The signed link; it works for settings.digest_unsubscribe_weeks after `issued` (default: today, UTC)."""
    secret = load_or_create_secret(settings.digest_secret, settings.digest_secret_file)
    token = make_token(secret, subscriber.subscriber_id, subscriber.subscription, issued or utc_now().date())
    return f"{base_url(settings.public_base_url)}/unsubscribe?token={token}"


def render_for(settings: Settings, digest: Digest, subscriber: Subscriber | None) -> Rendered:
    link = unsubscribe_url(settings, subscriber) if subscriber is not None else None
    return render(digest, public_base_url=settings.public_base_url, unsubscribe_url=link)


# ---- preview --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preview:
    digest: Digest
    rendered: Rendered


def preview(tracker: Tracker, settings: Settings, week: IsoWeek, email: str | None = None, *,
            editor: bool = False) -> Preview:
    """The digest one subscriber (or, with no email, an unfiltered reader; an editor with editor=True) gets for
    the week. A week not over yet can be previewed: it shows what was recorded so far."""
    subscriber: Subscriber | None = None
    if email is not None:
        wanted = subscriber_id_for(email)
        subscriber = load_subscribers(tracker.store).get(wanted)
        if subscriber is None:
            raise LookupError(f"no subscriber {normalise_email(email)}")
    snap = load_snapshot(tracker.store, week, settings.timezone)
    digest = compose(snap, subscriber or everything(editor=editor))
    return Preview(digest, render_for(settings, digest, subscriber))


def write_preview(result: Preview, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"digest-{result.digest.week}-{result.digest.subscriber_id}"
    html, text = directory / f"{stem}.html", directory / f"{stem}.txt"
    html.write_text(result.rendered.html, encoding="utf-8")
    text.write_text(result.rendered.text, encoding="utf-8")
    return html, text


# ---- sending --------------------------------------------------------------------------------------

@dataclass
class RunReport:
    week: str
    sent: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)
    already_done: int = 0
    stopped: str | None = None
    recipients: int = 0  # subscribers this week concerned at this send (active ones and those in the ledger)

    def line(self) -> str:
        text = (f"digest {self.week}: {len(self.sent)} sent, {len(self.skipped)} skipped, "
                f"{len(self.failed)} failed, {len(self.waiting)} waiting, {self.already_done} already done "
                f"(of {self.recipients} subscriber(s))")
        return text + (f"; stopped: {self.stopped}" if self.stopped else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            # "batch": the same number under its old name, for clients written before per-subscriber delivery
            "week": self.week, "recipients": self.recipients, "batch": self.recipients, "sent": self.sent,
            "skipped": [{"subscriber": s, "reason": r} for s, r in self.skipped],
            "failed": [{"subscriber": s, "error": e} for s, e in self.failed],
            "waiting": [{"subscriber": s, "until": u} for s, u in self.waiting],
            "already_done": self.already_done, "stopped": self.stopped,
        }


def owner_gone(owner: dict[str, Any]) -> bool:
    """Whether the process that claimed a message is certainly no longer running (this host only)."""
    if owner.get("host") != _HOST or not isinstance(owner.get("pid"), int):
        return False  # another machine: only its lease can tell
    pid = owner["pid"]
    if pid == os.getpid():
        with _ACTIVE_LOCK:
            return owner.get("run") not in _ACTIVE_RUNS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed child not yet reaped still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class _Fault:
    """Test hooks: exit hard after the Nth send or the Nth DigestSent; or hold at the start of the batch
    until a file exists (so that two senders really start together)."""

    def __init__(self, spec: str | None) -> None:
        self.point, _, count = (spec or "").partition("=")
        self.left = int(count) if count.isdigit() else 0
        if self.point == "hold-until":
            self.hold = Path(count)

    def wait(self) -> None:
        if self.point == "hold-until":
            self.hold.with_name(f"{self.hold.name}.ready.{os.getpid()}").touch()
            deadline = time.monotonic() + 60
            while not self.hold.exists() and time.monotonic() < deadline:
                time.sleep(0.01)

    def hit(self, point: str) -> None:
        if self.point == point and self.left > 0:
            self.left -= 1
            if self.left == 0:
                os._exit(75)


def send_week(
    tracker: Tracker,
    settings: Settings,
    week: IsoWeek,
    *,
    transport: Transport | None = None,
    now: Callable[[], datetime] = utc_now,
    ignore_backoff: bool = False,
    resume_only: bool = False,
) -> RunReport:
    """Send what is still owed for `week` to every subscriber it concerns (see the ledger): a subscriber added
    since the last send gets it now, nobody gets it twice. WeekNotOver (nothing recorded) unless the week has
    ended at now(). resume_only: do not begin a week nobody has begun yet (the scheduler's retries)."""
    store = tracker.store
    report = RunReport(week.label)
    # Configuration mistakes surface before anything is recorded, whether or not anyone is owed mail.
    week.require_ended(now(), zone(settings.timezone))
    transport = transport or transport_for(settings.smtp_url, settings.outbox_dir)
    sender = from_address(settings.digest_from).addr_spec
    base_url(settings.public_base_url)
    ledger = load_ledger(store, week)
    if not ledger.started:
        if resume_only:
            return report
        try:  # marks the week begun (for resume_only); the list is informational, not a closed batch
            _append(tracker, ledger, [ledgers.started(week.label, sorted(load_subscribers(store, active_only=True)))])
        except ConcurrencyError:
            pass  # another sender began the week first
        ledger = load_ledger(store, week)
    subscribers = load_subscribers(store)
    active = [sid for sid, s in subscribers.items() if s.active]
    recipients = ledger.recipients(active)
    report.recipients = len(recipients)
    if ledger.finished(active):
        report.already_done = len(recipients)
        return report

    run = uuid.uuid4().hex[:12]
    owner = {"host": _HOST, "pid": os.getpid(), "run": run}
    with _ACTIVE_LOCK:
        _ACTIVE_RUNS.add(run)
    fault = _Fault(os.environ.get(FAULT_ENV))
    snap: WeekSnapshot | None = None
    fault.wait()
    try:
        for subscriber_id in recipients:
            while True:  # until this subscriber is dealt with (a lost claim race means: look again)
                step = ledgers.next_step(ledger, subscriber_id, now(), owner_gone, ignore_backoff=ignore_backoff)
                subscriber = subscribers.get(subscriber_id)
                who = subscriber.email if subscriber else subscriber_id
                if step.action == "done":
                    report.already_done += 1
                    break
                if step.action in ("busy", "wait"):
                    report.waiting.append((who, f"{step.action} until {step.until}"))
                    break
                reason = _skip_reason(step, subscriber, ledger, subscriber_id)
                if reason is None:
                    snap = snap or load_snapshot(store, week, settings.timezone)
                    assert subscriber is not None
                    digest = compose(snap, subscriber)
                    if digest.quiet and subscriber.quiet_weeks == "skip":
                        reason = "quiet week (subscriber asked for nothing)"
                if reason is not None:
                    try:
                        ledger = _append(tracker, ledger, [ledgers.skipped(subscriber_id, reason)])
                    except ConcurrencyError:
                        ledger = load_ledger(store, week)
                        continue
                    report.skipped.append((who, reason))
                    break
                try:
                    ledger = _append(tracker, ledger, [ledgers.intended(ledger, subscriber_id, step.attempt, owner,
                                                                      now())])
                except ConcurrencyError:
                    ledger = load_ledger(store, week)
                    continue
                assert subscriber is not None
                ledger = _deliver(tracker, settings, transport, ledger, subscriber, digest, step.attempt, run,
                                  sender, now, report, fault)
                break
            if report.stopped:
                break
    finally:
        transport.close()
        with _ACTIVE_LOCK:
            _ACTIVE_RUNS.discard(run)
    metrics.digest_sends(sent=len(report.sent), failed=len(report.failed), skipped=len(report.skipped))
    log.info(report.line())
    return report


def _skip_reason(step: ledgers.Step, subscriber: Subscriber | None, ledger: ledgers.Ledger,
                 subscriber_id: str) -> str | None:
    if step.action == "give-up":
        return f"gave up after {ledger.entry(subscriber_id).failures} failed attempts"
    if subscriber is None or not subscriber.active:
        return "unsubscribed"
    return None


def _deliver(
    tracker: Tracker, settings: Settings, transport: Transport, ledger: ledgers.Ledger, subscriber: Subscriber,
    digest: Digest, attempt: int, run: str, sender: str, now: Callable[[], datetime], report: RunReport,
    fault: _Fault,
) -> ledgers.Ledger:
    entry = ledger.entry(subscriber.subscriber_id)
    link = unsubscribe_url(settings, subscriber, now().astimezone(UTC).date())
    rendered = render(digest, public_base_url=settings.public_base_url, unsubscribe_url=link)
    sid = subscriber.subscriber_id
    failure: DeliveryError | None = None
    try:  # an unsafe message (UnsafeMessage) fails for this recipient alone, like a refusal
        message = build_message(rendered, Envelope(
            sender=settings.digest_from, recipient_email=subscriber.email, recipient_name=subscriber.name,
            message_id=entry.message_id, unsubscribe_url=link, date=now().astimezone(UTC),
        ))
        transport.send(message, sender=sender, recipient=subscriber.email)
    except DeliveryError as error:
        failure = error
    if failure is not None:
        problem = failure

        def keep_failure(fresh: ledgers.Ledger) -> list[Event]:
            mine = fresh.entry(sid)
            if mine.state != "intended" or (mine.owner or {}).get("run") != run:
                return []  # someone else took the message over meanwhile
            return [ledgers.failed(fresh, sid, attempt, code=problem.code, permanent=problem.permanent,
                                   error=str(problem), now=now())]

        ledger = _append(tracker, ledger, [], checked=True, keep=keep_failure)
        report.failed.append((subscriber.email, str(problem)))
        if problem.connection:
            report.stopped = str(problem)
        return ledger
    fault.hit("exit-after-smtp")

    def keep_sent(fresh: ledgers.Ledger) -> list[Event]:
        return [] if fresh.entry(sid).state == "sent" else [ledgers.sent(fresh, sid, attempt)]

    ledger = _append(tracker, ledger, [], checked=True, keep=keep_sent)
    report.sent.append(subscriber.email)
    fault.hit("exit-after-sent")
    return ledger


def week_status(store: EventStore, week: IsoWeek) -> dict[str, Any]:
    ledger = load_ledger(store, week)
    active = [sid for sid, s in load_subscribers(store, active_only=True).items()]
    return {"week": week.label, "started": ledger.started, "finished": ledger.finished(active),
            **ledger.counts(active)}


def last_ended_week(settings: Settings, now: datetime | None = None) -> IsoWeek:
    return IsoWeek.last_ended(now or utc_now(), zone(settings.timezone))
