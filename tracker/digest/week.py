"""ISO weeks in the tracker's time zone: Monday 00:00 up to the next Monday 00:00, local time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker.store.envelope import iso

_LABEL = re.compile(r"(\d{4})-W(\d{2})")


class BadWeek(ValueError):
    """Not an ISO week label such as 2025-W13."""


class WeekNotOver(BadWeek):
    """A week that has not ended yet (the current one, or one in the future): it cannot be sent."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadWeek(f"unknown time zone {name!r} (TRACKER_TIMEZONE)") from None


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, label: str) -> IsoWeek:
        found = _LABEL.fullmatch(label.strip()) if isinstance(label, str) else None
        if not found:
            raise BadWeek(f"week must look like 2025-W13, not {label!r}")
        year, number = int(found[1]), int(found[2])
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError:
            raise BadWeek(f"{label} is not a week of {year}") from None
        return cls(year, number)

    @classmethod
    def containing(cls, day: date) -> IsoWeek:
        year, number, _ = day.isocalendar()
        return cls(year, number)

    @classmethod
    def last_ended(cls, now: datetime, tz: ZoneInfo) -> IsoWeek:
        """The latest week that is over at `now` in zone tz (the week before the current one)."""
        return cls.containing(now.astimezone(tz).date()).previous()

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def next_monday(self) -> date:
        return self.monday + timedelta(days=7)

    def previous(self) -> IsoWeek:
        return IsoWeek.containing(self.monday - timedelta(days=7))

    def start(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.monday, time(0), tzinfo=tz).astimezone(UTC)

    def end(self, tz: ZoneInfo) -> datetime:
        """Exclusive: the next Monday 00:00 local time (DST-aware, so a week may be 167 or 169 hours)."""
        return datetime.combine(self.next_monday, time(0), tzinfo=tz).astimezone(UTC)

    def ended(self, now: datetime, tz: ZoneInfo) -> bool:
        return self.end(tz) <= now

    def require_ended(self, now: datetime, tz: ZoneInfo) -> None:
        """WeekNotOver unless the week is over at `now`: its digest would be incomplete, and once sent
        (recorded as done) the real one would never go out."""
        if not self.ended(now, tz):
            ends = self.end(tz).astimezone(tz).strftime("%a %d %b %Y %H:%M")
            raise WeekNotOver(f"week {self.label} has not ended yet: it can be sent from {ends} ({tz.key}); "
                              f"the last ended week is {IsoWeek.last_ended(now, tz).label}")

    def bounds(self, tz: ZoneInfo) -> tuple[str, str]:
        """[start, end) as store timestamps (fixed-width UTC text, comparable with recorded_at)."""
        return iso(self.start(tz)), iso(self.end(tz))

    def __str__(self) -> str:
        return self.label
