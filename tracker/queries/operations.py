"""What an operator's dashboard reads at scrape time (GET /metrics): cheap counts over the read models."""

from __future__ import annotations

import sqlalchemy as sa

from tracker.projections.tables import matches


def review_queue_depth(engine: sa.Engine) -> int:
    """Suggestions waiting for an editor (one COUNT over the index on matches.state)."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(matches).where(matches.c.state == "suggested")
        ).scalar_one()
