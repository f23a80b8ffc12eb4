"""sealing.js writes the sealed bid format exactly as the Python library reads it (docs/sealing.md)."""

from __future__ import annotations

import io

import pytest

from accounts.credit_code import make as make_code
from bidding.sealing.errors import SealingError
from bidding.sealing.format import CHUNK_SIZE, open_sealed, read_header, unwrap_file_key
from bidding.sealing.keys import KeySet, fingerprint, generate_encryption_key, pkcs8_der, spki_der
from tests.browser.conftest import b64, unb64

ORGANISATION = make_code("91330100MA0000004")
BIG_SIZE = 2 * CHUNK_SIZE + 12345  # three chunks for this file alone


def pattern(size: int) -> bytes:
    """The same bytes the page script makes: byte i = (31 i + 7) mod 256."""
    return bytes((31 * i + 7) & 0xFF for i in range(256)) * (size // 256) + bytes(
        (31 * i + 7) & 0xFF for i in range(size % 256)
    )


SEAL_IN_BROWSER = """async (args) => {
  const sealing = await import("/static/js/sealing.js");
  const signing = await crypto.subtle.importKey(
    "pkcs8", sealing.b64decode(args.signing_pkcs8), { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const big = new Uint8Array(args.big_size);
  for (let i = 0; i < big.length; i++) big[i] = (31 * i + 7) & 0xff;
  const files = [
    new File([big], "技术标.pdf", { type: "application/pdf", lastModified: 1767225600000 }),
    new File([sealing.b64decode(args.small)], "商务标 (报价).txt", { type: "text/plain", lastModified: 1767225600000 }),
    new File([], "空白承诺函.docx", { type: "", lastModified: 1767225600000 }),
  ];
  const plan = await sealing.prepareSeal({
    tender: args.tender, lot: args.lot, bidder: args.bidder,
    bidderKey: { spki: sealing.b64decode(args.bidder_spki), fingerprint: args.bidder_fp },
    openingKey: { spki: sealing.b64decode(args.opening_spki), fingerprint: args.opening_fp },
    signerFingerprint: args.signer_fp,
    summary: { price: " 1234567.89 ", duration_days: "180", quality: "合格，争创“钱江杯”", fields: { brand: "国产", warranty_years: "5" } },
    files,
  });
  const first = await sealing.sealToBlob(plan, files, signing);
  const second = await sealing.sealToBlob(plan, files, signing);
  const a = new Uint8Array(await first.blob.arrayBuffer());
  const b = new Uint8Array(await second.blob.arrayBuffer());
  const sameBody = a.length === b.length && a.subarray(0, a.length - 64).every((x, i) => x === b[i]);
  let refused = null;
  try { sealing.sealStream(plan, [files[1], files[0], files[2]], signing); } catch (e) { refused = e.code; }
  let badPrice = null;
  try { sealing.normaliseSummary({ price: "0.00", duration_days: 1, quality: "x" }); } catch (e) { badPrice = e.code; }
  return {
    sealed: sealing.b64encode(a), size: plan.size, chunks: plan.chunkCount, sameBody,
    sha256: first.result.sha256, payloadSha256: first.result.payloadSha256,
    extractable: plan.payloadKey.extractable, refused, badPrice,
  };
}"""


class Kept(io.BytesIO):
    """A sink that remembers its bytes when open_sealed closes it."""

    def close(self) -> None:
        self.kept = self.getvalue()
        super().close()


def test_a_bid_sealed_by_sealing_js_opens_with_the_python_library(page, live_server):
    bidder = KeySet.generate(ORGANISATION)
    opening = generate_encryption_key()
    small = "报价一览表：1234567.89 元\n".encode() * 100
    page.goto(live_server.url + "/")

    out = page.evaluate(
        SEAL_IN_BROWSER,
        {
            "tender": "ZB-2026-0001",
            "lot": 2,
            "bidder": ORGANISATION,
            "bidder_spki": b64(spki_der(bidder.encryption_private)),
            "bidder_fp": bidder.encryption_fingerprint,
            "opening_spki": b64(spki_der(opening)),
            "opening_fp": fingerprint(opening),
            "signer_fp": bidder.signing_fingerprint,
            "signing_pkcs8": b64(pkcs8_der(bidder.signing_private)),
            "big_size": BIG_SIZE,
            "small": b64(small),
        },
    )
    sealed = unb64(out["sealed"])
    header = read_header(io.BytesIO(sealed))
    file_key = unwrap_file_key(header, "opening", opening)
    sinks: dict[str, Kept] = {}

    opened = open_sealed(
        io.BytesIO(sealed),
        len(sealed),
        file_key=file_key,
        signer_public_key=bidder.signing_private.public_key(),
        sink=lambda entry: sinks.setdefault(entry.name, Kept()),
        file_sha256=True,
    )

    assert len(sealed) == out["size"]
    assert (header.tender, header.lot, header.bidder) == ("ZB-2026-0001", 2, ORGANISATION)
    assert unwrap_file_key(header, "bidder", bidder.encryption_private) == file_key
    assert opened.summary == {
        "price": "1234567.89",
        "duration_days": 180,
        "quality": "合格，争创“钱江杯”",
        "fields": {"brand": "国产", "warranty_years": "5"},
    }
    assert [(f.name, f.size, f.media_type) for f in opened.files] == [
        ("技术标.pdf", BIG_SIZE, "application/pdf"),
        ("商务标 (报价).txt", len(small), "text/plain"),
        ("空白承诺函.docx", 0, "application/octet-stream"),
    ]
    assert sinks["技术标.pdf"].kept == pattern(BIG_SIZE)
    assert sinks["商务标 (报价).txt"].kept == small
    assert sinks["空白承诺函.docx"].kept == b""
    assert opened.chunks == out["chunks"] == 3
    assert (opened.sha256, opened.payload_sha256) == (out["sha256"], out["payloadSha256"])
    # What resuming relies on: the same plan seals to the same bytes but for the signature.
    assert out["sameBody"] is True
    assert out["extractable"] is False
    assert out["refused"] == "seal.files_changed"
    assert out["badPrice"] == "seal.price_invalid"


