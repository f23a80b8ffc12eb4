"""Checkpoints made by the task worker: at milestones, and periodically (docs/audit.md §11)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from django_tasks import task


@task()
def make_checkpoint(reason: str, tender_id: int | None = None, lot_id: int | None = None) -> int:
    """One checkpoint now; its tree size."""
    from audit.tree import checkpoint_make

    return checkpoint_make(reason=reason, tender_id=tender_id, lot_id=lot_id).size


@task()
def periodic_checkpoint() -> int:
    """A checkpoint if anything happened since the last one, then the next run queued.

    Started once by ``manage.py audit_checkpoint --schedule`` (``make run`` does
    it); every run queues the next, so the chain survives restarts of the
    worker: a run that finds the next one already queued does not queue another.
    """
    from audit.models import CheckpointReason
    from audit.tree import checkpoint_make

    size = checkpoint_make(reason=CheckpointReason.PERIODIC).size
    schedule_periodic_checkpoint()
    return size


def schedule_periodic_checkpoint(*, now: dt.datetime | None = None) -> bool:
    """Queue the next periodic checkpoint unless one is queued already; whether one was queued."""
    from django_tasks_db.models import DBTaskResult

    name = f"{periodic_checkpoint.module_path}"
    pending = DBTaskResult.objects.filter(task_path=name, status__in=["READY"]).exists()
    if pending:
        return False
    now = now or timezone.now()
    periodic_checkpoint.using(run_after=now + dt.timedelta(minutes=settings.AUDIT_CHECKPOINT_MINUTES)).enqueue()
    return True
