"""Intake reads: the candidate propositions found in a source when it was registered."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from tracker.repository.tables import api_candidates
from tracker.repository.unit_of_work import NotFound, Tracker, source_stream


def candidate_rows(connection: sa.Connection, source_id: str) -> list[dict[str, Any]]:
    rows = connection.execute(
        sa.select(api_candidates.c.candidate).where(api_candidates.c.source_id == source_id)
        .order_by(api_candidates.c.n)
    ).all()
    return [json.loads(r.candidate) for r in rows]


def candidates(tracker: Tracker, source_id: str) -> list[dict[str, Any]]:
    """The source's candidates in order, each with `accepted_as` (the proposition it became, or None)."""
    if tracker.load(source_stream(source_id)).state is None:
        raise NotFound(f"no source {source_id}")
    with tracker.store.engine.connect() as connection:
        return candidate_rows(connection, source_id)
