"""Mail header injection through names, addresses and settings, judged on the bytes a real SMTP server got.

The attack (CVE-2024-6923 on Python 3.11/3.12): a display name holding an RFC 2047 encoded word with an
encoded CR/LF, e.g. `=?utf-8?q?Bob=0D=0ABcc:=20x@evil.example?=`, is decoded by the email package when it
writes the To header, and the decoded line break goes out as a real one. Names are refused at the door
(tracker/domain/subscriber.py); names already stored in events are left out of the header at delivery;
and each transport checks the serialised header block before anything leaves (tracker/digest/deliver.py).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.digest.conftest import make_settings, subscribe, this_week
from tests.digest.smtpserver import Received, SmtpServer
from tracker.config import Settings
from tracker.digest.deliver import (
    Envelope,
    OutboxTransport,
    SmtpTransport,
    UnsafeMessage,
    build_message,
    parse_smtp_url,
)
from tracker.digest.render import Rendered
from tracker.digest.service import send_week
from tracker.domain.errors import InvalidCommand
from tracker.domain.subscriber import AddSubscriber, decide, normalise_filters
from tracker.projections.rebuild import replay
from tracker.repository.unit_of_work import Tracker, subscriber_stream
from tracker.store import NewEvent


def _b(raw: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(raw).decode() + "?="


# Names that must never reach a header as they are: each one, decoded or not, holds a line break, a
# control character or encoded-word syntax.
UNSAFE_NAMES: dict[str, str] = {
    "reported": "=?utf-8?q?Bob=0D=0ABcc:=20attacker@evil.example=0D=0A=0D=0AYour account is locked?=",
    "q-crlf-reply-to": "=?utf-8?q?Bob=0D=0AReply-To:=20attacker@evil.example?=",
    "b-crlf-bcc": _b(b"Bob\r\nBcc: attacker@evil.example"),
    "b-blank-line": _b(b"Bob\r\n\r\nYour account is locked"),
    "q-lone-lf": "=?utf-8?q?Bob=0ABcc:=20attacker@evil.example?=",
    "q-lone-cr": "=?utf-8?q?Bob=0DBcc:=20attacker@evil.example?=",
    "q-nul": "=?utf-8?q?Bob=00Bcc:=20attacker@evil.example?=",
    "q-u2028": "=?utf-8?q?Bob=E2=80=A8Bcc:=20attacker@evil.example?=",
    "q-u0085": "=?utf-8?q?Bob=C2=85Bcc:=20attacker@evil.example?=",
    "upper-case-latin1": "=?ISO-8859-1?Q?Bob=0D=0ABcc:=20attacker@evil.example?=",
    "with-language": "=?utf-8*en?q?Bob=0D=0ABcc:=20attacker@evil.example?=",
    "split-over-two-words": "=?utf-8?q?Bob=0D?= =?utf-8?q?=0ABcc:=20attacker@evil.example?=",
    "folded-encoded-words": "=?utf-8?q?Bob?=\r\n =?utf-8?q?=0D=0ABcc:=20attacker@evil.example?=",
    "underscores-for-spaces": "=?utf-8?q?Bob=0D=0ATo:_attacker@evil.example?=",
    "harmless-encoded-word": "=?utf-8?q?Bob?=",
    "literal-crlf-fold": "Bob\r\n Bcc: attacker@evil.example",
    "literal-lone-cr": "Bob\rBcc: attacker@evil.example",
    "literal-lone-lf": "Bob\nBcc: attacker@evil.example",
    "literal-nul": "Bob\x00Bcc: attacker@evil.example",
    "literal-u2028": "Bob\u2028Bcc: attacker@evil.example",
    "literal-u0085": "Bob\x85Bcc: attacker@evil.example",
    "literal-c1": "Bob\x9bBcc: attacker@evil.example",
    "literal-tab": "Bob\tBcc: attacker@evil.example",
}

# Names that are fine: the Address object quotes or encodes them, and they read back exactly.
SAFE_NAMES: dict[str, str] = {
    "angle-brackets": "Bob <evil@x.example>",
    "quotes-and-comma": '"a", b@c.example',
    "colon-and-semicolon": "Bob: Bcc; carol@elsewhere.example",
    "backslash": "a\\b \\\"c",
    "non-ascii": "Zoë Ünïcode-Łukasz 李小龍",
    "long-ascii": "x" * 200,
    "long-non-ascii": "é" * 200,
    "long-words": " ".join(["Bartholomew"] * 16),
    "equals-and-question": "Who? = Bob",
}

TOP_HEADERS = ["from", "to", "subject", "date", "message-id", "auto-submitted", "precedence", "list-id",
               "list-unsubscribe", "list-unsubscribe-post", "mime-version", "content-type"]


def header_names(raw: bytes) -> list[str]:
    """The field names of the top-level header block, read from the raw bytes as a receiving MTA would."""
    head, blank, _ = raw.partition(b"\r\n\r\n")
    assert blank, "no end of headers"
    assert b"\r" not in head.replace(b"\r\n", b"") and b"\n" not in head.replace(b"\r\n", b""), \
        "a lone CR or LF in the header block"
    assert not any(b < 0x20 and b not in (0x09, 0x0A, 0x0D) for b in head), "a control byte in the header block"
    names = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            continue  # folded continuation of the previous field
        name, colon, _ = line.partition(b":")
        assert colon, f"not a header line: {line!r}"
        names.append(name.decode("ascii").lower())
    return names


def assert_clean(received: Received, recipient: str, display_name: str) -> None:
    assert received.rcpt_tos == [recipient]
    assert header_names(received.raw) == TOP_HEADERS
    message = received.message
    (to,) = message["To"].addresses
    assert (to.addr_spec, to.display_name) == (recipient, display_name)
    assert message["Bcc"] is None and message["Reply-To"] is None and message["Cc"] is None
    assert message.get_content_type() == "multipart/alternative" and len(message.get_payload()) == 2
    head = received.raw.partition(b"\r\n\r\n")[0].lower()
    assert b"attacker@evil.example" not in head and b"account is locked" not in head


# ---- refused at the door --------------------------------------------------------------------------

@pytest.mark.parametrize("name", UNSAFE_NAMES.values(), ids=UNSAFE_NAMES.keys())
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidCommand, match="name must not contain"):
        decide(None, AddSubscriber("a@example.org", name=name))


@pytest.mark.parametrize("name", SAFE_NAMES.values(), ids=SAFE_NAMES.keys())
def test_safe_names_are_kept_as_given(name: str) -> None:
    (event,) = decide(None, AddSubscriber("a@example.org", name=name))
    assert event.data["name"] == name


@pytest.mark.parametrize("email", [
    "=?utf-8?q?a=0D=0ABcc=3A=20x=40evil.example=0D=0A?=@example.org", "a.=?utf-8?q?b?=@example.org",
    "a@example.org\r\nBcc: x@evil.example", "a\u2028@example.org",
])
def test_addresses_with_encoded_words_or_line_breaks_are_refused(email: str) -> None:
    with pytest.raises(InvalidCommand, match="email must"):
        decide(None, AddSubscriber(email))


def test_a_from_setting_with_an_encoded_line_break_is_refused_at_load(database_url: str, tmp_path: Path) -> None:
    for sender in ("=?utf-8?q?PT=0D=0ABcc=3A=20x=40evil.example?= <digest@example.org>",
                   "Policy Tracker <digest@example.org>\r\nBcc: x@evil.example",
                   "=?utf-8?q?Policy_Tracker?= <digest@example.org>"):
        with pytest.raises(ValidationError, match="digest_from"):
            make_settings(database_url, None, tmp_path, digest_from=sender)
    fine = make_settings(database_url, None, tmp_path, digest_from='"Policy Tracker, Weekly" <digest@example.org>')
    assert fine.digest_from.startswith('"Policy Tracker')


# ---- on the wire ----------------------------------------------------------------------------------

def test_safe_names_arrive_as_one_to_header_with_the_name_intact(
    tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    people = {f"safe{i}@example.org": name for i, name in enumerate(SAFE_NAMES.values())}
    for email, name in people.items():
        subscribe(tracker, email, name)
    report = send_week(tracker, settings, this_week())
    assert sorted(report.sent) == sorted(people) and report.failed == []
    assert len(smtp.recorder.received) == len(people)
    for received in smtp.recorder.received:
        recipient = received.rcpt_tos[0]
        assert_clean(received, recipient, people[recipient])


def _store_subscriber_as_recorded(tracker: Tracker, email: str, name: str) -> None:
    """A SubscriberAdded event written straight to the store, as an older version (with a laxer check)
    recorded it; the read models are then rebuilt from the events, as after an upgrade."""
    sid = hashlib.sha256(email.lower().encode()).hexdigest()[:24]  # subscriber_id_for would refuse `email`
    tracker.store.append(subscriber_stream(sid), 0, [NewEvent("SubscriberAdded", {
        "subscriber_id": sid, "email": email, "name": name,
        "filters": normalise_filters({}), "quiet_weeks": "note",
    })], actor="system:test")


def test_unsafe_names_already_in_the_store_never_reach_a_header(
    tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    # PostgreSQL text cannot hold NUL at all, so no such name can ever have been stored there.
    storable = [n for n in UNSAFE_NAMES.values() if tracker.store.engine.dialect.name == "sqlite" or "\x00" not in n]
    people = {f"old{i}@example.org": name for i, name in enumerate(storable)}
    for email, name in people.items():
        _store_subscriber_as_recorded(tracker, email, name)
    replay(tracker.store)
    report = send_week(tracker, settings, this_week())
    # Each still gets the digest, addressed without the name (a name is a courtesy; the digest is not).
    assert sorted(report.sent) == sorted(people) and report.failed == []
    assert len(smtp.recorder.received) == len(people)
    for received in smtp.recorder.received:
        assert_clean(received, received.rcpt_tos[0], "")


def test_an_address_with_an_encoded_word_in_the_store_fails_alone_and_sends_nothing(
    tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    evil = "=?utf-8?q?a=0D=0ABcc=3A=20attacker=40evil.example=0D=0A?=@example.org"
    _store_subscriber_as_recorded(tracker, evil, "Eve")
    replay(tracker.store)
    subscribe(tracker, "ann@example.org", "Ann")
    report = send_week(tracker, settings, this_week())
    assert report.sent == ["ann@example.org"] and report.stopped is None
    ((who, error),) = report.failed
    assert who == evil and "unsafe mail header" in error
    (received,) = smtp.recorder.received
    assert_clean(received, "ann@example.org", "Ann")


# ---- the last check before the bytes leave --------------------------------------------------------

def _message_with_a_raw_to(display_name: str) -> tuple[Rendered, Envelope]:
    rendered = Rendered("Policy Tracker weekly digest", "text", "<p>html</p>")
    envelope = Envelope(sender="Policy Tracker <digest@example.org>", recipient_email="bob@example.org",
                        recipient_name="Bob", message_id="<m1@policy-tracker>", unsubscribe_url=None,
                        date=datetime(2026, 1, 5, tzinfo=UTC))
    return rendered, envelope


@pytest.mark.parametrize("name", [UNSAFE_NAMES["reported"], UNSAFE_NAMES["b-blank-line"],
                                  UNSAFE_NAMES["q-lone-lf"]])
def test_a_header_that_would_serialise_with_extra_lines_is_not_sent(
    smtp: SmtpServer, tmp_path: Path, name: str
) -> None:
    """As if the name checks had a hole: the To header is rebuilt straight from the encoded-word name."""
    from email.headerregistry import Address

    message = build_message(*_message_with_a_raw_to(name))
    del message["To"]
    message["To"] = Address(display_name=name, username="bob", domain="example.org")
    transport = SmtpTransport(parse_smtp_url(smtp.url))
    with pytest.raises(UnsafeMessage) as refused:
        transport.send(message, sender="digest@example.org", recipient="bob@example.org")
    assert refused.value.permanent and "unsafe mail header" in str(refused.value)
    transport.close()
    assert smtp.recorder.received == []
    outbox = OutboxTransport(tmp_path / "outbox")
    with pytest.raises(UnsafeMessage):
        outbox.send(message, sender="digest@example.org", recipient="bob@example.org")
    assert outbox.written == [] and not (tmp_path / "outbox").exists()


def test_a_message_for_someone_else_is_not_sent(smtp: SmtpServer) -> None:
    message = build_message(*_message_with_a_raw_to("Bob"))
    transport = SmtpTransport(parse_smtp_url(smtp.url))
    with pytest.raises(UnsafeMessage, match="To header"):
        transport.send(message, sender="digest@example.org", recipient="carol@example.org")
    message["Bcc"] = "attacker@evil.example"
    with pytest.raises(UnsafeMessage, match="header lines"):
        transport.send(message, sender="digest@example.org", recipient="bob@example.org")
    transport.close()
    assert smtp.recorder.received == []


def test_a_checked_message_goes_out_byte_for_byte(smtp: SmtpServer) -> None:
    message = build_message(*_message_with_a_raw_to("Bob"))
    transport = SmtpTransport(parse_smtp_url(smtp.url))
    transport.send(message, sender="digest@example.org", recipient="bob@example.org")
    transport.close()
    (received,) = smtp.recorder.received
    assert header_names(received.raw) == ["from", "to", "subject", "date", "message-id", "auto-submitted",
                                          "precedence", "list-id", "mime-version", "content-type"]
    assert received.message["To"].addresses[0].display_name == "Bob"
