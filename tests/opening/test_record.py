"""The opening record (开标记录, EB 32, EB 40): its shape, the platform's signature and the PDF.

The record is plain data, so these tests need no database: a record of the
demo tender's lot with bob's 浙江建工, carol's 杭州市政 and three more
bidders, one of them revoked, one withdrawn, one opened by the custodians,
one priced above the control price and one that stayed silent.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accounts.credit_code import make as make_code
from bidding.receipts import (
    ReceiptInvalid,
    public_fingerprint,
    receipt_key,
    receipt_sign,
    receipt_verify,
    signed_bytes,
)
from core.errors import DomainError
from opening.record import (
    format_amount,
    record_dumps,
    record_pdf,
    record_sha256,
    record_sign,
    record_verify,
)

OBJECTION = "第5号投标人的报价高于最高投标限价，请主持人确认是否按无效投标处理。"
ANSWER = "经核对，该报价超过最高投标限价，按招标文件规定作无效投标处理。"


@pytest.fixture(autouse=True)
def platform_key(settings, tmp_path) -> Ed25519PrivateKey:
    """The platform's receipt key, which also signs opening records: a fresh one per test."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "receipt-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.RECEIPT_SIGNING_KEY = str(path)
    settings.RECEIPT_SIGNING_KEY_CREATE = False
    return key


def platform_pem() -> str:
    return receipt_key().public_pem


def a_bid(position: int, name: str, **overrides: Any) -> dict[str, Any]:
    bid: dict[str, Any] = {
        "position": position,
        "bid": f"7f3c2a10-0000-4000-8000-{position:012d}",
        "receipt_no": f"R20260301-{position:06d}",
        "organisation": 100 + position,
        "organisation_name": name,
        "credit_code": make_code(f"91330100MA{position + 10:07d}"),
        "received_at": "2026-03-01T08:59:59.123456+08:00",
        "outcome": "decrypted",
        "key": "bidder",
        "cause": "",
        "note": "",
        "price": f"{1_000_000 + position * 1_000}.00",
        "duration_days": 365,
        "quality": "合格",
        "fields": {"项目经理": "张建国", "安全文明施工费（元）": "120000.00"},
        "invalid": False,
        "invalid_reason": "",
        "confirmation": {
            "at": "2026-03-01T10:12:00+08:00",
            "silent": False,
            "signature": "MEUCIQDx" + "A" * 88,
        },
    }
    bid.update(overrides)
    return bid


def not_opened(**overrides: Any) -> dict[str, Any]:
    return {
        "key": None,
        "price": None,
        "duration_days": None,
        "quality": None,
        "fields": {},
        "confirmation": None,
        **overrides,
    }


def a_record(bids: list[dict[str, Any]] | None = None, **overrides: Any) -> dict[str, Any]:
    if bids is None:
        bids = [
            a_bid(1, "浙江建工集团有限公司", price="4567890.10"),
            a_bid(
                2,
                "杭州市政建设有限公司",
                **not_opened(
                    outcome="revoked", cause="bidder_fault", note="投标人未在解密时限内解密"
                ),
            ),
            a_bid(
                3,
                "宁波远大建设有限公司",
                **not_opened(outcome="withdrawn", cause="other_fault", note="平台网络故障"),
            ),
            a_bid(4, "温州东方建工有限公司", key="opening", cause="custodians", note="介质损坏"),
            a_bid(
                5,
                "绍兴鉴湖建设有限公司",
                price="9999999.99",
                invalid=True,
                invalid_reason="超过最高投标限价",
            ),
            a_bid(
                6,
                "嘉兴南湖建筑有限公司",
                confirmation={"at": "2026-03-01T10:30:00+08:00", "silent": True, "signature": None},
            ),
        ]
    record: dict[str, Any] = {
        "format": "sunbid-opening-record",
        "version": 1,
        "lot": {
            "id": 7,
            "tender_code": "ZB-2026-0042",
            "tender_title": "市第一人民医院门诊综合楼新建工程",
            "number": 1,
            "name": "土建及安装工程",
            "tenderer": "市第一人民医院",
            "agency": "华信招标代理有限公司",
            "supervising_authority": "市公共资源交易监督管理局",
            "control_price": "8800000.00",
            "min_bidders": 3,
            "evaluation_method": "comprehensive",
        },
        "opening_time": "2026-03-01T09:00:00+08:00",
        "opened_at": "2026-03-01T09:00:00.412000+08:00",
        "closed_at": "2026-03-01T10:45:00+08:00",
        "decryption_deadline": "2026-03-01T09:30:00+08:00",
        "confirmation_deadline": "2026-03-01T10:30:00+08:00",
        "bids": bids,
        "objections": [
            {
                "id": 1,
                "organisation_name": "嘉兴南湖建筑有限公司",
                "user_name": "Carol",
                "text": OBJECTION,
                "at": "2026-03-01T10:05:00+08:00",
                "answer": ANSWER,
                "answered_by": "Alice",
                "answered_at": "2026-03-01T10:08:00+08:00",
            }
        ],
        "pauses": [
            {
                "paused_at": "2026-03-01T09:10:00+08:00",
                "paused_by": "Sam",
                "reason": "核实网络情况",
                "resumed_at": "2026-03-01T09:15:00+08:00",
                "resumed_by": "Sam",
                "resume_reason": "网络恢复正常",
            }
        ],
        "participants": [
            {
                "role": "host",
                "user_name": "Alice",
                "organisation_name": "华信招标代理有限公司",
                "signed_in_at": "2026-03-01T08:40:00+08:00",
            },
            {
                "role": "supervisor",
                "user_name": "Sam",
                "organisation_name": "市公共资源交易监督管理局",
                "signed_in_at": "2026-03-01T08:45:00+08:00",
            },
            {
                "role": "tenderer",
                "user_name": "Terry",
                "organisation_name": "市第一人民医院",
                "signed_in_at": None,
            },
            {
                "role": "bidder",
                "user_name": "Bob",
                "organisation_name": "浙江建工集团有限公司",
                "signed_in_at": "2026-03-01T08:50:00+08:00",
            },
        ],
        "reading_digest": "a3" * 32,
        "audit": {"from_seq": 1200, "to_seq": 1388, "chain_hash": "5f" * 32},
    }
    record.update(overrides)
    return record


