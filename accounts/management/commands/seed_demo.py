"""``manage.py seed_demo``: load the demo trading centre once, and print its logins and the live ceremony."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from config.env import env_int
from core.errors import DomainError
from tendering import demo
from tendering.models import LotStatus


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


class Command(BaseCommand):
    help = (
        "Create the demo data (organisations, every role, an expert pool, tenders in every state, and a lot "
        "whose opening ceremony starts a few minutes later) through the services, unless it is there already, "
        "and print the demo logins and how to take part in the ceremony."
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
        parser.add_argument(
            "--ceremony-minutes",
            type=int,
            # Read here rather than in settings: only this command uses it, and `make run` passes no options.
            default=env_int("DEMO_CEREMONY_MINUTES", demo.DEFAULT_CEREMONY_MINUTES, minimum=demo.MIN_CEREMONY_MINUTES),
            help="Minutes after seeding the live ceremony lot opens, rounded up to the minute "
            "(default: %(default)s, or the DEMO_CEREMONY_MINUTES environment variable).",
        )

    def handle(
        self, *args: object, closing_delay: float, experts: int, ceremony_minutes: int, **options: object
    ) -> None:
        if closing_delay < demo.MIN_CLOSING_DELAY:
            raise CommandError(f"--closing-delay must be at least {demo.MIN_CLOSING_DELAY} seconds.")
        if experts < 1:
            raise CommandError("--experts must be at least 1.")
        if ceremony_minutes < demo.MIN_CEREMONY_MINUTES:
            raise CommandError(f"--ceremony-minutes must be at least {demo.MIN_CEREMONY_MINUTES}.")
        if not demo.is_seeded():
            self.stdout.write("Seeding the demo data…")
        try:
            result = demo.seed(
                closing_delay=closing_delay, experts=experts, ceremony_minutes=ceremony_minutes,
                log=self.stdout.write,
            )
        except (DomainError, demo.SeedTooSlow, ImproperlyConfigured) as exc:
            # Nothing was kept (seeding is one transaction); say which rule refused it.
            raise CommandError(f"The demo data could not be created: {exc}") from exc
        if result.created:
            self.stdout.write(self.style.SUCCESS("Demo data created."))
        else:
            self.stdout.write("Demo data already present: nothing created.")
        self.print_logins(result)
        if result.ceremony is not None:
            self.print_ceremony(result.ceremony)

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

    def print_ceremony(self, ceremony: demo.CeremonyInfo) -> None:
        opening = timezone.localtime(ceremony.opening_time)
        self.stdout.write(
            f"Live opening ceremony (不见面开标): {ceremony.tender_code} {ceremony.lot_name}"
        )
        if ceremony.upcoming:
            minutes = max(0, round((ceremony.opening_time - timezone.now()).total_seconds() / 60))
            self.stdout.write(
                f"  opens at {opening:%Y-%m-%d %H:%M} (in about {minutes} min; sign-in is open now) "
                f"in the room at {ceremony.room_path}"
            )
        elif ceremony.status in (LotStatus.PUBLISHED, LotStatus.BIDDING_CLOSED):
            self.stdout.write(
                f"  opening time {opening:%Y-%m-%d %H:%M} reached: the task worker (started by make run) opens "
                f"the room at {ceremony.room_path}"
            )
        elif ceremony.status == LotStatus.OPENING:
            self.stdout.write(f"  opened at {opening:%Y-%m-%d %H:%M}: the ceremony is under way in the room at "
                              f"{ceremony.room_path}")
        else:
            self.stdout.write(
                f"  opening time {opening:%Y-%m-%d %H:%M} passed; the lot is now: {ceremony.status_label} "
                f"(room: {ceremony.room_path}). For a new ceremony, start again from an empty database "
                f"(embedded default: delete var/sunbid.sqlite3); the key files in {ceremony.keys_dir} are reused."
            )
        width = max(_width(seat.username) for seat in ceremony.seats) + 2
        parts = max(_width(seat.part) for seat in ceremony.seats) + 2
        for seat in ceremony.seats:
            line = f"  {_pad(seat.part, parts)}{_pad(seat.username, width)}{seat.organisation}"
            if seat.key_file is not None:
                line += f"  key: {seat.key_file.name}"
            self.stdout.write(line)
        self.stdout.write(
            f"  Bidders: restore your key file from {ceremony.keys_dir} on /accounts/keys/ "
            f"(passphrase {demo.DEMO_KEY_PASSPHRASE}) before decrypting in the room; docs/demo.md walks through it."
        )
        self.stdout.write("")
