"""Reads of the savings reports (节约率报表): figures by period, slices and the lots behind them.

Definitions (RULES.md, Savings; docs/finance-savings.md):

- 节约资金 (savings) = 招标控制价 (control price) − 中标价 (award price), per awarded lot;
- 节约率 (rate) = savings ÷ control price, in per cent, two decimals, rounded half up;
- the figure of a slice (a month, a category, an agency, the whole period…)
  sums the lots in it: its savings are the sum of their savings, its rate the
  sum of their savings over the sum of their control prices — a weighted
  rate, never an average of the lots' rates;
- only lots awarded with a price count; failed (流标) and cancelled (终止)
  lots never do. A lot counts on its award date in Asia/Shanghai.

Everything is read from ``SavingsFact`` (one row per awarded lot, written with
the award): amounts are summed by the database as whole fen and become
``Decimal`` yuan here, so no figure loses a fen whatever the number of lots.

Who sees what (``savings_scope``): finance staff and platform administrators
see every lot; an agent sees only the lots of their own agency, in every
report, drill-down and export; anyone else is refused. The scope is applied
in this module, never by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Organisation, Role, User
from core.errors import NotFound, NotPermitted
from finance.facts import FACT_FIELDS, fact_for
from finance.models import SavingsFact
from finance.periods import (
    MONTH,
    QUARTER,
    TIME_GRAINS,
    YEAR,
    Period,
    bucket_key,
    bucket_label,
    bucket_period,
    clip,
)
from tendering.models import Category, Lot, LotStatus
from tendering.regions import REGION_NAMES, region_name

CATEGORY = "category"
REGION = "region"
AGENCY = "agency"
TENDERER = "tenderer"

DIMENSIONS: dict[str, object] = {
    MONTH: gettext_lazy("按月"),
    QUARTER: gettext_lazy("按季度"),
    YEAR: gettext_lazy("按年"),
    CATEGORY: gettext_lazy("按交易类别"),
    REGION: gettext_lazy("按地区"),
    AGENCY: gettext_lazy("按代理机构"),
    TENDERER: gettext_lazy("按招标人"),
}
# The column each non-time dimension groups on.
_COLUMNS = {CATEGORY: "category", REGION: "region", AGENCY: "agency_id", TENDERER: "tenderer_id"}

DRILL_PAGE_SIZE = 50


# --- who sees what ------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The lots a user's reports cover: every agency's (``agency_id`` None) or one agency's."""

    agency_id: int | None
    agency_name: str = ""

    @property
    def label(self) -> str:
        if self.agency_id is None:
            return _("全部代理机构")
        return _("本机构（%(name)s）") % {"name": self.agency_name}

    def facts(self) -> QuerySet[SavingsFact]:
        facts = SavingsFact.objects.all()
        if self.agency_id is not None:
            facts = facts.filter(agency_id=self.agency_id)
        return facts


def savings_scope(*, user: User) -> Scope:
    """The user's scope, or ``savings.not_permitted`` (403) for anyone but finance, administrators and agents."""
    if user.is_authenticated and user.has_role(Role.FINANCE, Role.PLATFORM_ADMIN):
        return Scope(agency_id=None)
    if user.is_authenticated and user.has_role(Role.AGENT) and user.organisation_id is not None:
        organisation = user.organisation
        assert organisation is not None
        return Scope(agency_id=organisation.pk, agency_name=organisation.name)
    raise NotPermitted("savings.not_permitted", gettext_lazy("只有财务人员、平台管理员和代理机构经办人可以查看节约率报表。"))


def may_view_savings(user: User) -> bool:
    return user.is_authenticated and (
        user.has_role(Role.FINANCE, Role.PLATFORM_ADMIN)
        or (user.has_role(Role.AGENT) and user.organisation_id is not None)
    )


# --- figures --------------------------------------------------------------------------


def _yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def rate_of(*, savings_fen: int, control_fen: int) -> Decimal | None:
    """Savings over control price in per cent, two decimals, half up, in exact integer arithmetic.

    None when there is no control price to divide by (an empty slice).
    """
    if control_fen <= 0:
        return None
    hundredths = abs(savings_fen) * 10_000  # per cent × 100
    quotient, remainder = divmod(hundredths, control_fen)
    if 2 * remainder >= control_fen:
        quotient += 1
    return _yuan(-quotient if savings_fen < 0 else quotient)


