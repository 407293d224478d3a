"""Signed unsubscribe tokens: HMAC-SHA256 over (subscriber id, subscription number).

The secret is settings.digest_secret or, when unset, 32 random bytes kept in digest_secret_file (mode
0600, outside the database, created on first use like the audit key). A token names the subscription
it was issued for, so a link from before a re-subscription cannot end the new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from tracker.keyfile import read_or_create

_PURPOSE = b"policy-tracker/unsubscribe/v1\x00"
_TOKEN = re.compile(r"([0-9a-f]{8,64})\.([1-9][0-9]{0,8})\.([A-Za-z0-9_-]{43})")


class BadToken(ValueError):
    """The token is malformed or its signature does not match."""


@dataclass(frozen=True)
class Unsubscribe:
    subscriber_id: str
    subscription: int


def load_or_create_secret(secret: str | None, path: str | Path) -> bytes:
    """The configured secret, or the one in `path` (a new random one is written there if none exists)."""
    if secret:
        return secret.encode()
    value = read_or_create(path, lambda: (secrets.token_hex(32) + "\n").encode()).decode().strip()
    if len(value) < 32:
        raise BadToken(f"{path} holds no usable digest secret (expected 64 hex digits)")
    return value.encode()


def _signature(secret: bytes, subscriber_id: str, subscription: int) -> str:
    mac = hmac.new(secret, _PURPOSE + f"{subscriber_id}.{subscription}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_token(secret: bytes, subscriber_id: str, subscription: int) -> str:
    return f"{subscriber_id}.{subscription}.{_signature(secret, subscriber_id, subscription)}"


def read_token(secret: bytes, token: str) -> Unsubscribe:
    found = _TOKEN.fullmatch(token or "")
    if not found:
        raise BadToken("the unsubscribe token is malformed")
    subscriber_id, subscription = found[1], int(found[2])
    if not hmac.compare_digest(found[3], _signature(secret, subscriber_id, subscription)):
        raise BadToken("the unsubscribe token is not valid")
    return Unsubscribe(subscriber_id, subscription)
