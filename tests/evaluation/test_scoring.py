"""The formulas of evaluation/scoring.py and evaluation/committee.py, against figures computed by hand.

Pure: no database. Every expected figure is worked out in the comment above
it, in fractions where the decimal does not end, so that the test checks the
arithmetic rule (exact until the end, half up to two decimals once) and not
just whatever the code happens to return.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from evaluation import committee, scoring

T = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)


def rule(**overrides):
    values = {
        "benchmark": scoring.BENCHMARK_MEAN,
        "drop_extremes": False,
        "drop_min_bids": 5,
        "full_points": D("30.00"),
        "deduct_above": D("1.00"),
        "deduct_below": D("0.50"),
    }
    values.update(overrides)
    return scoring.PriceRule(**values)


def bid(key: str, price: str, seconds: int = 0) -> scoring.BidEntry:
    return scoring.BidEntry(key=key, price=D(price), received_at=T + dt.timedelta(seconds=seconds))


# --- the benchmark price ------------------------------------------------------------------------


def test_mean_benchmark_is_the_plain_average_of_the_valid_prices():
    # (100 + 110 + 120) / 3 = 110
    assert scoring.benchmark_price([D("100.00"), D("110.00"), D("120.00")], rule()) == D("110")


def test_mean_benchmark_keeps_fifty_digits_rather_than_cents():
    # (100 + 100 + 101) / 3 = 100.333…: not rounded to 100.33
    value = scoring.benchmark_price([D("100"), D("100"), D("101")], rule())
    assert value == D("100.33333333333333333333333333333333333333333333333")
    assert len(value.as_tuple().digits) == scoring.PRECISION


def test_highest_and_lowest_prices_are_dropped_from_the_mean_only_from_the_configured_number_of_bids():
    prices = [D("9000000.00"), D("9500000.00"), D("10000000.00"), D("10500000.00"), D("12000000.00")]
    # Five bids, N = 5: 9,000,000 and 12,000,000 left out; (9.5 + 10 + 10.5) / 3 million = 10,000,000.
    assert scoring.benchmark_price(prices, rule(drop_extremes=True)) == D("10000000")
    # Four bids, N = 5: nothing left out; (9 + 9.5 + 10 + 10.5) / 4 million = 9,750,000.
    assert scoring.benchmark_price(prices[:4], rule(drop_extremes=True)) == D("9750000")
    # Not configured: all five; 51,000,000 / 5 = 10,200,000.
    assert scoring.benchmark_price(prices, rule()) == D("10200000")


def test_lowest_benchmark_is_the_lowest_valid_price():
    assert scoring.benchmark_price([D("120.00"), D("99.99"), D("100.00")], rule(benchmark="lowest")) == D("99.99")


def test_a_benchmark_needs_a_valid_positive_price():
    with pytest.raises(scoring.ScoringError) as empty:
        scoring.benchmark_price([], rule())
    assert empty.value.code == "scoring.no_valid_bid"
    with pytest.raises(scoring.ScoringError) as zero:
        scoring.benchmark_price([D("0.00")], rule())
    assert zero.value.code == "scoring.price_not_positive"


def test_dropping_extremes_needs_at_least_three_bids_configured():
    with pytest.raises(scoring.ScoringError) as error:
        rule(drop_extremes=True, drop_min_bids=2)
    assert error.value.code == "scoring.drop_min_bids"


# --- the price score ------------------------------------------------------------------------------


def test_price_at_the_benchmark_scores_full_points():
    assert scoring.price_score(D("110.00"), D("110"), rule()) == D("30.00")


def test_each_percent_above_and_below_costs_its_own_rate():
    benchmark = D("10000000")
    # 12,000,000 is 20 % above: 30 − 20 × 1 = 10
    assert scoring.price_score(D("12000000.00"), benchmark, rule()) == D("10")
    # 9,000,000 is 10 % below: 30 − 10 × 0.5 = 25
    assert scoring.price_score(D("9000000.00"), benchmark, rule()) == D("25")
    # 10,250,000 is 2.5 % above: deductions are proportional, 30 − 2.5 = 27.5
    assert scoring.price_score(D("10250000.00"), benchmark, rule()) == D("27.5")


def test_price_score_is_exact_where_the_percentage_does_not_end():
    # Benchmark 110; 100 is 100/11 % below: 30 − (100/11) × 0.5 = 280/11 = 25.454545…
    score = scoring.price_score(D("100.00"), D("110"), rule())
    assert str(score).startswith("25.45454545454545454545")
    assert abs(score * 11 - 280) < D("1e-45")  # exact to fifty digits, not to the cent
    assert scoring.round_half_up(score) == D("25.45")
    # 120 is 100/11 % above: 30 − 100/11 = 230/11 = 20.909090… → shown 20.91
    assert scoring.round_half_up(scoring.price_score(D("120.00"), D("110"), rule())) == D("20.91")


def test_price_score_never_goes_below_zero():
    # 40 % above at 1 point per percent: 30 − 40 = −10, floored at 0
    assert scoring.price_score(D("14000000.00"), D("10000000"), rule()) == D("0")
    # 60 % below at 0.5: 30 − 30 = 0 exactly
    assert scoring.price_score(D("4000000.00"), D("10000000"), rule()) == D("0")


# --- rounding -----------------------------------------------------------------------------------


def test_rounding_is_half_up_to_two_decimals():
    assert scoring.round_half_up(D("80.005")) == D("80.01")  # half-even would give 80.00
    assert scoring.round_half_up(D("80.0049999")) == D("80.00")
    assert scoring.round_half_up(D("-0.005")) == D("-0.01")


def test_final_score_is_the_mean_of_members_totals_rounded_once_at_the_end():
    # Prices 100, 110, 120, benchmark 110 (mean). Bid A at 100 scores 280/11 price points.
    # Three members give A's items 50.00, 50.00 and 50.01:
    # totals 280/11 + 50, 280/11 + 50, 280/11 + 50.01; mean = 280/11 + 50 + 0.01/3
    #       = 25.454545… + 50 + 0.003333… = 75.457878… → 75.46.
    # Rounding the price score first (25.45) would give (75.45 + 75.45 + 75.46) / 3 = 75.4533… → 75.45.
    bids = [bid("A", "100.00"), bid("B", "110.00", 1), bid("C", "120.00", 2)]
    items = [
        {"A": D("50.00"), "B": D("40.00"), "C": D("40.00")},
        {"A": D("50.00"), "B": D("40.00"), "C": D("40.00")},
        {"A": D("50.01"), "B": D("40.00"), "C": D("40.00")},
    ]
    result = scoring.score_comprehensive(bids, items, rule())
    rows = {row.key: row for row in result.rows}
    assert result.benchmark == D("110")
    assert rows["A"].final_score == D("75.46")
    assert rows["A"].price_score_shown == D("25.45")
    # B: 30 + 40 = 70 for everyone. C: 230/11 + 40 = 60.909090… → 60.91.
    assert rows["B"].final_score == D("70.00")
    assert rows["C"].final_score == D("60.91")
    assert [row.key for row in result.rows] == ["A", "B", "C"]
    assert [row.rank for row in result.rows] == [1, 2, 3]
    # Each member's total is exact: price score + that member's items.
    assert rows["A"].member_totals[2] - rows["A"].member_totals[0] == D("0.01")


def test_a_mean_ending_in_half_a_cent_rounds_up():
    # Two members: 30 + 50.00 and 30 + 50.01 → mean 80.005 → 80.01
    result = scoring.score_comprehensive(
        [bid("A", "100.00")], [{"A": D("50.00")}, {"A": D("50.01")}], rule(benchmark="lowest")
    )
    assert result.rows[0].final_score == D("80.01")


def test_every_member_must_score_every_valid_bid():
    with pytest.raises(scoring.ScoringError) as error:
        scoring.score_comprehensive([bid("A", "100.00"), bid("B", "101.00")], [{"A": D("1")}], rule())
    assert error.value.code == "scoring.missing_score"


# --- ties ---------------------------------------------------------------------------------------


def test_comprehensive_tie_goes_to_the_higher_price_score():
    # Lowest benchmark 100: X at 100 scores 30, Y at 120 (20 % above) scores 10.
    # Items: X 50, Y 70 → both 80.00. X has the higher price score and ranks first,
    # although Y was received earlier.
    result = scoring.score_comprehensive(
        [bid("Y", "120.00", 0), bid("X", "100.00", 5)],
        [{"X": D("50.00"), "Y": D("70.00")}],
        rule(benchmark="lowest"),
    )
    assert [(row.key, row.final_score, row.price_score_shown) for row in result.rows] == [
        ("X", D("80.00"), D("30.00")),
        ("Y", D("80.00"), D("10.00")),
    ]


def test_comprehensive_tie_with_equal_price_scores_goes_to_the_lower_price():
    # Lowest benchmark 100, 2 points per percent above: 150 and 160 both floor at 0 price points.
    # Items 60 each → finals 60.00 and 60.00, price scores 0 and 0: the lower price (150) first.
    result = scoring.score_comprehensive(
        [bid("A", "100.00", 0), bid("P160", "160.00", 1), bid("P150", "150.00", 2)],
        [{"A": D("0.00"), "P160": D("60.00"), "P150": D("60.00")}],
        rule(benchmark="lowest", deduct_above=D("2.00")),
    )
    assert [row.key for row in result.rows] == ["P150", "P160", "A"]


def test_comprehensive_tie_on_everything_goes_to_the_earlier_receipt():
    result = scoring.score_comprehensive(
        [bid("late", "100.00", 30), bid("early", "100.00", 10)],
        [{"late": D("50.00"), "early": D("50.00")}],
        rule(),
    )
    assert [row.key for row in result.rows] == ["early", "late"]
    assert [row.rank for row in result.rows] == [1, 2]


def test_lowest_evaluated_price_ranks_lowest_first_with_the_mean_of_adjustments():
    # A: 1,000,000 + mean(20,000, 10,000, 0) = 1,010,000.00
    # B: 1,005,000 + mean(0, 0, 0) = 1,005,000.00 → ranks first although its price is higher.
    # C: 990,000 + mean(30,000, 30,000, 30,001) = 990,000 + 30,000.333… = 1,020,000.33
    rows = scoring.score_lowest_price(
        [bid("A", "1000000.00"), bid("B", "1005000.00", 1), bid("C", "990000.00", 2)],
        [
            {"A": D("20000.00"), "C": D("30000.00")},
            {"A": D("10000.00"), "C": D("30000.00")},
            {"C": D("30001.00")},
        ],
    )
    assert [(row.key, row.evaluated_price, row.rank) for row in rows] == [
        ("B", D("1005000.00"), 1),
        ("A", D("1010000.00"), 2),
        ("C", D("1020000.33"), 3),
    ]


def test_evaluated_price_rounds_half_up_once():
    # 100.00 + mean(0.01, 0.00) = 100.005 → 100.01 (half-even would keep 100.00)
    rows = scoring.score_lowest_price([bid("A", "100.00")], [{"A": D("0.01")}, {"A": D("0.00")}])
    assert rows[0].evaluated_price == D("100.01")
    assert rows[0].mean_adjustment == D("0.005")


def test_lowest_price_tie_goes_to_the_lower_price_then_the_earlier_receipt():
    # X: 100 + 10 = 110; Y: 110 + 0 = 110 → X (lower price) first.
    # Z: 110, received before Y, same evaluated price and price as Y → Z before Y.
    rows = scoring.score_lowest_price(
        [bid("Y", "110.00", 20), bid("X", "100.00", 30), bid("Z", "110.00", 10)],
        [{"X": D("10.00")}],
    )
    assert [row.key for row in rows] == ["X", "Z", "Y"]


def test_an_adjustment_may_not_take_the_evaluated_price_to_zero():
    with pytest.raises(scoring.ScoringError) as error:
        scoring.score_lowest_price([bid("A", "100.00")], [{"A": D("-100.00")}])
    assert error.value.code == "scoring.price_not_positive"


def test_at_most_three_candidates():
    rows = scoring.score_lowest_price(
        [bid(key, price, n) for n, (key, price) in enumerate([("A", "4"), ("B", "3"), ("C", "2"), ("D", "1")])],
        [{}],
    )
    assert [row.key for row in scoring.candidates(rows)] == ["D", "C", "B"]
    assert [row.key for row in scoring.candidates(rows, 1)] == ["D"]
    with pytest.raises(scoring.ScoringError):
        scoring.candidates(rows, 4)


def test_item_scores_are_checked_against_their_range_and_to_two_decimals():
    scoring.check_item_score(D("7.50"), minimum=D("0"), maximum=D("7.5"))
    for bad in (D("7.51"), D("-0.01"), D("1.005"), D("NaN")):
        with pytest.raises(scoring.ScoringError):
            scoring.check_item_score(bad, minimum=D("0"), maximum=D("7.5"))


def test_exact_text_has_no_exponent():
    assert scoring.exact_text(D("1E+7")) == "10000000"
    assert scoring.exact_text(D("25.4500")) == "25.45"
    assert scoring.exact_text(D("0.00")) == "0"


# --- the committee ----------------------------------------------------------------------------------


def test_a_majority_of_all_members_elects_the_chair_at_once():
    # 9 members: 5 votes elect even before the last four have voted.
    tally = committee.election_tally({1: 3, 2: 3, 3: 3, 4: 3, 5: 3}, members=9)
    assert (tally.outcome, tally.chair) == (committee.ELECTED, 3)
    # 4 of 9 is not a majority while votes are missing.
    assert committee.election_tally({1: 3, 2: 3, 3: 3, 4: 3}, members=9).outcome == committee.OPEN


def test_a_tie_or_scattered_votes_mean_a_new_round():
    tie = committee.election_tally({1: 1, 2: 1, 3: 2, 4: 2, 5: 5}, members=5)
    assert (tie.outcome, tie.chair, tie.counts) == (committee.REVOTE, None, {1: 2, 2: 2, 5: 1})
    # 2 + 1 + 1 + 1 of five: no tie at the top, but no majority either.
    scattered = committee.election_tally({1: 1, 2: 1, 3: 2, 4: 3, 5: 4}, members=5)
    assert scattered.outcome == committee.REVOTE


def test_more_than_a_third_of_the_members_extends_exactly_a_third_does_not():
    assert not committee.extension_granted(3, members=9)  # exactly a third
    assert committee.extension_granted(4, members=9)
    assert not committee.extension_granted(1, members=5)  # 1 < 5/3
    assert committee.extension_granted(2, members=5)  # 2 > 5/3
    assert not committee.extension_granted(1, members=3)  # exactly a third
    assert committee.extension_granted(3, members=7)  # 3 > 7/3
