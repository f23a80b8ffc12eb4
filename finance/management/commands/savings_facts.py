"""``manage.py savings_facts``: check that the savings fact table equals the awarded lots, or rebuild it.

Without options: compares every fact with what the award would have written
(``finance.selectors.savings_fact_discrepancies``); exit status 0 when they
are equal, non-zero (a ``CommandError``) listing the lots that differ, so
that cron or a monitoring probe can alert on it. ``--rebuild`` rewrites the
table from the lots in one transaction (``finance.services.savings_facts_rebuild``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from finance.selectors import savings_fact_discrepancies
from finance.services import savings_facts_rebuild

SHOWN = 20


class Command(BaseCommand):
    help = "Check the savings fact table against the awarded lots (--rebuild rewrites it from them)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="Rewrite every fact from the awarded lots.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rebuild"]:
            written = savings_facts_rebuild()
            self.stdout.write(self.style.SUCCESS(f"savings facts rebuilt: {written} awarded lots"))
        found = savings_fact_discrepancies()
        if found:
            listed = ", ".join(f"lot {item.lot_id} {item.problem}" for item in found[:SHOWN])
            more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
            raise CommandError(f"savings facts differ from the lots: {listed}{more}")
        self.stdout.write(self.style.SUCCESS("savings facts equal the awarded lots"))
