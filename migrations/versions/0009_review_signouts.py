"""Review sessions: sessions signed out before their expiry (review_signouts).

The browser session is a signed cookie any worker or replica can check (tracker/web/sessions.py); signing out
records the session id here until the cookie would have expired, and every request refuses a recorded one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_signouts",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("review_signouts")
