"""Shamir's secret sharing over GF(2^8) (opening/shamir.py): the field, any k of n, never k - 1."""

from __future__ import annotations

import itertools
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opening import crypto, shamir


def test_field_multiplication_matches_the_worked_examples_of_fips_197():
    # FIPS-197 §4.2: {57} • {83} = {c1}, and §4.2.1: {57} • {13} = {fe}.
    assert shamir.gf_mul(0x57, 0x83) == 0xC1
    assert shamir.gf_mul(0x57, 0x13) == 0xFE
    assert shamir.gf_mul(0x57, 0x02) == 0xAE  # xtime({57})
    assert shamir.gf_mul(0x00, 0x83) == 0 and shamir.gf_mul(0x57, 0x00) == 0


def test_every_non_zero_element_has_an_inverse():
    for a in range(1, 256):
        assert shamir.gf_mul(a, shamir.gf_div(1, a)) == 1
        assert shamir.gf_div(a, a) == 1


def test_division_by_zero_is_refused():
    with pytest.raises(ZeroDivisionError):
        shamir.gf_div(5, 0)


@pytest.mark.parametrize(("threshold", "count"), [(2, 2), (2, 3), (3, 5), (4, 7), (7, 7)])
def test_any_k_of_n_shares_rebuild_the_secret(threshold, count):
    secret = secrets.token_bytes(32)
    shares = shamir.split(secret, threshold=threshold, xs=list(range(1, count + 1)))
    for size in range(threshold, count + 1):
        for subset in itertools.combinations(shares, size):
            assert bytes(shamir.combine(list(subset))) == secret


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=48),
    data=st.data(),
)
def test_any_threshold_subset_rebuilds_whatever_the_secret_and_the_xs(secret, data):
    count = data.draw(st.integers(min_value=2, max_value=9))
    threshold = data.draw(st.integers(min_value=2, max_value=count))
    xs = data.draw(st.lists(st.integers(1, 255), min_size=count, max_size=count, unique=True))
    shares = shamir.split(secret, threshold=threshold, xs=xs)
    subset = data.draw(st.permutations(shares))[:threshold]
    assert bytes(shamir.combine(subset)) == secret


def test_k_minus_one_shares_do_not_give_the_secret():
    secret = secrets.token_bytes(32)
    shares = shamir.split(secret, threshold=3, xs=[1, 2, 3, 4, 5])
    for pair in itertools.combinations(shares, 2):
        assert bytes(shamir.combine(list(pair))) != secret


def test_k_minus_one_shares_are_consistent_with_every_secret_byte():
    """Perfect secrecy, checked exhaustively for one byte: with one share of a 2-of-n split,
    every value of the secret byte is still possible, each through exactly one polynomial."""
    share = shamir.split(b"\x42", threshold=2, xs=[1, 2])[0]
    # For each candidate secret s there is exactly one slope a with s + a * x = y.
    slopes = {s: shamir.gf_div(share.y[0] ^ s, share.x) for s in range(256)}
    assert len(set(slopes.values())) == 256
    for candidate, slope in slopes.items():
        assert candidate ^ shamir.gf_mul(slope, share.x) == share.y[0]


def test_splitting_twice_gives_different_shares():
    secret = secrets.token_bytes(32)
    first = shamir.split(secret, threshold=2, xs=[1, 2, 3])
    second = shamir.split(secret, threshold=2, xs=[1, 2, 3])
    assert [share.y for share in first] != [share.y for share in second]


def test_a_wrong_share_gives_a_wrong_secret_and_its_commitment_names_it():
    """Shamir cannot tell a wrong share; the per-share commitment does, and says which one."""
    secret = secrets.token_bytes(32)
    shares = shamir.split(secret, threshold=2, xs=[1, 2, 3])
    salts = [crypto.new_salt() for _ in shares]
    commitments = [
        crypto.share_commitment(salt=salt, lot_id=7, fingerprint="ab" * 32, share=share.to_bytes())
        for salt, share in zip(salts, shares, strict=True)
    ]
    tampered = bytearray(shares[1].to_bytes())
    tampered[5] ^= 0x01
    submitted = [shares[0].to_bytes(), bytes(tampered), shares[2].to_bytes()]

    assert (
        bytes(
            shamir.combine(
                [shamir.Share.from_bytes(submitted[0]), shamir.Share.from_bytes(submitted[1])]
            )
        )
        != secret
    )
    bad = [
        index
        for index, (salt, share, commitment) in enumerate(
            zip(salts, submitted, commitments, strict=True)
        )
        if not crypto.share_matches(
            salt=salt, lot_id=7, fingerprint="ab" * 32, share=share, commitment=commitment
        )
    ]
    assert bad == [1]


def test_a_commitment_is_bound_to_its_lot_and_key():
    share = shamir.split(b"k" * 32, threshold=2, xs=[1, 2])[0].to_bytes()
    salt = crypto.new_salt()
    commitment = crypto.share_commitment(salt=salt, lot_id=1, fingerprint="ab" * 32, share=share)
    assert crypto.share_matches(
        salt=salt, lot_id=1, fingerprint="ab" * 32, share=share, commitment=commitment
    )
    assert not crypto.share_matches(
        salt=salt, lot_id=2, fingerprint="ab" * 32, share=share, commitment=commitment
    )
    assert not crypto.share_matches(
        salt=salt, lot_id=1, fingerprint="cd" * 32, share=share, commitment=commitment
    )


def test_share_bytes_round_trip_with_the_x_coordinate_first():
    share = shamir.Share(x=3, y=b"\x01\x02")
    assert share.to_bytes() == b"\x03\x01\x02"
    assert shamir.Share.from_bytes(b"\x03\x01\x02") == share


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1, "xs": [1, 2]}, "threshold"),
        ({"threshold": 3, "xs": [1, 2]}, "threshold"),
        ({"threshold": 2, "xs": [1, 1]}, "distinct"),
        ({"threshold": 2, "xs": [0, 1]}, "between 1 and 255"),
        ({"threshold": 2, "xs": [1, 256]}, "between 1 and 255"),
    ],
)
def test_split_refuses_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        shamir.split(b"secret", **kwargs)


def test_combine_refuses_mismatched_or_duplicate_shares():
    shares = shamir.split(b"secret", threshold=2, xs=[1, 2])
    with pytest.raises(ValueError, match="at least two"):
        shamir.combine(shares[:1])
    with pytest.raises(ValueError, match="distinct"):
        shamir.combine([shares[0], shares[0]])
    with pytest.raises(ValueError, match="one length"):
        shamir.combine([shares[0], shamir.Share(x=2, y=b"xy")])
