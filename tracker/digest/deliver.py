"""Mail out: build the message with the standard library's email package, hand it to SMTP or the outbox.

Headers are set through EmailMessage and Address objects (which fold, encode and refuse CR/LF in
values), never by joining strings; the subject names the week and nothing a feed wrote. That is not
enough on its own: the email package decodes RFC 2047 encoded words in a display name or local part when
it writes the header and, on Python 3.11/3.12 (CVE-2024-6923), writes a CR/LF it decoded as a real line
break. So text for a header is checked first (header_text_problem), and each transport checks the bytes
it is about to hand over: exactly the header lines the message was built with, one To (the recipient),
one From, no stray CR, LF or NUL (check_wire). A message that fails is not sent. TRACKER_SMTP_URL:
  smtp://host[:port]             plain SMTP (port 25)
  smtp://host:587?starttls=1     STARTTLS before anything else
  smtps://host[:port]            implicit TLS (port 465)
  user:password@ before the host  AUTH after TLS; percent-encode special characters
  ?timeout=SECONDS               socket timeout (default 30)
Unset: each message is written as <outbox>/<week>/<subscriber id>.eml (same name on a resend).
"""

from __future__ import annotations

import io
import logging
import os
import re
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.errors import HeaderParseError
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from tracker.digest.render import Rendered
from tracker.domain.errors import InvalidCommand
from tracker.domain.subscriber import header_text_problem, normalise_email

HEADER_POLICY = policy.default.clone(max_line_length=998)
log = logging.getLogger("tracker.digest")
# Every header build_message may set; anything else in the bytes on the way out is a bug or an attack.
HEADERS = frozenset(h.lower() for h in (
    "From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "Precedence", "List-Id", "List-Unsubscribe",
    "List-Unsubscribe-Post", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
))
_FIELD_NAME = re.compile(rb"[!-9;-~]+")  # RFC 5322 ftext


