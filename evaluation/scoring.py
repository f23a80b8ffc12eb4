"""The evaluation formulas (评标计算): price score, totals, evaluated prices and ranking.

Pure: standard library only (no Django, no database), so that anyone can
re-compute a report's figures from its JSON with this module alone, and so
that the formulas are tested with hand-computed figures (tests/evaluation/
test_scoring.py). docs/evaluation.md states every formula in words.

Arithmetic. Every amount and score is a ``Decimal``; nothing is ever a
float. Intermediate results are exact where they can be (sums, differences,
products of the two-decimal inputs) and otherwise carry ``PRECISION`` (50)
significant digits (a mean of three prices, a percentage of a benchmark):
no intermediate result is rounded to cents. Only the published figures are
rounded, half up (四舍五入), to two decimals, each from its exact value:

- comprehensive scoring (综合评估法): the final score of a bid, and the
  price score shown beside it (used by the tie rule);
- lowest evaluated price (经评审的最低投标价法): the evaluated price.

Ranking uses exactly the rounded figures the report shows, so a reader of the
report can check every rank by eye.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import TypeVar

PRECISION = 50
CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal(0)

BENCHMARK_LOWEST = "lowest"  # the lowest valid price (有效投标最低价)
BENCHMARK_MEAN = "mean"  # the arithmetic mean of the valid prices (有效投标报价算术平均值)
BENCHMARK_METHODS = (BENCHMARK_LOWEST, BENCHMARK_MEAN)

# TR 53: the report names at most three ranked candidates.
MAX_CANDIDATES = 3


class ScoringError(ValueError):
    """An input the formulas cannot take (no valid bid, a score outside its range, …).

    ``code`` is stable (``scoring.no_valid_bid``); the services turn it into a
    ``DomainError`` with a Chinese message.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def _context() -> Context:
    # Fifty significant digits, and any operation that would lose a value
    # silently (a division by zero, an overflow) raises instead.
    return Context(
        prec=PRECISION,
        rounding=ROUND_HALF_EVEN,
        traps=[InvalidOperation, DivisionByZero, Overflow],
    )


def round_half_up(value: Decimal) -> Decimal:
    """``value`` rounded half up (四舍五入) to two decimals: 87.125 → 87.13, 87.124999 → 87.12."""
    with localcontext(_context()):
        return value.quantize(CENT, rounding=ROUND_HALF_UP)


def exact_text(value: Decimal) -> str:
    """A Decimal as plain text without exponent or trailing zeros: how reports carry exact values."""
    normal = value.normalize(_context())
    text = format(normal, "f")
    return "0" if text in ("-0", "") else text


def check_amount(value: Decimal, *, places: int = 2) -> None:
    """``value`` is a finite Decimal with at most ``places`` decimals (a score, an amount)."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ScoringError("scoring.not_a_number", str(value))
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise ScoringError("scoring.too_many_decimals", str(value))


def check_item_score(value: Decimal, *, minimum: Decimal, maximum: Decimal) -> None:
    """An expert's score for one item: two decimals at most, within [minimum, maximum]."""
    check_amount(value)
    if value < minimum or value > maximum:
        raise ScoringError("scoring.out_of_range", f"{value} not in [{minimum}, {maximum}]")


# --- the benchmark price and the price score (综合评估法) ---------------------------------------


@dataclass(frozen=True, kw_only=True)
class PriceRule:
    """How prices become points: the scheme's price part.

    ``benchmark``: ``lowest`` or ``mean``. With ``mean`` and
    ``drop_extremes``, the single highest and the single lowest price are left
    out of the mean when there are at least ``drop_min_bids`` valid prices
    (at least 3, so that one price always remains). A price equal to the
    benchmark scores ``full_points``; each percent above it costs
    ``deduct_above`` points, each percent below ``deduct_below``; never below 0.
    """

    benchmark: str
    drop_extremes: bool
    drop_min_bids: int
    full_points: Decimal
    deduct_above: Decimal
    deduct_below: Decimal

    def __post_init__(self) -> None:
        if self.benchmark not in BENCHMARK_METHODS:
            raise ScoringError("scoring.benchmark_method", self.benchmark)
        if self.drop_min_bids < 3:
            raise ScoringError("scoring.drop_min_bids", str(self.drop_min_bids))
        for name in ("full_points", "deduct_above", "deduct_below"):
            value = getattr(self, name)
            check_amount(value)
            if value < 0:
                raise ScoringError("scoring.negative", name)


