"""The seal page in Chromium: seal, upload, resume, and what the Python side makes of the result.

The bidder's keys are made in Python and restored into the browser from a
backup file (keystore.importBackup), as a bidder moving to a new computer
would; the bid the page seals and uploads is then opened by
``bidding.services.bid_decrypt`` once the clock is past the opening time.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse

from bidding import services as bidding
from bidding.models import Bid, BidStatus, Upload
from bidding.sealing.keys import KeySet, backup_dump
from bidding.storage import open_bid_file
from bidding.views_browser import SEAL_PAGE_TEXTS
from tendering import services as tendering
from tendering.models import Lot
from tests.browser.conftest import PASSPHRASE, sign_in
from tests.conftest import issue_keys

BASE_DIR = Path(__file__).resolve().parents[2]
SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
BID_FIELDS = [
    {"key": "brand", "label": "主要材料品牌", "required": True},
    {"key": "manager", "label": "项目经理", "required": False},
]


@pytest.fixture
def lot(published, people) -> Lot:
    """The published lot, asking for two extra items, whose documents bob's organisation obtained."""
    lot = published.lots.get()
    Lot.objects.filter(pk=lot.pk).update(bid_fields=BID_FIELDS)
    tendering.documents_obtain(actor=people["bob"], tender=published)
    lot.refresh_from_db()
    return lot


@pytest.fixture
def bob_keys(people) -> KeySet:
    """Keys registered for bob's organisation; the private halves as a Python KeySet."""
    issued = issue_keys(people["bob"].organisation, actor=people["bob"])
    return KeySet(
        organisation=people["bob"].organisation.credit_code,
        encryption_private=issued.encryption_private,
        signing_private=issued.signing_private,
    )


@pytest.fixture
def bid_files(tmp_path) -> list[Path]:
    """Three files, one of them over 2 MiB so it spans several 1 MiB chunks."""
    folder = tmp_path / "投标文件"
    folder.mkdir()
    files = {
        "技术标.pdf": b"%PDF-1.7\n" + os.urandom(2 * 1024 * 1024 + 300_000),
        "商务标（报价清单）.xlsx": os.urandom(70_000),
        "资格审查资料.txt": "营业执照、资质证书、安全生产许可证。\n".encode() * 50,
    }
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def open_seal_page(page, url: str, state: str = "ready") -> None:
    page.goto(url)
    page.wait_for_selector(f"body[data-seal-ready='{state}']")


def restore_keys(page, keys: KeySet) -> None:
    """What the key page's "restore from backup" does, with a backup file made by Python."""
    backup = backup_dump(keys, PASSPHRASE).decode("utf-8")
    page.evaluate(
        """async ([text, passphrase]) => {
          const ks = await import("/static/js/keystore.js");
          await ks.importBackup(text, passphrase);
        }""",
        [backup, PASSPHRASE],
    )


def fill_summary(page, files: list[Path]) -> None:
    page.fill("#seal-price", "11650000.50")
    page.fill("#seal-duration", "365")
    page.fill("#seal-quality", "合格，争创省优质工程“钱江杯”")
    page.fill("#seal-field-brand", "海螺水泥、沙钢钢筋")
    page.set_input_files("#seal-files", [str(p) for p in files])


def text(value) -> str:
    return str(value)


def decrypt(bid: Bid, keys: KeySet) -> Bid:
    """Open the bid with the bidder's own key after the opening time, as the opening room will."""
    with time_machine.travel(bid.lot.opening_time + dt.timedelta(minutes=1), tick=False):
        file_key = bidding.file_key_from_private_key(
            bid=bid, role="bidder", private_key=keys.encryption_private
        )
        bidding.bid_decrypt(bid=bid, file_key=file_key)
    bid.refresh_from_db()
    return bid


def assert_opened_as_entered(bid: Bid, files: list[Path]) -> None:
    assert bid.price == Decimal("11650000.50")
    assert bid.duration_days == 365
    assert bid.quality == "合格，争创省优质工程“钱江杯”"
    assert bid.summary_fields == {"brand": "海螺水泥、沙钢钢筋"}
    stored = list(bid.files.order_by("index"))
    assert [(f.name, f.size) for f in stored] == [(p.name, p.stat().st_size) for p in files]
    for entry, path in zip(stored, files, strict=True):
        # Read back from the ciphertext, decrypting only this file's chunks: no plaintext is stored.
        with open_bid_file(entry) as handle:
            assert handle.read() == path.read_bytes()


