"""``manage.py audit_export``: write an audit bundle for a lot, a tender or a period (docs/audit.md §13).

    manage.py audit_export --lot 12 --out /tmp/lot-12
    manage.py audit_export --tender 3 --out /tmp/tender-3
    manage.py audit_export --from 2026-03-01 --to 2026-03-31 --out /tmp/march

Then, anywhere, without the platform: ``python -m audit.verify /tmp/lot-12 --key platform.vkey``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.export import bundle_export, scope_for_lot, scope_for_period, scope_for_tender
from core.errors import DomainError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = "Export the audit events of a lot, a tender or a period, with checkpoints and proofs, as a bundle."

    def add_arguments(self, parser: CommandParser) -> None:
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument(
            "--lot", type=int, help="a lot's id: its events and its tender's tender-wide events"
        )
        scope.add_argument(
            "--tender", type=int, help="a tender's id: the events of the tender and all its lots"
        )
        scope.add_argument(
            "--from",
            dest="date_from",
            help="first day of a period, YYYY-MM-DD (platform time zone)",
        )
        parser.add_argument(
            "--to", dest="date_to", help="last day of the period, inclusive, YYYY-MM-DD"
        )
        parser.add_argument(
            "--out", required=True, type=Path, help="the bundle directory (new or empty)"
        )
        parser.add_argument(
            "--no-checkpoint",
            action="store_true",
            help="use the latest checkpoint instead of making one; later events are left out",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["date_from"] is not None or options["date_to"] is not None:
            if options["date_from"] is None or options["date_to"] is None:
                raise CommandError("A period needs both --from and --to.")
            scope = scope_for_period(
                date_from=_date(options["date_from"]), date_to=_date(options["date_to"])
            )
        elif options["lot"] is not None:
            scope = scope_for_lot(lot_id=options["lot"])
        else:
            scope = scope_for_tender(tender_id=options["tender"])
        try:
            result = bundle_export(
                scope=scope, out=options["out"], make_checkpoint=not options["no_checkpoint"]
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"bundle written to {result.out}: leaves {result.first}–{result.last} of the tree of "
                f"{result.size} ({result.full} in full, {result.redacted} redacted, {result.in_scope} in scope), "
                f"{result.checkpoints} checkpoint(s)"
            )
        )
        self.stdout.write(
            f"verify it with: python -m audit.verify {result.out} --key <the platform's key.vkey>"
        )
