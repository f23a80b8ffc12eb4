"""The award notice (中标通知书) and the result notices (中标结果通知书): signed JSON and PDF (EB 40).

Each letter is a JSON document signed with the platform's Ed25519 key — the
key of the bid receipts and the opening record (``bidding.receipts``):

    signature = Ed25519(UTF-8 of json.dumps(letter without "signature",
                        sort_keys=True, separators=(",", ":"), ensure_ascii=False))

``"format"`` is inside the signed bytes, so a letter can never pass for a
receipt or an opening record, nor the reverse. The PDF shows the same content
for people, with the key's fingerprint, the signature and the SHA-256 of the
letter's JSON, and says how to check them. Verification needs only the JSON
and the platform's public key (``GET /api/receipt-key``).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import io
import json
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate, Spacer

from bidding.receipts import public_fingerprint, receipt_key, signed_bytes
from core.errors import DomainError
from core.pdf import register_cjk_font
from opening.record import Mono, _paragraph, _Styles, _Table, format_amount

LETTER_FORMAT = "sunbid-award-letter"
LETTER_VERSION = 1
KINDS = ("award_notice", "result_notice")
_FIELDS = (
    "format",
    "version",
    "kind",
    "letter_no",
    "issued_at",
    "lot",
    "recipient",
    "bid",
    "result",
    "publicity",
    "evaluation_report_sha256",
)
_SIGNATURE_FIELDS = ("key_fingerprint", "signature")


def _malformed(detail: str) -> DomainError:
    return DomainError("letter.malformed", _("通知书格式不正确：%(detail)s"), detail=detail)


def letter_validate(letter: Any) -> None:
    """Raise ``letter.malformed`` unless ``letter`` has the documented fields, and no others."""
    if not isinstance(letter, dict):
        raise _malformed("letter")
    missing = [name for name in _FIELDS if name not in letter]
    if missing:
        raise _malformed(f"{missing[0]} missing")
    unknown = sorted(set(letter) - set(_FIELDS) - set(_SIGNATURE_FIELDS))
    if unknown:
        raise _malformed(f"{unknown[0]} unknown")
    if letter["format"] != LETTER_FORMAT or letter["version"] != LETTER_VERSION:
        raise _malformed("format")
    if letter["kind"] not in KINDS:
        raise _malformed("kind")
    for name in ("lot", "recipient", "bid", "result", "publicity"):
        if not isinstance(letter[name], dict):
            raise _malformed(name)


def letter_sign(letter: dict[str, Any]) -> dict[str, Any]:
    """A signed copy of ``letter``: ``key_fingerprint`` and ``signature`` set with the platform key."""
    body = {name: value for name, value in letter.items() if name not in _SIGNATURE_FIELDS}
    letter_validate(body)
    key = receipt_key()
    signed = copy.deepcopy(body)
    signed["key_fingerprint"] = key.fingerprint
    signed["signature"] = base64.b64encode(key.private.sign(signed_bytes(signed))).decode("ascii")
    return signed


def letter_dumps(letter: dict[str, Any]) -> str:
    """The letter as stored and downloaded: canonical JSON (sorted keys, no spaces, UTF-8 as is)."""
    return json.dumps(letter, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def letter_sha256(letter: dict[str, Any]) -> str:
    return hashlib.sha256(letter_dumps(letter).encode("utf-8")).hexdigest()


def _public_key(public_key: Ed25519PublicKey | bytes | str) -> Ed25519PublicKey:
    if isinstance(public_key, Ed25519PublicKey):
        return public_key
    try:
        loaded = serialization.load_pem_public_key(
            public_key.encode() if isinstance(public_key, str) else public_key
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        loaded = None
    if not isinstance(loaded, Ed25519PublicKey):
        raise DomainError("letter.key_mismatch", _("核验所用的公钥不是平台的 Ed25519 签名公钥。"))
    return loaded


def letter_verify(letter: Any, public_key: Ed25519PublicKey | bytes | str) -> None:
    """Raise a ``DomainError`` unless ``letter`` is a well-formed letter signed by ``public_key``.

    Codes: ``letter.malformed`` (not a letter of this format, or no
    signature), ``letter.key_mismatch`` (signed by another key),
    ``letter.signature_invalid`` (changed after signing).
    """
    key = _public_key(public_key)
    letter_validate(letter)
    for name in _SIGNATURE_FIELDS:
        if not isinstance(letter.get(name), str):
            raise _malformed(name)
    if letter["key_fingerprint"] != public_fingerprint(key):
        raise DomainError("letter.key_mismatch", _("通知书不是用该公钥签名的（公钥指纹不符）。"))
    try:
        signature = base64.b64decode(letter["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("signature") from None
    try:
        key.verify(signature, signed_bytes(letter))
    except InvalidSignature:
        raise DomainError(
            "letter.signature_invalid", _("通知书的签名无效：签名后内容已被改动。")
        ) from None


# --- the PDF ---------------------------------------------------------------------------------------


def _when(value: str | None) -> str:
    if not value:
        return "—"
    return timezone.localtime(datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M")


def letter_title(kind: str) -> str:
    return _("中标通知书") if kind == "award_notice" else _("中标结果通知书")


def letter_pdf(letter: dict[str, Any]) -> bytes:
    """The signed letter as an A4 PDF, the Chinese font embedded, with what makes it checkable."""
    letter_validate(letter)
    font = register_cjk_font()
    styles = _Styles(font)
    letter_body = ParagraphStyle(
        "letter", parent=styles.body, fontSize=11, leading=19, firstLineIndent=22
    )
    addressee = ParagraphStyle("addressee", parent=styles.body, fontSize=11, leading=19)
    signature_block = ParagraphStyle(
        "sign", parent=styles.body, fontSize=11, leading=19, alignment=2
    )
    lot, result, recipient, bid = (
        letter["lot"],
        letter["result"],
        letter["recipient"],
        letter["bid"],
    )
    title = letter_title(letter["kind"])
    digest = letter_sha256(letter)
    lot_label = _("第%(number)s标段 %(name)s") % {"number": lot["number"], "name": lot["name"]}
    buffer = io.BytesIO()
    margin = 20 * mm
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=18 * mm,
        bottomMargin=16 * mm,
        title=f"{title} {letter['letter_no']}",
        author=_("阳光开标"),
    )
    usable = A4[0] - 2 * margin

    def footer(pdf: Any, doc: Any) -> None:
        pdf.saveState()
        pdf.setFont("Courier", 7)
        pdf.setFillColor(colors.HexColor("#333333"))
        pdf.drawString(margin, 9 * mm, f"{letter['letter_no']}  letter SHA-256 {digest}")
        pdf.restoreState()

    story: list[Any] = [
        _paragraph(title, styles.title),
        _paragraph(_("文号：%(number)s") % {"number": letter["letter_no"]}, styles.subtitle),
        _paragraph(
            _("%(name)s（统一社会信用代码：%(code)s）：")
            % {"name": recipient["name"], "code": recipient["credit_code"]},
            addressee,
        ),
    ]
    values = {
        "tenderer": lot["tenderer"],
        "project": lot["project_name"],
        "code": lot["tender_code"],
        "lot": lot_label,
        "winner": result["winner"],
        "price": format_amount(result["award_price"]),
        "starts": _when(letter["publicity"]["starts_at"]),
        "ends": _when(letter["publicity"]["ends_at"]),
    }
    if letter["kind"] == "award_notice":
        text = _(
            "%(tenderer)s的%(project)s（项目编号 %(code)s）%(lot)s，经评标委员会评审推荐，中标候选人于 %(starts)s 至 "
            "%(ends)s 公示期满。现确定你单位为中标人，中标价为人民币 %(price)s 元。"
            "请你单位收到本通知书后，按照招标文件和你单位投标文件的约定，在三十日内与招标人签订书面合同。"
        )
    else:
        text = _(
            "%(tenderer)s的%(project)s（项目编号 %(code)s）%(lot)s，经评标委员会评审推荐，中标候选人于 %(starts)s 至 "
            "%(ends)s 公示期满。本标段中标人为%(winner)s，中标价为人民币 %(price)s 元。你单位未中标，感谢你单位的参与。"
            "你单位的投标保证金将在招标人与中标人签订合同后五日内退还（《招标投标法实施条例》第五十七条）。"
        )
    story.append(_paragraph(text % values, letter_body))
    if result["winner_rank"] != 1 and result["reason"]:
        story.append(
            _paragraph(
                _("确定排名第%(rank)s的中标候选人为中标人的理由：%(reason)s")
                % {"rank": result["winner_rank"], "reason": result["reason"]},
                letter_body,
            )
        )
    story.append(Spacer(1, 4 * mm))
    story.append(_paragraph(lot["tenderer"], signature_block))
    story.append(
        _paragraph(_("招标代理机构：%(agency)s") % {"agency": lot["agency"]}, signature_block)
    )
    story.append(_paragraph(_when(letter["issued_at"]), signature_block))

    story.append(_paragraph(_("一、通知事项"), styles.heading))
    facts = _Table.build(font, [50 * mm, usable - 50 * mm], [_("项目"), _("内容")])
    facts.add([_("项目名称"), lot["project_name"]])
    facts.add([_("招标公告"), f"{lot['tender_code']} {lot['tender_title']}"])
    facts.add([_("标段"), lot_label])
    facts.add([_("最高投标限价（元）"), format_amount(lot["control_price"])])
    facts.add([_("中标人"), f"{result['winner']}（{result['winner_credit_code']}）"])
    facts.add([_("中标价（元）"), format_amount(result["award_price"])])
    facts.add([_("中标候选人排名"), str(result["winner_rank"])])
    facts.add([_("收件单位的投标文件"), Mono(bid["id"])])
    facts.add([_("投标回执编号"), Mono(bid["receipt_no"])])
    facts.add([_("收件单位投标报价（元）"), format_amount(bid["price"])])
    facts.add([_("公示期"), f"{values['starts']} — {values['ends']}"])
    facts.add([_("中标结果公告时间"), _when(result["announced_at"])])
    story.append(facts.flowable())

    story.append(_paragraph(_("二、平台签名"), styles.heading))
    proof = _Table.build(font, [50 * mm, usable - 50 * mm], [_("记录项"), _("值")])
    proof.add([_("评标报告 SHA-256"), Mono(letter["evaluation_report_sha256"])])
    proof.add([_("平台签名公钥指纹（SHA-256）"), Mono(letter.get("key_fingerprint", "—"))])
    proof.add([_("平台签名（Ed25519）"), Mono(letter.get("signature", "—"))])
    proof.add([_("通知书 JSON 的 SHA-256"), Mono(digest)])
    proof.add([_("通知书格式"), Mono(f"{letter['format']} v{letter['version']}")])
    story.append(proof.flowable())
    story.append(Spacer(1, 3 * mm))
    story.append(
        _paragraph(
            _(
                "本通知书以其 JSON 文件为准，本文件为其可读版本。平台以 Ed25519 私钥对 JSON 中除 signature 以外的全部字段签名"
                "（按键排序、无空格的紧凑 JSON，UTF-8 编码）。核验方法：从 /api/receipt-key 取得平台公钥，确认其指纹与上表一致，"
                "再用该公钥核验 JSON 的签名；并核对 JSON 的 SHA-256 与上表一致。"
            ),
            styles.body,
        )
    )
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
