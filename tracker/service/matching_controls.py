"""Editors' controls over the matcher for one proposition: mute and unmute its matching, set its evidence window.

Each is one command on the proposition's stream. A muted proposition gets no new suggestions (those already in
the queue stay); items published outside the window are never suggested for it (tracker/suggestions.py reads
both). Unmuting or widening the window makes earlier items eligible again: callers then backfill, as after an
amendment (tracker.service.propositions.backfill_later).
"""

from __future__ import annotations

from datetime import date

from tracker.domain import proposition as domain
from tracker.repository.unit_of_work import UnitOfWork
from tracker.service.propositions import act
from tracker.store import RecordedEvent


def mute(uow: UnitOfWork, proposition_id: str, reason: str = "",
         expected_version: int | None = None) -> list[RecordedEvent]:
    return act(uow, proposition_id, domain.MuteMatching(reason=reason), expected_version)


def unmute(uow: UnitOfWork, proposition_id: str, reason: str = "",
           expected_version: int | None = None) -> list[RecordedEvent]:
    return act(uow, proposition_id, domain.UnmuteMatching(reason=reason), expected_version)


def set_window(uow: UnitOfWork, proposition_id: str, not_before: date | None, not_after: date | None,
               reason: str = "", expected_version: int | None = None) -> list[RecordedEvent]:
    """The window becomes exactly [not_before, not_after] (days, inclusive); None leaves that end open."""
    return act(uow, proposition_id, domain.SetEvidenceWindow(
        not_before=not_before.isoformat() if not_before else None,
        not_after=not_after.isoformat() if not_after else None, reason=reason,
    ), expected_version)
