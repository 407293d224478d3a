"""Operational tables (migration 0004: API users, Idempotency-Key records, intake candidates; 0009: review
sign-outs): plain tables, not read models, never rebuilt from events."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

api_users = sa.Table(
    "api_users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("revoked_at", sa.String(32)),
)

api_idempotency = sa.Table(
    "api_idempotency",
    metadata,
    sa.Column("user_name", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("etag", sa.String(40)),
    sa.Column("created_at", sa.String(32), nullable=False),
)

api_candidates = sa.Table(
    "api_candidates",
    metadata,
    sa.Column("source_id", sa.String(200), primary_key=True),
    sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("candidate", sa.Text, nullable=False),
)

# Review sessions signed out before their expiry (tracker/web/sessions.py): the cookie is stateless, so ending one
# early needs this record, kept until the session would have expired anyway (Unix seconds).
review_signouts = sa.Table(
    "review_signouts",
    metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
)
