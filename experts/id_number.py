"""Citizen identity numbers (公民身份号码) per GB 11643-1999.

18 characters: address code (6 digits, the county where the number was first
issued), date of birth (8 digits, YYYYMMDD), sequence code (3 digits, odd for
men and even for women) and a check character. The check character is
``"10X98765432"[sum(digit × weight) mod 11]`` over the first 17 digits with
weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 (that is 2^(17-i) mod 11).

Only the province part of the address code is checked against GB/T 2260: an
old number keeps the county code of a division that may since have been
abolished or renamed, and stays valid for life.

The number is personal data: it is shown only to supervisors and the
platform, and everywhere else (audit payloads, the expert's own page) only
``mask``-ed. Nothing in this module logs.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
LENGTH = 18
# Only to refuse nonsense years: the standard's own example (440524188001010014) was born in 1880.
EARLIEST_BIRTH = dt.date(1800, 1, 1)

# The first two digits of the address code: the provinces of GB/T 2260, plus
# Taiwan (71), Hong Kong (81) and Macao (82), whose residents hold mainland
# numbers with these prefixes.
PROVINCE_PREFIXES = frozenset(
    {
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    }
)

MESSAGES = {
    "required": _("请填写身份证号码。"),
    "length": _("身份证号码应为18位。"),
    "area": _("身份证号码前6位应为有效的行政区划代码（地址码）。"),
    "birth_date": _("身份证号码第7至14位应为有效的出生日期（年月日）。"),
    "birth_future": _("身份证号码中的出生日期不能晚于今天。"),
    "sequence": _("身份证号码第15至17位（顺序码）应为3位数字。"),
    "check_format": _("身份证号码第18位（校验码）应为数字或字母X。"),
    "check": _("身份证号码校验码错误，请核对后重新输入。"),
}


class IdNumberError(ValueError):
    """Raised with a reason: required, length, area, birth_date, birth_future, sequence, check_format, check."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    @property
    def message(self) -> str:
        return str(MESSAGES[self.reason])


def check_character(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def normalise(value: str) -> str:
    """Without surrounding or inner spaces, with a lower-case check ``x`` made upper case."""
    return "".join(value.split()).upper()


def validate(value: str, *, today: dt.date | None = None) -> str:
    """The normalised number, or ``IdNumberError`` naming the first part at fault.

    ``today`` bounds the date of birth (the local date when not given).
    """
    number = normalise(value)
    if not number:
        raise IdNumberError("required")
    if len(number) != LENGTH:
        raise IdNumberError("length")
    area, birth, sequence, check = number[:6], number[6:14], number[14:17], number[17]
    if not (area.isascii() and area.isdigit()) or area[:2] not in PROVINCE_PREFIXES:
        raise IdNumberError("area")
    born = _birth_date(birth)
    if born is None or born < EARLIEST_BIRTH:
        raise IdNumberError("birth_date")
    if born > (today or timezone.localdate()):
        raise IdNumberError("birth_future")
    if not (sequence.isascii() and sequence.isdigit()):
        raise IdNumberError("sequence")
    if check not in CHECK_CHARACTERS:
        raise IdNumberError("check_format")
    if check_character(number[:17]) != check:
        raise IdNumberError("check")
    return number


def validate_id_number(value: str) -> None:
    """The same check as a Django validator, with the Chinese message of the reason."""
    try:
        validate(value)
    except IdNumberError as exc:
        raise ValidationError(exc.message, code=f"id_number.{exc.reason}") from None


def make(first17: str) -> str:
    """Complete 17 digits with their check character (demo data, tests)."""
    return first17 + check_character(first17)


def mask(value: str) -> str:
    """The first 6 and last 4 characters, the 8 between them starred: ``330102********123X``.

    What audit payloads and everyone but supervisors and the platform get to
    see. A value too short to mask that way is starred entirely.
    """
    number = normalise(value)
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def _birth_date(digits: str) -> dt.date | None:
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