def code_of(call) -> str:
    with pytest.raises(DomainError) as refused:
        call()
    assert re.search(r"[\u4e00-\u9fff]", refused.value.message), refused.value.message
    return refused.value.code


# --- reading a PDF back (no PDF library in the environment: reportlab's output is simple) ---


def _objects(pdf: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Each object's dictionary and its decoded stream (Flate, or ASCII85 then Flate).

    Streams are cut by their /Length: compressed bytes may hold anything, "endobj" included.
    """
    objects: dict[int, tuple[bytes, bytes | None]] = {}
    cursor = 0
    for match in re.finditer(rb"(\d+) 0 obj\r?\n", pdf):
        if match.start() < cursor:
            continue  # inside a stream
        end = pdf.index(b"endobj", match.end())
        stream_at = pdf.find(b"stream", match.end(), end)
        if stream_at < 0:
            objects[int(match.group(1))] = (pdf[match.end() : end], None)
            cursor = end
            continue
        head = pdf[match.end() : stream_at]
        length = int(re.search(rb"/Length (\d+)", head).group(1))
        begin = (
            stream_at + len(b"stream") + (2 if pdf[stream_at + 6 : stream_at + 8] == b"\r\n" else 1)
        )
        data = pdf[begin : begin + length]
        if b"/ASCII85Decode" in head:
            data = base64.a85decode(data.strip()[:-2])
        objects[int(match.group(1))] = (head, zlib.decompress(data))
        cursor = begin + length
    return objects


def _unescape(literal: bytes) -> bytes:
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def one(match: re.Match[bytes]) -> bytes:
        token = match.group(1)
        if token[:1].isdigit():
            return bytes([int(token, 8)])
        return escapes.get(token, token)

    return re.sub(rb"\\([0-7]{1,3}|.)", one, literal, flags=re.S)


def pdf_pages(pdf: bytes) -> list[str]:
    """The text of each page in drawing order, one line per text line, decoded through the fonts' ToUnicode maps."""
    objects = _objects(pdf)
    fonts: dict[bytes, dict[int, str] | None] = {}
    for head, _ in objects.values():
        if not re.search(rb"/Type /Font\b", head):
            continue
        name = re.search(rb"/Name /(\S+)", head).group(1)
        to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", head)
        if to_unicode is None:
            fonts[name] = None  # a core font: its bytes are WinAnsi
            continue
        cmap = objects[int(to_unicode.group(1))][1]
        fonts[name] = {
            int(code, 16): chr(int(unicode, 16))
            for code, unicode in re.findall(rb"<([0-9A-F]{2})> <([0-9A-F]{4})>", cmap)
        }
    pages_head = next(head for head, _ in objects.values() if b"/Type /Pages" in head)
    kids = [int(n) for n in re.findall(rb"(\d+) 0 R", pages_head.split(b"/Kids")[1])]
    token = re.compile(rb"\((?:\\.|[^\\)])*\)|/[^\s/\[\]()<>]+|[^\s/\[\]()<>]+", re.S)
    texts = []
    for kid in kids:
        contents = int(re.search(rb"/Contents (\d+) 0 R", objects[kid][0]).group(1))
        lines: list[str] = []
        line: list[str] = []
        operands: list[bytes] = []
        font: dict[int, str] | None = None
        for match in token.finditer(objects[contents][1]):
            word = match.group(0)
            if word.startswith((b"(", b"/")) or re.fullmatch(rb"[-+.\d]+", word):
                operands.append(word)
                continue
            if word == b"Tf":
                font = fonts[operands[-2][1:]]
            elif word == b"Tj":
                raw = _unescape(operands[-1][1:-1])
                line.append(raw.decode("cp1252") if font is None else "".join(font[b] for b in raw))
            elif word in (b"T*", b"ET", b"Td", b"Tm") and line:
                lines.append("".join(line))
                line = []
            operands = []
        texts.append("\n".join(lines))
    return texts


# --- the PDF -------------------------------------------------------------------------------


def test_the_pdf_shows_every_bid_with_its_outcome_price_and_confirmation_in_chinese():
    record = record_sign(a_record())
    pdf = record_pdf(record)
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    # Cells wrap their text into lines; the check reads through the line breaks.
    text = "".join(pdf_pages(pdf)).replace("\n", "")
    for expected in (
        "开标记录",
        "浙江建工集团有限公司",
        "杭州市政建设有限公司",
        "撤销",
        "投标人原因",
        "投标人未在解密时限内解密",
        "撤回",
        "已解密",
        "投标人密钥",
        "开标密钥",
        "视为确认",
        "已签名确认",
        "4,567,890.10",
        "8,800,000.00",
        "综合评估法",
        "市公共资源交易监督管理局",
        OBJECTION,
        ANSWER,
        "核实网络情况",
        "主持人",
        "招标人代表",
        "未签到",
        "第 1200 条至第 1388 条",
        "a3" * 32,
        "5f" * 32,
        record["key_fingerprint"],
        record_sha256(record),
        "/api/receipt-key",
        "/opening/lots/7/record.json",
    ):
        assert expected in text, expected


def test_bids_are_listed_in_position_order():
    text = "\n".join(pdf_pages(record_pdf(record_sign(a_record()))))
    places = [
        text.index(name)
        for name in ("浙江建工集团有限公司", "杭州市政建设有限公司", "宁波远大建设有限公司")
    ]
    assert places == sorted(places)


def test_the_pdf_embeds_its_chinese_font():
    pdf = record_pdf(record_sign(a_record()))
    objects = _objects(pdf)
    truetype = [head for head, _ in objects.values() if b"/Subtype /TrueType" in head]
    descriptors = {
        int(n) for head in truetype for n in re.findall(rb"/FontDescriptor (\d+) 0 R", head)
    }
    assert truetype
    for number in descriptors:
        assert b"/FontFile2" in objects[number][0]  # the glyphs travel with the document
    assert b"WenQuanYi" in pdf


def test_a_price_above_the_control_price_is_flagged_and_highlighted():
    flagged_fill = b".992157 .886275 .882353 rg"  # the invalid price's background
    pdf = record_pdf(record_sign(a_record()))
    page = pdf_pages(pdf)[0]
    row = page[page.index("绍兴鉴湖建设有限公司") :]
    assert "9,999,999.99" in row
    assert "无效\n超过最高投标限价" in row
    contents = b"".join(stream or b"" for _, stream in _objects(pdf).values())
    assert flagged_fill in contents

    all_valid = a_record([a_bid(1, "浙江建工集团有限公司"), a_bid(2, "杭州市政建设有限公司")])
    pdf = record_pdf(record_sign(all_valid))
    assert "无效\n超过最高投标限价" not in "\n".join(pdf_pages(pdf))
    assert flagged_fill not in b"".join(stream or b"" for _, stream in _objects(pdf).values())


def test_two_thousand_bids_paginate_with_the_lot_in_every_header_and_the_page_count_in_every_footer():
    names = [f"第{index:04d}号投标建设有限公司" for index in range(1, 2001)]
    record = record_sign(a_record([a_bid(i, name) for i, name in enumerate(names, start=1)]))
    pdf = record_pdf(record)
    pages = pdf_pages(pdf)
    pages_head = next(head for head, _ in _objects(pdf).values() if b"/Type /Pages" in head)
    count = int(re.search(rb"/Count (\d+)", pages_head).group(1))
    assert count == len(pages) > 50
    for number, page in enumerate(pages, start=1):
        assert f"第 {number} 页 共 {count} 页" in page
        assert "ZB-2026-0042" in page and "土建及安装工程" in page
    text = "\n".join(pages)
    for name in names:  # nothing lost or doubled where the table breaks across pages
        assert text.count(name) == 1, name
    assert text.index(names[0]) < text.index(names[999]) < text.index(names[1999])


def test_long_notes_and_objections_continue_across_rows_instead_of_breaking_the_layout():
    note = "因投标人数字证书介质损坏无法解密，" * 28  # 476 characters
    objection = "对唱标结果有异议：" + "报价文件与唱标内容不一致，请核对。" * 110  # ~1,900
    record = a_record(
        [a_bid(1, "浙江建工集团有限公司", key="opening", cause="custodians", note=note)],
        objections=[
            {
                "id": 1,
                "organisation_name": "浙江建工集团有限公司",
                "user_name": "Bob",
                "text": objection + "<b>&amp;",
                "at": "2026-03-01T10:05:00+08:00",
                "answer": None,
                "answered_by": None,
                "answered_at": None,
            }
        ],
    )
    pages = pdf_pages(record_pdf(record_sign(record)))
    assert len(pages) > 1
    lines = [line for page in pages for line in page.split("\n") if line]
    assert "未答复" in lines
    for whole in (objection + "<b>&amp;", "说明：" + note):
        # The cell's lines, wherever rows and pages broke them, add up to the whole text.
        assert gathered(lines, whole) == whole


def gathered(lines: list[str], whole: str) -> str:
    """``whole`` read back from its lines in order, skipping the other cells, headers and footers between."""
    start = next(i for i, line in enumerate(lines) if len(line) > 3 and whole.startswith(line))
    text = ""
    for line in lines[start:]:
        if len(text) == len(whole):
            break
        if whole.startswith(line, len(text)):
            text += line
    return text


def test_a_record_without_bids_objections_or_pauses_still_renders():
    record = a_record([], objections=[], pauses=[], participants=[], reading_digest=None)
    text = "\n".join(pdf_pages(record_pdf(record_sign(record))))
    assert "无投标文件。" in text and "无异议。" in text and "开标过程中未暂停。" in text


def test_an_unsigned_record_is_not_rendered():
    assert code_of(lambda: record_pdf(a_record())) == "record.malformed"


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("1234567.8", "1,234,567.80"),
        ("8800000.00", "8,800,000.00"),
        ("0", "0.00"),
        ("999.999", "999.999"),  # never rounded
        (None, "—"),
    ],
)
def test_amounts_are_shown_in_yuan_with_separators_and_two_decimals(amount, shown):
    assert format_amount(amount) == shown


