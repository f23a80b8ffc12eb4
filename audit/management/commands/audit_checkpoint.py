"""``manage.py audit_checkpoint``: integrate the committed events and sign a checkpoint now.

With ``--schedule`` the periodic checkpoints are (re)started: the task
worker then makes one every ``AUDIT_CHECKPOINT_MINUTES`` (``make run`` does
this at start). Suitable for cron as well.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.models import CheckpointReason
from audit.tasks import schedule_periodic_checkpoint
from audit.tree import checkpoint_make


class Command(BaseCommand):
    help = "Sign a checkpoint of the audit tree now (and with --schedule, keep making them periodically)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--schedule", action="store_true", help="Also queue the periodic checkpoints for the task worker."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        checkpoint = checkpoint_make(reason=CheckpointReason.MANUAL)
        self.stdout.write(self.style.SUCCESS(f"checkpoint: tree size {checkpoint.size}, root {checkpoint.root}"))
        self.stdout.write(checkpoint.note)
        if options["schedule"]:
            queued = schedule_periodic_checkpoint()
            self.stdout.write("periodic checkpoints queued" if queued else "periodic checkpoints already queued")
