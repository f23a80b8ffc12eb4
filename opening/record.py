"""The opening record (开标记录, EB 32, EB 40): a signed JSON document and its PDF.

The room builds the record when it closes (a plain dict, see
docs/opening-record.md for every field); this module checks its shape, signs
it with the platform's Ed25519 key — the receipt key of
``bidding.receipts`` — and renders it as an A4 PDF with the Chinese font
embedded. The JSON is the record; the PDF shows the same content for people.
Verification needs only ``record.json`` and the platform's public key
(``GET /api/receipt-key``):

    signature = Ed25519(UTF-8 of json.dumps(record without "signature",
                        sort_keys=True, separators=(",", ":"), ensure_ascii=False))

This is exactly the receipts' canonical encoding, with the same key. A
receipt can never pass for a record (or the reverse) because ``"format"`` is
inside the signed bytes and the two formats differ.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.sax.saxutils import escape

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from bidding.receipts import public_fingerprint, receipt_key, signed_bytes
from core.errors import DomainError
from core.pdf import register_cjk_font
from tendering.models import EvaluationMethod

RECORD_FORMAT = "sunbid-opening-record"
RECORD_VERSION = 1

OUTCOMES = ("decrypted", "revoked", "withdrawn")
KEYS = ("bidder", "opening")
CAUSES = ("", "bidder_fault", "custodians", "other_fault")
ROLES = ("host", "bidder", "supervisor", "tenderer", "observer")

_DECIMAL = re.compile(r"-?\d+(\.\d+)?")


# --- shape ----------------------------------------------------------------------------------


def _malformed(detail: str) -> DomainError:
    return DomainError(
        "record.malformed",
        _("开标记录格式不正确：%(detail)s"),
        detail=detail,
    )


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    # bool is an int to Python, never to the record.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    return moment.tzinfo is not None


def _is_amount(value: Any) -> bool:
    return isinstance(value, str) and _DECIMAL.fullmatch(value) is not None


_Check = Callable[[Any], bool]


def _nullable(check: _Check) -> _Check:
    return lambda value: value is None or check(value)


def _one_of(*choices: Any) -> _Check:
    return lambda value: value in choices


def _text_or_int(value: Any) -> bool:
    return _is_text(value) or _is_int(value)


def _field_values(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(label, str) and (value_ is None or _text_or_int(value_))
        for label, value_ in value.items()
    )


_LOT: dict[str, _Check] = {
    "id": _is_int,
    "tender_code": _is_text,
    "tender_title": _is_text,
    "number": _text_or_int,
    "name": _is_text,
    "tenderer": _is_text,
    "agency": _is_text,
    "supervising_authority": _nullable(_is_text),
    "control_price": _is_amount,
    "min_bidders": _is_int,
    "evaluation_method": _is_text,
}
_CONFIRMATION: dict[str, _Check] = {
    "at": _nullable(_is_time),
    "silent": lambda value: isinstance(value, bool),
    "signature": _nullable(_is_text),
}
_BID: dict[str, _Check] = {
    "position": _is_int,
    "bid": _is_text,
    "receipt_no": _is_text,
    "organisation": _text_or_int,
    "organisation_name": _is_text,
    "credit_code": _is_text,
    "received_at": _is_time,
    "outcome": _one_of(*OUTCOMES),
    "key": _one_of(*KEYS, None),
    "cause": _one_of(*CAUSES),
    "note": _is_text,
    "price": _nullable(_is_amount),
    "duration_days": _nullable(_text_or_int),
    "quality": _nullable(_is_text),
    "fields": _field_values,
    "invalid": lambda value: isinstance(value, bool),
    "invalid_reason": _is_text,
    "confirmation": lambda value: value is None or isinstance(value, dict),
}
_OBJECTION: dict[str, _Check] = {
    "id": _is_int,
    "organisation_name": _is_text,
    "user_name": _is_text,
    "text": _is_text,
    "at": _is_time,
    "answer": _nullable(_is_text),
    "answered_by": _nullable(_is_text),
    "answered_at": _nullable(_is_time),
}
_PAUSE: dict[str, _Check] = {
    "paused_at": _is_time,
    "paused_by": _is_text,
    "reason": _is_text,
    "resumed_at": _nullable(_is_time),
    "resumed_by": _nullable(_is_text),
    "resume_reason": _nullable(_is_text),
}
_PARTICIPANT: dict[str, _Check] = {
    "role": _one_of(*ROLES),
    "user_name": _is_text,
    "organisation_name": _is_text,
    "signed_in_at": _nullable(_is_time),
}
_AUDIT: dict[str, _Check] = {
    "from_seq": _is_int,
    "to_seq": _is_int,
    "chain_hash": _is_text,
}
_RECORD: dict[str, _Check] = {
    "format": _one_of(RECORD_FORMAT),
    "version": lambda value: _is_int(value) and value == RECORD_VERSION,
    "lot": lambda value: isinstance(value, dict),
    "opening_time": _is_time,
    "opened_at": _nullable(_is_time),
    "closed_at": _nullable(_is_time),
    "decryption_deadline": _nullable(_is_time),
    "confirmation_deadline": _nullable(_is_time),
    "bids": lambda value: isinstance(value, list),
    "objections": lambda value: isinstance(value, list),
    "pauses": lambda value: isinstance(value, list),
    "participants": lambda value: isinstance(value, list),
    "reading_digest": _nullable(_is_text),
    "audit": lambda value: isinstance(value, dict),
}
_SIGNATURE_FIELDS = ("key_fingerprint", "signature")


def _check_object(
    value: Any, spec: dict[str, _Check], where: str, *, extra: Iterable[str] = ()
) -> None:
    if not isinstance(value, dict):
        raise _malformed(where or "record")
    missing = [name for name in spec if name not in value]
    if missing:
        raise _malformed(f"{where}{'.' if where else ''}{missing[0]} missing")
    unknown = sorted(set(value) - set(spec) - set(extra))
    if unknown:
        raise _malformed(f"{where}{'.' if where else ''}{unknown[0]} unknown")
    for name, check in spec.items():
        if not check(value[name]):
            raise _malformed(f"{where}{'.' if where else ''}{name}")


def record_validate(record: Any) -> None:
    """Raise ``record.malformed`` unless ``record`` has exactly the documented shape.

    Only the shape and the internal rules are checked (types, choices, times
    with an offset, amounts as decimal strings, bids in strictly increasing
    position order, a key only for a decrypted bid); whether the content is
    true is the room's business. ``key_fingerprint`` and ``signature`` may be
    present; their presence is not required here.
    """
    _check_object(record, _RECORD, "", extra=_SIGNATURE_FIELDS)
    for name in _SIGNATURE_FIELDS:
        if name in record and not isinstance(record[name], str):
            raise _malformed(name)
    _check_object(record["lot"], _LOT, "lot")
    _check_object(record["audit"], _AUDIT, "audit")
    last = None
    for index, bid in enumerate(record["bids"]):
        where = f"bids[{index}]"
        _check_object(bid, _BID, where)
        if bid["confirmation"] is not None:
            _check_object(bid["confirmation"], _CONFIRMATION, f"{where}.confirmation")
        if last is not None and bid["position"] <= last:
            raise _malformed(f"{where}.position out of order")
        last = bid["position"]
        if (bid["outcome"] == "decrypted") != (bid["key"] is not None):
            raise _malformed(f"{where}.key")
    for index, objection in enumerate(record["objections"]):
        _check_object(objection, _OBJECTION, f"objections[{index}]")
    for index, pause in enumerate(record["pauses"]):
        _check_object(pause, _PAUSE, f"pauses[{index}]")
    for index, participant in enumerate(record["participants"]):
        _check_object(participant, _PARTICIPANT, f"participants[{index}]")


# --- signature ------------------------------------------------------------------------------


def record_sign(record: dict[str, Any]) -> dict[str, Any]:
    """A signed copy of ``record``: its ``key_fingerprint`` and ``signature`` set by the platform key.

    The record must have the documented shape (``record.malformed``
    otherwise), so the platform never signs anything else. Any
    ``key_fingerprint``/``signature`` already present are replaced. The input
    is not changed, and later changes to it do not reach the signed copy.
    """
    body = {name: value for name, value in record.items() if name not in _SIGNATURE_FIELDS}
    record_validate(body)
    key = receipt_key()
    signed = copy.deepcopy(body)
    signed["key_fingerprint"] = key.fingerprint
    signed["signature"] = base64.b64encode(key.private.sign(signed_bytes(signed))).decode("ascii")
    return signed


def _load_public_key(public_key: Ed25519PublicKey | bytes | str) -> Ed25519PublicKey:
    if isinstance(public_key, Ed25519PublicKey):
        return public_key
    if isinstance(public_key, str | bytes):
        try:
            loaded = serialization.load_pem_public_key(
                public_key.encode() if isinstance(public_key, str) else public_key
            )
        except (ValueError, TypeError, UnsupportedAlgorithm):
            loaded = None
        if isinstance(loaded, Ed25519PublicKey):
            return loaded
    raise DomainError(
        "record.key_mismatch",
        _("核验所用的公钥不是平台的 Ed25519 签名公钥。"),
    )


def record_verify(record: Any, public_key: Ed25519PublicKey | bytes | str) -> None:
    """Raise a ``DomainError`` unless ``record`` is a well-formed record signed by ``public_key``.

    ``public_key`` is the key or its PEM (text or bytes). Codes:
    ``record.malformed`` (not a record of this format and version, or a
    signature that is missing or not base64), ``record.key_mismatch`` (signed
    by another key, or not an Ed25519 key), ``record.signature_invalid`` (the
    signature does not cover this content: anything changed, removed or
    reordered after signing).
    """
    key = _load_public_key(public_key)
    if not isinstance(record, dict):
        raise _malformed("record")
    if record.get("format") != RECORD_FORMAT or record.get("version") != RECORD_VERSION:
        raise _malformed("format")
    for name in _SIGNATURE_FIELDS:
        if not isinstance(record.get(name), str):
            raise _malformed(name)
    if record["key_fingerprint"] != public_fingerprint(key):
        raise DomainError(
            "record.key_mismatch",
            _("开标记录不是用该公钥签名的（公钥指纹不符）。"),
        )
    try:
        signature = base64.b64decode(record["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("signature") from None
    try:
        body = signed_bytes(record)
    except (TypeError, ValueError):  # not JSON: a record is only ever parsed from JSON
        raise _malformed("record") from None
    try:
        key.verify(signature, body)
    except InvalidSignature:
        raise DomainError(
            "record.signature_invalid",
            _("开标记录的签名无效：签名后内容已被改动。"),
        ) from None
    record_validate(record)


def record_dumps(record: dict[str, Any]) -> str:
    """The record as published (``record.json``): canonical JSON, the signature included.

    The same encoding as the signed bytes (sorted keys, no spaces, UTF-8
    characters as they are), so the SHA-256 of its UTF-8 bytes is a stable
    identity of the record, shown on the PDF.
    """
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_sha256(record: dict[str, Any]) -> str:
    """Lowercase hex SHA-256 of ``record_dumps(record)`` in UTF-8."""
    return hashlib.sha256(record_dumps(record).encode("utf-8")).hexdigest()


# --- what the PDF says ----------------------------------------------------------------------


def format_amount(value: str | None) -> str:
    """A decimal amount in yuan with thousands separators and at least two decimals, never rounded.

    ``"1234567.5"`` → ``"1,234,567.50"``; more decimals than two are shown as they are.
    """
    if value is None:
        return "—"
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return str(value)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return format(amount.quantize(Decimal("0.01")), ",f")
    return format(amount, ",f")


def _offset(value: str) -> str:
    """The UTC offset of an ISO time, as ``+08:00``."""
    offset = datetime.fromisoformat(value).strftime("%z")
    return f"{offset[:3]}:{offset[3:]}"


def _time(value: str | None, zone: str, *, fraction: bool = False) -> str:
    """``value`` as ``2026-03-01 09:00:00``; its offset is added only where it is not ``zone``."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if fraction:
        text += f".{moment.microsecond // 1000:03d}"
    if _offset(value) != zone:
        text += f" UTC{_offset(value)}"
    return text