def pending_uploads(page, lot: Lot) -> int:
    """How many unfinished uploads of bob's to ``lot`` this browser keeps in IndexedDB."""
    return page.evaluate(
        "async (lot) => (await import('/static/js/upload.js')).pendingUploads(lot, 'bob').then((r) => r.length)",
        lot.pk,
    )


def saved_upload_state(page, lot: Lot) -> dict:
    """What this browser keeps in IndexedDB for bob's unfinished uploads: its bytes as text, and any CryptoKeys."""
    return page.evaluate(
        """async (lot) => {
          const records = await (await import('/static/js/upload.js')).pendingUploads(lot, 'bob');
          const keys = [];
          const decoder = new TextDecoder('utf-8', { fatal: false });
          const walk = (value) => {
            if (value instanceof CryptoKey) keys.push({ type: value.type, usages: value.usages });
            else if (value && typeof value === 'object' && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer)) {
              Object.values(value).forEach(walk);
            }
          };
          records.forEach(walk);
          const text = JSON.stringify(records, (key, value) =>
            ArrayBuffer.isView(value) || value instanceof ArrayBuffer ? decoder.decode(value) : value);
          return { count: records.length, text, keys };
        }""",
        lot.pk,
    )


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    """Screenshots go to docs/screenshots/ with SUNBID_SCREENSHOTS=1, else to the test's tmp dir."""
    target = (SCREENSHOTS if os.environ.get("SUNBID_SCREENSHOTS") == "1" else tmp_path) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    return target


def test_a_bid_sealed_by_the_page_is_received_and_opened_by_the_python_service(
    page, context, live_server, lot, people, bob_keys, bid_files, tmp_path
):
    sign_in(context, people["bob"], live_server.url)
    url = live_server.url + reverse("bidding:seal", args=[lot.pk])
    open_seal_page(page, url)
    assert page.inner_text("#seal-key-held") == text(SEAL_PAGE_TEXTS["not_held"])
    assert page.is_disabled("#seal-submit")

    restore_keys(page, bob_keys)
    open_seal_page(page, url)
    assert page.inner_text("#seal-key-held") == text(SEAL_PAGE_TEXTS["held"])
    assert (
        page.inner_text("#seal-opening-fingerprint").replace(" ", "") == lot.opening_key.fingerprint
    )
    fill_summary(page, bid_files)
    # Chinese text must render in real glyphs (fonts-wqy-zenhei), not boxes.
    assert page.evaluate("document.fonts.check('16px \"WenQuanYi Zen Hei\"', '投标')")
    shot = save_screenshot(page, tmp_path, "seal.png")
    assert shot.stat().st_size > 50_000
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#seal-submit")

    page.wait_for_selector("#seal-receipt:not([hidden])", timeout=90_000)
    bid = Bid.objects.get(
        lot=lot, organisation=people["bob"].organisation, status=BidStatus.CURRENT
    )
    assert page.inner_text("#receipt-no") == bid.receipt_no
    assert page.inner_text("#receipt-sha256") == bid.sha256
    assert page.inner_text("#receipt-sha256-check") == text(SEAL_PAGE_TEXTS["hash_matches"])
    save_screenshot(page, tmp_path, "seal-receipt.png")
    assert page.page_errors == []
    # The upload state is gone from IndexedDB once the bid is complete.
    assert pending_uploads(page, lot) == 0

    assert_opened_as_entered(decrypt(bid, bob_keys), bid_files)


