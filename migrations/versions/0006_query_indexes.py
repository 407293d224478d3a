"""Indexes for the API's list queries: the review queue and the filtered proposition list.

`GET /matches?state=...` orders by score (highest first) then id, and `GET /propositions` filters on
status and kind in id order; with single-column indexes both sorted every matching row for each page
(800,000 suggested matches in benchmarks/api.py). These composite indexes hand the rows over in page order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_matches_state_score", "matches", ["state", sa.text("score DESC"), "match_id"])
    op.create_index("ix_propositions_status_kind", "propositions", ["status", "kind", "proposition_id"])


def downgrade() -> None:
    op.drop_index("ix_propositions_status_kind", table_name="propositions")
    op.drop_index("ix_matches_state_score", table_name="matches")
