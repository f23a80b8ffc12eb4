"""The draw algorithm itself (experts.draw, docs/draw.md): uniform, unbiased, deterministic, byte for byte.

Pure functions: no database. The seeds are a fixed list, so every run of
these tests sees the same draws.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections import Counter
from collections.abc import Iterator

import pytest

from experts import draw

TWO_64 = 1 << 64

# Upper 0.1% points of the chi-square distribution (any statistics table, e.g.
# NIST/SEMATECH e-Handbook 1.3.6.7.4): a fair draw exceeds them once in a
# thousand runs. The seeds are fixed, so a pass is a pass for good; a biased
# selection (say, modulo bias or an off-by-one that never picks the last
# expert) pushes the statistic far beyond them.
CHI2_999 = {9: 27.877, 11: 31.264}


def seeds(count: int, label: str) -> Iterator[bytes]:
    for i in range(count):
        yield hashlib.sha256(f"{label}-{i}".encode()).digest()


def chi_square(counts: Counter, outcomes: list, expected: float) -> float:
    return sum((counts[outcome] - expected) ** 2 / expected for outcome in outcomes)


# --- uniform -------------------------------------------------------------------------------------


def test_each_expert_of_a_pool_of_ten_is_drawn_equally_often():
    pool = {"A0101": [f"E{i:02d}" for i in range(10)]}
    counts = Counter(
        draw.Drawing(seed=seed, pool=pool).pick("A0101") for seed in seeds(2000, "uniform")
    )

    statistic = chi_square(counts, pool["A0101"], expected=200)

    assert set(counts) == set(pool["A0101"])
    assert statistic < CHI2_999[9], statistic


def test_every_ordered_pair_of_first_and_second_pick_is_equally_likely():
    pool = {"A0101": ["E1", "E2", "E3", "E4"]}
    outcomes = list(itertools.permutations(pool["A0101"], 2))  # 12 ordered pairs
    counts: Counter = Counter()
    for seed in seeds(2400, "pairs"):
        drawing = draw.Drawing(seed=seed, pool=pool)
        counts[(drawing.pick("A0101"), drawing.pick("A0101"))] += 1

    assert chi_square(counts, outcomes, expected=200) < CHI2_999[11]


# --- unbiased: rejection sampling ----------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 1000, 2**32 + 1, 2**63 + 1, TWO_64 - 1, TWO_64])
def test_below_never_returns_n_or_more(n):
    stream = draw.Stream(hashlib.sha256(f"below-{n}".encode()).digest())
    values = [stream.below(n) for _ in range(500)]
    assert all(0 <= value < n for value in values)


@pytest.mark.parametrize("n", [3, 7, 10, 1000, 100_003, 2**32 + 1, 2**63 + 1, TWO_64 - 1])
def test_the_rejection_limit_is_the_largest_multiple_of_n_not_above_two_to_the_64(n):
    """Seed-independent: the arithmetic of the limit, for bounds that do not divide 2^64."""
    assert TWO_64 % n != 0
    limit = TWO_64 - (TWO_64 % n)
    assert limit % n == 0  # accepted values [0, limit) map onto [0, n) exactly limit/n times each
    assert 0 < TWO_64 - limit < n  # the rejected tail is non-empty and shorter than one more round
    assert limit + n > TWO_64  # so no larger multiple of n fits


class ScriptedStream(draw.Stream):
    """A stream whose 64-bit values are given, to watch ``below`` reject."""

    def __init__(self, values: list[int]) -> None:
        super().__init__(b"")
        self._script = iter(values)
        self.consumed = 0

    def _next_u64(self) -> int:
        self.consumed += 1
        return next(self._script)


def test_values_in_the_tail_are_rejected_and_the_next_value_is_used():
    n = 2**63 + 1  # 2^64 mod n = 2^63 - 1: almost half of all values fall in the tail
    limit = TWO_64 - (TWO_64 % n)
    stream = ScriptedStream([TWO_64 - 1, limit, limit - 1])

    assert stream.below(n) == (limit - 1) % n
    assert stream.consumed == 3  # two values rejected, the third accepted


def test_a_value_just_below_the_limit_is_accepted_at_once():
    n = 10
    limit = TWO_64 - (TWO_64 % n)
    stream = ScriptedStream([limit - 1])
    assert stream.below(n) == (limit - 1) % 10 == 9
    assert stream.consumed == 1


def test_rejection_happens_on_a_real_stream_when_the_tail_is_large():
    class Counting(draw.Stream):
        calls = 0

        def _next_u64(self) -> int:
            Counting.calls += 1
            return super()._next_u64()

    stream = Counting(hashlib.sha256(b"tail").digest())
    values = [stream.below(2**63 + 1) for _ in range(400)]

    assert all(value <= 2**63 for value in values)
    # About half the values are rejected: far more than 400 were read.
    assert Counting.calls > 600


def test_below_refuses_an_empty_range():
    with pytest.raises(ValueError):
        draw.Stream(b"seed").below(0)


# --- the exact stream (docs/draw.md §4 and §5, worked example) -------------------------------------


def test_stream_values_are_hmac_blocks_read_as_big_endian_64_bit_integers():
    seed = hashlib.sha256(b"sunbid example seed").digest()
    block0 = hmac.new(
        seed, b"sunbid-draw-stream/1" + (0).to_bytes(8, "big"), hashlib.sha256
    ).digest()
    block1 = hmac.new(
        seed, b"sunbid-draw-stream/1" + (1).to_bytes(8, "big"), hashlib.sha256
    ).digest()
    expected = [int.from_bytes(block0[i : i + 8], "big") for i in range(0, 32, 8)]
    expected.append(int.from_bytes(block1[:8], "big"))

    stream = draw.Stream(seed)
    assert [stream.below(TWO_64) for _ in range(5)] == expected
    # The figures published in docs/draw.md §5.
    assert expected[:2] == [17310988852065419568, 2558683734826050233]


def test_worked_example_of_the_documentation():
    secret = bytes(range(32))
    pool = {
        "A0101": ["E0000003", "E0000001", "E0000002", "E0000004"],
        "A0102": ["E0000002", "E0000005", "E0000006"],
    }
    assert draw.canonical_pool(pool) == (
        b'{"pool":{"A0101":["E0000001","E0000002","E0000003","E0000004"],'
        b'"A0102":["E0000002","E0000005","E0000006"]},"v":1}'
    )
    assert (
        draw.commitment(secret)
        == "a68ef7d13630d0a08ea62637511ea2dc866b4b6f2469496819fdd105594b63f2"
    )
    pool_hash = draw.pool_hash(pool)
    assert pool_hash == "d67d172341000d9eeeba40f1aff27303e25fc65517849f8300c443f2d0c1ebc7"
    seed = draw.derive_seed(
        secret=secret, pool_hash=pool_hash, chain_head="ab" * 32, supervisor_number="20260402"
    )
    assert seed.hex() == "8e81c590fd959a2cf8192a39f417adce5eeecf79bf6ad2e2f9e4fc7870b5b5f5"

    drawing = draw.Drawing(seed=seed, pool=pool)
    order = draw.initial_order([("A0102", 2), ("A0101", 3)])
    assert order == ["A0101", "A0101", "A0101", "A0102", "A0102"]
    assert drawing.replay(order) == ["E0000001", "E0000004", "E0000002", "E0000006", "E0000005"]
    # E0000002 holds both specialties and was taken for A0101: A0102 has nobody left.
    assert drawing.pick("A0102") is None


# --- the pick rule -------------------------------------------------------------------------------


def test_an_expert_of_two_specialties_is_never_picked_twice():
    pool = {"A": ["X", "Y", "Z"], "B": ["X", "Y", "Z"]}
    for seed in seeds(200, "overlap"):
        drawing = draw.Drawing(seed=seed, pool=pool)
        picks = drawing.replay(["A", "B", "A", "B"])
        assert None not in picks[:3]
        assert picks[3] is None  # three people, four places
        assert len(set(picks[:3])) == 3


def test_the_same_seed_and_pool_always_give_the_same_draw_whatever_the_pool_order():
    seed = hashlib.sha256(b"deterministic").digest()
    shuffled = {"A": ["E5", "E1", "E4", "E2", "E3"]}
    ordered = {"A": ["E1", "E2", "E3", "E4", "E5"]}
    assert draw.Drawing(seed=seed, pool=shuffled).replay("AAAAA") == draw.Drawing(
        seed=seed, pool=ordered
    ).replay("AAAAA")
    assert draw.pool_hash(shuffled) == draw.pool_hash(ordered)


def test_an_unknown_or_empty_specialty_gives_nobody():
    drawing = draw.Drawing(seed=b"s" * 32, pool={"A": []})
    assert drawing.pick("A") is None
    assert drawing.pick("B") is None
    assert drawing.picks == []


def test_the_seed_changes_with_every_input():
    secret = b"\x01" * 32
    base = {
        "secret": secret,
        "pool_hash": "0" * 64,
        "chain_head": "1" * 64,
        "supervisor_number": "7",
    }
    reference = draw.derive_seed(**base)
    for name, other in [
        ("secret", b"\x02" * 32),
        ("pool_hash", "2" * 64),
        ("chain_head", "3" * 64),
        ("supervisor_number", "70"),
    ]:
        assert draw.derive_seed(**{**base, name: other}) != reference, name
