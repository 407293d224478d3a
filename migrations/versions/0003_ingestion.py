"""Ingestion: feed and evidence read models, and the operational fetch state of each feed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("feed_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("path", sa.Text),
        sa.Column("interval_minutes", sa.Integer, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("sample", sa.Boolean, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "evidence",
        sa.Column("evidence_id", sa.String(200), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("title_key", sa.Text, nullable=False),
        sa.Column("link", sa.Text),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("published_at", sa.String(32), nullable=False),
        sa.Column("published_is_fetch_time", sa.Boolean, nullable=False),
        sa.Column("feed", sa.String(200), nullable=False),
        sa.Column("language", sa.String(20)),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("sightings", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_evidence_title_key", "evidence", ["title_key"])
    op.create_index("ix_evidence_link", "evidence", ["link"])
    op.create_index("ix_evidence_published_at", "evidence", ["published_at"])
    # Operational bookkeeping of polling (conditional-GET validators, back-off). Not a read model:
    # it is not derived from events, and losing it only costs one unconditional fetch per feed.
    op.create_table(
        "feed_fetch_state",
        sa.Column("feed_id", sa.String(200), primary_key=True),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("last_fetch_at", sa.String(32)),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_result", sa.String(30)),
        sa.Column("last_error", sa.Text),
        sa.Column("warning", sa.Text),
        sa.Column("error_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_check_at", sa.String(32)),
        sa.Column("items_total", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for table in ("feed_fetch_state", "evidence", "feeds"):
        op.drop_table(table)
