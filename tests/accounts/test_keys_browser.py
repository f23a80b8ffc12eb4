"""The key page in Chromium: keys made in the browser open in Python, and the reverse.

Uses the Chromium fixtures of tests/browser/conftest.py (skipped with the
reason where Chromium or Playwright is missing).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from accounts.models import OrganisationKeyStatus
from accounts.selectors import organisation_key_active
from accounts.services import organisation_key_register
from bidding.sealing.keys import KeySet, backup_dump, backup_load, spki_der
from tests.browser import conftest as chromium
from tests.browser.conftest import PASSPHRASE, b64, sign_in, unb64

# The Chromium fixtures of tests/browser, used here by name.
browser = chromium.browser
context = chromium.context
page = chromium.page
signed_in = chromium.signed_in

pytestmark = pytest.mark.browser

KEYSTORE = "/static/js/keystore.js"
SLOW = 120_000  # RSA 3072 generation plus 600,000 PBKDF2 rounds on a shared machine


def generate_and_register(page) -> bytes:
    """Drive the page through generation, the forced backup download and registration; the backup's bytes."""
    page.goto("/accounts/keys/")
    assert page.is_hidden("#keys-insecure")
    page.fill("#keys-passphrase", PASSPHRASE)
    page.fill("#keys-passphrase2", PASSPHRASE)
    page.click("#keys-generate-button")
    page.wait_for_selector("#keys-new:not([hidden])", timeout=SLOW)
    # Registration stays impossible until the backup was downloaded and its keeping confirmed.
    assert page.is_disabled("#keys-register-button")
    assert page.is_disabled("#keys-backup-confirm")
    with page.expect_download() as download:
        page.click("#keys-download-button")
    backup = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename.startswith("sunbid-keys-")
    page.check("#keys-backup-confirm")
    page.click("#keys-register-button")
    page.wait_for_selector("#keys-active", timeout=SLOW)
    return backup


def test_keys_made_in_the_browser_are_registered_and_their_backup_opens_in_python(
    page, signed_in, people
):
    bob = people["bob"]
    signed_in(bob)
    backup = generate_and_register(page)

    key = organisation_key_active(bob.organisation)
    assert key is not None and key.registered_by == bob
    keyset = backup_load(backup, PASSPHRASE)
    assert keyset.organisation == bob.organisation.credit_code
    assert keyset.encryption_fingerprint == key.encryption_fingerprint
    assert keyset.signing_fingerprint == key.signing_fingerprint
    assert spki_der(keyset.encryption_private.public_key()) == bytes(key.encryption_public)
    page.wait_for_function(
        "fp => document.querySelector(`#keys-active .keys-held`).textContent === '本浏览器持有'",
        arg=key.encryption_fingerprint,
    )
    assert page.page_errors == []


def test_the_browser_keeps_only_non_extractable_keys_that_work_with_python(page, signed_in, people):
    bob = people["bob"]
    signed_in(bob)
    generate_and_register(page)
    key = organisation_key_active(bob.organisation)
    secret = b"file key: 32 bytes of randomness"
    wrapped = load_der_public_key(bytes(key.encryption_public)).encrypt(
        secret,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )
    result = page.evaluate(
        """async ([url, fp, wrapped, message]) => {
            const ks = await import(url);
            const k = await ks.getKeySet(fp);
            let exported = "refused";
            try { await crypto.subtle.exportKey("pkcs8", k.encryption_private); exported = "exported"; } catch (e) {}
            const plain = await crypto.subtle.decrypt({name: "RSA-OAEP"}, k.encryption_private, ks.b64decode(wrapped));
            const signature = await crypto.subtle.sign(
                {name: "ECDSA", hash: "SHA-256"}, k.signing_private, new TextEncoder().encode(message));
            return {
                extractable: [k.encryption_private.extractable, k.signing_private.extractable],
                usages: [k.encryption_private.usages, k.signing_private.usages],
                exported, plain: ks.b64encode(plain), signature: ks.b64encode(signature),
                spkiFingerprint: await ks.fingerprint(k.encryption_public_spki),
                listed: (await ks.listKeySets(k.organisation)).map((s) => s.encryption_fingerprint),
            };
        }""",
        [KEYSTORE, key.encryption_fingerprint, b64(wrapped), "投标文件签名"],
    )
    assert result["extractable"] == [False, False]
    assert result["usages"] == [["decrypt"], ["sign"]]
    assert result["exported"] == "refused"
    assert unb64(result["plain"]) == secret
    assert result["spkiFingerprint"] == key.encryption_fingerprint
    assert result["listed"] == [key.encryption_fingerprint]
    raw = unb64(result["signature"])
    assert len(raw) == 64  # IEEE P1363 r||s, as the sealed format expects
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    load_der_public_key(bytes(key.signing_public)).verify(
        der, "投标文件签名".encode(), ec.ECDSA(hashes.SHA256())
    )


def test_a_python_backup_restores_in_the_browser_and_can_be_registered_from_there(
    page, signed_in, people
):
    bob = people["bob"]
    keyset = KeySet.generate(bob.organisation.credit_code)
    backup = backup_dump(keyset, PASSPHRASE)
    signed_in(bob)
    page.goto("/accounts/keys/")
    page.set_input_files(
        "#keys-restore-file",
        {"name": "backup.json", "mimeType": "application/json", "buffer": backup},
    )
    page.fill("#keys-restore-passphrase", PASSPHRASE)
    page.click("#keys-restore-button")
    page.wait_for_selector("#keys-restore-register-row:not([hidden])", timeout=SLOW)
    assert "尚未登记" in page.text_content("#keys-restore-status")
    page.click("#keys-restore-register")
    page.wait_for_selector("#keys-active", timeout=SLOW)
    key = organisation_key_active(bob.organisation)
    assert key.encryption_fingerprint == keyset.encryption_fingerprint
    assert key.signing_fingerprint == keyset.signing_fingerprint
    assert page.page_errors == []