def benchmark_price(prices: Sequence[Decimal], rule: PriceRule) -> Decimal:
    """The benchmark price (评标基准价) of the valid prices, exact (50 significant digits at most).

    ``lowest``: the lowest price. ``mean``: the arithmetic mean, after leaving
    out one highest and one lowest price when the rule says so and there are
    at least ``drop_min_bids`` prices. Raises ``scoring.no_valid_bid`` for an
    empty list and ``scoring.price_not_positive`` for a price ≤ 0.
    """
    if not prices:
        raise ScoringError("scoring.no_valid_bid")
    for price in prices:
        check_amount(price)
        if price <= 0:
            raise ScoringError("scoring.price_not_positive", str(price))
    if rule.benchmark == BENCHMARK_LOWEST:
        return min(prices)
    selected = sorted(prices)
    if rule.drop_extremes and len(selected) >= rule.drop_min_bids:
        selected = selected[1:-1]
    with localcontext(_context()):
        return sum(selected, ZERO) / len(selected)


def deviation_percent(price: Decimal, benchmark: Decimal) -> Decimal:
    """(price − benchmark) / benchmark × 100: positive above the benchmark, negative below."""
    with localcontext(_context()):
        return (price - benchmark) / benchmark * HUNDRED


def price_score(price: Decimal, benchmark: Decimal, rule: PriceRule) -> Decimal:
    """The price score of ``price`` (exact): full points at the benchmark, less the deductions, at least 0.

    score = full − d × deduct_above   when d > 0 (above the benchmark)
    score = full − |d| × deduct_below when d < 0 (below the benchmark)
    where d = deviation_percent(price, benchmark); then max(score, 0).
    Deductions are proportional: 2.5 % above at 1 point per percent costs 2.5.
    """
    with localcontext(_context()):
        deviation = deviation_percent(price, benchmark)
        if deviation > 0:
            score = rule.full_points - deviation * rule.deduct_above
        elif deviation < 0:
            score = rule.full_points - (-deviation) * rule.deduct_below
        else:
            score = rule.full_points
        return max(score, ZERO)


def mean(values: Sequence[Decimal]) -> Decimal:
    """The arithmetic mean, exact to 50 significant digits (never rounded to cents here)."""
    if not values:
        raise ScoringError("scoring.no_member")
    with localcontext(_context()):
        return sum(values, ZERO) / len(values)


# --- ranking -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BidEntry:
    """A valid bid as the formulas see it: its key (the bid's id), price and receipt time."""

    key: str
    price: Decimal
    received_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class ComprehensiveRow:
    """One valid bid under comprehensive scoring, with every figure of the summary table.

    ``price_score`` and ``member_totals`` are exact; ``price_score_shown`` and
    ``final_score`` are rounded half up to two decimals from exact values.
    ``member_totals`` are in the order of the members given (seat order).
    """

    key: str
    price: Decimal
    received_at: dt.datetime
    price_score: Decimal
    price_score_shown: Decimal
    item_totals: tuple[Decimal, ...]
    member_totals: tuple[Decimal, ...]
    final_score: Decimal
    rank: int


@dataclass(frozen=True, kw_only=True)
class ComprehensiveResult:
    benchmark: Decimal
    rows: list[ComprehensiveRow]  # in rank order


def comprehensive_sort_key(row: ComprehensiveRow) -> tuple[object, ...]:
    """The tie rule of comprehensive scoring, as a sort key (smallest first ranks first).

    1. the higher final score (as published, two decimals);
    2. then the higher price score (as published, two decimals);
    3. then the lower price;
    4. then the earlier receipt time (to the microsecond);
    5. then the bid's key — only so that the order is total; two bids of one
       lot never share a receipt time in practice.
    """
    return (-row.final_score, -row.price_score_shown, row.price, row.received_at, row.key)


