"""The periods of TR 60–61, computed from a complaint's dates and the working-day calendar.

- TR 60: a complaint is filed within 10 days of the day the complainant knew or
  should have known of the matter. The day itself is not counted, and a period
  whose last day is a rest day ends on the next working day (《民法典》第二百零一条、
  第二百零三条). Where an objection (异议) had to come first — the documents
  (TR 22), the opening (TR 44), the evaluation result and the candidates
  (TR 54) — the time the objection waited for its answer is not counted; an
  objection left unanswered counts as answered when its 3-day answer period
  (TR 22, TR 54) ran out.
- TR 61: the authority decides whether to accept within 3 working days of
  receiving the complaint, and decides an accepted complaint within 30 working
  days of accepting it.
"""

from __future__ import annotations

import datetime as dt

from complaints.models import Subject
from complaints.workdays import DueDate, WorkCalendar

FILING_DAYS = 10
ACCEPTANCE_WORKING_DAYS = 3
DECISION_WORKING_DAYS = 30
OBJECTION_ANSWER_DAYS = 3

# The matters on which TR 60 wants an objection to the tenderer (or its agency) first.
OBJECTION_FIRST = frozenset(
    {Subject.DOCUMENTS, Subject.OPENING, Subject.EVALUATION, Subject.CANDIDATES}
)


def objection_pause_days(
    *,
    known_on: dt.date,
    objected_on: dt.date | None,
    answered_on: dt.date | None,
    today: dt.date,
) -> int:
    """Days of the filing period spent waiting for the objection's answer (not counted, TR 60).

    Only an objection raised while the period still ran pauses it; the pause
    runs from the objection (or the day the matter became known, if later) to
    the answer, or to the end of the 3-day answer period when none came.
    """
    if objected_on is None or objected_on > known_on + dt.timedelta(days=FILING_DAYS):
        return 0
    end = answered_on or min(today, objected_on + dt.timedelta(days=OBJECTION_ANSWER_DAYS))
    return max(0, (end - max(objected_on, known_on)).days)


def filing_deadline(
    *,
    known_on: dt.date,
    objected_on: dt.date | None = None,
    answered_on: dt.date | None = None,
    today: dt.date,
    calendar: WorkCalendar,
) -> DueDate:
    """The last day a complaint about a matter known on ``known_on`` may be filed (TR 60).

    Ten days from the day after ``known_on``, moved to the next working day
    when the last falls on a rest day (民法典第二百零三条), and not counting
    the time an objection waited for its answer. An objection raised in that
    rest-day extension, after the ten days proper, stops the period at its
    end: it resumes with the answer, so the complaint may still be filed on
    the day of the answer (or the next working day).
    """
    nominal_end = known_on + dt.timedelta(days=FILING_DAYS)
    period_end = calendar.next_workday_from(nominal_end)
    if objected_on is not None and nominal_end < objected_on <= period_end.on:
        resumed = answered_on or min(today, objected_on + dt.timedelta(days=OBJECTION_ANSWER_DAYS))
        return calendar.next_workday_from(max(resumed, period_end.on))
    pause = objection_pause_days(
        known_on=known_on, objected_on=objected_on, answered_on=answered_on, today=today
    )
    return calendar.next_workday_from(nominal_end + dt.timedelta(days=pause))


def acceptance_due(*, received_on: dt.date, calendar: WorkCalendar) -> DueDate:
    """The last day to accept or not accept a complaint received on ``received_on`` (TR 61)."""
    return calendar.add_working_days(received_on, ACCEPTANCE_WORKING_DAYS)


def decision_due(*, accepted_on: dt.date, calendar: WorkCalendar) -> DueDate:
    """The last day to decide a complaint accepted on ``accepted_on`` (TR 61)."""
    return calendar.add_working_days(accepted_on, DECISION_WORKING_DAYS)
