"""Benchmark: the savings report (节约率报表) over 1,000,000 awarded lots on PostgreSQL.

Target: a year's report by category (the page's figures: the rows, the total,
the monthly bars and the category rates) in under one second.

Run against a PostgreSQL database of its own (created if missing, migrated,
built on first use and reused afterwards)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_savings_bench \\
        .venv/bin/python bench/savings.py [--lots 1000000] [--runs 7] [--rebuild] [--explain]

The world is bulk-loaded in SQL (``INSERT … SELECT`` over ``generate_series``,
never the ORM row by row): 40 agencies, 3,000 tenderers, 800 bidders, one
tender per four lots, ``--lots`` awarded lots with award times spread evenly
over 2021–2025 (about 200,000 a year) in every category and region, and 5 %
more lots that failed (流标), which the reports must leave out. The savings
facts are then written by one ``INSERT … SELECT`` from the lots, the same
row ``finance.services.savings_fact_record`` writes at each award (award date
in Asia/Shanghai, amounts in fen), and checked against the lots year by year.

What is timed, each ``--runs`` times in one process (its first run has no warm
connection or ORM caches; the database's cache is whatever earlier runs left):

- ``savings_report(by="category")`` for 2024, as finance staff: what the page
  shows — the target;
- the same for 2024 by month and by agency, for all five years by category,
  and for one agent's own agency;
- the drill-down ledger of the largest category in 2024: its first page
  and its last page (whose carried-forward total sums every lot before it);
- for comparison, the "careful query" without the fact table: the same
  year by category straight from the lots joined to their tenders.

The machine's load average is printed at the end: on a shared machine the
wall-clock times say as much about the neighbours as about the report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
    sys.exit("bench/savings.py measures PostgreSQL: set DATABASE_URL=postgres://…/h_savings_bench")


def _ensure_database(url: str) -> None:
    """Create the benchmark's database when it does not exist yet."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(url)
    name = config["NAME"]
    admin = psycopg.connect(
        dbname="postgres",
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        autocommit=True,
    )
    with admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


_ensure_database(os.environ["DATABASE_URL"])

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402

from accounts.credit_code import make as make_code  # noqa: E402
from accounts.models import Organisation, OrganisationKind, Role, User  # noqa: E402
from accounts.services import user_create  # noqa: E402
from finance import selectors  # noqa: E402
from finance.models import SavingsFact  # noqa: E402
from finance.periods import REPORT_ZONE, Period  # noqa: E402
from tendering.models import Category, Lot, LotStatus, Tender  # noqa: E402
from tendering.regions import REGIONS  # noqa: E402

AGENCIES = 40
TENDERERS = 3000
BIDDERS = 800
LOTS_PER_TENDER = 4
FAILED_EVERY = 21  # one lot in 21 fails (流标), about 5 % besides the awarded ones
FIRST_YEAR, YEARS = 2021, 5
YEAR = 2024
CODE_PREFIX = "BENCH-"


def log(message: str) -> None:
    print(message, flush=True)


def _organisations(kind: str, count: int, label: str, serial_base: int) -> list[int]:
    existing = list(
        Organisation.objects.filter(kind=kind, name__startswith=label).order_by("pk").values_list("pk", flat=True)
    )
    if len(existing) >= count:
        return existing[:count]
    Organisation.objects.bulk_create(
        Organisation(
            name=f"{label}{index:05d}",
            credit_code=make_code(f"91330100MA{serial_base + index:07d}"),
            kind=kind,
        )
        for index in range(len(existing), count)
    )
    return list(
        Organisation.objects.filter(kind=kind, name__startswith=label).order_by("pk").values_list("pk", flat=True)
    )