# --- the signature -------------------------------------------------------------------------


def test_a_signed_record_verifies_with_the_platform_key_and_survives_download():
    record = a_record()
    signed = record_sign(record)
    assert signed["key_fingerprint"] == receipt_key().fingerprint
    assert "signature" not in record  # the input is left as it was
    record_verify(signed, platform_pem())
    downloaded = json.loads(record_dumps(signed))
    record_verify(downloaded, platform_pem().encode())


def test_the_signature_covers_the_canonical_json_without_the_signature(platform_key):
    signed = record_sign(a_record())
    body = {name: value for name, value in signed.items() if name != "signature"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert signed_bytes(signed) == canonical.encode("utf-8")
    platform_key.public_key().verify(base64.b64decode(signed["signature"]), canonical.encode())
    assert record_dumps(signed) == json.dumps(
        signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert "浙江建工集团有限公司" in record_dumps(signed)


def _changed_price(record):
    record["bids"][0]["price"] = "4567890.00"


def _removed_bid(record):
    del record["bids"][1]


def _reordered_bids(record):
    first, second = record["bids"][0], record["bids"][1]
    first["position"], second["position"] = second["position"], first["position"]
    record["bids"][0], record["bids"][1] = second, first


def _silent_made_signed(record):
    record["bids"][5]["confirmation"]["silent"] = False


def _answer_rewritten(record):
    record["objections"][0]["answer"] = "同意异议。"


def _audit_range_moved(record):
    record["audit"]["to_seq"] = 1387


def _changed_signature(record):
    signature = bytearray(base64.b64decode(record["signature"]))
    signature[0] ^= 1
    record["signature"] = base64.b64encode(bytes(signature)).decode()


@pytest.mark.parametrize(
    "tamper",
    [
        _changed_price,
        _removed_bid,
        _reordered_bids,
        _silent_made_signed,
        _answer_rewritten,
        _audit_range_moved,
        _changed_signature,
    ],
)
def test_a_tampered_record_is_refused(tamper):
    record = copy.deepcopy(record_sign(a_record()))
    tamper(record)
    assert code_of(lambda: record_verify(record, platform_pem())) == "record.signature_invalid"


def test_a_record_signed_by_another_key_or_checked_with_another_key_is_refused():
    signed = record_sign(a_record())
    stranger = Ed25519PrivateKey.generate()
    assert code_of(lambda: record_verify(signed, stranger.public_key())) == "record.key_mismatch"

    resigned = {**signed, "key_fingerprint": public_fingerprint(stranger.public_key())}
    resigned["signature"] = base64.b64encode(stranger.sign(signed_bytes(resigned))).decode()
    assert code_of(lambda: record_verify(resigned, platform_pem())) == "record.key_mismatch"

    relabelled = {**resigned, "key_fingerprint": signed["key_fingerprint"]}
    assert code_of(lambda: record_verify(relabelled, platform_pem())) == "record.signature_invalid"

    not_ed25519 = (
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"
        + "A" * 86
        + "==\n-----END PUBLIC KEY-----\n"
    )
    assert code_of(lambda: record_verify(signed, not_ed25519)) == "record.key_mismatch"


def test_a_receipt_is_never_taken_for_a_record():
    record_fields = {k: v for k, v in a_record().items() if k not in ("format", "version")}
    receipt = receipt_sign(
        {
            "receipt_no": "R20260301-000001",
            "tender": "ZB-2026-0042",
            "lot": 1,
            "lot_name": "土建及安装工程",
            "bidder": make_code("91330100MA0000011"),
            "bidder_name": "浙江建工集团有限公司",
            "bid": "7f3c2a10-0000-4000-8000-000000000001",
            "size": 4096,
            "ciphertext_sha256": "0" * 64,
            "received_at": "2026-03-01T08:59:59.123456+08:00",
            "audit_seq": 1201,
            **{k: v for k, v in record_fields.items() if k != "lot"},
        }
    )
    # Same key, same encoding: only the format inside the signed bytes tells them apart.
    assert code_of(lambda: record_verify(receipt, platform_pem())) == "record.malformed"
    passed_off = {**receipt, "format": "sunbid-opening-record"}
    assert code_of(lambda: record_verify(passed_off, platform_pem())) == "record.signature_invalid"

    signed = record_sign(a_record())
    borrowed = {**signed, "signature": receipt["signature"]}
    assert code_of(lambda: record_verify(borrowed, platform_pem())) == "record.signature_invalid"
    with pytest.raises(ReceiptInvalid):
        receipt_verify(signed, platform_pem())


@pytest.mark.parametrize(
    "broken",
    [
        "not a record",
        {"format": "sunbid-opening-record", "version": 2},
        "unsigned",
        "signature not base64",
    ],
)
def test_what_is_not_a_signed_record_is_malformed(broken):
    if broken == "unsigned":
        broken = a_record()
    elif broken == "signature not base64":
        broken = {**record_sign(a_record()), "signature": "不是base64!"}
    assert code_of(lambda: record_verify(broken, platform_pem())) == "record.malformed"


def _float_price(record):
    record["bids"][0]["price"] = 4567890.1


def _unknown_field(record):
    record["bids"][0]["discount"] = "0.05"


def _key_for_a_revoked_bid(record):
    record["bids"][1]["key"] = "bidder"


def _time_without_offset(record):
    record["closed_at"] = "2026-03-01T10:45:00"


def _positions_out_of_order(record):
    record["bids"][1]["position"] = 1


def _unknown_outcome(record):
    record["bids"][1]["outcome"] = "lost"


def _missing_audit(record):
    del record["audit"]


def _unknown_role(record):
    record["participants"][0]["role"] = "guest"


@pytest.mark.parametrize(
    "spoil",
    [
        _float_price,
        _unknown_field,
        _key_for_a_revoked_bid,
        _time_without_offset,
        _positions_out_of_order,
        _unknown_outcome,
        _missing_audit,
        _unknown_role,
    ],
)
def test_the_platform_signs_only_records_of_the_documented_shape(spoil):
    record = a_record()
    spoil(record)
    assert code_of(lambda: record_sign(record)) == "record.malformed"
