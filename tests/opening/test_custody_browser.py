"""The custodian page in Chromium: the share is decrypted in the browser with the key store's key and submitted.

The custodians' keys are made in Python and restored into the browser from
their backup files (keystore.importBackup), as a custodian would on the day of
the opening; the page's script (static/js/custody.js) does the rest. Skipped
without Chromium, like every browser test (tests/browser/conftest.py).
"""

from __future__ import annotations

import datetime as dt

import time_machine
from django.urls import reverse

from bidding.sealing.keys import KeySet, backup_dump
from opening import selectors
from opening.models import Custodian, OpeningKey
from tests.browser.conftest import PASSPHRASE, sign_in
from tests.conftest import keyset_of

RESTORE = """async ([text, passphrase]) => {
  const ks = await import("/static/js/keystore.js");
  const restored = await ks.importBackup(text, passphrase);
  return restored.encryption_fingerprint;
}"""


def restore_in_browser(page, organisation) -> str:
    issued = keyset_of(organisation)
    backup = backup_dump(
        KeySet(
            organisation=organisation.credit_code,
            encryption_private=issued.encryption_private,
            signing_private=issued.signing_private,
        ),
        PASSPHRASE,
    )
    return page.evaluate(RESTORE, [backup.decode("utf-8"), PASSPHRASE])


def test_two_custodians_submit_their_shares_from_the_browser_and_the_key_is_rebuilt(
    published, people, page, context, live_server
):
    lot = published.lots.get()
    url = live_server.url + reverse("opening:custody", kwargs={"lot_id": lot.pk})
    with time_machine.travel(lot.opening_time + dt.timedelta(minutes=1), tick=True):
        for name in ("sam", "terry"):
            organisation = people[name].organisation
            context.clear_cookies()
            sign_in(context, people[name], live_server.url)
            page.goto(live_server.url + "/")
            assert (
                restore_in_browser(page, organisation)
                == keyset_of(organisation).key.encryption_fingerprint
            )
            page.goto(url)
            page.click("#custody-button")
            page.wait_for_selector("#custody-status.alert-success")
            assert (
                Custodian.objects.get(opening_key__lot=lot, organisation=organisation).submitted_at
                is not None
            )
        key = OpeningKey.objects.get(lot=lot)
        assert key.rebuilt_at is not None
        assert selectors.opening_private_key(lot).public_key().public_numbers() == (
            selectors.opening_public_key(lot)[0].public_numbers()
        )
    assert page.page_errors == []


def test_without_the_key_in_the_browser_the_page_says_which_key_to_restore(
    published, people, page, context, live_server
):
    lot = published.lots.get()
    with time_machine.travel(lot.opening_time + dt.timedelta(minutes=1), tick=True):
        sign_in(context, people["alice"], live_server.url)
        page.goto(live_server.url + reverse("opening:custody", kwargs={"lot_id": lot.pk}))
        page.click("#custody-button")
        page.wait_for_selector("#custody-status.alert-danger")
        message = page.inner_text("#custody-status")
        assert keyset_of(people["alice"].organisation).key.encryption_fingerprint in message
        assert not Custodian.objects.filter(submitted_at__isnull=False).exists()
