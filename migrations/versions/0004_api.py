"""API: users (token hashes and roles), idempotency keys, and intake candidates.

These are operational tables, not read models: they are not rebuilt from events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_users",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32)),
    )
    op.create_table(
        "api_idempotency",
        sa.Column("user_name", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("etag", sa.String(40)),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "api_candidates",
        sa.Column("source_id", sa.String(200), primary_key=True),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("candidate", sa.Text, nullable=False),  # JSON, as returned by POST /sources
    )


def downgrade() -> None:
    op.drop_table("api_candidates")
    op.drop_table("api_idempotency")
    op.drop_table("api_users")