def _outcome(bid: dict[str, Any]) -> str:
    if bid["outcome"] == "decrypted":
        return "\n".join(
            (_("已解密"), _("投标人密钥") if bid["key"] == "bidder" else _("开标密钥"))
        )
    if bid["outcome"] == "revoked":
        return pgettext("bid outcome", "撤销")
    return pgettext("bid outcome", "撤回")


def _cause(cause: str) -> str:
    return {
        "": "",
        "bidder_fault": _("投标人原因"),
        "custodians": _("非投标人原因，保管单位以开标密钥解密"),
        "other_fault": _("非投标人原因"),
    }[cause]


def _confirmation(confirmation: dict[str, Any] | None, zone: str) -> str:
    if confirmation is None:
        return "—"
    if confirmation["silent"]:
        return "\n".join((_("视为确认"), _("（确认期限内未签名）")))
    return "\n".join((_("已签名确认"), _time(confirmation["at"], zone)))


def _role(role: str) -> str:
    return {
        "host": _("主持人"),
        "bidder": _("投标人"),
        "supervisor": _("监督人员"),
        "tenderer": _("招标人代表"),
        "observer": _("平台观察员"),
    }[role]


def _evaluation_method(value: str) -> str:
    try:
        return str(EvaluationMethod(value).label)
    except ValueError:
        return value


