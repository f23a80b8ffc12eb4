"""Citizen identity numbers (GB 11643-1999): structure, date of birth, check character, masking."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from experts import id_number
from experts.id_number import IdNumberError

TODAY = dt.date(2026, 6, 1)


def test_the_standards_own_examples_are_valid():
    # GB 11643-1999 appendix examples, one of them with the check character X.
    assert id_number.validate("11010519491231002X", today=TODAY) == "11010519491231002X"
    assert id_number.validate("440524188001010014", today=TODAY) == "440524188001010014"


def test_check_character_follows_the_weights_mod_11():
    # 3·7+3·9+0·10+1·5+0·8+2·4+1·2+9·1+8·6+0·3+0·7+1·9+0·10+1·5+3·8+1·4+3·2 = 168;
    # 168 mod 11 = 3, and "10X98765432"[3] is "9".
    assert id_number.check_character("33010219800101313") == "9"
    assert id_number.make("33010219800101313") == "330102198001013139"
    # 1·7+1·9+0·10+1·5+0·8+5·4+1·2+9·1+4·6+9·3+1·7+2·9+3·10+1·5+0·8+0·4+2·2 = 167; 167 mod 11 = 2 → "X".
    assert id_number.check_character("11010519491231002") == "X"


@pytest.mark.parametrize(
    "first17",
    ["33010219800101313", "32050219751230402", "34010419660815007", "31011519920229888", "65010220001231001"],
)
def test_numbers_built_with_the_check_algorithm_are_valid(first17):
    number = id_number.make(first17)
    assert id_number.validate(number, today=TODAY) == number


def test_lower_case_x_and_spaces_are_normalised():
    assert id_number.validate(" 110105 19491231 002x ", today=TODAY) == "11010519491231002X"


def _reason(value: str) -> str:
    with pytest.raises(IdNumberError) as caught:
        id_number.validate(value, today=TODAY)
    return caught.value.reason


def test_an_empty_number_is_required():
    assert _reason("  ") == "required"


@pytest.mark.parametrize("value", ["11010519491231002", "11010519491231002X1", "110105194912310"])
def test_a_number_of_the_wrong_length_is_refused(value):
    assert _reason(value) == "length"


@pytest.mark.parametrize("first17", ["99010219800101313", "0A010219800101313", "00010219800101313"])
def test_an_address_code_outside_the_provinces_is_refused(first17):
    assert _reason(id_number.make(first17) if first17.isdigit() else first17 + "1") == "area"


@pytest.mark.parametrize("birth", ["19800230", "19801301", "19800100", "1980A101", "17991231"])
def test_an_impossible_date_of_birth_is_refused(birth):
    first17 = f"330102{birth}313"
    number = id_number.make(first17) if first17.isdigit() else first17 + "1"
    assert _reason(number) == "birth_date"


def test_a_date_of_birth_after_today_is_refused():
    assert _reason(id_number.make("33010220260602313")) == "birth_future"
    assert id_number.validate(id_number.make("33010220260601313"), today=TODAY)


def test_a_sequence_code_that_is_not_three_digits_is_refused():
    assert _reason("3301021980010131A1") == "sequence"


def test_a_check_character_other_than_a_digit_or_x_is_refused():
    assert _reason("33010219800101313Y") == "check_format"


def test_a_wrong_check_character_is_refused():
    assert _reason("330102198001013131") == "check"
    # One digit mistyped: the check character catches it.
    assert _reason("330102198001013239") == "check"


def test_each_reason_has_a_chinese_message():
    translation.activate("zh-hans")
    for reason, message in id_number.MESSAGES.items():
        assert "身份证号码" in str(message), reason
    assert IdNumberError("check").message == "身份证号码校验码错误，请核对后重新输入。"


def test_the_django_validator_carries_the_reason_and_the_message():
    with pytest.raises(ValidationError) as caught:
        id_number.validate_id_number("330102198001013131")
    assert caught.value.code == "id_number.check"
    assert caught.value.messages == ["身份证号码校验码错误，请核对后重新输入。"]


def test_mask_keeps_the_first_six_and_last_four_characters():
    assert id_number.mask("330102198001013139") == "330102********3139"
    assert id_number.mask("11010519491231002x") == "110105********002X"