@dataclass(frozen=True)
class Figure:
    """What a report shows for a set of awarded lots; amounts exact to the fen."""

    lots: int = 0
    control_fen: int = 0
    award_fen: int = 0

    @property
    def savings_fen(self) -> int:
        return self.control_fen - self.award_fen

    @property
    def control_price(self) -> Decimal:
        return _yuan(self.control_fen)

    @property
    def award_price(self) -> Decimal:
        return _yuan(self.award_fen)

    @property
    def savings(self) -> Decimal:
        return _yuan(self.savings_fen)

    @property
    def rate(self) -> Decimal | None:
        """节约率, per cent, two decimals (6.13 means 6.13 %); None for no lots."""
        return rate_of(savings_fen=self.savings_fen, control_fen=self.control_fen)

    def __add__(self, other: Figure) -> Figure:
        return Figure(
            lots=self.lots + other.lots,
            control_fen=self.control_fen + other.control_fen,
            award_fen=self.award_fen + other.award_fen,
        )

    @classmethod
    def of_fact(cls, fact: SavingsFact) -> Figure:
        return cls(lots=1, control_fen=fact.control_fen, award_fen=fact.award_fen)


def _total(figures: Iterable[Figure]) -> Figure:
    total = Figure()
    for figure in figures:
        total = total + figure
    return total


_SUMS = {"lots": Count("pk"), "control": Sum("control_fen"), "award": Sum("award_fen")}


def _figure(row: dict[str, int | None]) -> Figure:
    return Figure(lots=int(row["lots"] or 0), control_fen=int(row["control"] or 0), award_fen=int(row["award"] or 0))


def figure_of(facts: QuerySet[SavingsFact]) -> Figure:
    """The figure of a set of facts, summed by the database."""
    return _figure(facts.order_by().aggregate(**_SUMS))


def _grouped(facts: QuerySet[SavingsFact], column: str) -> dict[object, Figure]:
    rows = facts.order_by().values(column).annotate(**_SUMS)
    return {row[column]: _figure(row) for row in rows}


# --- the report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    """One line of a report: its key (for the drill-down), its label and its figure."""

    key: str
    label: str
    figure: Figure


@dataclass(frozen=True)
class SavingsReport:
    scope: Scope
    period: Period
    by: str
    rows: list[Slice]
    total: Figure
    months: list[Slice]
    """Every month of the period (the bar chart), empty ones included."""
    categories: list[Slice]
    """Every category with an awarded lot in the period (the rate chart)."""

    @property
    def by_label(self) -> str:
        return str(DIMENSIONS[self.by])

    @property
    def is_time(self) -> bool:
        return self.by in TIME_GRAINS


def _in_period(scope: Scope, period: Period) -> QuerySet[SavingsFact]:
    return scope.facts().filter(award_date__gte=period.start, award_date__lte=period.end)


def _time_slices(by_day: dict[object, Figure], period: Period, grain: str) -> list[Slice]:
    buckets = {key: Figure() for key in period.buckets(grain)}
    for day, figure in by_day.items():
        key = bucket_key(day, grain)  # type: ignore[arg-type]
        buckets[key] = buckets[key] + figure
    return [Slice(key=key, label=bucket_label(key, grain), figure=figure) for key, figure in buckets.items()]


def _category_slices(grouped: dict[object, Figure]) -> list[Slice]:
    order = {value: index for index, value in enumerate(Category.values)}
    return [
        Slice(key=str(code), label=str(Category(code).label) if code in order else str(code), figure=figure)
        for code, figure in sorted(grouped.items(), key=lambda item: (order.get(str(item[0]), len(order)), item[0]))
    ]


def _region_slices(grouped: dict[object, Figure]) -> list[Slice]:
    return [
        Slice(key=str(code), label=region_name(str(code)), figure=figure)
        for code, figure in sorted(grouped.items(), key=lambda item: str(item[0]))
    ]


def _organisation_slices(grouped: dict[object, Figure]) -> list[Slice]:
    names = dict(Organisation.objects.filter(pk__in=list(grouped)).values_list("pk", "name"))
    slices = [Slice(key=str(pk), label=names.get(pk, str(pk)), figure=figure) for pk, figure in grouped.items()]
    # The largest savings first; a tie goes by name, so the order is stable.
    return sorted(slices, key=lambda item: (-item.figure.savings_fen, item.label, item.key))


def _slices(facts: QuerySet[SavingsFact], by: str) -> list[Slice]:
    grouped = _grouped(facts, _COLUMNS[by])
    if by == CATEGORY:
        return _category_slices(grouped)
    if by == REGION:
        return _region_slices(grouped)
    return _organisation_slices(grouped)


