"""Indexes for the review queue in the browser (/review): the queue of one proposition, and the feed list.

With only single-column indexes on matches.proposition_id and matches.state, SQLite (no statistics) walked the
whole best-first index (ix_matches_state_score) to find one proposition's suggestions, and the page's count and
previous/next probes walked ix_matches_state: 3 to 9 s a page on benchmarks/api.py's store (810,000 suggested
matches). (proposition_id, state, score DESC, match_id) hands over one proposition's suggestions already in
page order. The feed select of the queue's filters read every evidence row (SELECT DISTINCT feed); (feed,
published_at) answers it from the index, and serves the feed and date filters where the planner drives from
evidence. Figures in benchmarks/README.md (review_pages.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_matches_proposition_state_score", "matches",
                    ["proposition_id", "state", sa.text("score DESC"), "match_id"])
    op.create_index("ix_evidence_feed_published", "evidence", ["feed", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_evidence_feed_published", table_name="evidence")
    op.drop_index("ix_matches_proposition_state_score", table_name="matches")