def score_comprehensive(
    bids: Sequence[BidEntry],
    item_totals: Sequence[Mapping[str, Decimal]],
    rule: PriceRule,
) -> ComprehensiveResult:
    """Score and rank the valid bids under comprehensive scoring (综合评估法).

    ``bids``: the valid bids (rejected bids left out by the caller).
    ``item_totals``: for each member, in seat order, the sum of that member's
    technical and business item scores per bid key; every bid must be there.
    A member's total for a bid is the bid's price score (the same for every
    member: it follows from the prices alone) plus that member's item total;
    the bid's final score is the arithmetic mean of the members' totals,
    rounded half up to two decimals. Ranks follow ``comprehensive_sort_key``.
    """
    if not item_totals:
        raise ScoringError("scoring.no_member")
    benchmark = benchmark_price([bid.price for bid in bids], rule)
    rows: list[ComprehensiveRow] = []
    for bid in bids:
        points = price_score(bid.price, benchmark, rule)
        totals: list[Decimal] = []
        items: list[Decimal] = []
        for member in item_totals:
            if bid.key not in member:
                raise ScoringError("scoring.missing_score", bid.key)
            items.append(member[bid.key])
            with localcontext(_context()):
                totals.append(points + member[bid.key])
        rows.append(
            ComprehensiveRow(
                key=bid.key,
                price=bid.price,
                received_at=bid.received_at,
                price_score=points,
                price_score_shown=round_half_up(points),
                item_totals=tuple(items),
                member_totals=tuple(totals),
                final_score=round_half_up(mean(totals)),
                rank=0,
            )
        )
    rows.sort(key=comprehensive_sort_key)
    ranked = [_with_rank(row, rank) for rank, row in enumerate(rows, start=1)]
    return ComprehensiveResult(benchmark=benchmark, rows=ranked)


@dataclass(frozen=True, kw_only=True)
class LowestPriceRow:
    """One valid bid under the lowest evaluated price method.

    ``adjustments``: each member's price adjustment (价格调整, ± yuan), in seat
    order; ``mean_adjustment`` exact; ``evaluated_price`` = price + mean
    adjustment, rounded half up to two decimals.
    """

    key: str
    price: Decimal
    received_at: dt.datetime
    adjustments: tuple[Decimal, ...]
    mean_adjustment: Decimal
    evaluated_price: Decimal
    rank: int


def lowest_price_sort_key(row: LowestPriceRow) -> tuple[object, ...]:
    """The tie rule of the lowest evaluated price method (smallest first ranks first).

    1. the lower evaluated price (as published, two decimals);
    2. then the lower price;
    3. then the earlier receipt time;
    4. then the bid's key (a total order only).
    """
    return (row.evaluated_price, row.price, row.received_at, row.key)


def score_lowest_price(
    bids: Sequence[BidEntry], adjustments: Sequence[Mapping[str, Decimal]]
) -> list[LowestPriceRow]:
    """Rank the valid bids by evaluated price, lowest first (经评审的最低投标价法).

    ``adjustments``: for each member, in seat order, the member's adjustment
    per bid key (a missing key counts as 0: no adjustment). The evaluated
    price is the price plus the mean of the members' adjustments, rounded
    half up to two decimals; it must stay above zero
    (``scoring.price_not_positive``).
    """
    if not adjustments:
        raise ScoringError("scoring.no_member")
    rows: list[LowestPriceRow] = []
    for bid in bids:
        check_amount(bid.price)
        own = tuple(member.get(bid.key, ZERO) for member in adjustments)
        for value in own:
            check_amount(value)
        average = mean(own)
        with localcontext(_context()):
            evaluated = round_half_up(bid.price + average)
        if evaluated <= 0:
            raise ScoringError("scoring.price_not_positive", bid.key)
        rows.append(
            LowestPriceRow(
                key=bid.key,
                price=bid.price,
                received_at=bid.received_at,
                adjustments=own,
                mean_adjustment=average,
                evaluated_price=evaluated,
                rank=0,
            )
        )
    rows.sort(key=lowest_price_sort_key)
    return [_with_rank(row, rank) for rank, row in enumerate(rows, start=1)]


_Row = TypeVar("_Row", ComprehensiveRow, LowestPriceRow)


def _with_rank(row: _Row, rank: int) -> _Row:
    return replace(row, rank=rank)


def candidates(rows: Sequence[_Row], limit: int = MAX_CANDIDATES) -> list[_Row]:
    """The first ``limit`` ranked rows (at most three, TR 53): the recommended candidates."""
    if not 1 <= limit <= MAX_CANDIDATES:
        raise ScoringError("scoring.candidates", str(limit))
    return list(rows[:limit])
