"""A writer process for the fault suite: confirms every suggested match, one command (and transaction)
each, as an editor working through the review queue would. Run as `python -m tests.faults.worker`."""

from __future__ import annotations

import sqlalchemy as sa

from tracker.bootstrap import bootstrap
from tracker.domain.proposition import ConfirmMatch
from tracker.projections.tables import matches
from tracker.repository.unit_of_work import Tracker


def confirm_all(tracker: Tracker) -> int:
    with tracker.store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(matches.c.match_id, matches.c.proposition_id).where(matches.c.state == "suggested")
            .order_by(matches.c.match_id)
        ).all()
    for match_id, proposition_id in rows:
        tracker.execute(proposition_id, ConfirmMatch(match_id, "supports", note="fault suite"),
                        actor="user:faults", correlation_id=f"confirm:{match_id}")
    return len(rows)


if __name__ == "__main__":
    confirm_all(bootstrap().tracker)
