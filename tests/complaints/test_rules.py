"""TR 60's 10 days and TR 61's working days, computed from a complaint's dates."""

from __future__ import annotations

import datetime as dt

from complaints import rules
from complaints.workdays import WorkCalendar

D = dt.date


def calendar() -> WorkCalendar:
    return WorkCalendar(loader=lambda year: {})


LATER = D(2026, 4, 30)


def deadline(known_on, objected_on=None, answered_on=None, today=LATER) -> dt.date:
    return rules.filing_deadline(
        known_on=known_on,
        objected_on=objected_on,
        answered_on=answered_on,
        today=today,
        calendar=calendar(),
    ).on


def test_ten_days_count_from_the_day_after_the_matter_became_known():
    assert deadline(D(2026, 3, 2)) == D(2026, 3, 12)


def test_a_period_ending_on_a_weekend_ends_on_the_next_working_day():
    assert deadline(D(2026, 3, 4)) == D(2026, 3, 16)  # Saturday 14 → Monday 16


def test_a_period_ending_in_the_spring_festival_ends_after_it():
    assert deadline(D(2026, 2, 10)) == D(2026, 2, 24)  # Friday 20 February is a holiday


def test_the_objections_answer_period_is_not_counted():
    # Objected on the 3rd, answered on the 6th: three days do not count, 15 March (a Sunday) → Monday 16.
    assert deadline(D(2026, 3, 2), D(2026, 3, 3), D(2026, 3, 6)) == D(2026, 3, 16)
    # Answered after a week: seven days more.
    assert deadline(D(2026, 3, 2), D(2026, 3, 3), D(2026, 3, 10)) == D(2026, 3, 19)


def test_an_unanswered_objection_pauses_the_period_for_its_three_day_answer_period_at_most():
    assert deadline(D(2026, 3, 2), D(2026, 3, 3), None, today=D(2026, 3, 20)) == D(2026, 3, 16)
    # Filed the day after objecting: only that day has passed so far.
    assert deadline(D(2026, 3, 2), D(2026, 3, 3), None, today=D(2026, 3, 4)) == D(2026, 3, 13)


def test_an_objection_raised_after_the_period_ran_out_does_not_revive_it():
    assert deadline(D(2026, 3, 2), D(2026, 3, 20), D(2026, 3, 21)) == D(2026, 3, 12)


def test_an_objection_before_the_known_date_pauses_only_from_that_date():
    # Known on the answer's day: nothing before it was ever counted.
    assert deadline(D(2026, 3, 6), D(2026, 3, 2), D(2026, 3, 6)) == D(2026, 3, 16)


def test_acceptance_is_due_three_working_days_after_receipt():
    assert rules.acceptance_due(received_on=D(2026, 3, 6), calendar=calendar()).on == D(2026, 3, 11)


def test_the_decision_is_due_thirty_working_days_after_acceptance():
    # Accepted Monday 2 March 2026: 24 weekdays to 3 April, Qingming Monday 6 April off, then 7–14 April.
    assert rules.decision_due(accepted_on=D(2026, 3, 2), calendar=calendar()).on == D(2026, 4, 14)


def test_the_matters_that_need_an_objection_first():
    assert {str(s) for s in rules.OBJECTION_FIRST} == {
        "documents",
        "opening",
        "evaluation",
        "candidates",
    }


def test_an_objection_raised_on_the_day_a_weekend_moved_the_period_to_still_pauses_it():
    # Known on 4 March: the 10 days end on Saturday 14 March, so the period runs to Monday 16.
    # An objection on Monday 16 answered on Wednesday 18 pauses it by two days: the 18th.
    assert deadline(D(2026, 3, 4), D(2026, 3, 16), D(2026, 3, 18)) == D(2026, 3, 18)
