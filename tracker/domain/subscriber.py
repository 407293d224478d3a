"""The Subscriber aggregate: someone who receives the weekly digest, and what they follow.

The stream id comes from the address (see subscriber_id_for), so one address is one stream: adding the same
address twice is refused by the aggregate itself, and two concurrent adds meet on the stream version.
A removed subscriber may subscribe again; `subscription` counts the subscriptions, so an unsubscribe
link from an earlier subscription cannot end a later one. `editor` marks a subscriber whose digest also shows
the review backlog (suggestions awaiting an editor); events written before the flag existed mean false.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from typing import Any

from tracker.domain.errors import InvalidCommand, InvalidTransition
from tracker.domain.events import Event
from tracker.domain.proposition import KINDS

FILTER_KEYS = ("actors", "topics", "kinds", "propositions")
QUIET_WEEKS = ("note", "skip")
MAX_EMAIL = 254
MAX_NAME = 200
MAX_FILTER_VALUES = 100

# A plain addr-spec: dot-atom local part and an ASCII (or punycode) domain with a dot. No display
# names, comments, quoted local parts or address literals: what a digest needs and nothing a header
# could be bent with.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z][A-Za-z0-9-]{{0,61}}[A-Za-z0-9]")
# C0, DEL, C1 (U+0080-U+009F, NEL included) and the Unicode line/paragraph separators: none belongs in
# a name or an address, and some of them end a header line somewhere between here and the reader.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The opening of an RFC 2047 encoded word. Python's email package decodes encoded words it finds in a
# display name or local part when it writes the header, and (CVE-2024-6923, 3.11/3.12) does not re-encode
# a CR/LF it decoded, so `=?utf-8?q?Bob=0D=0ABcc:...?=` would become real header lines. No real name or
# address needs this syntax: a name is given as plain Unicode text and the mail code encodes it.
ENCODED_WORD = "=?"


# ---- commands -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AddSubscriber:
    email: str
    name: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    quiet_weeks: str = "note"
    editor: bool = False


@dataclass(frozen=True)
class RemoveSubscriber:
    reason: str = ""
    via: str = "editor"  # editor | unsubscribe-link | one-click
    subscription: int | None = None  # from an unsubscribe token: only that subscription may end


@dataclass(frozen=True)
class ChangeSubscriber:
    """Change what an active subscriber receives; fields left as None stay as they are."""

    name: str | None = None
    filters: dict[str, list[str]] | None = None
    quiet_weeks: str | None = None
    editor: bool | None = None


Command = AddSubscriber | RemoveSubscriber | ChangeSubscriber


# ---- state ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Subscriber:
    subscriber_id: str
    email: str
    name: str
    filters: dict[str, list[str]]
    quiet_weeks: str
    active: bool = True
    subscription: int = 1
    editor: bool = False


def normalise_email(email: str) -> str:
    """The address as stored: refused unless plain; the domain is lower-cased (it is case-blind)."""
    if not isinstance(email, str):
        raise InvalidCommand("email must be a string")
    if _CONTROL.search(email):
        raise InvalidCommand("email must not contain line breaks or control characters")
    if ENCODED_WORD in email:
        raise InvalidCommand("email must not contain '=?' (RFC 2047 encoded-word syntax)")
    email = email.strip()
    if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
        raise InvalidCommand("email must be a plain address such as name@example.org")
    local, _, domain = email.rpartition("@")
    if len(local) > 64 or ".." in local:
        raise InvalidCommand("email must be a plain address such as name@example.org")
    return f"{local}@{domain.lower()}"


def subscriber_id_for(email: str) -> str:
    """A stable id from the address (case-blind), so the stream of an address is always the same one."""
    return hashlib.sha256(normalise_email(email).lower().encode()).hexdigest()[:24]


def header_text_problem(text: str) -> str | None:
    """Why `text` may not go into a mail header (as a display name), or None when it may.

    The text is also read the way a mail parser would read it (RFC 2047 decoded), so a control character
    hidden in an encoded word is named as such; any encoded-word syntax is then refused on its own.
    """
    if _CONTROL.search(text):
        return "must not contain line breaks or control characters"
    try:
        decoded = str(make_header(decode_header(text)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return "must not contain '=?' (RFC 2047 encoded-word syntax); give it as plain text"
    if _CONTROL.search(decoded):
        return "must not contain line breaks or control characters, not even RFC 2047-encoded ones"
    if ENCODED_WORD in text or ENCODED_WORD in decoded:
        return "must not contain '=?' (RFC 2047 encoded-word syntax); give it as plain text"
    return None


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise InvalidCommand("name must be a string")
    problem = header_text_problem(name)
    if problem:
        raise InvalidCommand(f"name {problem}")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise InvalidCommand(f"name is longer than {MAX_NAME} characters")
    return name


def normalise_filters(filters: Any) -> dict[str, list[str]]:
    """Filters as stored: every key present, values trimmed, de-duplicated, in the order given."""
    if filters is None:
        filters = {}
    if not isinstance(filters, dict):
        raise InvalidCommand("filters must be a mapping")
    unknown = set(filters) - set(FILTER_KEYS)
    if unknown:
        raise InvalidCommand(f"unknown filter {', '.join(sorted(unknown))}; use {', '.join(FILTER_KEYS)}")
    out: dict[str, list[str]] = {}
    for key in FILTER_KEYS:
        values = filters.get(key) or []
        if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
            raise InvalidCommand(f"filter {key} must be a list of strings")
        if len(values) > MAX_FILTER_VALUES:
            raise InvalidCommand(f"filter {key} has more than {MAX_FILTER_VALUES} values")
        cleaned: list[str] = []
        for value in values:
            if _CONTROL.search(value):
                raise InvalidCommand(f"filter {key} must not contain control characters")
            value = value.strip()
            if value and value not in cleaned:
                cleaned.append(value)
        out[key] = cleaned
    bad_kinds = [k for k in out["kinds"] if k not in KINDS]
    if bad_kinds:
        raise InvalidCommand(f"unknown kind {bad_kinds[0]!r}; use {', '.join(KINDS)}")
    return out


def _check_editor(editor: Any) -> bool:
    if not isinstance(editor, bool):
        raise InvalidCommand("editor must be true or false")
    return editor


# ---- decide / evolve ------------------------------------------------------------------------------

def decide(state: Subscriber | None, command: Command) -> list[Event]:
    if isinstance(command, AddSubscriber):
        email = normalise_email(command.email)
        if state is not None and state.active:
            raise InvalidTransition(f"{email} is already subscribed")
        if command.quiet_weeks not in QUIET_WEEKS:
            raise InvalidCommand(f"quiet_weeks must be one of {', '.join(QUIET_WEEKS)}")
        return [Event("SubscriberAdded", {
            "subscriber_id": subscriber_id_for(email), "email": email, "name": _check_name(command.name),
            "filters": normalise_filters(command.filters), "quiet_weeks": command.quiet_weeks,
            "editor": _check_editor(command.editor),
        })]
    if isinstance(command, RemoveSubscriber):
        if state is None:
            raise InvalidTransition("no such subscriber")
        if not state.active:
            return []  # removing twice (a second click on the link) changes nothing
        if command.subscription is not None and command.subscription != state.subscription:
            return []  # a link from an earlier subscription
        return [Event("SubscriberRemoved", {
            "subscriber_id": state.subscriber_id, "reason": command.reason[:500], "via": command.via,
        })]
    if isinstance(command, ChangeSubscriber):
        if state is None or not state.active:
            raise InvalidTransition("no active subscriber to change")
        wanted: dict[str, Any] = {}
        if command.name is not None:
            wanted["name"] = _check_name(command.name)
        if command.filters is not None:
            wanted["filters"] = normalise_filters(command.filters)
        if command.quiet_weeks is not None:
            if command.quiet_weeks not in QUIET_WEEKS:
                raise InvalidCommand(f"quiet_weeks must be one of {', '.join(QUIET_WEEKS)}")
            wanted["quiet_weeks"] = command.quiet_weeks
        if command.editor is not None:
            wanted["editor"] = _check_editor(command.editor)
        changes = {k: v for k, v in wanted.items() if getattr(state, k) != v}
        if not changes:
            return []
        return [Event("SubscriberChanged", {"subscriber_id": state.subscriber_id, "changes": changes})]
    raise InvalidCommand(f"unknown command {type(command).__name__}")


def evolve(state: Subscriber | None, event: Event) -> Subscriber:
    data = event.data
    if event.type == "SubscriberAdded":
        return Subscriber(
            subscriber_id=data["subscriber_id"], email=data["email"], name=data.get("name", ""),
            filters={k: list(v) for k, v in data.get("filters", {}).items()},
            quiet_weeks=data.get("quiet_weeks", "note"), active=True,
            subscription=state.subscription + 1 if state is not None else 1,
            editor=bool(data.get("editor", False)),  # absent in events from before the flag: false
        )
    assert state is not None, f"{event.type} before SubscriberAdded"
    if event.type == "SubscriberRemoved":
        return replace(state, active=False)
    if event.type == "SubscriberChanged":
        return replace(state, **data["changes"])
    raise ValueError(f"unknown event type {event.type}")
