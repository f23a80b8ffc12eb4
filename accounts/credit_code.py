"""Unified social credit code (统一社会信用代码) per GB 32100-2015.

18 characters: registration authority (1), organisation category (1),
administrative division (6 digits), organisation code (9), check character (1).
The check character is computed over the first 17 with weights 3^i mod 31 in
the 31-character alphabet that leaves out I, O, S, V and Z.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
# Registration authorities and the categories each allows (GB 32100-2015 table 1).
_CATEGORIES = {
    "1": "1239",  # 机构编制
    "2": "129",  # 外交
    "3": "12345",  # 司法行政
    "4": "129",  # 文化
    "5": "1239",  # 民政
    "6": "129",  # 旅游
    "7": "129",  # 宗教
    "8": "129",  # 工会
    "9": "123",  # 工商
    "A": "129",  # 中央军委改革和编制办公室
    "N": "1239",  # 农业
    "Y": "1",  # 其他
}


class CreditCodeError(ValueError):
    """Raised with a reason code: length, charset, authority, category, division, check."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def check_character(first17: str) -> str:
    total = sum(_VALUES[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def normalise(code: str) -> str:
    return code.strip().upper()


def validate(code: str) -> str:
    """Return the normalised code, or raise ``CreditCodeError``."""
    code = normalise(code)
    if len(code) != 18:
        raise CreditCodeError("length")
    if any(ch not in _VALUES for ch in code):
        raise CreditCodeError("charset")
    authority, category = code[0], code[1]
    if authority not in _CATEGORIES:
        raise CreditCodeError("authority")
    if category not in _CATEGORIES[authority]:
        raise CreditCodeError("category")
    if not code[2:8].isdigit():
        raise CreditCodeError("division")
    if check_character(code[:17]) != code[17]:
        raise CreditCodeError("check")
    return code


def make(first17: str) -> str:
    """Complete 17 characters with their check character (demo data, tests)."""
    return first17 + check_character(first17)