def test_restoring_a_registered_older_key_marks_it_held_in_its_history_row(page, signed_in, people):
    bob = people["bob"]
    old = KeySet.generate(bob.organisation.credit_code)
    new = KeySet.generate(bob.organisation.credit_code)
    for keyset in (old, new):
        organisation_key_register(
            actor=bob,
            encryption_public=spki_der(keyset.encryption_private.public_key()),
            signing_public=spki_der(keyset.signing_private.public_key()),
        )
    assert organisation_key_active(bob.organisation).status == OrganisationKeyStatus.ACTIVE
    signed_in(bob)
    page.goto("/accounts/keys/")
    cell = f'#keys-history .keys-held[data-encryption-fingerprint="{old.encryption_fingerprint}"]'
    page.wait_for_function(
        f"() => document.querySelector('{cell}').textContent === '本浏览器未持有'"
    )
    page.set_input_files(
        "#keys-restore-file",
        {
            "name": "old.json",
            "mimeType": "application/json",
            "buffer": backup_dump(old, PASSPHRASE),
        },
    )
    page.fill("#keys-restore-passphrase", PASSPHRASE)
    page.click("#keys-restore-button")
    page.wait_for_function(
        f"() => document.querySelector('{cell}').textContent === '本浏览器持有'", timeout=SLOW
    )
    assert page.is_hidden("#keys-restore-register-row")
    assert page.text_content("#keys-restore-status") == "密钥已恢复到本浏览器。"


def test_a_wrong_passphrase_or_another_organisations_backup_is_refused_with_a_message(
    page, signed_in, people
):
    bob, carol = people["bob"], people["carol"]
    mine = backup_dump(KeySet.generate(bob.organisation.credit_code), PASSPHRASE)
    theirs = backup_dump(KeySet.generate(carol.organisation.credit_code), PASSPHRASE)
    signed_in(bob)
    page.goto("/accounts/keys/")
    page.set_input_files(
        "#keys-restore-file", {"name": "a.json", "mimeType": "application/json", "buffer": mine}
    )
    page.fill("#keys-restore-passphrase", "wrong passphrase!!")
    page.click("#keys-restore-button")
    page.wait_for_selector("#keys-restore-status.alert-danger", timeout=SLOW)
    assert page.text_content("#keys-restore-status") == "备份口令错误，或备份文件已被改动。"
    page.set_input_files(
        "#keys-restore-file", {"name": "b.json", "mimeType": "application/json", "buffer": theirs}
    )
    page.fill("#keys-restore-passphrase", PASSPHRASE)
    page.click("#keys-restore-button")
    page.wait_for_function(
        "() => document.querySelector('#keys-restore-status').textContent.includes('其他单位')"
    )
    assert carol.organisation.credit_code in page.text_content("#keys-restore-status")
    held = page.evaluate(f"async () => (await (await import('{KEYSTORE}')).listKeySets()).length")
    assert held == 0


def test_a_short_or_mistyped_passphrase_generates_nothing(page, signed_in, people):
    signed_in(people["bob"])
    page.goto("/accounts/keys/")
    page.fill("#keys-passphrase", "short")
    page.fill("#keys-passphrase2", "short")
    # The browser's own minlength check would stop the form first; the script's check is the one under test.
    page.evaluate("document.getElementById('keys-generate-form').noValidate = true")
    page.click("#keys-generate-button")
    assert page.text_content("#keys-generate-status") == "备份口令至少12个字符。"
    page.fill("#keys-passphrase", PASSPHRASE)
    page.fill("#keys-passphrase2", PASSPHRASE + "x")
    page.click("#keys-generate-button")
    assert page.text_content("#keys-generate-status") == "两次输入的备份口令不一致。"
    assert page.is_hidden("#keys-new")


def test_over_plain_http_on_another_host_the_page_explains_that_https_is_needed(
    page, context, live_server, settings, people
):
    settings.ALLOWED_HOSTS = ["localhost", "sunbid.test"]
    port = live_server.url.rsplit(":", 1)[1]
    url = f"http://sunbid.test:{port}"
    sign_in(context, people["bob"], url)
    page.goto(f"{url}/accounts/keys/")
    assert page.evaluate("window.isSecureContext") is False
    assert page.is_visible("#keys-insecure")
    assert "https://" in page.text_content("#keys-insecure")
    assert page.is_disabled("#keys-generate-button")
    assert page.is_disabled("#keys-restore-button")
    message = page.evaluate(
        f"async () => {{ try {{ (await import('{url}{KEYSTORE}')).requireSecureContext(); return 'ok'; }}"
        " catch (e) { return e.code + '|' + e.message; } }"
    )
    assert message.startswith("keystore.insecure_context|") and "https://" in message


def test_backups_carry_the_documented_kdf_and_a_created_time(page, signed_in, people):
    bob = people["bob"]
    signed_in(bob)
    backup = generate_and_register(page)
    document = json.loads(backup)
    assert document["kdf"]["name"] == "PBKDF2-SHA256"
    assert document["kdf"]["iterations"] == 600_000
    assert len(unb64(document["kdf"]["salt"])) == 16
    assert len(unb64(document["cipher"]["nonce"])) == 12
    created = dt.datetime.fromisoformat(document["created"])
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 600
