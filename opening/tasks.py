"""Timed steps of the opening room, run by the database-backed task worker.

Like the lot's own steps (``tendering.tasks``), a job is enqueued in the same
transaction that sets the deadline and runs an idempotent sweep
(``rooms_advance_due``): a deadline moved by a pause leaves a harmless early
job behind, and a job survives a restart of every process.
"""

from __future__ import annotations

import datetime as dt

from django_tasks import task


@task()
def advance_due_rooms() -> int:
    from opening.room_services import rooms_advance_due

    return len(rooms_advance_due())


def schedule_room_deadline(moment: dt.datetime) -> None:
    """Queue the sweep at ``moment`` (the end of a decryption or confirmation window)."""
    advance_due_rooms.using(run_after=moment).enqueue()
