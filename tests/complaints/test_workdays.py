"""Working-day arithmetic: weekends, the official holidays and adjusted working days, the platform's table, unknown years."""

from __future__ import annotations

import datetime as dt

import pytest

from complaints.models import CalendarDay
from complaints.workdays import LIBRARY_YEARS, DueDate, WorkCalendar

D = dt.date


def calendar(table: dict[dt.date, bool] | None = None) -> WorkCalendar:
    """A calendar over an in-memory table instead of the database."""
    entries = table or {}
    return WorkCalendar(
        loader=lambda year: {day: v for day, v in entries.items() if day.year == year}
    )


def test_the_library_covers_2026_but_not_2027():
    assert 2026 in LIBRARY_YEARS and 2027 not in LIBRARY_YEARS


def test_three_working_days_from_a_monday_end_on_thursday():
    assert calendar().add_working_days(D(2026, 3, 2), 3) == DueDate(on=D(2026, 3, 5))


def test_the_day_of_receipt_is_not_counted_and_weekends_are_skipped():
    # Friday 6 March 2026: Monday 9, Tuesday 10, Wednesday 11.
    assert calendar().add_working_days(D(2026, 3, 6), 3).on == D(2026, 3, 11)
    # Received on a Saturday: Monday, Tuesday, Wednesday.
    assert calendar().add_working_days(D(2026, 3, 7), 3).on == D(2026, 3, 11)


def test_spring_festival_2026_is_skipped_and_its_adjusted_saturdays_count():
    cal = calendar()
    # Saturday 14 February is an adjusted working day; 15–23 February are the holiday.
    assert cal.is_workday(D(2026, 2, 14)) and not cal.is_workday(D(2026, 2, 16))
    assert not cal.is_workday(D(2026, 2, 23)) and cal.is_workday(D(2026, 2, 24))
    # From Friday 13 February: Saturday 14 (1), Tuesday 24 (2), Wednesday 25 (3).
    assert cal.add_working_days(D(2026, 2, 13), 3).on == D(2026, 2, 25)
    # From Thursday 26 February: Friday 27 (1), Saturday 28, an adjusted working day (2), Monday 2 March (3).
    assert cal.add_working_days(D(2026, 2, 26), 3).on == D(2026, 3, 2)


def test_thirty_working_days_span_the_mid_autumn_and_national_day_holidays_of_2026():
    # 22–24 Sep (3), 28–30 Sep (6), 8–9 Oct (8), Saturday 10 Oct worked (9), then 21 weekdays to 9 November.
    due = calendar().add_working_days(D(2026, 9, 21), 30)
    assert due == DueDate(on=D(2026, 11, 9))


def test_a_period_into_2027_without_table_entries_counts_monday_to_friday_and_says_so():
    # Wednesday 30 December 2026: Thursday 31 (1), Friday 1 January 2027 (2, no holiday known), Monday 4 (3).
    due = calendar().add_working_days(D(2026, 12, 30), 3)
    assert due.on == D(2027, 1, 4)
    assert due.assumed_years == (2027,) and due.assumes_no_holidays


def test_a_period_into_2027_with_the_years_table_entered_uses_it():
    table = {D(2027, 1, 1): False, D(2027, 2, 6): False, D(2027, 2, 7): True}
    cal = calendar(table)
    due = cal.add_working_days(D(2026, 12, 30), 3)
    # Thursday 31 (1), New Year's Day off, Monday 4 (2), Tuesday 5 (3).
    assert due == DueDate(on=D(2027, 1, 5))
    assert not due.assumes_no_holidays
    # An adjusted working Sunday of the table counts.
    assert cal.is_workday(D(2027, 2, 7)) and not cal.is_workday(D(2027, 2, 6))


def test_a_period_inside_2026_says_nothing_about_assumptions():
    assert calendar().add_working_days(D(2026, 12, 1), 3).assumed_years == ()


def test_the_table_overrides_the_library_for_its_day_only():
    cal = calendar({D(2026, 3, 3): False})
    assert not cal.is_workday(D(2026, 3, 3))
    assert cal.is_workday(D(2026, 3, 4))
    assert not cal.is_workday(D(2026, 2, 16))  # the library still decides the other days of 2026
    assert cal.add_working_days(D(2026, 3, 2), 3).on == D(2026, 3, 6)


def test_far_years_do_not_crash():
    due = calendar().add_working_days(D(2031, 12, 31), 30)
    assert due.on.year == 2032 and due.assumed_years == (2032,)
    assert calendar().next_workday_from(D(2040, 6, 2)) == DueDate(
        on=D(2040, 6, 4), assumed_years=(2040,)
    )


def test_next_workday_from_keeps_a_working_day_and_moves_past_a_holiday():
    cal = calendar()
    assert cal.next_workday_from(D(2026, 3, 12)).on == D(2026, 3, 12)
    assert cal.next_workday_from(D(2026, 2, 20)).on == D(2026, 2, 24)
    assert cal.next_workday_from(D(2026, 10, 1)).on == D(2026, 10, 8)


def test_working_days_between_counts_after_the_start_up_to_the_end():
    cal = calendar()
    assert cal.working_days_between(D(2026, 3, 2), D(2026, 3, 9)) == 5
    assert cal.working_days_between(D(2026, 3, 9), D(2026, 3, 2)) == 0


def test_a_period_is_at_least_one_day():
    with pytest.raises(ValueError):
        calendar().add_working_days(D(2026, 3, 2), 0)


@pytest.mark.django_db
def test_the_platform_table_in_the_database_extends_the_calendar():
    CalendarDay.objects.create(date=D(2027, 1, 1), is_workday=False, name="元旦")
    cal = WorkCalendar()
    assert cal.knows_year(2027) and not cal.knows_year(2028)
    assert cal.add_working_days(D(2026, 12, 30), 3) == DueDate(on=D(2027, 1, 5))