def savings_report(*, user: User, period: Period, by: str) -> SavingsReport:
    """The period's figures broken down ``by`` a dimension, with the month and category series of the charts.

    One grouped query by award date and category gives the time rows, the
    category rows and both charts; a region, agency or tenderer breakdown
    adds its own grouped query. The total is the sum of the rows, which is
    the sum over the period: every lot falls in exactly one row.
    """
    if by not in DIMENSIONS:
        raise NotFound("savings.dimension", gettext_lazy("没有这种统计方式。"))
    scope = savings_scope(user=user)
    facts = _in_period(scope, period)
    # Up to 366 × 6 groups a year, folded here in plain integers.
    day_sums: dict[object, list[int]] = {}
    category_sums: dict[object, list[int]] = {}
    for day, category, lots, control, award in facts.order_by().values_list("award_date", "category").annotate(
        **_SUMS
    ):
        for sums, key in ((day_sums, day), (category_sums, category)):
            total = sums.setdefault(key, [0, 0, 0])
            total[0] += lots
            total[1] += control
            total[2] += award
    by_day = {key: Figure(*sums) for key, sums in day_sums.items()}
    by_category = {key: Figure(*sums) for key, sums in category_sums.items()}
    months = _time_slices(by_day, period, MONTH)
    categories = _category_slices(by_category)
    if by in TIME_GRAINS:
        rows = months if by == MONTH else _time_slices(by_day, period, by)
    elif by == CATEGORY:
        rows = categories
    else:
        rows = _slices(facts, by)
    return SavingsReport(
        scope=scope,
        period=period,
        by=by,
        rows=rows,
        total=_total(row.figure for row in rows),
        months=months,
        categories=categories,
    )


# --- the lots behind a figure -------------------------------------------------------------


@dataclass(frozen=True)
class SliceLots:
    """The awarded lots behind one figure of a report, in award order, with that figure."""

    scope: Scope
    period: Period
    """The days the slice covers: the report's period, or the part of it a time bucket covers."""
    report_period: Period
    by: str | None
    key: str | None
    label: str
    facts: QuerySet[SavingsFact]
    """In award order (award date, then lot); only the fact's own columns (``with_details`` adds the rest)."""
    figure: Figure


def _slice_label(scope: Scope, period: Period, by: str, key: str) -> tuple[str, Period, dict[str, object]]:
    """The slice's label, the days it covers and its filter; NotFound for a key that names no slice one may see."""
    missing = NotFound("savings.slice_not_found", gettext_lazy("没有找到这项统计数据。"))
    if by in TIME_GRAINS:
        bucket = bucket_period(key, by)
        days = clip(period, bucket) if bucket is not None else None
        if bucket is None or days is None:
            raise missing
        return bucket.label, days, {}
    if by == CATEGORY:
        if key not in Category.values:
            raise missing
        return str(Category(key).label), period, {"category": key}
    if by == REGION:
        if key not in REGION_NAMES:
            raise missing
        return region_name(key), period, {"region": key}
    if not key.isdigit():
        raise missing
    column = "agency_id" if by == AGENCY else "tenderer_id"
    # An organisation is named only through a lot of the period that the user may see.
    name = _in_period(scope, period).filter(**{column: int(key)}).values_list(f"{by}__name", flat=True).first()
    if name is None:
        raise missing
    return name, period, {column: int(key)}


def savings_slice(*, user: User, period: Period, by: str | None = None, key: str | None = None) -> SliceLots:
    """The lots behind the figure of ``key`` in the report ``by`` a dimension, or behind the period's total.

    The lots are exactly those the report summed for that figure (the same
    scope, days and filter), so their amounts add up to it to the fen.
    """
    scope = savings_scope(user=user)
    days, conditions = period, {}
    label = _("全部")
    if by is not None or key is not None:
        if by not in DIMENSIONS or not key:
            raise NotFound("savings.slice_not_found", gettext_lazy("没有找到这项统计数据。"))
        label, days, conditions = _slice_label(scope, period, by, key)
    facts = _in_period(scope, days).filter(**conditions).order_by("award_date", "lot_id")
    return SliceLots(
        scope=scope,
        period=days,
        report_period=period,
        by=by,
        key=key,
        label=label,
        facts=facts,
        figure=figure_of(facts),
    )


@dataclass(frozen=True)
class LedgerRow:
    """A lot in the drill-down, with the running total of its slice up to and including it."""

    fact: SavingsFact
    figure: Figure
    running: Figure


@dataclass(frozen=True)
class Ledger:
    """One page of the drill-down, kept like an account book ("trace every yuan").

    ``carried`` sums the lots of the pages before (承前页), ``page_total``
    this page's lots, ``running`` both (过次页); on the last page
    ``running`` covers every lot of the slice and must equal its figure
    (``agrees``), which the page and the tests check.
    """

    page: Page
    rows: list[LedgerRow]
    carried: Figure
    page_total: Figure
    running: Figure
    figure: Figure

    @property
    def is_last(self) -> bool:
        return not self.page.has_next()

    @property
    def agrees(self) -> bool:
        """On the last page: the lots, every one of them, add up to the figure."""
        return self.running == self.figure


