"""Covering indexes for the review queue's filters on the item (feed, publication date).

With 0008's indexes, a queue narrowed by feed or month was read best first (ix_matches_state_score), and every
suggestion walked cost a lookup of its matches row (for evidence_id) and of its evidence row (feed,
published_at): the capped "up to 1000" count for feed + month + min_score 0.8 walked ~12,000 of them (190-320
ms), and filters selecting nothing walked every suggestion above the score (seconds). benchmarks/api.py's store,
benchmarks/review_pages.py. Now:

- ix_matches_state_score gains evidence_id, so the best-first walk tests an item's membership in the filtered set
  (the IN list of tracker/web/review.py) without leaving the index;
- ix_matches_evidence_state_score (evidence_id, state, score DESC, match_id) serves the queue read from the item's
  side, when the date or feed filters select few items: a seek per item, straight to its suggestions above the
  score, index only. It replaces ix_matches_evidence_id (its first column: every lookup by evidence_id still seeks),
  so a match's write touches as many indexes as before;
- ix_evidence_published_at and ix_evidence_feed_published gain evidence_id, so the filtered set of items is read
  from the index alone (no lookup of each evidence row for its id).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_matches_state_score", table_name="matches")
    op.create_index("ix_matches_state_score", "matches", ["state", sa.text("score DESC"), "match_id", "evidence_id"])
    op.create_index("ix_matches_evidence_state_score", "matches",
                    ["evidence_id", "state", sa.text("score DESC"), "match_id"])
    op.drop_index("ix_matches_evidence_id", table_name="matches")
    op.drop_index("ix_evidence_published_at", table_name="evidence")
    op.create_index("ix_evidence_published_at", "evidence", ["published_at", "evidence_id"])
    op.drop_index("ix_evidence_feed_published", table_name="evidence")
    op.create_index("ix_evidence_feed_published", "evidence", ["feed", "published_at", "evidence_id"])


def downgrade() -> None:
    op.drop_index("ix_evidence_feed_published", table_name="evidence")
    op.create_index("ix_evidence_feed_published", "evidence", ["feed", "published_at"])
    op.drop_index("ix_evidence_published_at", table_name="evidence")
    op.create_index("ix_evidence_published_at", "evidence", ["published_at"])
    op.create_index("ix_matches_evidence_id", "matches", ["evidence_id"])
    op.drop_index("ix_matches_evidence_state_score", table_name="matches")
    op.drop_index("ix_matches_state_score", table_name="matches")
    op.create_index("ix_matches_state_score", "matches", ["state", sa.text("score DESC"), "match_id"])