class DeliveryError(Exception):
    """The message was not accepted. `connection` means the server could not be reached or talked to."""

    def __init__(self, message: str, *, code: int | None = None, permanent: bool = False,
                 connection: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent
        self.connection = connection


class BadSmtpUrl(ValueError):
    """TRACKER_SMTP_URL cannot be understood."""


class UnsafeMessage(DeliveryError):
    """The message would not come out with exactly the headers it was built with; it is not sent."""

    def __init__(self, message: str) -> None:
        super().__init__(f"not sent, unsafe mail header: {message}", permanent=True)


class Transport(Protocol):
    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None: ...

    def close(self) -> None: ...


# ---- the message ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Envelope:
    sender: str  # the From header as configured, e.g. "Policy Tracker <digest@example.org>"
    recipient_email: str
    recipient_name: str
    message_id: str
    unsubscribe_url: str | None
    date: datetime


def from_address(configured: str) -> Address:
    problem = header_text_problem(configured)
    if problem:
        raise BadSmtpUrl(f"TRACKER_DIGEST_FROM {problem}: {configured!r}")
    name, address = parseaddr(configured)
    try:
        address = normalise_email(address)
    except InvalidCommand:
        raise BadSmtpUrl(f"TRACKER_DIGEST_FROM is not a usable address: {configured!r}") from None
    local, _, domain = address.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def recipient_address(email: str, name: str) -> Address:
    """The To address. A stored name that is not safe in a header (recorded before names were checked this
    strictly) is left out rather than the digest withheld: the name is only a courtesy. A stored address
    that is not plain cannot be helped: UnsafeMessage, and that recipient's send fails."""
    try:
        local, _, domain = normalise_email(email).rpartition("@")
    except InvalidCommand as error:
        raise UnsafeMessage(f"recipient address {email!r}: {error}") from None
    if header_text_problem(name):
        log.warning("digest to %s goes without the display name: the stored name is not safe in a mail header "
                    "(change it with `tracker subscribers change`)", email)
        name = ""
    return Address(display_name=name.strip(), username=local, domain=domain)


def build_message(rendered: Rendered, envelope: Envelope) -> EmailMessage:
    """multipart/alternative: the plain text first, then the HTML (clients show the last they can)."""
    message = EmailMessage()
    message["From"] = from_address(envelope.sender)
    message["To"] = recipient_address(envelope.recipient_email, envelope.recipient_name)
    problem = header_text_problem(rendered.subject)
    if problem:  # the subject is made of the week and dates only; this would be a bug
        raise UnsafeMessage(f"subject {problem}")
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(envelope.date)
    message["Message-ID"] = envelope.message_id
    message["Auto-Submitted"] = "auto-generated"
    message["Precedence"] = "bulk"
    message["List-Id"] = "Policy Tracker weekly digest <digest.policy-tracker>"
    if envelope.unsubscribe_url:
        # RFC 2369 and RFC 8058: one-click unsubscribe by POST to the same URL.
        message["List-Unsubscribe"] = f"<{envelope.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    # Bodies are encoded above (76-character lines). Headers are folded when the message is written: a
    # List-Unsubscribe URL has no place to fold, and at 78 columns it would come out RFC 2047-encoded,
    # which no client reads as a URL; RFC 5322 allows lines up to 998.
    message.policy = HEADER_POLICY
    return message


def wire_bytes(message: EmailMessage) -> bytes:
    """The bytes smtplib's send_message would put after DATA (CRLF line ends; addresses are ASCII, so
    no SMTPUTF8). Sending these bytes ourselves means the bytes checked are the bytes sent."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=message.policy).flatten(message, linesep="\r\n")
    return buffer.getvalue()


def check_wire(raw: bytes, message: EmailMessage, recipient: str, linesep: bytes = b"\r\n") -> None:
    """Raise UnsafeMessage unless the top-level header block of `raw` is exactly what `message` was built
    with: the same header names in the same order, each line plain ASCII with no stray CR, LF or control
    character, one To address (the recipient, with the display name given) and one From address."""
    head, end, _ = raw.partition(linesep + linesep)
    if not end:
        raise UnsafeMessage("no blank line after the headers")
    names: list[str] = []
    for line in head.split(linesep):
        if any((b < 0x20 and b != 0x09) or b >= 0x7f for b in line):
            raise UnsafeMessage("a header line holds a CR, LF, NUL, control or non-ASCII byte")
        if len(line) > 998:
            raise UnsafeMessage("a header line is longer than 998 bytes")
        if line[:1] in (b" ", b"\t"):
            if not names:
                raise UnsafeMessage("the headers start with a continuation line")
            continue
        name, colon, _ = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            raise UnsafeMessage(f"not a header line: {line[:60]!r}")
        names.append(name.decode("ascii").lower())
    expected = [key.lower() for key in message.keys()]
    if names != expected or not set(names) <= HEADERS:
        raise UnsafeMessage(f"header lines {names} where {expected} were built")
    parsed = message_from_bytes(head + linesep + linesep, policy=policy.default)
    try:  # read back as a mail client would
        to, sender = parsed["To"].addresses, parsed["From"].addresses
    except (AttributeError, HeaderParseError, IndexError, ValueError):
        raise UnsafeMessage("the To or From header cannot be read back") from None
    wanted = message["To"].addresses
    if len(to) != 1 or to[0].addr_spec.lower() != recipient.lower() or len(wanted) != 1 \
            or to[0].display_name != wanted[0].display_name:
        raise UnsafeMessage(f"the To header does not read back as exactly {recipient}")
    if len(sender) != 1:
        raise UnsafeMessage("the From header does not read back as exactly one address")


# ---- SMTP -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None
    timeout: float


def parse_smtp_url(url: str) -> SmtpConfig:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise BadSmtpUrl("TRACKER_SMTP_URL must start with smtp:// or smtps://")
    try:
        port = parts.port
    except ValueError:
        raise BadSmtpUrl("TRACKER_SMTP_URL has a bad port") from None
    if not parts.hostname:
        raise BadSmtpUrl("TRACKER_SMTP_URL has no host")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"starttls", "timeout"}
    if unknown:
        raise BadSmtpUrl(f"TRACKER_SMTP_URL: unknown option {', '.join(sorted(unknown))}")
    starttls = query.get("starttls", "0").lower() in ("1", "true", "yes")
    implicit = parts.scheme == "smtps"
    if implicit and starttls:
        raise BadSmtpUrl("TRACKER_SMTP_URL: smtps:// is already TLS; drop ?starttls=1")
    try:
        timeout = float(query.get("timeout", "30"))
    except ValueError:
        raise BadSmtpUrl("TRACKER_SMTP_URL: timeout must be a number of seconds") from None
    return SmtpConfig(
        host=parts.hostname, port=port or (465 if implicit else 25), implicit_tls=implicit, starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None, timeout=timeout,
    )


class SmtpTransport:
    """One connection for a batch, opened on first use and reopened after the server drops it."""

    def __init__(self, config: SmtpConfig, *, tls_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self.tls_context = tls_context or ssl.create_default_context()
        self._client: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        try:
            if c.implicit_tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=self.tls_context)
            else:
                client = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            client.ehlo()
            if c.starttls:
                client.starttls(context=self.tls_context)
                client.ehlo()
            if c.username:
                client.login(c.username, c.password or "")
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(f"SMTP login refused: {error.smtp_code}", code=error.smtp_code,
                                connection=True) from None
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"cannot reach SMTP server {c.host}:{c.port}: {error}", connection=True) from None
        return client

    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:
        raw = wire_bytes(message)
        check_wire(raw, message, recipient)  # before connecting: an unsafe message never leaves
        if self._client is None:
            self._client = self._connect()
        try:
            self._client.sendmail(sender, [recipient], raw)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise _refusal(code, reply, "recipient refused") from None
        except smtplib.SMTPSenderRefused as error:
            raise _refusal(error.smtp_code, error.smtp_error, "sender refused") from None
        except smtplib.SMTPDataError as error:
            raise _refusal(error.smtp_code, error.smtp_error, "message refused") from None
        except smtplib.SMTPResponseException as error:
            raise _refusal(error.smtp_code, error.smtp_error, "SMTP error") from None
        except (OSError, smtplib.SMTPException) as error:  # dropped connection, timeout
            self._drop()
            raise DeliveryError(f"SMTP connection failed: {error}", connection=True) from None

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except OSError:
                pass

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def _refusal(code: int, reply: bytes | str, what: str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return DeliveryError(f"{what}: {code} {' '.join(text.split())}", code=code, permanent=500 <= code < 600)


# ---- the outbox -----------------------------------------------------------------------------------

class OutboxTransport:
    """Writes each message as an .eml file; the name comes from the Message-ID, so a resend overwrites."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.written: list[Path] = []

    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:
        raw = message.as_bytes()
        check_wire(raw, message, recipient, b"\n")
        identity = str(message["Message-ID"]).strip("<>").partition("@")[0]
        week, _, subscriber = identity.removeprefix("digest-").rpartition("-")
        folder = self.directory / (week or "misc")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{subscriber or identity}.eml"
            fd, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)  # never a half-written .eml
        except OSError as error:
            raise DeliveryError(f"cannot write to the outbox {folder}: {error}", connection=True) from None
        self.written.append(target)

    def close(self) -> None:
        pass


def transport_for(smtp_url: str | None, outbox_dir: str | Path) -> Transport:
    if not smtp_url:
        return OutboxTransport(outbox_dir)
    return SmtpTransport(parse_smtp_url(smtp_url))
