"""The seal page in Chromium sends this browser's device id with its upload (static/js/upload.js).

Driven like tests/browser/test_seal_page.py (whose fixtures and helpers it
borrows); skipped with the reason where Chromium or Playwright is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from bidding import services as bidding
from bidding.models import Bid, BidStatus
from bidding.sealing.keys import KeySet
from tendering import services as tendering
from tendering.models import Lot
from tests.browser import conftest as browser_support
from tests.browser.test_seal_page import fill_summary, open_seal_page, restore_keys
from tests.conftest import issue_keys

pytestmark = pytest.mark.browser

# The browser fixtures, borrowed: this test belongs with the bidding tests, not the browser suite.
browser = browser_support.browser
context = browser_support.context
page = browser_support.page

BID_FIELDS = [{"key": "brand", "label": "主要材料品牌", "required": True}]


@pytest.fixture
def lot(published, people) -> Lot:
    lot = published.lots.get()
    Lot.objects.filter(pk=lot.pk).update(bid_fields=BID_FIELDS)
    tendering.documents_obtain(actor=people["bob"], tender=published)
    lot.refresh_from_db()
    return lot


@pytest.fixture
def bob_keys(people) -> KeySet:
    issued = issue_keys(people["bob"].organisation, actor=people["bob"])
    return KeySet(
        organisation=people["bob"].organisation.credit_code,
        encryption_private=issued.encryption_private,
        signing_private=issued.signing_private,
    )


def test_the_seal_page_sends_a_device_id_kept_in_local_storage(
    page, context, live_server, lot, people, bob_keys, tmp_path
):
    files = [tmp_path / "技术标.pdf"]
    files[0].write_bytes(b"%PDF-1.7 technical part " * 500)
    browser_support.sign_in(context, people["bob"], live_server.url)
    url = live_server.url + reverse("bidding:seal", args=[lot.pk])
    open_seal_page(page, url)
    restore_keys(page, bob_keys)
    # Whatever the browser held under the key that is not a device id is replaced by a new one.
    page.evaluate("() => localStorage.setItem('sunbid-device', 'not a device id')")
    open_seal_page(page, url)
    fill_summary(page, [Path(p) for p in files])
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#seal-submit")
    page.wait_for_selector("#seal-receipt:not([hidden])", timeout=90_000)

    kept = page.evaluate("() => localStorage.getItem('sunbid-device')")
    assert bidding.device_id_clean(kept) == kept
    bid = Bid.objects.get(
        lot=lot, organisation=people["bob"].organisation, status=BidStatus.CURRENT
    )
    started = AuditEvent.objects.get(lot_id=lot.pk, action="bidding.upload.started")
    submitted = AuditEvent.objects.get(seq=bid.audit_seq)
    assert started.data["device"] == submitted.data["device"] == kept
    # The same id on the next request of this browser: it is kept, not made again.
    assert page.evaluate("async () => (await import('/static/js/upload.js')).deviceId()") == kept
    assert page.page_errors == []
