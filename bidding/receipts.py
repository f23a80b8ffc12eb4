"""Bid receipts (回执, EB 27): JSON signed with the platform's Ed25519 key, and a PDF of it.

The JSON is the receipt; the PDF shows the same fields, the signature and the
key's fingerprint for people. Verification needs only the receipt and the
public key (``GET /api/receipt-key``), so a bidder can check a receipt
offline, years later (``python -m bidding.client receipt --verify``):

    signature = Ed25519(UTF-8 of json.dumps(receipt without "signature",
                        sort_keys=True, separators=(",", ":"), ensure_ascii=False))

The key fingerprint is the lowercase hex SHA-256 of the public key's
SubjectPublicKeyInfo DER, like every fingerprint of the platform.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

RECEIPT_FORMAT = "sunbid-receipt"
RECEIPT_VERSION = 1
RECEIPT_FIELDS = (
    "format",
    "version",
    "receipt_no",
    "tender",
    "lot",
    "lot_name",
    "bidder",
    "bidder_name",
    "bid",
    "size",
    "ciphertext_sha256",
    "received_at",
    "audit_seq",
    "key_fingerprint",
)


@dataclass(frozen=True, slots=True)
class ReceiptKey:
    private: Ed25519PrivateKey
    public_pem: str
    fingerprint: str


_lock = threading.Lock()
_cache: dict[tuple[str, float], ReceiptKey] = {}


def _create_development_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # O_EXCL: two processes starting at once must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def public_fingerprint(public_key: Ed25519PublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def receipt_key() -> ReceiptKey:
    """The platform's receipt signing key, from ``settings.RECEIPT_SIGNING_KEY`` (a PEM file).

    With DEBUG on and the variable unset, a development key is created under
    ``var/`` the first time it is needed. Re-read when the file changes.
    """
    location = settings.RECEIPT_SIGNING_KEY
    if not location:
        raise ImproperlyConfigured(
            "RECEIPT_SIGNING_KEY must name an Ed25519 private key (PEM) when DEBUG is off:"
            " no receipt can be issued, so no bid can be accepted."
        )
    path = Path(location)
    with _lock:
        if not path.exists() and getattr(settings, "RECEIPT_SIGNING_KEY_CREATE", False):
            _create_development_key(path)
        try:
            stamp = path.stat().st_mtime
        except FileNotFoundError:
            raise ImproperlyConfigured(f"RECEIPT_SIGNING_KEY file {path} does not exist.") from None
        cached = _cache.get((str(path), stamp))
        if cached is not None:
            return cached
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"RECEIPT_SIGNING_KEY {path} is not an unencrypted PEM private key: {exc}"
            ) from None
        if not isinstance(private, Ed25519PrivateKey):
            raise ImproperlyConfigured(f"RECEIPT_SIGNING_KEY {path} is not an Ed25519 key.")
        public = private.public_key()
        key = ReceiptKey(
            private=private,
            public_pem=public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode("ascii"),
            fingerprint=public_fingerprint(public),
        )
        _cache.clear()
        _cache[(str(path), stamp)] = key
        return key


def signed_bytes(receipt: dict[str, Any]) -> bytes:
    """The exact bytes the signature covers: the receipt without "signature", canonically encoded."""
    body = {name: value for name, value in receipt.items() if name != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def receipt_sign(fields: dict[str, Any]) -> dict[str, Any]:
    """A complete signed receipt from its fields (everything but format, version, key and signature)."""
    key = receipt_key()
    receipt: dict[str, Any] = {"format": RECEIPT_FORMAT, "version": RECEIPT_VERSION, **fields}
    receipt["key_fingerprint"] = key.fingerprint
    missing = [name for name in RECEIPT_FIELDS if name not in receipt]
    if missing:
        raise ValueError(f"receipt fields missing: {missing}")
    receipt["signature"] = base64.b64encode(key.private.sign(signed_bytes(receipt))).decode("ascii")
    return receipt


def receipt_dumps(receipt: dict[str, Any]) -> str:
    """The receipt as stored and downloaded: readable UTF-8 JSON (the signature does not depend on it)."""
    return json.dumps(receipt, ensure_ascii=False, indent=2)


class ReceiptInvalid(Exception):
    pass


def receipt_verify(receipt: dict[str, Any], public_key: Ed25519PublicKey | bytes | str) -> None:
    """Raise ``ReceiptInvalid`` unless ``receipt`` is well formed and signed by ``public_key``.

    ``public_key`` may be the key, or its PEM (text or bytes).
    """
    if isinstance(public_key, str | bytes):
        loaded = serialization.load_pem_public_key(
            public_key.encode() if isinstance(public_key, str) else public_key
        )
        if not isinstance(loaded, Ed25519PublicKey):
            raise ReceiptInvalid("not an Ed25519 public key")
        public_key = loaded
    if not isinstance(receipt, dict):
        raise ReceiptInvalid("not a JSON object")
    if receipt.get("format") != RECEIPT_FORMAT or receipt.get("version") != RECEIPT_VERSION:
        raise ReceiptInvalid("not a sunbid receipt of version 1")
    missing = [name for name in (*RECEIPT_FIELDS, "signature") if name not in receipt]
    if missing:
        raise ReceiptInvalid(f"fields missing: {', '.join(missing)}")
    if receipt["key_fingerprint"] != public_fingerprint(public_key):
        raise ReceiptInvalid("signed by another key")
    try:
        signature = base64.b64decode(str(receipt["signature"]), validate=True)
    except (binascii.Error, ValueError):
        raise ReceiptInvalid("signature is not base64") from None
    try:
        public_key.verify(signature, signed_bytes(receipt))
    except InvalidSignature:
        raise ReceiptInvalid("signature does not match") from None


# --- the PDF ------------------------------------------------------------------------------


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def receipt_pdf(receipt: dict[str, Any]) -> bytes:
    """The receipt as a one-page A4 PDF: every field, the signature and the key fingerprint.

    The Chinese font is embedded (``core.pdf``); long hex and base64 values
    are broken into lines in a fixed-width font so they can be compared by eye.
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    from core.pdf import register_cjk_font

    font = register_cjk_font()
    mono = "Courier"
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=1)
    pdf.setTitle(f"{_('投标文件递交回执')} {receipt.get('receipt_no', '')}")
    pdf.setAuthor(_("阳光开标"))
    width, height = A4
    left = 20 * mm
    label_width = 42 * mm
    y = height - 25 * mm

    pdf.setFont(font, 18)
    pdf.drawCentredString(width / 2, y, _("投标文件递交回执"))
    y -= 8 * mm
    pdf.setFont(font, 9)
    pdf.drawCentredString(width / 2, y, _("阳光开标电子招标投标交易平台"))
    y -= 12 * mm

    rows: list[tuple[str, str, bool]] = [
        (_("回执编号"), str(receipt.get("receipt_no", "")), True),
        (_("项目编号"), str(receipt.get("tender", "")), True),
        (
            _("标段"),
            _("第%(number)s标段 %(name)s")
            % {"number": receipt.get("lot", ""), "name": receipt.get("lot_name", "")},
            False,
        ),
        (_("投标人"), str(receipt.get("bidder_name", "")), False),
        (_("统一社会信用代码"), str(receipt.get("bidder", "")), True),
        (_("投标文件编号"), str(receipt.get("bid", "")), True),
        (_("密文大小（字节）"), f"{receipt.get('size', '')}", True),
        (_("密文 SHA-256"), str(receipt.get("ciphertext_sha256", "")), True),
        (_("接收时间（平台服务器时间）"), str(receipt.get("received_at", "")), True),
        (_("审计序号"), str(receipt.get("audit_seq", "")), True),
        (_("回执格式"), f"{receipt.get('format', '')} v{receipt.get('version', '')}", True),
        (_("平台签名公钥指纹"), str(receipt.get("key_fingerprint", "")), True),
        (_("平台签名（Ed25519）"), str(receipt.get("signature", "")), True),
    ]
    for label, value, monospace in rows:
        pdf.setFont(font, 10)
        pdf.drawString(left, y, label)
        lines = _wrap(value, 48) if monospace else _wrap(value, 30)
        for line in lines:
            pdf.setFont(mono if monospace else font, 10)
            pdf.drawString(left + label_width, y, line)
            y -= 6 * mm
        y -= 2 * mm

    y -= 4 * mm
    pdf.setFont(font, 9)
    notes = [
        _(
            "本回执证明平台在上述时间完整接收了上述密文；投标文件在开标前以密文保存，任何人无法读取其内容。"
        ),
        _("签名覆盖回执 JSON 中除 signature 以外的全部字段（按键排序的紧凑 JSON，UTF-8 编码）。"),
        _(
            "核验：python -m bidding.client receipt --verify 回执.json（平台公钥见 /api/receipt-key）。"
        ),
    ]
    for note in notes:
        for line in _wrap(note, 50):
            pdf.drawString(left, y, line)
            y -= 5 * mm
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
