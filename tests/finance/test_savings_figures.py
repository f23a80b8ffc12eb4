"""The savings figures (节约率报表): hand-computed totals, slices, period edges, the drill-down and the fact table.

The world of ``year_2025``: five lots awarded in 2025 (Asia/Shanghai), one at
each edge of the year outside it, one failed and one cancelled lot. Every
expected figure below is worked out by hand from these amounts:

====  ============  ========  ======  ========  ==========================  ==============  ==============  ==========
lot   category      region    agency  tenderer  awarded (Beijing time)      control         award           savings
====  ============  ========  ======  ========  ==========================  ==============  ==============  ==========
A     construction  330000    alice   tenderer  2025-01-15 10:00            1,000,000.00    950,000.00      50,000.00
B     construction  320000    alice   tenderer  2025-02-10 14:00            2,345,678.91    2,222,222.22    123,456.69
C     government    330000    agnes   other     2025-03-31 23:59:59         800,000.00      799,999.99      0.01
D     medical       330000    alice   tenderer  2025-04-01 00:00:00         3,000,000.00    2,700,000.00    300,000.00
E     government    320000    agnes   tenderer  2025-12-31 23:30            500,000.00      460,000.00      40,000.00
F     construction  330000    alice   tenderer  2024-12-31 23:30            400,000.00      300,000.00      (2024)
G     construction  330000    alice   tenderer  2026-01-01 00:00 (UTC: 2025)  600,000.00    500,000.00      (2026)
====  ============  ========  ======  ========  ==========================  ==============  ==============  ==========

2025: control 7,645,678.91, award 7,132,222.21, savings 513,456.70, rate
513,456.70 / 7,645,678.91 = 6.7156…% → 6.72%.
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from accounts.credit_code import make as make_code
from accounts.models import OrganisationKind
from accounts.services import organisation_create
from core.errors import DomainError, NotFound, NotPermitted
from finance import selectors
from finance.models import SavingsFact
from finance.periods import Period
from finance.selectors import Figure, rate_of
from finance.services import savings_facts_rebuild
from tendering.models import Lot, LotStatus

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
D = Decimal


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


@pytest.fixture
def year_2025(savings_award, orgs):
    orgs["other"] = organisation_create(
        actor=None, name="市第二人民医院", code=make_code("91330100MA0000099"), kind=OrganisationKind.TENDERER
    )
    lots = {
        "A": savings_award(at=at(2025, 1, 15, 10), control="1000000.00", award="950000.00"),
        "B": savings_award(at=at(2025, 2, 10, 14), control="2345678.91", award="2222222.22", region="320000"),
        "C": savings_award(at=at(2025, 3, 31, 23, 59, 59), control="800000.00", award="799999.99", agent="agnes",
                           category="government", tenderer="other"),
        "D": savings_award(at=at(2025, 4, 1), control="3000000.00", award="2700000.00", category="medical"),
        "E": savings_award(at=at(2025, 12, 31, 23, 30), control="500000.00", award="460000.00", agent="agnes",
                           category="government", region="320000"),
        "F": savings_award(at=at(2024, 12, 31, 23, 30), control="400000.00", award="300000.00"),
        "G": savings_award(at=at(2026, 1, 1), control="600000.00", award="500000.00"),
        "failed": savings_award(at=at(2025, 6, 1), control="9000000.00", status=LotStatus.FAILED),
        "cancelled": savings_award(at=at(2025, 6, 2), control="7000000.00", status=LotStatus.CANCELLED),
    }
    return lots


def figures(rows):
    return {row.key: (row.figure.lots, row.figure.control_price, row.figure.award_price, row.figure.savings,
                      row.figure.rate) for row in rows}


def test_the_years_totals_equal_the_hand_computed_figures_and_leave_out_failed_and_cancelled_lots(
    year_2025, people
):
    report = selectors.savings_report(user=people["fay"], period=Period.year(2025), by="category")
    assert (report.total.lots, report.total.control_price, report.total.award_price) == (
        5, D("7645678.91"), D("7132222.21")
    )
    assert report.total.savings == D("513456.70")
    assert report.total.rate == D("6.72")
    assert figures(report.rows) == {
        "construction": (2, D("3345678.91"), D("3172222.22"), D("173456.69"), D("5.18")),
        "government": (2, D("1300000.00"), D("1259999.99"), D("40000.01"), D("3.08")),
        "medical": (1, D("3000000.00"), D("2700000.00"), D("300000.00"), D("10.00")),
    }
    # The category chart's series is the same rows; the rate is savings over control, never a mean of rates.
    assert report.categories == report.rows
    assert D("3.08") != (D("0.00") + D("8.00")) / 2


def test_every_slice_of_the_year_adds_up_to_the_same_total(year_2025, people):
    fay, year = people["fay"], Period.year(2025)
    region = selectors.savings_report(user=fay, period=year, by="region")
    assert figures(region.rows) == {
        "320000": (2, D("2845678.91"), D("2682222.22"), D("163456.69"), D("5.74")),
        "330000": (3, D("4800000.00"), D("4449999.99"), D("350000.01"), D("7.29")),
    }
    assert [row.label for row in region.rows] == ["江苏省", "浙江省"]
    alice_agency, agnes_agency = (str(people[name].organisation_id) for name in ("alice", "agnes"))
    agency = selectors.savings_report(user=fay, period=year, by="agency")
    assert figures(agency.rows) == {
        alice_agency: (3, D("6345678.91"), D("5872222.22"), D("473456.69"), D("7.46")),
        agnes_agency: (2, D("1300000.00"), D("1259999.99"), D("40000.01"), D("3.08")),
    }
    assert [row.key for row in agency.rows] == [alice_agency, agnes_agency], "largest savings first"
    tenderer = selectors.savings_report(user=fay, period=year, by="tenderer")
    assert [(row.label, row.figure.savings, row.figure.rate) for row in tenderer.rows] == [
        ("市第一人民医院", D("513456.69"), D("7.50")),
        ("市第二人民医院", D("0.01"), D("0.00")),
    ]
    month = selectors.savings_report(user=fay, period=year, by="month")
    assert [row.key for row in month.rows] == [f"2025-{number:02d}" for number in range(1, 13)]
    assert {row.key: row.figure.savings for row in month.rows if row.figure.lots} == {
        "2025-01": D("50000.00"), "2025-02": D("123456.69"), "2025-03": D("0.01"),
        "2025-04": D("300000.00"), "2025-12": D("40000.00"),
    }
    assert month.rows[5].figure == Figure() and month.rows[5].figure.rate is None
    quarter = selectors.savings_report(user=fay, period=year, by="quarter")
    assert figures(quarter.rows) == {
        "2025-Q1": (3, D("4145678.91"), D("3972222.21"), D("173456.70"), D("4.18")),
        "2025-Q2": (1, D("3000000.00"), D("2700000.00"), D("300000.00"), D("10.00")),
        "2025-Q3": (0, D("0.00"), D("0.00"), D("0.00"), None),
        "2025-Q4": (1, D("500000.00"), D("460000.00"), D("40000.00"), D("8.00")),
    }
    for report in (region, agency, tenderer, month, quarter):
        assert report.total == Figure(lots=5, control_fen=764567891, award_fen=713222221), report.by


def test_periods_follow_the_award_date_in_beijing_time_at_every_edge(year_2025, people):
    fay = people["fay"]

    def savings(period: Period) -> tuple[int, Decimal]:
        total = selectors.savings_report(user=fay, period=period, by="month").total
        return total.lots, total.savings

    # C at 23:59:59 on 31 March (15:59:59 UTC) is March and the first quarter; D at midnight on 1 April
    # (16:00 UTC on 31 March) is April and the second.
    assert savings(Period.month(2025, 3)) == (1, D("0.01"))
    assert savings(Period.month(2025, 4)) == (1, D("300000.00"))
    assert savings(Period.quarter(2025, 1)) == (3, D("173456.70"))
    assert savings(Period.quarter(2025, 2)) == (1, D("300000.00"))
    # F at 23:30 on New Year's Eve 2024 is 2024; G at midnight on 1 January 2026 is 2026, though
    # both are on 31 December in UTC.
    assert savings(Period.year(2024)) == (1, D("100000.00"))
    assert savings(Period.year(2026)) == (1, D("100000.00"))
    assert savings(Period.month(2025, 12)) == (1, D("40000.00"))
    # A custom range includes both of its days.
    assert savings(Period.between(dt.date(2025, 3, 31), dt.date(2025, 4, 1))) == (2, D("300000.01"))
    assert savings(Period.between(dt.date(2024, 12, 31), dt.date(2026, 1, 1))) == (7, D("713456.70"))
    fact = SavingsFact.objects.get(pk=year_2025["G"].pk)
    assert fact.awarded_at.astimezone(dt.UTC).date() == dt.date(2025, 12, 31)
    assert fact.award_date == dt.date(2026, 1, 1)


def test_sums_are_exact_to_the_fen_where_floating_point_is_not(savings_award, people):
    controls = ["9209190729438.10", "8969000059183.95", "8702270548456.08"]
    for index, control in enumerate(controls):
        savings_award(at=at(2025, 5, 1 + index, 9), control=control, award=f"{D(control) - D('1000.01')}")
    # Two hundred yuan saved three fen: 0.015 % exactly, which rounds half up to 0.02 %.
    savings_award(at=at(2025, 5, 9, 9), control="200.00", award="199.97", category="other")

    report = selectors.savings_report(user=people["fay"], period=Period.month(2025, 5), by="category")
    construction = report.rows[0].figure
    assert construction.control_price == D("26880461337078.13")
    assert construction.savings == D("3000.03")
    floating = round(sum(float(control) for control in controls), 2)
    assert f"{floating:.2f}" == "26880461337078.12", "binary floating point loses the fen"
    other = report.rows[1].figure
    assert (other.savings, other.rate) == (D("0.03"), D("0.02"))
    assert round(0.03 / 200.00 * 100, 2) == 0.01, "a float rate rounds this one down"
    assert report.total.control_price == D("26880461337278.13")


def test_rates_round_half_up_in_exact_arithmetic():
    assert rate_of(savings_fen=3, control_fen=20_000) == D("0.02")  # 0.015 %
    assert rate_of(savings_fen=24_690, control_fen=200_000) == D("12.35")  # 12.345 %
    assert rate_of(savings_fen=1, control_fen=3) == D("33.33")
    assert rate_of(savings_fen=2, control_fen=3) == D("66.67")
    assert rate_of(savings_fen=0, control_fen=100) == D("0.00")
    assert rate_of(savings_fen=5, control_fen=0) is None


def test_an_agent_sees_only_the_lots_of_their_own_agency(year_2025, people):
    report = selectors.savings_report(user=people["alice"], period=Period.year(2025), by="agency")
    assert [row.key for row in report.rows] == [str(people["alice"].organisation_id)]
    assert (report.total.lots, report.total.savings) == (3, D("473456.69"))
    agnes = selectors.savings_report(user=people["agnes"], period=Period.year(2025), by="category")
    assert (agnes.total.lots, agnes.total.savings) == (2, D("40000.01"))
    lots = selectors.savings_slice(user=people["alice"], period=Period.year(2025))
    assert {fact.lot_id for fact in lots.facts} == {year_2025[key].pk for key in "ABD"}
    # Another agency's figure cannot be drilled into, nor its name learnt through a guessed id.
    with pytest.raises(NotFound):
        selectors.savings_slice(
            user=people["alice"], period=Period.year(2025), by="agency", key=str(people["agnes"].organisation_id)
        )
    assert selectors.savings_slice(
        user=people["alice"], period=Period.year(2025), by="category", key="government"
    ).figure == Figure()


@pytest.mark.parametrize("name", ["bob", "terry", "sam", "eve"])
def test_anyone_but_finance_administrators_and_agents_is_refused(name, people):
    with pytest.raises(NotPermitted) as refused:
        selectors.savings_report(user=people[name], period=Period.year(2025), by="month")
    assert refused.value.code == "savings.not_permitted"


def test_the_platform_administrator_sees_everything_as_finance_does(year_2025, people):
    year = Period.year(2025)
    assert selectors.savings_report(user=people["pat"], period=year, by="agency") == selectors.savings_report(
        user=people["fay"], period=year, by="agency"
    )


def test_the_lots_behind_every_figure_add_up_to_it_page_by_page(year_2025, people):
    fay, year = people["fay"], Period.year(2025)
    for by in selectors.DIMENSIONS:
        report = selectors.savings_report(user=fay, period=year, by=by)
        for row in [*report.rows, None]:
            key = row.key if row is not None else None
            expected = row.figure if row is not None else report.total
            lots = selectors.savings_slice(user=fay, period=year, by=by if key else None, key=key)
            assert lots.figure == expected, (by, key)
            traced = Figure()
            for fact in lots.facts:
                traced = traced + Figure.of_fact(fact)
            assert traced == expected, (by, key)
            # Two lots a page: the last page's running total (carried forward + its lots) is the figure.
            pages = max(1, -(-expected.lots // 2))
            ledger = selectors.savings_ledger(lots, page=pages, per_page=2)
            assert ledger.is_last and ledger.agrees and ledger.running == expected, (by, key)
            before = Figure()
            for fact in list(lots.facts)[: (pages - 1) * 2]:
                before = before + Figure.of_fact(fact)
            assert ledger.carried == before, (by, key)
    q1 = selectors.savings_slice(user=fay, period=year, by="quarter", key="2025-Q1")
    assert [fact.lot_id for fact in q1.facts] == [year_2025[key].pk for key in "ABC"]
    ledger = selectors.savings_ledger(q1, page=2, per_page=2)
    assert ledger.carried == Figure(lots=2, control_fen=334567891, award_fen=317222222)
    assert [row.running.savings for row in ledger.rows] == [D("173456.70")]


def test_a_bucket_of_a_custom_range_covers_only_the_ranges_days(year_2025, people):
    period = Period.between(dt.date(2025, 2, 1), dt.date(2025, 3, 31))
    report = selectors.savings_report(user=people["fay"], period=period, by="quarter")
    assert [(row.key, row.figure.lots) for row in report.rows] == [("2025-Q1", 2)]
    lots = selectors.savings_slice(user=people["fay"], period=period, by="quarter", key="2025-Q1")
    assert (lots.period.start, lots.period.end, lots.figure.lots) == (dt.date(2025, 2, 1), dt.date(2025, 3, 31), 2)
    for key in ("2025-Q2", "2025-13", "garbage"):
        with pytest.raises(NotFound):
            selectors.savings_slice(user=people["fay"], period=period, by="month", key=key)
    with pytest.raises(NotFound):
        selectors.savings_slice(user=people["fay"], period=period, by="category", key="bogus")


def test_the_fact_table_stays_equal_to_the_awarded_lots(year_2025, people, orgs):
    assert selectors.savings_fact_discrepancies() == []
    assert SavingsFact.objects.count() == 7
    assert not SavingsFact.objects.filter(pk__in=[year_2025["failed"].pk, year_2025["cancelled"].pk]).exists()
    lot = Lot.objects.get(pk=year_2025["A"].pk)
    fact = SavingsFact.objects.get(pk=lot.pk)
    assert (fact.control_fen, fact.award_fen, fact.category, fact.region, fact.agency_id, fact.tenderer_id) == (
        100_000_000, 95_000_000, "construction", "330000", lot.tender.agency_id, lot.tender.tenderer_id,
    )

    # A refused award writes nothing; an award whose transaction rolls back leaves no fact behind.
    pending = Lot.objects.get(pk=year_2025["A"].pk)
    Lot.objects.filter(pk=pending.pk).update(status=LotStatus.EVALUATING)
    SavingsFact.objects.filter(pk=pending.pk).delete()
    from tendering import services as tendering

    with pytest.raises(DomainError):
        tendering.lot_award(actor=people["alice"], lot=pending, winner=orgs["bidder_a"], award_price=D("1000000.01"))
    assert not SavingsFact.objects.filter(pk=pending.pk).exists()
    with pytest.raises(RuntimeError), transaction.atomic():
        tendering.lot_award(actor=people["alice"], lot=pending, winner=orgs["bidder_a"], award_price=D("990000.00"))
        assert SavingsFact.objects.filter(pk=pending.pk).exists()
        raise RuntimeError("the caller's transaction fails after the award")
    assert not SavingsFact.objects.filter(pk=pending.pk).exists()
    assert [(item.lot_id, item.problem) for item in selectors.savings_fact_discrepancies()] == []
    tendering.lot_award(actor=people["alice"], lot=pending, winner=orgs["bidder_a"], award_price=D("990000.00"))
    assert SavingsFact.objects.get(pk=pending.pk).award_fen == 99_000_000
    assert selectors.savings_fact_discrepancies() == []

    # Any drift is found, and a rebuild from the lots repairs it.
    SavingsFact.objects.filter(pk=year_2025["B"].pk).update(award_fen=1)
    SavingsFact.objects.filter(pk=year_2025["D"].pk).delete()
    SavingsFact.objects.create(
        lot=year_2025["failed"], awarded_at=at(2025, 6, 1), award_date=dt.date(2025, 6, 1), category="other",
        region="330000", agency=orgs["agency"], tenderer=orgs["tenderer"], control_fen=2, award_fen=1,
    )
    assert [(item.lot_id, item.problem) for item in selectors.savings_fact_discrepancies()] == sorted(
        [(year_2025["B"].pk, "different"), (year_2025["D"].pk, "missing"), (year_2025["failed"].pk, "extra")]
    )
    with pytest.raises(CommandError, match=f"lot {year_2025['B'].pk} different"):
        call_command("savings_facts", stdout=io.StringIO())
    assert savings_facts_rebuild() == 7
    assert selectors.savings_fact_discrepancies() == []
    SavingsFact.objects.filter(pk=year_2025["B"].pk).delete()
    out = io.StringIO()
    call_command("savings_facts", "--rebuild", stdout=out)
    assert "savings facts equal the awarded lots" in out.getvalue()
    assert SavingsFact.objects.filter(pk=year_2025["B"].pk).exists()


def test_the_data_migration_fills_the_facts_of_lots_awarded_before_it(year_2025):
    before = {fact.pk: fact for fact in SavingsFact.objects.all()}
    SavingsFact.objects.all().delete()
    migration = importlib.import_module("finance.migrations.0002_backfill_savings_facts")

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection  # type: ignore[attr-defined]
    migration.backfill(apps, editor)
    after = {fact.pk: fact for fact in SavingsFact.objects.all()}
    assert sorted(after) == sorted(before)
    assert selectors.savings_fact_discrepancies() == []
