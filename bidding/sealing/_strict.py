"""Strict readers for the JSON documents inside sealed bids and key backups.

Every JSON text the format carries (header, manifest, key backup) is read with
the same rules, so that a Python reader and a JavaScript reader agree on what
is valid: strict UTF-8 without a byte order mark, no duplicate keys, no NaN or
Infinity, no lone surrogates, shallow nesting, integers without fraction or
exponent, base64 in its one canonical spelling.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

# The deepest document of the format (header → recipients → stanza) nests three
# containers; anything much deeper is hostile and only costs stack.
MAX_DEPTH = 8
HEX64 = re.compile(r"[0-9a-f]{64}")


class Invalid(ValueError):
    """A JSON value broke a rule; ``field`` names where (``recipients[1].role``)."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(field)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Invalid(key)
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise Invalid(name)


def loads(raw: bytes | bytearray | memoryview, *, field: str) -> Any:
    """Parse a JSON text under the format's rules; raise ``Invalid(field)`` otherwise."""
    try:
        # utf-8 (not utf-8-sig) keeps a byte order mark, which json then refuses:
        # the format forbids it (a JavaScript TextDecoder would silently drop it).
        text = bytes(raw).decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except Invalid:
        raise Invalid(field) from None
    except (ValueError, RecursionError):
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError
        # comes from pathological nesting ("[[[[…").
        raise Invalid(field) from None
    _check_tree(value, field)
    return value


def _check_tree(value: Any, field: str) -> None:
    # Iterative, so that checking never depends on the caller's stack depth.
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Invalid(field)
        if isinstance(item, str):
            check_text(item, field)
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(key, field)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def check_text(text: str, field: str) -> None:
    # json accepts "\ud800" escapes: a lone surrogate is not Unicode text and
    # would fail later, far from here (database, file names, UTF-8 encoding).
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(field) from None


# --- typed getters: each raises Invalid naming the field ------------------------------


def exact_keys(obj: Any, keys: tuple[str, ...], field: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise Invalid(field or "json")
    if set(obj) != set(keys):
        extra = sorted(set(obj) - set(keys))
        missing = [key for key in keys if key not in obj]
        name = (missing or extra)[0]
        raise Invalid(f"{field}.{name}" if field else name)
    return obj


def integer(value: Any, field: str, low: int, high: int) -> int:
    # bool is an int subclass in Python; JSON true is not a number.
    if type(value) is not int or not low <= value <= high:
        raise Invalid(field)
    return value


def text(value: Any, field: str, low: int, high: int) -> str:
    """A string of ``low``..``high`` Unicode code points (not UTF-16 units)."""
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise Invalid(field)
    return value


def pattern(value: Any, field: str, regex: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not regex.fullmatch(value):
        raise Invalid(field)
    return value


def constant(value: Any, field: str, expected: Any) -> Any:
    if type(value) is not type(expected) or value != expected:
        raise Invalid(field)
    return value


def b64(value: Any, field: str, length: int | None = None) -> bytes:
    """Standard base64 with padding, in its canonical form, of ``length`` bytes."""
    if not isinstance(value, str) or not value.isascii():
        raise Invalid(field)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(field) from None
    # Only one spelling per byte string: no stray bits in the last character.
    if base64.b64encode(raw).decode("ascii") != value:
        raise Invalid(field)
    if length is not None and len(raw) != length:
        raise Invalid(field)
    return raw


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def dumps(obj: Any) -> bytes:
    """The writers' encoding: compact, UTF-8, keys in the order given."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