def test_a_tampered_browser_sealed_bid_is_refused_by_python(page, live_server):
    bidder = KeySet.generate(ORGANISATION)
    opening = generate_encryption_key()
    page.goto(live_server.url + "/")
    out = page.evaluate(
        SEAL_IN_BROWSER,
        {
            "tender": "ZB-2026-0001",
            "lot": 1,
            "bidder": ORGANISATION,
            "bidder_spki": b64(spki_der(bidder.encryption_private)),
            "bidder_fp": bidder.encryption_fingerprint,
            "opening_spki": b64(spki_der(opening)),
            "opening_fp": fingerprint(opening),
            "signer_fp": bidder.signing_fingerprint,
            "signing_pkcs8": b64(pkcs8_der(bidder.signing_private)),
            "big_size": 10,
            "small": b64(b"x"),
        },
    )
    sealed = bytearray(unb64(out["sealed"]))
    header = read_header(io.BytesIO(bytes(sealed)))
    file_key = unwrap_file_key(header, "bidder", bidder.encryption_private)
    sealed[header.length + 100] ^= 1  # a bit inside the first chunk

    with pytest.raises(SealingError) as refused:
        open_sealed(
            io.BytesIO(bytes(sealed)),
            len(sealed),
            file_key=file_key,
            signer_public_key=bidder.signing_private.public_key(),
            sink=lambda entry: Kept(),
        )
    assert refused.value.code == "seal.chunk_invalid"


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

SIGN_MANY = """async (args) => {
  const sealing = await import("/static/js/sealing.js");
  const signing = await crypto.subtle.importKey(
    "pkcs8", sealing.b64decode(args.signing_pkcs8), { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const files = [new File([new Uint8Array([1, 2, 3])], "a.txt", { type: "text/plain", lastModified: 1767225600000 })];
  const plan = await sealing.prepareSeal({
    tender: "ZB-2026-0001", lot: 1, bidder: args.bidder,
    bidderKey: { spki: sealing.b64decode(args.bidder_spki), fingerprint: args.bidder_fp },
    openingKey: { spki: sealing.b64decode(args.bidder_spki), fingerprint: args.bidder_fp },
    signerFingerprint: args.signer_fp,
    summary: { price: "1.00", duration_days: 1, quality: "合格" },
    files,
  });
  const out = [];
  for (let i = 0; i < args.count; i++) {
    const { blob } = await sealing.sealToBlob(plan, files, signing);
    out.push(sealing.b64encode(new Uint8Array(await blob.arrayBuffer())));
  }
  return out;
}"""


def test_sealing_js_normalises_every_signature_to_low_s(page, live_server):
    bidder = KeySet.generate(ORGANISATION)
    page.goto(live_server.url + "/")
    sealed = page.evaluate(
        SIGN_MANY,
        {
            "bidder": ORGANISATION,
            "bidder_spki": b64(spki_der(bidder.encryption_private)),
            "bidder_fp": bidder.encryption_fingerprint,
            "signer_fp": bidder.signing_fingerprint,
            "signing_pkcs8": b64(pkcs8_der(bidder.signing_private)),
            "count": 24,
        },
    )
    # WebCrypto gives a high s half of the time: 24 low ones in a row are the normalisation.
    for text in sealed:
        data = unb64(text)
        s = int.from_bytes(data[-32:], "big")
        assert 0 < s <= P256_ORDER // 2
        header = read_header(io.BytesIO(data))
        opened = open_sealed(
            io.BytesIO(data),
            len(data),
            file_key=unwrap_file_key(header, "bidder", bidder.encryption_private),
            signer_public_key=bidder.signing_private.public_key(),
            sink=lambda entry: Kept(),
        )
        assert opened.summary["price"] == "1.00"
