"""``manage.py seed_demo``: load the demo trading centre once, and print its logins."""

from __future__ import annotations

import unicodedata

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import DomainError
from tendering import demo


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


class Command(BaseCommand):
    help = (
        "Create the demo data (organisations, every role, an expert pool, tenders in every state) "
        "through the services, unless it is there already, and print the demo logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--closing-delay",
            type=float,
            default=demo.DEFAULT_CLOSING_DELAY,
            help="Seconds ahead the deadlines of the past-state tenders are set; seeding waits that long "
            "(default: %(default)s).",
        )
        parser.add_argument(
            "--experts",
            type=int,
            default=demo.DEFAULT_EXPERTS,
            help="How many experts the pool gets (default: %(default)s).",
        )

    def handle(self, *args: object, closing_delay: float, experts: int, **options: object) -> None:
        if closing_delay < demo.MIN_CLOSING_DELAY:
            raise CommandError(f"--closing-delay must be at least {demo.MIN_CLOSING_DELAY} seconds.")
        if experts < 1:
            raise CommandError("--experts must be at least 1.")
        if not demo.is_seeded():
            self.stdout.write("Seeding the demo data…")
        try:
            result = demo.seed(closing_delay=closing_delay, experts=experts, log=self.stdout.write)
        except DomainError as exc:
            # Nothing was kept (seeding is one transaction); say which rule refused it.
            raise CommandError(f"The demo data could not be created: {exc}") from exc
        if result.created:
            self.stdout.write(self.style.SUCCESS("Demo data created."))
        else:
            self.stdout.write("Demo data already present: nothing created.")
        self.print_logins(result)

    def print_logins(self, result: demo.SeedResult) -> None:
        rows = [("username", "role", "organisation")]
        for login in result.logins:
            username = login.username
            if login.username == result.expert_range.split("…")[0]:
                username = f"{result.expert_range} (of {result.expert_count})"
            rows.append((username, login.role, login.organisation))
        widths = [max(_width(row[column]) for row in rows) + 2 for column in range(3)]
        self.stdout.write("")
        self.stdout.write(f"Demo logins — password for every account: {demo.DEMO_PASSWORD}")
        for index, (username, role, organisation) in enumerate(rows):
            self.stdout.write(f"  {_pad(username, widths[0])}{_pad(role, widths[1])}{organisation}")
            if index == 0:
                self.stdout.write("  " + "-" * (sum(widths) - 2))
        self.stdout.write("")
