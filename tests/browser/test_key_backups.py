"""Key backup files cross between the browser (keystore.js) and Python (bidding.sealing.keys) both ways."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from accounts.credit_code import make as make_code
from bidding.sealing.keys import KeySet, backup_dump, backup_load, spki_der
from tests.browser.conftest import PASSPHRASE, b64, unb64

ORGANISATION = make_code("91330100MA0000004")

MAKE_BACKUP_IN_BROWSER = """async ([organisation, passphrase]) => {
  const ks = await import("/static/js/keystore.js");
  const { material, keyset } = await ks.generateKeySet(organisation);
  const blob = await ks.exportBackup(material, passphrase);
  ks.discardMaterial(material);
  return {
    backup: await blob.text(),
    encryption_fingerprint: keyset.encryption_fingerprint,
    signing_fingerprint: keyset.signing_fingerprint,
    encryption_spki: ks.b64encode(keyset.encryption_public_spki),
    signing_spki: ks.b64encode(keyset.signing_public_spki),
  };
}"""

RESTORE_AND_USE_IN_BROWSER = """async ([text, passphrase, wrapped, message]) => {
  const ks = await import("/static/js/keystore.js");
  let wrong = null;
  try { await ks.importBackup(text, passphrase + "x"); } catch (error) { wrong = error.code; }
  const restored = await ks.importBackup(text, passphrase);
  const kept = await ks.getKeySet(restored.encryption_fingerprint);
  const plain = await crypto.subtle.decrypt({ name: "RSA-OAEP" }, kept.encryption_private, ks.b64decode(wrapped));
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" }, kept.signing_private, ks.b64decode(message));
  return {
    wrong,
    organisation: kept.organisation,
    encryption_fingerprint: kept.encryption_fingerprint,
    signing_fingerprint: kept.signing_fingerprint,
    extractable: kept.encryption_private.extractable || kept.signing_private.extractable,
    plain: ks.b64encode(plain),
    signature: ks.b64encode(signature),
  };
}"""


def test_a_backup_made_in_the_browser_is_read_by_python(page, live_server):
    page.goto(live_server.url + "/")

    made = page.evaluate(MAKE_BACKUP_IN_BROWSER, [ORGANISATION, PASSPHRASE])
    keyset = backup_load(made["backup"].encode("utf-8"), PASSPHRASE)

    assert keyset.organisation == ORGANISATION
    assert keyset.encryption_fingerprint == made["encryption_fingerprint"]
    assert keyset.signing_fingerprint == made["signing_fingerprint"]
    # The private keys in the file are the pairs of the public keys the browser registers.
    assert spki_der(keyset.encryption_private) == unb64(made["encryption_spki"])
    assert spki_der(keyset.signing_private) == unb64(made["signing_spki"])
    assert page.page_errors == []


def test_a_python_backup_restored_in_the_browser_decrypts_and_signs(page, live_server):
    keyset = KeySet.generate(ORGANISATION)
    backup = backup_dump(keyset, PASSPHRASE).decode("utf-8")
    secret = os.urandom(32)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    wrapped = keyset.encryption_private.public_key().encrypt(secret, oaep)
    message = b"sunbid/v1 signature\n" + os.urandom(64)
    page.goto(live_server.url + "/")

    used = page.evaluate(
        RESTORE_AND_USE_IN_BROWSER, [backup, PASSPHRASE, b64(wrapped), b64(message)]
    )

    assert used["wrong"] == "backup.passphrase_invalid"
    assert used["organisation"] == ORGANISATION
    assert used["encryption_fingerprint"] == keyset.encryption_fingerprint
    assert used["signing_fingerprint"] == keyset.signing_fingerprint
    assert used["extractable"] is False
    assert unb64(used["plain"]) == secret
    raw = unb64(used["signature"])
    assert len(raw) == 64  # IEEE P1363 r || s, as the sealed format stores it
    signature = encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    keyset.signing_private.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))
