"""Report periods and time buckets of the savings reports, by award date in Asia/Shanghai.

A lot belongs to the day on which it was awarded as a clock in Beijing shows
it (``award_date``): a lot awarded at 2025-03-31 23:30 +08:00 (15:30 UTC)
counts in March and in the first quarter, whatever the server's or the
database's time zone. The zone is fixed here, not read from ``TIME_ZONE``:
the statements follow the regulator's calendar, not a deployment setting.

Periods are whole days, both ends included: a month, a quarter, a year or a
custom range of dates. Inside a period the reports break the figures down
by month, quarter or year (``bucket_key``), every bucket of the period listed
even when no lot was awarded in it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

REPORT_ZONE = ZoneInfo("Asia/Shanghai")

MONTH = "month"
QUARTER = "quarter"
YEAR = "year"
RANGE = "range"
TIME_GRAINS = (MONTH, QUARTER, YEAR)

# A custom range longer than this would draw hundreds of monthly bars; nobody reads such a statement.
MAX_RANGE_DAYS = 366 * 10


def award_date_of(moment: dt.datetime) -> dt.date:
    """The award date of an award time: its calendar day in Asia/Shanghai."""
    if moment.tzinfo is None:
        raise ValueError("award times are timezone-aware")
    return moment.astimezone(REPORT_ZONE).date()


def local_today() -> dt.date:
    return dt.datetime.now(REPORT_ZONE).date()


def _month_end(year: int, month: int) -> dt.date:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """Award dates from ``start`` to ``end``, both included."""

    kind: str
    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a period ends on or after its start")

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        return cls(MONTH, dt.date(year, month, 1), _month_end(year, month))

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        first = 3 * (quarter - 1) + 1
        return cls(QUARTER, dt.date(year, first, 1), _month_end(year, first + 2))

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(YEAR, dt.date(year, 1, 1), dt.date(year, 12, 31))

    @classmethod
    def between(cls, start: dt.date, end: dt.date) -> Period:
        return cls(RANGE, start, end)

    @property
    def label(self) -> str:
        if self.kind == MONTH:
            return _("%(year)s年%(month)s月") % {"year": self.start.year, "month": self.start.month}
        if self.kind == QUARTER:
            return _("%(year)s年第%(quarter)s季度") % {
                "year": self.start.year,
                "quarter": (self.start.month - 1) // 3 + 1,
            }
        if self.kind == YEAR:
            return _("%(year)s年") % {"year": self.start.year}
        return _("%(start)s 至 %(end)s") % {"start": self.start.isoformat(), "end": self.end.isoformat()}

    def query(self) -> dict[str, str]:
        """The filter form's parameters that select this period (for links and exports)."""
        if self.kind == MONTH:
            return {"period": MONTH, "year": str(self.start.year), "month": str(self.start.month)}
        if self.kind == QUARTER:
            return {"period": QUARTER, "year": str(self.start.year), "quarter": str((self.start.month - 1) // 3 + 1)}
        if self.kind == YEAR:
            return {"period": YEAR, "year": str(self.start.year)}
        return {"period": RANGE, "start": self.start.isoformat(), "end": self.end.isoformat()}

    def buckets(self, grain: str) -> list[str]:
        """Every bucket key of ``grain`` that the period touches, in order."""
        keys: list[str] = []
        year, month = self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            key = bucket_key(dt.date(year, month, 1), grain)
            if not keys or keys[-1] != key:
                keys.append(key)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return keys


def bucket_key(day: dt.date, grain: str) -> str:
    """The bucket a day falls in: ``2025-03`` (month), ``2025-Q1`` (quarter) or ``2025`` (year)."""
    if grain == MONTH:
        return f"{day.year:04d}-{day.month:02d}"
    if grain == QUARTER:
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    if grain == YEAR:
        return f"{day.year:04d}"
    raise ValueError(f"not a time grain: {grain}")


_BUCKET = {
    MONTH: re.compile(r"(\d{4})-(0[1-9]|1[0-2])"),
    QUARTER: re.compile(r"(\d{4})-Q([1-4])"),
    YEAR: re.compile(r"(\d{4})"),
}


def bucket_period(key: str, grain: str) -> Period | None:
    """The period a bucket key stands for, or None when ``key`` is not one of ``grain``."""
    match = _BUCKET[grain].fullmatch(key)
    if match is None:
        return None
    year = int(match.group(1))
    if year < 1:
        return None
    if grain == MONTH:
        return Period.month(year, int(match.group(2)))
    if grain == QUARTER:
        return Period.quarter(year, int(match.group(2)))
    return Period.year(year)


def bucket_label(key: str, grain: str) -> str:
    period = bucket_period(key, grain)
    return period.label if period is not None else key


def clip(outer: Period, inner: Period) -> Period | None:
    """The days of ``inner`` inside ``outer`` (a bucket cut by a custom range), or None when they do not meet."""
    start, end = max(outer.start, inner.start), min(outer.end, inner.end)
    if end < start:
        return None
    if (start, end) == (inner.start, inner.end):
        return inner
    return Period.between(start, end)
