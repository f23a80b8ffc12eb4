"""Timed steps of the lot lifecycle, run by the database-backed task worker.

Enqueued in the same transaction as the change that sets the time, so a
committed deadline always has its job, and the job survives a restart of any
process. A job does not trust its own arguments: it runs the idempotent sweep
``lots_advance_due``, so a moved deadline leaves a harmless early job behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django_tasks import task

if TYPE_CHECKING:
    from tendering.models import Lot


@task()
def advance_due_lots() -> int:
    from tendering.services import lots_advance_due

    return len(lots_advance_due())


def schedule_lot_steps(lot: Lot) -> None:
    """Queue the sweep at the lot's bid deadline and at its opening time."""
    advance_due_lots.using(run_after=lot.bid_deadline).enqueue()
    if lot.opening_time != lot.bid_deadline:
        advance_due_lots.using(run_after=lot.opening_time).enqueue()
