"""Review sessions that any worker process or replica can check: a signed cookie, no server memory.

The cookie is `v1.<session id>.<token sha256>.<issued>.<expires>.<mac>`: a random session id, the SHA-256 of the
API token the editor signed in with (the hash the api_users table keeps, never the token), issue and expiry
times in Unix seconds (SESSION_TTL apart) and HMAC-SHA256 over all of it, compared in constant time. A forged or
altered cookie, one past its expiry, or one issued in the future (beyond CLOCK_SKEW) is no session.

The key is derived from the digest secret (TRACKER_DIGEST_SECRET, or the generated file TRACKER_DIGEST_SECRET_FILE)
as HMAC(secret, "policy-tracker/review-session/v1"): that secret is already the one every worker and replica must
share and that survives restarts, so sessions work on every process without a second secret to distribute; the
derivation separates the purposes (unsubscribe links sign with the secret itself under their own prefix).
Replacing the digest secret ends every session (and every unsubscribe link).

Every request looks the token hash up again (one query): a revoked or replaced token ends the session at once.
Signing out writes the session id into review_signouts until the session would have expired anyway, and the
same query refuses it; expired rows are deleted at the next sign-out. The CSRF field is HMAC(key, session id),
so every process derives the same one and a page from one worker posts to any other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tracker.domain.user import User
from tracker.keyfile import read_or_create
from tracker.repository.tables import api_users, review_signouts

SESSION_TTL = 8 * 3600
CLOCK_SKEW = 300  # seconds another process's clock may be ahead; a cookie issued further ahead is forged
MIN_SECRET_BYTES = 32
_KEY_PURPOSE = b"policy-tracker/review-session/v1"
_VERSION = "v1"
_COOKIE = re.compile(r"v1\.([A-Za-z0-9_-]{32})\.([0-9a-f]{64})\.([0-9]{1,12})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class Session:
    id: str
    token_sha256: str
    issued: int
    expires: int
    csrf: str


def session_key(settings: Any) -> bytes:
    """The cookie key, derived from the digest secret (the configured one, or the generated file, created here
    if missing exactly as the digest creates it)."""
    if settings.digest_secret:
        root = settings.digest_secret.encode()
    else:
        root = read_or_create(settings.digest_secret_file, lambda: (secrets.token_hex(32) + "\n").encode()).strip()
    if len(root) < MIN_SECRET_BYTES:
        raise ValueError(f"{settings.digest_secret_file} holds no usable secret (expected 64 hex digits)")
    return hmac.new(root, _KEY_PURPOSE, hashlib.sha256).digest()


def _now() -> float:
    return time.time()  # wall-clock time: cookies are read by other processes and after restarts


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _mac(key: bytes, purpose: bytes, text: str) -> str:
    return _b64(hmac.new(key, purpose + b"\x00" + text.encode(), hashlib.sha256).digest())


def csrf_for(key: bytes, session_id: str) -> str:
    return _mac(key, b"csrf", session_id)


def issue(key: bytes, token_sha256: str, *, now: float | None = None) -> tuple[str, Session]:
    """A new session for the token with this hash: (cookie value, session)."""
    session_id = secrets.token_urlsafe(24)  # 32 characters
    issued = int(_now() if now is None else now)
    expires = issued + SESSION_TTL
    signed = f"{_VERSION}.{session_id}.{token_sha256}.{issued}.{expires}"
    cookie = f"{signed}.{_mac(key, b'cookie', signed)}"
    return cookie, Session(session_id, token_sha256, issued, expires, csrf_for(key, session_id))


def read(key: bytes, cookie: str | None, *, now: float | None = None) -> Session | None:
    """The session a cookie names if it is genuine and current; None otherwise (says nothing about sign-out)."""
    found = _COOKIE.fullmatch(cookie or "")
    if found is None:
        return None
    signed, mac = cookie.rpartition(".")[0], found[5]  # type: ignore[union-attr]
    if not hmac.compare_digest(mac, _mac(key, b"cookie", signed)):
        return None
    issued, expires = int(found[3]), int(found[4])
    moment = _now() if now is None else now
    if expires - issued != SESSION_TTL or issued > moment + CLOCK_SKEW or moment >= expires:
        return None
    return Session(found[1], found[2], issued, expires, csrf_for(key, found[1]))


def user_of(engine: sa.Engine, session: Session) -> User | None:
    """The user behind a session: its token still current and the session not signed out (one query)."""
    signed_out = sa.exists().where(review_signouts.c.session_id == session.id)
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(api_users.c.name, api_users.c.role)
            .where(api_users.c.token_sha256 == session.token_sha256, api_users.c.revoked_at.is_(None), ~signed_out)
        ).first()
    return User(row.name, row.role) if row else None


def end(engine: sa.Engine, session: Session, *, now: float | None = None) -> None:
    """Sign out: the session is refused from now on, by every process; expired records are dropped."""
    moment = int(_now() if now is None else now)
    with engine.begin() as connection:
        connection.execute(review_signouts.delete().where(review_signouts.c.expires_at <= moment))
    try:
        with engine.begin() as connection:
            connection.execute(review_signouts.insert().values(session_id=session.id, expires_at=session.expires))
    except sa.exc.IntegrityError:
        pass  # signed out already, by a second submit of the same form
