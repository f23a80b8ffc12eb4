"""The unified social credit code (GB 32100-2015) and its Chinese messages."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts import credit_code
from accounts.models import validate_credit_code

REAL_CODES = ["91350100M000100Y43", "91440300708461136T", "91110000802100433B"]


def _refusal(code: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        validate_credit_code(code)
    return caught.value


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_accepted(code):
    validate_credit_code(code)
    assert credit_code.validate(code) == code


def test_lower_case_and_spaces_are_normalised():
    assert credit_code.validate("  91440300708461136t ") == "91440300708461136T"


@pytest.mark.parametrize("code", ["91350100M000100Y4", "91350100M000100Y433", ""])
def test_wrong_length_is_refused_in_chinese(code):
    error = _refusal(code)
    assert error.code == "credit_code.length"
    assert error.messages == ["统一社会信用代码应为18位。"]


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_letters_outside_the_alphabet_are_refused_in_chinese(letter):
    code = REAL_CODES[0][:10] + letter + REAL_CODES[0][11:]
    error = _refusal(code)
    assert error.code == "credit_code.charset"
    assert error.messages == ["统一社会信用代码含有不允许的字符（不使用 I、O、S、V、Z）。"]


def test_wrong_check_character_is_refused_in_chinese():
    good = REAL_CODES[1]
    wrong = next(ch for ch in credit_code.ALPHABET if ch != good[-1])
    error = _refusal(good[:-1] + wrong)
    assert error.code == "credit_code.check"
    assert error.messages == ["统一社会信用代码校验位错误，请核对后重新输入。"]


def test_a_single_changed_digit_is_caught_by_the_check_character():
    good = REAL_CODES[2]
    altered = good[:9] + ("1" if good[9] != "1" else "2") + good[10:]
    assert _refusal(altered).code == "credit_code.check"


def test_make_completes_a_code_that_validates():
    code = credit_code.make("91330100MA0000001")
    assert credit_code.validate(code) == code