def _user(username: str, organisation: Organisation, role: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = user_create(
            actor=None, organisation=organisation, username=username, password=None, roles=[role], full_name=username
        )
    return user


def build(total: int) -> None:
    """Bulk-load the world in SQL; every statement is one ``INSERT … SELECT`` over ``generate_series``."""
    started = time.perf_counter()
    platform = Organisation.objects.filter(kind=OrganisationKind.PLATFORM, name="基准交易中心").first()
    if platform is None:
        platform = Organisation.objects.create(
            name="基准交易中心", credit_code=make_code("12330100MB0000001"), kind=OrganisationKind.PLATFORM
        )
    creator = _user("bench_creator", platform, Role.PLATFORM_ADMIN)
    agencies = _organisations(OrganisationKind.AGENCY, AGENCIES, "基准招标代理", 1_000_000)
    tenderers = _organisations(OrganisationKind.TENDERER, TENDERERS, "基准招标人", 2_000_000)
    bidders = _organisations(OrganisationKind.BIDDER, BIDDERS, "基准投标人", 3_000_000)
    # Every 21st lot fails and the others are awarded: total + total // 20 lots hold exactly
    # ``total`` awarded ones (with total = 20q + r, r < 20, they number 21q + r, of which q fail).
    failed = total // 20
    tenders = -(-(total + failed) // LOTS_PER_TENDER)
    categories = list(Category.values)
    regions = [code for code, _name in REGIONS]
    with transaction.atomic(), connection.cursor() as cursor:
        log("Clearing the previous benchmark data…")
        cursor.execute("DELETE FROM finance_savingsfact")
        cursor.execute(
            "DELETE FROM tendering_lot WHERE tender_id IN (SELECT id FROM tendering_tender WHERE code LIKE %s)",
            [CODE_PREFIX + "%"],
        )
        cursor.execute("DELETE FROM tendering_tender WHERE code LIKE %s", [CODE_PREFIX + "%"])
        cursor.execute("SELECT setseed(0.2024)")
        log(f"Tenders: {tenders:,}…")
        cursor.execute(
            """
            INSERT INTO tendering_tender
                (code, title, project_name, tenderer_id, agency_id, supervising_authority_id, category, region,
                 description, contact_name, contact_phone, status, published_at, cancelled_reason,
                 created_by_id, created_at, updated_at)
            SELECT %(prefix)s || lpad(g::text, 8, '0'), '基准项目' || g || '招标公告', '基准项目' || g,
                   (%(tenderers)s::bigint[])[1 + floor(random() * %(n_tenderers)s)::int],
                   (%(agencies)s::bigint[])[1 + floor(random() * %(n_agencies)s)::int],
                   NULL,
                   (%(categories)s::text[])[1 + floor(random() * %(n_categories)s)::int],
                   (%(regions)s::text[])[1 + floor(random() * %(n_regions)s)::int],
                   '', '王工', '0571-88880000', 'published', %(published)s, '',
                   %(creator)s, %(published)s, %(published)s
            FROM generate_series(1, %(tenders)s) AS g
            """,
            {
                "prefix": CODE_PREFIX,
                "tenderers": tenderers,
                "n_tenderers": len(tenderers),
                "agencies": agencies,
                "n_agencies": len(agencies),
                "categories": categories,
                "n_categories": len(categories),
                "regions": regions,
                "n_regions": len(regions),
                "published": dt.datetime(FIRST_YEAR - 1, 12, 1, tzinfo=REPORT_ZONE),
                "creator": creator.pk,
                "tenders": tenders,
            },
        )
        log(f"Lots: {total:,} awarded and {failed:,} failed…")
        # Lots in the order of their award times, spread evenly over the years (as the award appends
        # them in production, so a year's facts lie together on disk); control prices from 100,000.00
        # to 50,100,000.00, awards 80–100 % of them, all to the fen.
        cursor.execute(
            """
            INSERT INTO tendering_lot
                (tender_id, number, name, estimated_price, control_price, bid_security, doc_start, doc_end,
                 bid_deadline, opening_time, decryption_minutes, min_bidders, evaluation_method, status,
                 status_changed_at, award_price, winner_id, awarded_at, failed_reason, cancelled_reason,
                 bid_fields, custodian_threshold, custodian_fallback)
            SELECT t.id, s.number, '基准标段' || s.number, s.control, s.control, 0,
                   s.at - interval '40 days', s.at - interval '25 days', s.at - interval '20 days',
                   s.at - interval '20 days', 30, 3, 'lowest_price',
                   CASE WHEN s.awarded THEN 'awarded' ELSE 'failed' END, s.at,
                   CASE WHEN s.awarded THEN round(s.control * (0.8 + random() * 0.2)::numeric, 2) END,
                   CASE WHEN s.awarded THEN (%(bidders)s::bigint[])[1 + floor(random() * %(n_bidders)s)::int] END,
                   CASE WHEN s.awarded THEN s.at END,
                   CASE WHEN s.awarded THEN '' ELSE '投标人不足三家' END, '', '[]'::jsonb, 2, true
            FROM (
                SELECT ordinal, (ordinal - 1) / %(per_tender)s AS tender_index,
                       (ordinal - 1) %% %(per_tender)s + 1 AS number,
                       ordinal %% %(failed_every)s <> 0 AS awarded,
                       round((100000 + random() * 50000000)::numeric, 2) AS control,
                       %(start)s::timestamptz
                           + (ordinal - 1 + random()) / %(all)s * (%(end)s::timestamptz - %(start)s::timestamptz) AS at
                FROM generate_series(1, %(all)s) AS ordinal
            ) AS s
            JOIN (
                SELECT id, row_number() OVER (ORDER BY id) - 1 AS tender_index
                FROM tendering_tender WHERE code LIKE %(like)s
            ) AS t USING (tender_index)
            """,
            {
                "bidders": bidders,
                "n_bidders": len(bidders),
                "per_tender": LOTS_PER_TENDER,
                "failed_every": FAILED_EVERY,
                "all": total + failed,
                "start": dt.datetime(FIRST_YEAR, 1, 1, tzinfo=REPORT_ZONE),
                "end": dt.datetime(FIRST_YEAR + YEARS, 1, 1, tzinfo=REPORT_ZONE),
                "like": CODE_PREFIX + "%",
            },
        )
        log("Savings facts, as the award writes them…")
        cursor.execute(
            """
            INSERT INTO finance_savingsfact
                (lot_id, awarded_at, award_date, category, region, agency_id, tenderer_id, control_fen, award_fen)
            SELECT l.id, l.awarded_at, (l.awarded_at AT TIME ZONE 'Asia/Shanghai')::date, t.category, t.region,
                   t.agency_id, t.tenderer_id, (l.control_price * 100)::bigint, (l.award_price * 100)::bigint
            FROM tendering_lot l JOIN tendering_tender t ON t.id = l.tender_id
            WHERE l.status = 'awarded' AND l.award_price IS NOT NULL AND l.awarded_at IS NOT NULL
            """
        )
    log("VACUUM ANALYZE…")
    with connection.cursor() as cursor:
        for table in ("tendering_tender", "tendering_lot", "finance_savingsfact"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    log(f"Built in {time.perf_counter() - started:.1f} s.")


def check(total: int) -> None:
    """The facts hold exactly the awarded lots: count and fen sums per year, from both tables."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT extract(year FROM l.awarded_at AT TIME ZONE 'Asia/Shanghai')::int, count(*),
                   sum(l.control_price), sum(l.award_price)
            FROM tendering_lot l WHERE l.status = 'awarded' GROUP BY 1 ORDER BY 1
            """
        )
        lots = cursor.fetchall()
        cursor.execute(
            """
            SELECT extract(year FROM award_date)::int, count(*), sum(control_fen) / 100.0, sum(award_fen) / 100.0
            FROM finance_savingsfact GROUP BY 1 ORDER BY 1
            """
        )
        facts = cursor.fetchall()
    assert [tuple(row[:2]) for row in lots] == [tuple(row[:2]) for row in facts], (lots, facts)
    assert all(a[2] == b[2] and a[3] == b[3] for a, b in zip(lots, facts, strict=True)), (lots, facts)
    counted = sum(row[1] for row in facts)
    assert counted == total, f"{counted} facts for {total} lots"
    log("Facts equal the awarded lots, year by year: " + ", ".join(f"{row[0]}: {row[1]:,}" for row in facts))


def timed(label: str, runs: int, action: Callable[[], Any]) -> tuple[list[float], Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    shown = " ".join(f"{t * 1000:.0f}" for t in times)
    log(
        f"{label:<58} median {statistics.median(times) * 1000:7.1f} ms   max {max(times) * 1000:7.1f} ms"
        f"   runs (ms): {shown}"
    )
    return times, result


def careful_query(period: Period) -> list[dict[str, Any]]:
    """The same year by category without the fact table: lots joined to their tenders, summed as decimals."""
    start = dt.datetime.combine(period.start, dt.time.min, tzinfo=REPORT_ZONE)
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time.min, tzinfo=REPORT_ZONE)
    return list(
        Lot.objects.filter(
            status=LotStatus.AWARDED, award_price__isnull=False, awarded_at__gte=start, awarded_at__lt=end
        )
        .values("tender__category")
        .annotate(lots=Count("pk"), control=Sum("control_price"), award=Sum("award_price"))
        .order_by()
    )


def explain(period: Period) -> None:
    facts = SavingsFact.objects.filter(award_date__gte=period.start, award_date__lte=period.end)
    for label, queryset in (
        ("by category", facts.values("category").annotate(n=Count("pk"), c=Sum("control_fen"), a=Sum("award_fen"))),
        ("by day", facts.values("award_date").annotate(n=Count("pk"), c=Sum("control_fen"), a=Sum("award_fen"))),
    ):
        log(f"\nEXPLAIN ANALYZE ({label}):")
        log(queryset.order_by().explain(analyze=True, buffers=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lots", type=int, default=1_000_000, help="awarded lots (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each measurement (default 7)")
    parser.add_argument("--rebuild", action="store_true", help="build the world again even if it is there")
    parser.add_argument("--explain", action="store_true", help="print the query plans of the year's report")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    if args.rebuild or SavingsFact.objects.count() != args.lots:
        build(args.lots)
    check(args.lots)

    platform = Organisation.objects.get(name="基准交易中心")
    finance_user = _user("bench_finance", platform, Role.FINANCE)
    agency = Organisation.objects.get(name="基准招标代理00000")
    agent = _user("bench_agent", agency, Role.AGENT)
    year = Period.year(YEAR)
    everything = Period.between(dt.date(FIRST_YEAR, 1, 1), dt.date(FIRST_YEAR + YEARS - 1, 12, 31))
    runs = args.runs
    log(
        f"\n{args.lots:,} awarded lots ({Lot.objects.filter(status=LotStatus.FAILED).count():,} failed besides), "
        f"{Tender.objects.count():,} tenders; {runs} runs each.\n"
    )

    times, report = timed(
        f"{YEAR} by category (the target)", runs,
        lambda: selectors.savings_report(user=finance_user, period=year, by="category"),
    )
    log(
        f"    {report.total.lots:,} lots, savings {report.total.savings:,} yuan, rate {report.total.rate} %, "
        f"{len(report.rows)} categories, {len(report.months)} months"
    )
    target = statistics.median(times)
    timed(f"{YEAR} by month", runs, lambda: selectors.savings_report(user=finance_user, period=year, by="month"))
    timed(f"{YEAR} by agency", runs, lambda: selectors.savings_report(user=finance_user, period=year, by="agency"))
    timed(f"{YEAR} by tenderer ({TENDERERS:,} rows)", runs,
          lambda: selectors.savings_report(user=finance_user, period=year, by="tenderer"))
    timed(
        f"{FIRST_YEAR}–{FIRST_YEAR + YEARS - 1} by category (every lot)", runs,
        lambda: selectors.savings_report(user=finance_user, period=everything, by="category"),
    )
    timed(f"{YEAR} by category, one agent's own agency", runs,
          lambda: selectors.savings_report(user=agent, period=year, by="category"))

    largest = max(report.rows, key=lambda row: row.figure.lots)
    lots = selectors.savings_slice(user=finance_user, period=year, by="category", key=largest.key)
    last_page = -(-lots.figure.lots // selectors.DRILL_PAGE_SIZE)
    timed(
        f"drill-down {largest.key} {YEAR}: first page",
        runs,
        lambda: selectors.savings_ledger(
            selectors.savings_slice(user=finance_user, period=year, by="category", key=largest.key), page=1
        ),
    )
    _, ledger = timed(
        f"drill-down {largest.key} {YEAR}: last page ({last_page:,})",
        runs,
        lambda: selectors.savings_ledger(
            selectors.savings_slice(user=finance_user, period=year, by="category", key=largest.key), page=last_page
        ),
    )
    assert ledger.is_last and ledger.agrees, "the drill-down's last page does not add up to the figure"
    log(f"    the last page's running total equals the figure: {ledger.running.savings:,} yuan")

    _, careful = timed(f"{YEAR} by category without the fact table (lots ⋈ tenders)", runs, lambda: careful_query(year))
    by_category = {row["tender__category"]: row for row in careful}
    for row in report.rows:
        other = by_category[row.key]
        assert (other["lots"], other["control"], other["award"]) == (
            row.figure.lots, row.figure.control_price, row.figure.award_price,
        ), row.key
    log("    same figures as the report, to the fen")

    if args.explain:
        explain(year)
    load = os.getloadavg()
    log(f"\nLoad average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    verdict = "met" if target < 1.0 else "MISSED"
    log(f"Target (a year by category under 1 s): {verdict}, median {target * 1000:.1f} ms")


if __name__ == "__main__":
    main()
