"""The timed step of a draw: an unanswered invitation counts as a decline at its deadline.

The job is a row of the database-backed task queue, written in the same
transaction as the notification that sets the deadline, so it exists exactly
when the invitation does and outlives any restart. It does not trust its own
arguments: it runs the idempotent sweep ``selections_expire_due``, which
looks at every open invitation whose deadline has passed, so an early,
repeated or late job is harmless.
"""

from __future__ import annotations

import datetime as dt

from django_tasks import task


@task()
def expire_due_selections() -> int:
    from experts.responses import selections_expire_due

    return len(selections_expire_due())


def schedule_expiry(respond_by: dt.datetime) -> None:
    """Queue the sweep at an answer deadline, in the caller's transaction."""
    expire_due_selections.using(run_after=respond_by).enqueue()
