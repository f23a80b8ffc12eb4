"""Working days (工作日) in mainland China, for the due dates of complaints (TR 61).

Three sources, in this order, decide whether a day is a working day:

1. the platform's own table (``complaints.models.CalendarDay``, edited in the
   Django admin): a holiday (休息日) or an adjusted working day (调休上班日)
   entered there wins over everything else, so a late change to the official
   calendar, or a year the library does not know yet, is one admin entry away;
2. the ``chinesecalendar`` library (import name ``chinese_calendar``), which
   carries the State Council's holiday notices for the years it covers;
3. Monday to Friday.

A year is *known* when the library covers it or the table holds at least one
day of it (whoever enters a year enters its whole notice). Counting through a
year that is not known falls back to Monday–Friday and says so
(``DueDate.assumed_years``), so the page can warn that the due date assumes no
public holidays; it never fails.

Periods count from the day after the start (《民法典》第二百零一条: the day of
the event is not counted), so three working days from a Friday complaint end
on the Wednesday after it.

Standard library plus ``chinese_calendar``: no Django here but the loader
(``table_loader``), which tests can replace with a dictionary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import chinese_calendar
from chinese_calendar.constants import holidays as _LIBRARY_HOLIDAYS

# The years the library's data covers (a newer release extends them by itself).
LIBRARY_YEARS = range(
    min(day.year for day in _LIBRARY_HOLIDAYS), max(day.year for day in _LIBRARY_HOLIDAYS) + 1
)

# day -> True (a working day) / False (a day off), for one year; empty: the year is not in the table.
YearTable = Mapping[dt.date, bool]
TableLoader = Callable[[int], YearTable]


@dataclass(frozen=True)
class DueDate:
    """The last day of a period, and the years it had to count Monday–Friday for want of a calendar."""

    on: dt.date
    assumed_years: tuple[int, ...] = ()

    @property
    def assumes_no_holidays(self) -> bool:
        return bool(self.assumed_years)


def table_loader(year: int) -> YearTable:
    """The platform table's entries for ``year`` (one query)."""
    from complaints.models import CalendarDay

    return dict(CalendarDay.objects.filter(date__year=year).values_list("date", "is_workday"))


@dataclass
class WorkCalendar:
    """Working-day arithmetic over the table, the library and Monday–Friday.

    Reads the table one year at a time, once per year per calendar object:
    share one object across the rows of a page.
    """

    loader: TableLoader = table_loader
    _years: dict[int, YearTable] = field(default_factory=dict, repr=False)

    def _table(self, year: int) -> YearTable:
        if year not in self._years:
            self._years[year] = self.loader(year)
        return self._years[year]

    def knows_year(self, year: int) -> bool:
        """True when the library covers ``year`` or the table holds some day of it."""
        return year in LIBRARY_YEARS or bool(self._table(year))

    def is_workday(self, day: dt.date) -> bool:
        entry = self._table(day.year).get(day)
        if entry is not None:
            return entry
        if day.year in LIBRARY_YEARS:
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def add_working_days(self, start: dt.date, days: int) -> DueDate:
        """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
        if days < 1:
            raise ValueError("a period of working days is at least one day long")
        day, counted, assumed = start, 0, set()
        while counted < days:
            day += dt.timedelta(days=1)
            if not self.knows_year(day.year):
                assumed.add(day.year)
            if self.is_workday(day):
                counted += 1
        return DueDate(on=day, assumed_years=tuple(sorted(assumed)))

    def next_workday_from(self, day: dt.date) -> DueDate:
        """``day`` if it is a working day, else the first working day after it.

        For a period counted in calendar days whose last day falls on a rest
        day: the period then ends on the first day after the rest
        (《民法典》第二百零三条).
        """
        assumed = set()
        while True:
            if not self.knows_year(day.year):
                assumed.add(day.year)
            if self.is_workday(day):
                return DueDate(on=day, assumed_years=tuple(sorted(assumed)))
            day += dt.timedelta(days=1)

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when ``end`` is not later)."""
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                count += 1
        return count