_DETAILS = ("lot", "lot__tender", "lot__tender__tenderer", "lot__winner", "agency", "tenderer")


def with_details(facts: list[SavingsFact]) -> list[SavingsFact]:
    """The same facts, in the same order, with their lot, tender, winner, agency and tenderer loaded."""
    loaded = SavingsFact.objects.select_related(*_DETAILS).in_bulk([fact.pk for fact in facts])
    return [loaded[fact.pk] for fact in facts]


def iter_with_details(facts: QuerySet[SavingsFact], *, chunk: int = 2000) -> Iterator[SavingsFact]:
    """Every fact of an ordered queryset with its details, a chunk at a time (the exports of a slice)."""
    last: tuple[object, int] | None = None
    while True:
        batch = facts
        if last is not None:
            batch = batch.filter(award_date__gte=last[0]).filter(Q(award_date__gt=last[0]) | Q(lot_id__gt=last[1]))
        rows = list(batch[:chunk])
        if not rows:
            return
        yield from with_details(rows)
        last = (rows[-1].award_date, rows[-1].lot_id)


class _CountedPaginator(Paginator):
    """A paginator told its count: the slice's figure has counted the lots already."""

    def __init__(self, object_list: QuerySet[SavingsFact], per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @property
    def count(self) -> int:  # type: ignore[override]
        return self._known_count


def savings_ledger(lots: SliceLots, *, page: object, per_page: int = DRILL_PAGE_SIZE) -> Ledger:
    """The page ``page`` of a slice's lots, with the totals carried from the pages before.

    The carried-forward figure sums, in the database, every lot of the slice
    ordered before the page's first (award date, then lot), so it does not
    depend on the pages before being read; the last page's running total is
    then an independent check of the slice's figure.
    """
    current = _CountedPaginator(lots.facts, per_page, count=lots.figure.lots).get_page(page)
    # The page's lots are picked on the fact table's own index first, and only those 50 are joined
    # to their lots, tenders and organisations (joining first would sort the whole slice's rows).
    facts = with_details(list(current.object_list))
    carried = Figure()
    if facts and current.number > 1:
        first = facts[0]
        before = lots.facts.filter(award_date__lte=first.award_date).filter(
            Q(award_date__lt=first.award_date) | Q(lot_id__lt=first.lot_id)
        )
        carried = figure_of(before)
    rows: list[LedgerRow] = []
    running = carried
    for fact in facts:
        figure = Figure.of_fact(fact)
        running = running + figure
        rows.append(LedgerRow(fact=fact, figure=figure, running=running))
    return Ledger(
        page=current,
        rows=rows,
        carried=carried,
        page_total=_total(row.figure for row in rows),
        running=running,
        figure=lots.figure,
    )


# --- the fact table against the lots --------------------------------------------------------


@dataclass(frozen=True)
class Discrepancy:
    lot_id: int
    problem: str  # "missing", "extra" or "different"


def savings_fact_discrepancies() -> list[Discrepancy]:
    """Every awarded lot without its fact, fact without its awarded lot, or fact that differs from its lot.

    Empty when the fact table holds exactly what ``savings_fact_record``
    would write for every awarded lot (``finance.facts.fact_for``). Both
    tables are read in lot order and compared as they stream, so the check
    runs in constant memory; ``manage.py savings_facts`` reports it.
    """
    awarded = (
        Lot.objects.filter(status=LotStatus.AWARDED, award_price__isnull=False, awarded_at__isnull=False)
        .select_related("tender")
        .order_by("pk")
        .iterator(chunk_size=2000)
    )
    stored = SavingsFact.objects.order_by("pk").iterator(chunk_size=2000)
    found: list[Discrepancy] = []
    lot, fact = next(awarded, None), next(stored, None)
    while lot is not None or fact is not None:
        if fact is None or (lot is not None and lot.pk < fact.lot_id):
            assert lot is not None
            found.append(Discrepancy(lot.pk, "missing"))
            lot = next(awarded, None)
        elif lot is None or fact.lot_id < lot.pk:
            found.append(Discrepancy(fact.lot_id, "extra"))
            fact = next(stored, None)
        else:
            wanted = fact_for(lot)
            if any(getattr(fact, name) != getattr(wanted, name) for name in FACT_FIELDS):
                found.append(Discrepancy(lot.pk, "different"))
            lot, fact = next(awarded, None), next(stored, None)
    return found
