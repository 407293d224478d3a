"""API users: roles, what each role may do, and bearer tokens (only their SHA-256 is ever stored)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

ROLES = ("reader", "editor", "auditor", "admin")

# Which roles satisfy a required role. reader < editor; auditor reads propositions and the audit log
# but writes nothing; admin may do everything (it manages users, so it could grant itself any role).
SATISFIES: dict[str, frozenset[str]] = {
    "reader": frozenset({"reader", "editor", "auditor", "admin"}),
    "editor": frozenset({"editor", "admin"}),
    "auditor": frozenset({"auditor", "admin"}),
    "admin": frozenset({"admin"}),
}

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class User:
    """Who a token or a review session belongs to."""

    name: str
    role: str

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


class InvalidUser(ValueError):
    """A user name or role that cannot be used."""


def allows(role: str, required: str) -> bool:
    return role in SATISFIES[required]


def new_token() -> str:
    """A fresh bearer token: 256 random bits, URL-safe, with a prefix that makes leaked tokens greppable."""
    return "pt_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_user(name: str, role: str) -> None:
    if not NAME.match(name):
        raise InvalidUser("a user name is 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if role not in ROLES:
        raise InvalidUser(f"role must be one of {', '.join(ROLES)}")