def test_an_interrupted_upload_resumes_after_reopening_without_resending_received_parts(
    page, context, live_server, lot, people, bob_keys, bid_files, settings, tmp_path
):
    settings.BID_UPLOAD_PART_SIZE = 512 * 1024  # the 2.4 MiB bid in five parts
    sign_in(context, people["bob"], live_server.url)
    url = live_server.url + reverse("bidding:seal", args=[lot.pk])
    open_seal_page(page, url)
    restore_keys(page, bob_keys)
    open_seal_page(page, url)
    sent: list[int] = []
    cut: list[int] = []

    def flaky_network(route) -> None:
        index = int(route.request.url.rstrip("/").rsplit("/", 1)[1])
        if index == 1 and 1 not in cut:
            cut.append(1)  # one dropped request: the page retries by itself
            route.abort("connectionreset")
        elif index >= 3:
            cut.append(index)  # the connection is gone for good: the bidder closes the tab
            route.abort("internetdisconnected")
        else:
            sent.append(index)
            route.continue_()

    page.route("**/api/uploads/*/parts/*", flaky_network)
    fill_summary(page, bid_files)
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#seal-submit")
    page.wait_for_function("document.getElementById('seal-retry').textContent !== ''")
    while 3 not in cut:
        page.wait_for_timeout(50)
    page.close()

    upload = Upload.objects.get(lot=lot)
    assert upload.status == "open"
    assert sorted(upload.parts.values_list("index", flat=True)) == [0, 1, 2]
    assert sent == [0, 1, 2]

    reopened = context.new_page()
    open_seal_page(reopened, url)
    # What a closed tab leaves behind reveals nothing of the bid: neither the price
    # (the manifest is not kept) nor a key that would encrypt, i.e. decrypt, its chunks.
    state = saved_upload_state(reopened, lot)
    assert state["count"] == 1
    assert "11650000.50" not in state["text"]
    assert "钱江杯" not in state["text"]
    assert not [key for key in state["keys"] if "encrypt" in key["usages"]]
    assert state["keys"] == []
    reopened.close()

    reopened = context.new_page()
    resent: list[int] = []

    def count(route) -> None:
        resent.append(int(route.request.url.rstrip("/").rsplit("/", 1)[1]))
        route.continue_()

    reopened.route("**/api/uploads/*/parts/*", count)
    open_seal_page(reopened, url)
    assert reopened.is_visible("#seal-resume")
    assert sorted(
        reopened.locator("#seal-resume-files td:first-child").all_inner_texts()
    ) == sorted(p.name for p in bid_files)
    # The bidder enters the same summary again (it was never stored) and re-picks the files,
    # in another order: the page matches them by name, size and modification time.
    fill_summary(reopened, bid_files)
    reopened.set_input_files("#seal-resume-picker", [str(p) for p in reversed(bid_files)])
    reopened.click("#seal-resume-button")
    reopened.wait_for_selector("#seal-receipt:not([hidden])", timeout=90_000)

    upload.refresh_from_db()
    assert upload.part_count == 5
    assert resent == [3, 4]
    assert upload.status == "complete"
    assert sorted(upload.parts.values_list("index", flat=True)) == [0, 1, 2, 3, 4]
    bid = Bid.objects.get(upload=upload)
    assert reopened.inner_text("#receipt-sha256-check") == text(SEAL_PAGE_TEXTS["hash_matches"])
    assert_opened_as_entered(decrypt(bid, bob_keys), bid_files)


def test_re_picking_changed_files_does_not_resume_and_the_upload_can_be_abandoned(
    page, context, live_server, lot, people, bob_keys, bid_files, settings, tmp_path
):
    settings.BID_UPLOAD_PART_SIZE = 512 * 1024
    sign_in(context, people["bob"], live_server.url)
    url = live_server.url + reverse("bidding:seal", args=[lot.pk])
    open_seal_page(page, url)
    restore_keys(page, bob_keys)
    open_seal_page(page, url)
    page.route(
        "**/api/uploads/*/parts/*",
        lambda route: (
            route.abort("internetdisconnected")
            if route.request.url.endswith("/1")
            else route.continue_()
        ),
    )
    fill_summary(page, bid_files)
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#seal-submit")
    page.wait_for_function("document.getElementById('seal-retry').textContent !== ''")
    page.close()

    changed = tmp_path / "changed"
    changed.mkdir()
    copies = [Path(shutil.copy(p, changed / p.name)) for p in bid_files]
    os.utime(
        copies[0], (1_700_000_000, 1_700_000_000)
    )  # same name and size, other modification time
    reopened = context.new_page()
    open_seal_page(reopened, url)
    fill_summary(reopened, bid_files)
    reopened.set_input_files("#seal-resume-picker", [str(p) for p in copies])
    reopened.click("#seal-resume-button")

    reopened.wait_for_function("document.getElementById('seal-error').textContent !== ''")
    assert reopened.inner_text("#seal-error") == text(SEAL_PAGE_TEXTS["seal.files_changed"])
    upload = Upload.objects.get(lot=lot)
    assert upload.parts.count() == 1

    reopened.on("dialog", lambda dialog: dialog.accept())
    reopened.click("#seal-abandon-button")
    reopened.wait_for_selector("#seal-resume", state="hidden")
    upload.refresh_from_db()
    assert upload.status == "discarded"
    assert pending_uploads(reopened, lot) == 0


