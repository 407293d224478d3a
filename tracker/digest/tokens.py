"""Signed unsubscribe tokens: HMAC-SHA256 over (subscriber id, subscription number, issue date).

The secret is settings.digest_secret (at least 32 bytes) or, when unset, 32 random bytes kept as 64 hex
digits in digest_secret_file (mode 0600, outside the database, created on first use like the audit key).
A token names the subscription it was issued for, so a link from before a re-subscription cannot end
the new one, and the day it was minted (the day the digest was sent), so it stops working after
settings.digest_unsubscribe_weeks (default 26): long enough for an old mail's link or an RFC 8058
one-click header to keep working well past the 30 days mail rules ask for, short enough that a mail
forwarded or leaked years ago no longer ends someone's subscription.

Format v2: <subscriber id>.<subscription>.<YYYYMMDD>.<signature>. Links in mails sent before v2
(<subscriber id>.<subscription>.<signature>) carry no date; they are read as issued on V1_ISSUED (the
day v2 shipped, the latest they can have been minted), so they keep working for the same period and
then expire like any other, rather than breaking in mails people still have.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from tracker.keyfile import read_or_create

_PURPOSE_V1 = b"policy-tracker/unsubscribe/v1\x00"
_PURPOSE = b"policy-tracker/unsubscribe/v2\x00"
_ID, _NUMBER, _MAC = r"([0-9a-f]{8,64})", r"([1-9][0-9]{0,8})", r"([A-Za-z0-9_-]{43})"
_TOKEN = re.compile(rf"{_ID}\.{_NUMBER}\.([0-9]{{8}})\.{_MAC}")
_TOKEN_V1 = re.compile(rf"{_ID}\.{_NUMBER}\.{_MAC}")
MIN_SECRET_BYTES = 32
DEFAULT_MAX_AGE_WEEKS = 26
V1_ISSUED = date(2026, 12, 2)
_CLOCK_SKEW = timedelta(days=2)  # replicas' clocks may differ a little; a token from further ahead is forged


class BadToken(ValueError):
    """The token is malformed or its signature does not match."""


class TokenExpired(BadToken):
    """The token is genuine but older than the configured number of weeks."""


@dataclass(frozen=True)
class Unsubscribe:
    subscriber_id: str
    subscription: int
    issued: date


def load_or_create_secret(secret: str | None, path: str | Path) -> bytes:
    """The configured secret, or the one in `path` (a new random one is written there if none exists)."""
    if secret:
        if len(secret.encode()) < MIN_SECRET_BYTES:  # Settings refuses this already; a second lock
            raise BadToken(f"TRACKER_DIGEST_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return secret.encode()
    value = read_or_create(path, lambda: (secrets.token_hex(32) + "\n").encode()).decode().strip()
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise BadToken(f"{path} holds no usable digest secret (expected 64 hex digits)")
    return value.encode()


def _mac(secret: bytes, purpose: bytes, signed: str) -> str:
    mac = hmac.new(secret, purpose + signed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_token(secret: bytes, subscriber_id: str, subscription: int, issued: date) -> str:
    signed = f"{subscriber_id}.{subscription}.{issued:%Y%m%d}"
    return f"{signed}.{_mac(secret, _PURPOSE, signed)}"


def read_token(secret: bytes, token: str, *, today: date,
               max_age_weeks: int = DEFAULT_MAX_AGE_WEEKS) -> Unsubscribe:
    """The subscription the token ends; BadToken if malformed or forged, TokenExpired if too old."""
    token = token or ""
    if found := _TOKEN.fullmatch(token):
        signed, signature = token.rpartition(".")[0], found[4]
        purpose = _PURPOSE
    elif found := _TOKEN_V1.fullmatch(token):
        signed, signature = f"{found[1]}.{found[2]}", found[3]
        purpose = _PURPOSE_V1
    else:
        raise BadToken("the unsubscribe token is malformed")
    if not hmac.compare_digest(signature, _mac(secret, purpose, signed)):
        raise BadToken("the unsubscribe token is not valid")
    if purpose is _PURPOSE_V1:
        issued = V1_ISSUED
    else:
        try:
            issued = date(int(found[3][:4]), int(found[3][4:6]), int(found[3][6:]))
        except ValueError:
            raise BadToken("the unsubscribe token is not valid") from None
        if issued > today + _CLOCK_SKEW:
            raise BadToken("the unsubscribe token is not valid")
    expires = issued + timedelta(weeks=max_age_weeks)
    if today > expires:
        raise TokenExpired(f"the unsubscribe link expired on {expires:%d %B %Y}: links work for "
                           f"{max_age_weeks} weeks after the digest they came in")
    return Unsubscribe(found[1], int(found[2]), issued)