# --- layout ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mono:
    """A cell drawn in the fixed-width core font (hex, base64), so it can be compared by eye."""

    text: str


_FONT_SIZE = 7.5
_LEADING = 9.2
_CELL_PADDING = 2.5
_LINES_PER_ROW = 14  # a row never outgrows a page: longer cells continue in the next row
_widths: dict[tuple[str, float], dict[str, float]] = {}


def _width_of(char: str, font: str, size: float) -> float:
    cache = _widths.setdefault((font, size), {})
    width = cache.get(char)
    if width is None:
        width = cache[char] = stringWidth(char, font, size)
    return width


_NO_LINE_START = frozenset("，。、；：！？）》」』】”’,.;:!?)")


def _breakable(before: str, after: str) -> bool:
    """May a line break between these two characters? Between Chinese characters, or after a space."""
    return before == " " or not (before.isascii() and after.isascii())


def _wrap_text(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` points.

    Chinese breaks between any two characters; a run of Latin letters and
    digits (a code, an amount) is kept whole when it starts in the second half
    of the line, and broken anywhere only when it is longer than that.
    """
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line: list[str] = []
        used = 0.0
        for char in paragraph:
            advance = _width_of(char, font, size)
            if line and used + advance > width:
                cut = len(line)
                if not _breakable(line[-1], char):
                    # Keep a Latin run (a code, an amount) whole when it fits on one line.
                    for index in range(len(line) - 1, len(line) // 2 - 1, -1):
                        if index > 0 and _breakable(line[index - 1], line[index]):
                            cut = index
                            break
                elif char in _NO_LINE_START and len(line) > 1:
                    # Chinese typesetting: a comma or closing bracket never starts a line.
                    cut = len(line) - 1
                    while cut > 1 and line[cut] in _NO_LINE_START:
                        cut -= 1
                    if line[cut] in _NO_LINE_START:  # nothing but punctuation: break anyway
                        cut = len(line)
                lines.append("".join(line[:cut]).rstrip())
                line = line[cut:]
                used = sum(_width_of(c, font, size) for c in line)
                if char == " " and not line:
                    continue
            line.append(char)
            used += advance
        lines.append("".join(line))
    return lines


@dataclass
class _Table:
    """A table whose cells are text, pre-wrapped here: fast for thousands of rows, and splittable.

    Each logical row may become several table rows of at most
    ``_LINES_PER_ROW`` lines, so that no row is taller than a page; the
    grid draws one logical row as one box.
    """

    widths: list[float]
    font: str
    header: list[str]
    rows: list[list[Any]]
    starts: list[int]
    styles: list[tuple[Any, ...]]

    @classmethod
    def build(
        cls,
        font: str,
        widths: Sequence[float],
        header: Sequence[str],
        *,
        right: Sequence[int] = (),
    ) -> _Table:

        table = cls(list(widths), font, [], [], [], [])
        table.header = [
            "\n".join(_wrap_text(text, font, _FONT_SIZE, width - 2 * _CELL_PADDING))
            for text, width in zip(header, widths, strict=True)
        ]
        table.styles = [
            ("FONT", (0, 0), (-1, -1), font, _FONT_SIZE, _LEADING),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), _CELL_PADDING),
            ("RIGHTPADDING", (0, 0), (-1, -1), _CELL_PADDING),
            ("TOPPADDING", (0, 0), (-1, -1), 1.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")),
            ("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor("#555555")),
            ("LINEAFTER", (0, 0), (-2, -1), 0.3, colors.HexColor("#999999")),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#555555")),
        ]
        for column in right:
            table.styles.append(("ALIGN", (column, 0), (column, -1), "RIGHT"))
        return table

    def add(
        self, cells: Sequence[Any], *, style: Callable[[int, int], list[Any]] | None = None
    ) -> None:
        """Append one logical row; ``style(first, last)`` may add style commands for its table rows."""
        wrapped: list[list[str]] = []
        fonts: list[str] = []
        for cell, width in zip(cells, self.widths, strict=True):
            font = "Courier" if isinstance(cell, Mono) else self.font
            text = cell.text if isinstance(cell, Mono) else ("" if cell is None else str(cell))
            wrapped.append(_wrap_text(text, font, _FONT_SIZE, width - 2 * _CELL_PADDING))
            fonts.append(font)
        height = max(len(lines) for lines in wrapped)
        first = len(self.rows) + 1  # row 0 is the header
        for start in range(0, height, _LINES_PER_ROW):
            self.rows.append(
                ["\n".join(lines[start : start + _LINES_PER_ROW]) for lines in wrapped]
            )
        last = len(self.rows)
        self.starts.append(first)
        for column, font in enumerate(fonts):
            if font != self.font:
                self.styles.append(
                    ("FONT", (column, first), (column, last), font, _FONT_SIZE, _LEADING)
                )
        if style is not None:
            self.styles.extend(style(first, last))

    def flowable(self) -> Any:

        if not self.rows:
            return None
        table = Table(
            [self.header, *self.rows],
            colWidths=self.widths,
            repeatRows=1,
            hAlign="LEFT",
        )

        rule = (0.3, colors.HexColor("#999999"))
        if len(self.starts) == len(self.rows):
            # Every logical row is one table row: one command rules them all, which
            # keeps splitting a long table across pages cheap.
            lines = [("LINEBELOW", (0, 1), (-1, -1), *rule)]
        else:
            lines = [("LINEABOVE", (0, first), (-1, first), *rule) for first in self.starts[1:]]
        table.setStyle(TableStyle([*self.styles, *lines]))
        return table


class _Styles:
    def __init__(self, font: str) -> None:

        self.title = ParagraphStyle(
            "title", fontName=font, fontSize=20, leading=26, alignment=1, spaceAfter=2
        )
        self.subtitle = ParagraphStyle(
            "subtitle", fontName=font, fontSize=9, leading=12, alignment=1, spaceAfter=8
        )
        self.heading = ParagraphStyle(
            "heading",
            fontName=font,
            fontSize=11,
            leading=15,
            spaceBefore=8,
            spaceAfter=4,
            keepWithNext=1,
        )
        self.body = ParagraphStyle(
            "body", fontName=font, fontSize=8.5, leading=12, wordWrap="CJK", spaceAfter=3
        )


def _paragraph(text: str, style: Any) -> Any:

    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _ellipsis(text: str, font: str, size: float, width: float) -> str:
    lines = _wrap_text(text.replace("\n", " "), font, size, width)
    return lines[0] if len(lines) == 1 else lines[0][:-1] + "…"


def record_pdf(record: dict[str, Any]) -> bytes:
    """The signed record as an A4 (landscape) PDF, the Chinese font embedded.

    Every page carries the lot's identity in its header and "第 n 页 共 m 页"
    in its footer. Tables are laid out from pre-wrapped text, so 2,000 bids
    render in seconds. ``record`` must be signed (``record_sign``): the PDF
    shows the platform key's fingerprint, the signature and the SHA-256 of
    ``record.json`` so that a reader can check it against the JSON.
    Raises ``record.malformed`` otherwise.
    """
    record_validate(record)
    for name in _SIGNATURE_FIELDS:
        if not isinstance(record.get(name), str):
            raise _malformed(name)

    font = register_cjk_font()
    styles = _Styles(font)
    lot = record["lot"]
    page_width, page_height = landscape(A4)
    margin = 12 * mm
    usable = page_width - 2 * margin
    lot_label = _("第%(number)s标段 %(name)s") % {"number": lot["number"], "name": lot["name"]}
    identity = f"{lot['tender_code']}  {lot['tender_title']}  ·  {lot_label}"
    digest = record_sha256(record)
    # Times are shown in the zone of the opening time (the platform's); any other says so.
    zone = _offset(record["opening_time"])

    def when(value: str | None, *, fraction: bool = False) -> str:
        return _time(value, zone, fraction=fraction)

    def header(pdf: canvas.Canvas, document: Any) -> None:
        pdf.saveState()
        pdf.setFont(font, 8)
        pdf.setFillColor(colors.HexColor("#333333"))
        top = page_height - 8 * mm
        title = _("开标记录")
        title_width = _width_of_text(title, font, 8)
        pdf.drawString(margin, top, _ellipsis(identity, font, 8, usable - title_width - 10 * mm))
        pdf.drawRightString(page_width - margin, top, title)
        pdf.setStrokeColor(colors.HexColor("#999999"))
        pdf.setLineWidth(0.4)
        pdf.line(margin, top - 2.2 * mm, page_width - margin, top - 2.2 * mm)
        pdf.restoreState()

    class NumberedCanvas(canvas.Canvas):
        """Holds the pages back until the end, so that each footer can say how many there are."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.setFont(font, 8)
                self.setFillColor(colors.HexColor("#333333"))
                bottom = 7 * mm
                self.drawString(margin, bottom, _("阳光开标电子招标投标交易平台"))
                self.drawCentredString(
                    page_width / 2,
                    bottom,
                    _("第 %(page)s 页 共 %(pages)s 页") % {"page": number, "pages": total},
                )
                self.setFont("Courier", 7)
                self.drawRightString(
                    page_width - margin, bottom, f"record.json SHA-256 {digest[:16]}…"
                )
                super().showPage()
            super().save()

    buffer = io.BytesIO()
    document = BaseDocTemplate(
        buffer,
        pagesize=(page_width, page_height),
        leftMargin=margin,
        rightMargin=margin,
        topMargin=14 * mm,
        bottomMargin=13 * mm,
        title=f"{_('开标记录')} {lot['tender_code']} {lot_label}",
        author=_("阳光开标"),
        pageCompression=1,
    )
    frame = Frame(
        document.leftMargin,
        document.bottomMargin,
        document.width,
        document.height,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    document.addPageTemplates([PageTemplate(id="record", frames=[frame], onPage=header)])

    story: list[Any] = [
        _paragraph(_("开标记录"), styles.title),
        _paragraph(_("阳光开标电子招标投标交易平台 · 不见面开标"), styles.subtitle),
    ]

    # Lot identity and times, two label/value pairs a line.
    label_width = 32 * mm
    value_width = usable / 2 - label_width
    info = _Table.build(
        font, [label_width, value_width, label_width, value_width], ["", "", "", ""]
    )
    info.header = [_("项目与标段"), "", _("时间"), ""]
    info.styles.append(("SPAN", (0, 0), (1, 0)))
    info.styles.append(("SPAN", (2, 0), (3, 0)))
    left_rows = [
        (_("项目编号"), lot["tender_code"]),
        (_("项目名称"), lot["tender_title"]),
        (_("标段"), lot_label),
        (_("招标人"), lot["tenderer"]),
        (_("招标代理机构"), lot["agency"]),
        (_("监督部门"), lot["supervising_authority"] or "—"),
        (_("最高投标限价（元）"), format_amount(lot["control_price"])),
        (_("评标办法"), _evaluation_method(lot["evaluation_method"])),
        (_("最少投标人数"), str(lot["min_bidders"])),
    ]
    right_rows = [
        (_("开标时间"), when(record["opening_time"])),
        (_("开标（宣布投标人）"), when(record["opened_at"])),
        (_("解密截止时间"), when(record["decryption_deadline"])),
        (_("确认截止时间"), when(record["confirmation_deadline"])),
        (_("开标结束时间"), when(record["closed_at"])),
        (
            _("时区"),
            (
                _("UTC%(offset)s（北京时间），以平台服务器时钟为准")
                if zone == "+08:00"
                else _("UTC%(offset)s，以平台服务器时钟为准")
            )
            % {"offset": zone},
        ),
    ]
    for index, (label, value) in enumerate(left_rows):
        other_label, other_value = right_rows[index] if index < len(right_rows) else ("", "")
        info.add([label, value, other_label, other_value])
    info.styles.append(("BACKGROUND", (0, 1), (0, -1), colors.HexColor("#f4f6f8")))
    info.styles.append(("BACKGROUND", (2, 1), (2, -1), colors.HexColor("#f4f6f8")))
    story.append(info.flowable())

    # The bids, in reading order.
    bids = record["bids"]
    revoked = sum(1 for bid in bids if bid["outcome"] == "revoked")
    withdrawn = sum(1 for bid in bids if bid["outcome"] == "withdrawn")
    decrypted = len(bids) - revoked - withdrawn
    by_opening = sum(1 for bid in bids if bid["key"] == "opening")
    invalid = sum(1 for bid in bids if bid["invalid"])
    story.append(_paragraph(_("一、投标文件与唱标"), styles.heading))
    story.append(
        _paragraph(
            _(
                "递交投标文件 %(count)s 家：已解密 %(decrypted)s 家（其中以开标密钥解密 %(opening)s 家），"
                "撤销 %(revoked)s 家，撤回 %(withdrawn)s 家；报价无效 %(invalid)s 家。"
            )
            % {
                "count": len(bids),
                "decrypted": decrypted,
                "opening": by_opening,
                "revoked": revoked,
                "withdrawn": withdrawn,
                "invalid": invalid,
            },
            styles.body,
        )
    )
    widths_mm = [10, 47, 36, 37, 28, 15, 18, 35, 24, 21]
    scale = usable / (sum(widths_mm) * mm)
    table = _Table.build(
        font,
        [width * mm * scale for width in widths_mm],
        [
            _("序号"),
            _("投标人 / 统一社会信用代码"),
            _("回执编号 / 递交时间"),
            _("解密情况"),
            _("投标报价（元）"),
            _("工期（天）"),
            _("质量"),
            _("其他内容"),
            _("报价有效性"),
            _("确认"),
        ],
        right=(4,),
    )
    invalid_fill = colors.HexColor("#fde2e1")
    invalid_ink = colors.HexColor("#b00020")

    def flag(first: int, last: int) -> list[Any]:
        return [
            ("BACKGROUND", (4, first), (4, last), invalid_fill),
            ("BACKGROUND", (8, first), (8, last), invalid_fill),
            ("TEXTCOLOR", (4, first), (4, last), invalid_ink),
            ("TEXTCOLOR", (8, first), (8, last), invalid_ink),
        ]

    for bid in bids:
        decryption = _outcome(bid)
        cause = _cause(bid["cause"])
        if cause:
            decryption += "\n" + cause
        if bid["note"]:
            decryption += "\n" + _("说明：%(note)s") % {"note": bid["note"]}
        if bid["invalid"]:
            validity = "\n".join((_("无效"), bid["invalid_reason"] or ""))
        elif bid["outcome"] == "decrypted":
            validity = pgettext("bid price", "有效")
        else:
            validity = "—"
        table.add(
            [
                str(bid["position"]),
                f"{bid['organisation_name']}\n{bid['credit_code']}",
                f"{bid['receipt_no']}\n{when(bid['received_at'], fraction=True)}",
                decryption,
                format_amount(bid["price"]),
                "—" if bid["duration_days"] is None else str(bid["duration_days"]),
                bid["quality"] if bid["quality"] else "—",
                "\n".join(
                    f"{label}：{'' if value is None else value}"
                    for label, value in bid["fields"].items()
                ),
                validity.strip(),
                _confirmation(bid["confirmation"], zone),
            ],
            style=flag if bid["invalid"] else None,
        )
    bids_table = table.flowable()
    story.append(
        bids_table if bids_table is not None else _paragraph(_("无投标文件。"), styles.body)
    )
    story.append(Spacer(1, 3 * mm))
    story.append(
        _paragraph(
            _(
                "最高投标限价：%(price)s 元。投标报价超过最高投标限价的，"
                "在上表中标注为“无效（超过最高投标限价）”。"
            )
            % {"price": format_amount(lot["control_price"])},
            styles.body,
        )
    )

    # Objections and answers.
    story.append(_paragraph(_("二、异议及答复"), styles.heading))
    objections = _Table.build(
        font,
        [usable * share for share in (0.05, 0.15, 0.1, 0.3, 0.28, 0.12)],
        [
            _("序号"),
            _("提出人"),
            _("提出时间"),
            _("异议内容"),
            _("答复"),
            _("答复人 / 答复时间"),
        ],
    )
    for objection in record["objections"]:
        answered = objection["answer"] is not None
        objections.add(
            [
                str(objection["id"]),
                f"{objection['organisation_name']}\n{objection['user_name']}",
                when(objection["at"]),
                objection["text"],
                objection["answer"] if answered else _("未答复"),
                f"{objection['answered_by'] or ''}\n{when(objection['answered_at'])}"
                if answered
                else "—",
            ]
        )
    flowable = objections.flowable()
    story.append(flowable if flowable is not None else _paragraph(_("无异议。"), styles.body))

    # Pauses by the supervisors.
    story.append(_paragraph(_("三、暂停记录"), styles.heading))
    pauses = _Table.build(
        font,
        [usable * share for share in (0.14, 0.14, 0.22, 0.14, 0.14, 0.22)],
        [_("暂停时间"), _("暂停人"), _("暂停原因"), _("恢复时间"), _("恢复人"), _("恢复说明")],
    )
    for pause in record["pauses"]:
        pauses.add(
            [
                when(pause["paused_at"]),
                pause["paused_by"],
                pause["reason"],
                when(pause["resumed_at"]),
                pause["resumed_by"] or "—",
                pause["resume_reason"] or "—",
            ]
        )
    flowable = pauses.flowable()
    story.append(
        flowable if flowable is not None else _paragraph(_("开标过程中未暂停。"), styles.body)
    )

    # Who took part.
    story.append(_paragraph(_("四、参加人员"), styles.heading))
    people = _Table.build(
        font,
        [usable * share for share in (0.06, 0.16, 0.2, 0.38, 0.2)],
        [_("序号"), _("身份"), _("姓名"), _("单位"), _("签到时间")],
    )
    for index, participant in enumerate(record["participants"], start=1):
        people.add(
            [
                str(index),
                _role(participant["role"]),
                participant["user_name"],
                participant["organisation_name"],
                when(participant["signed_in_at"]) if participant["signed_in_at"] else _("未签到"),
            ]
        )
    flowable = people.flowable()
    story.append(flowable if flowable is not None else _paragraph(_("无参加人员。"), styles.body))

    # What makes the record checkable.
    audit = record["audit"]
    story.append(_paragraph(_("五、唱标摘要、审计记录与平台签名"), styles.heading))
    proof = _Table.build(font, [58 * mm, usable - 58 * mm], [_("记录项"), _("值")])
    proof.add([_("唱标摘要（投标人签名确认的内容）"), Mono(record["reading_digest"] or "—")])
    proof.add(
        [
            _("审计记录序号范围"),
            _("第 %(from)s 条至第 %(to)s 条") % {"from": audit["from_seq"], "to": audit["to_seq"]},
        ]
    )
    proof.add([_("开标结束时审计链哈希"), Mono(audit["chain_hash"])])
    proof.add([_("平台签名公钥指纹（SHA-256）"), Mono(record["key_fingerprint"])])
    proof.add([_("平台签名（Ed25519）"), Mono(record["signature"])])
    proof.add([_("record.json 的 SHA-256"), Mono(digest)])
    proof.add([_("记录格式"), Mono(f"{record['format']} v{record['version']}")])
    story.append(proof.flowable())
    story.append(Spacer(1, 3 * mm))
    story.append(
        _paragraph(
            _(
                "本开标记录以 record.json 为准（GET /opening/lots/%(lot)s/record.json），本文件为其可读版本。"
                "平台以 Ed25519 私钥对 record.json 中除 signature 以外的全部字段签名（按键排序、无空格的紧凑 JSON，UTF-8 编码）。"
                "核验方法：从 /api/receipt-key 取得平台公钥，确认其指纹与上表一致，再用该公钥核验 record.json 的签名；"
                "并核对 record.json 的 SHA-256 与上表一致。"
            )
            % {"lot": lot["id"]},
            styles.body,
        )
    )

    document.build(story, canvasmaker=NumberedCanvas)
    return buffer.getvalue()


def _width_of_text(text: str, font: str, size: float) -> float:
    return sum(_width_of(char, font, size) for char in text)