def test_a_different_summary_does_not_resume_and_the_bid_must_be_sealed_again(
    page, context, live_server, lot, people, bob_keys, bid_files, settings
):
    settings.BID_UPLOAD_PART_SIZE = 512 * 1024
    sign_in(context, people["bob"], live_server.url)
    url = live_server.url + reverse("bidding:seal", args=[lot.pk])
    open_seal_page(page, url)
    restore_keys(page, bob_keys)
    open_seal_page(page, url)
    page.route(
        "**/api/uploads/*/parts/*",
        lambda route: (
            route.abort("internetdisconnected")
            if route.request.url.endswith("/1")
            else route.continue_()
        ),
    )
    fill_summary(page, bid_files)
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#seal-submit")
    page.wait_for_function("document.getElementById('seal-retry').textContent !== ''")
    page.close()

    reopened = context.new_page()
    open_seal_page(reopened, url)
    fill_summary(reopened, bid_files)
    reopened.fill("#seal-price", "11650000.51")  # one fen more than what was sealed
    reopened.set_input_files("#seal-resume-picker", [str(p) for p in bid_files])
    reopened.click("#seal-resume-button")
    reopened.wait_for_function("document.getElementById('seal-error').textContent !== ''")
    assert reopened.inner_text("#seal-error") == text(SEAL_PAGE_TEXTS["seal.summary_changed"])
    assert Upload.objects.get(lot=lot).parts.count() == 1


def test_the_page_over_plain_http_says_https_is_required(
    page, context, live_server, lot, people, settings, tmp_path
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "sunbid.test"]
    port = live_server.url.rsplit(":", 1)[1]
    origin = f"http://sunbid.test:{port}"  # mapped to 127.0.0.1: plain http, not localhost
    sign_in(context, people["bob"], origin)

    open_seal_page(page, origin + reverse("bidding:seal", args=[lot.pk]), state="insecure")

    assert page.evaluate("window.isSecureContext") is False
    assert page.is_visible("#seal-insecure")
    assert "https" in page.inner_text("#seal-insecure")
    assert not page.is_visible("#seal-form-panel")
    save_screenshot(page, tmp_path, "seal-insecure.png")


def test_a_lost_answer_to_the_last_part_still_ends_with_the_receipt(
    page, context, live_server, lot, people, bob_keys, bid_files, settings
):
    settings.BID_UPLOAD_PART_SIZE = 1024 * 1024  # three parts
    sign_in(context, people["bob"], live_server.url)
    url = live_server.url + reverse("bidding:seal", args=[lot.pk])
    open_seal_page(page, url)
    restore_keys(page, bob_keys)
    open_seal_page(page, url)
    lost: list[int] = []

    def lose_last_answer(route) -> None:
        if route.request.url.endswith("/2") and not lost:
            route.fetch()  # the server stores the last part and completes the bid ...
            lost.append(2)
            route.abort("connectionreset")  # ... but its answer never arrives
        else:
            route.continue_()

    page.route("**/api/uploads/*/parts/*", lose_last_answer)
    fill_summary(page, bid_files)
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#seal-submit")

    page.wait_for_selector("#seal-receipt:not([hidden])", timeout=90_000)
    assert lost == [2]
    bid = Bid.objects.get(lot=lot, status=BidStatus.CURRENT)
    assert page.inner_text("#receipt-no") == bid.receipt_no
    assert page.inner_text("#receipt-sha256-check") == text(SEAL_PAGE_TEXTS["hash_matches"])
    assert Bid.objects.filter(lot=lot).count() == 1
    assert pending_uploads(page, lot) == 0
