"""A whole opening ceremony in Chromium, from sign-in to the published record (issue 5).

Five people in five browser contexts on the room page of one lot, served by
Daphne (tests/browser/live_asgi.py) from the test's database: alice hosts
(agent of the agency), bob, carol and dave bid (three real sealed bids,
tests/opening/room_support.py), sam supervises (the tender's supervising
authority). Everything a person does is done on the page, with the page's
own controls and scripts: sign-in, decryption (bob restores his key from its
backup file through the page; carol's key is already in her browser),
recording a cause, the custodians' shares (their custody page, which is
where the room sends them), opening with the rebuilt key, the reading,
an objection and its answer, the confirmations signed in the browser, the
close and the record's download.

The clock is the real one, shared by the browser and the server: the lot's
opening is set a few seconds ahead and its decryption window to the shortest
the lot allows (one minute); the timed steps the task worker would run
(``lots_advance_due``, ``rooms_advance_due``) are run by the test on the
server once their moment has passed. Dave never decrypts: the host records
"not the bidder's fault", the custodians (the agency and the supervising
authority, two of the three default custodians) submit their shares, and
the host opens his bid with the rebuilt opening key. Bob's connection is cut
mid-reading (Chromium offline, and his TCP connections reset by a proxy);
while he is away a bid is read; back online, his page must hold every reading
once, in order, having received every event exactly once.

Screenshots of every role at the main moments go to /tmp/sb/ceremony-*.png.
Runs on both legs (the SQLite test database is a file; see live_asgi.py) and
takes about two minutes, most of it the one-minute decryption window.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from bidding.receipts import receipt_key
from opening import room_services
from opening.models import BidOutcome, Room, RoomBid, RoomEvent, RoomStage
from opening.record import record_verify
from tendering import services as tendering
from tendering.models import Lot, LotStatus
from tests.bidding.support import bidding_settings  # noqa: F401 - fixture, used by name
from tests.browser.conftest import PASSPHRASE
from tests.browser.live_asgi import CuttableProxy, LiveAsgiServer, require_shareable_database
from tests.browser.room_support import SHOTS, Seat, backup_file, import_backup, take_seat
from tests.conftest import keyset_of
from tests.opening.room_support import Ceremony, build_ceremony

# Without the package the browser fixture would skip the test (tests/browser/conftest.py); so does this.
expect = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
).expect
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Seconds from the moment the lot is set up to its opening: enough for five pages to load and sign in.
OPENING_LEAD = 15
# A step the page shows after a server round trip (or a PBKDF2 key restore): generous, never slept.
WAIT_MS = 20_000


@pytest.fixture
def waits() -> Iterator[None]:
    expect.set_options(timeout=WAIT_MS)
    yield
    expect.set_options(timeout=None)


@pytest.fixture
def made(people, lot, bidding_settings) -> Ceremony:  # noqa: F811 - bidding_settings is a fixture
    """Three sealed bids; the opening moved a few seconds ahead, decryption open for one minute."""
    ceremony = build_ceremony(people, lot)
    opening = timezone.now() + dt.timedelta(seconds=OPENING_LEAD)
    Lot.objects.filter(pk=lot.pk).update(
        bid_deadline=opening, opening_time=opening, decryption_minutes=1
    )
    ceremony.lot.refresh_from_db()
    return ceremony


@pytest.fixture
def server(transactional_db) -> Iterator[LiveAsgiServer]:
    require_shareable_database()
    with LiveAsgiServer() as live:
        yield live


def wait_until(moment: dt.datetime) -> None:
    """Wait until the server's clock (this machine's) has passed ``moment``: deadlines are not skipped."""
    while (left := (moment - timezone.now()).total_seconds()) > 0:
        time.sleep(min(left, 0.2))


def read_next(alice: Seat, name: str) -> None:
    button = alice.at("#host-read-next")
    expect(button).to_have_text(f"唱读下一家：{name}")
    expect(button).to_be_enabled()
    button.click()


def test_a_whole_ceremony_in_the_browser_from_sign_in_to_the_published_record(
    browser, server: LiveAsgiServer, made: Ceremony, people, waits
):
    lot = made.lot
    room_path = reverse("opening:room", kwargs={"lot_id": lot.pk})
    custody_path = reverse("opening:custody", kwargs={"lot_id": lot.pk})
    names = {who: people[who].organisation.name for who in ("bob", "carol", "dave")}

    with CuttableProxy(server.port) as bobs_line:
        # --- everyone comes in and signs in (签到), before the bid deadline -----------------------
        seats = {
            "alice": take_seat(browser, "alice", people["alice"], server.url, room_path),
            # Bob's browser reaches the server through a line the test can cut.
            "bob": take_seat(browser, "bob", people["bob"], bobs_line.url, room_path),
            "carol": take_seat(browser, "carol", people["carol"], server.url, room_path),
            "dave": take_seat(browser, "dave", people["dave"], server.url, room_path),
            "sam": take_seat(browser, "sam", people["sam"], server.url, room_path),
        }
        alice, bob, carol, dave, sam = (seats[n] for n in ("alice", "bob", "carol", "dave", "sam"))
        everyone = list(seats.values())
        for seat in everyone:
            expect(seat.at("#room-status")).to_have_text("已连接")
            expect(seat.stage).to_have_text("签到中")
            expect(seat.at("#room-countdown-label")).to_have_text("距开标时间")
        expect(alice.at("#host-console")).to_be_visible()
        expect(sam.at("#pause-button")).to_be_enabled()  # sam's authority supervises this tender
        expect(bob.at("#room-mine")).to_be_visible()
        expect(bob.at("#host-console")).to_have_count(0)
        for seat in everyone:
            seat.at("#signin-button").click()
        for seat in everyone:
            expect(seat.at("#signin-status")).to_have_text("您已签到。")
        assert timezone.now() < lot.bid_deadline, f"the sign-ins took longer than {OPENING_LEAD} s"
        # EB 21: before the deadline nobody may learn who bid — the bidders' sign-ins are not announced.
        expect(alice.at("#participants li")).to_have_count(2)
        expect(alice.at("#participants")).to_contain_text("主持人")
        expect(alice.at("#participants")).to_contain_text("监督人员")
        for name in names.values():
            expect(alice.at("#participants")).not_to_contain_text(name)
        expect(alice.at("#bidders-empty")).to_have_text("开标时公布投标人名单。")
        alice.shot("1-signed-in")

        # Carol's key is in her browser's key store already (she bid from this browser).
        stored = import_backup(carol.page, bidder_backup(made, "carol"))
        assert stored == made.bids["carol"].bidder_fingerprint

        # --- the opening time: the timed step opens the room ----------------------------------------
        wait_until(lot.opening_time)
        assert server.call(tendering.lots_advance_due) == [
            (lot.pk, LotStatus.BIDDING_CLOSED),
            (lot.pk, LotStatus.OPENING),
        ]
        for seat in everyone:
            expect(seat.stage).to_have_text("解密中")
            expect(seat.at("#room-countdown-label")).to_have_text("距解密截止")
            expect(seat.at("#bidders-body tr")).to_have_count(3)
            for name in names.values():
                expect(seat.bidder_row(name)).to_contain_text("已签到")
                expect(seat.bidder_row(name)).to_contain_text("未解密")
        expect(bob.bidder_row(names["bob"])).to_contain_text("本单位")
        expect(bob.at("#decrypt-button")).to_be_enabled()

        # --- decryption in the bidders' browsers -----------------------------------------------------
        # Bob's key is not in this browser: the page asks for the backup file and goes on with it.
        bob.at("#decrypt-button").click()
        expect(bob.at("#key-restore")).to_be_visible()
        expect(bob.at("#key-restore-text")).to_contain_text("请选择该密钥的备份文件")
        bob.at("#key-restore-file").set_input_files(files=[backup_upload(made, "bob")])
        bob.at("#key-restore-passphrase").fill(PASSPHRASE)
        bob.at("#key-restore-button").click()
        expect(bob.at("#decrypt-status")).to_have_text("本单位投标文件已解密并通过校验。")
        carol.at("#decrypt-button").click()
        expect(carol.at("#decrypt-status")).to_have_text("本单位投标文件已解密并通过校验。")
        for seat in everyone:
            expect(seat.bidder_row(names["bob"])).to_contain_text("已解密（投标人密钥）")
            expect(seat.bidder_row(names["carol"])).to_contain_text("已解密（投标人密钥）")
            expect(seat.bidder_row(names["dave"])).to_contain_text("未解密")
        expect(sam.stage).to_have_text("解密中")  # dave's bid keeps the window open
        bob.shot("2-decrypted")
        sam.shot("2-decrypting")

        # While the window runs, the custodians get their keys into their browsers and open their
        # custody pages, as they would on the day (alice's agency and sam's authority: 2 of 3).
        custody = {}
        for seat in (alice, sam):
            tab = seat.context.new_page()
            tab.on("pageerror", lambda error, seat=seat: seat.errors.append(str(error)))
            tab.goto(custody_path)
            organisation = people[seat.name].organisation
            issued = keyset_of(organisation)
            backup = backup_file(organisation, issued.encryption_private, issued.signing_private)
            assert import_backup(tab, backup) == issued.key.encryption_fingerprint
            custody[seat.name] = tab

        # --- the window ends (timed step): the host settles dave's bid ----------------------------
        room = Room.objects.get(lot=lot)
        wait_until(room.decryption_deadline)
        assert server.call(room_services.rooms_advance_due) == [(lot.pk, "decryption_ended")]
        for seat in everyone:
            expect(seat.stage).to_have_text("解密结束·处理未解密")
        expect(dave.at("#decrypt-status")).to_have_text("解密时间已结束。")
        expect(dave.at("#decrypt-button")).to_be_disabled()
        settle = alice.at("#host-settle form", has_text=names["dave"])
        expect(alice.at("#host-settle form")).to_have_count(1)
        settle.locator("select").select_option("custodians")
        settle.locator("input").fill("投标人客户端故障，经核实非投标人原因")
        settle.locator("button").click()
        for seat in everyone:
            expect(seat.bidder_row(names["dave"])).to_contain_text(
                "非投标人原因，由保管单位解密 → 等待保管单位解密（投标人客户端故障，经核实非投标人原因）"
            )
        expect(alice.at("#host-custody-block")).to_be_visible()
        expect(alice.at("#host-custody-progress")).to_have_text(
            "等待保管单位在各自页面提交开标密钥份额…"
        )
        alice.shot("3-settling")

        # The custodians submit their shares; the room follows their progress.
        for name in ("alice", "sam"):
            custody[name].click("#custody-button")
            expect(custody[name].locator("#custody-status")).to_have_class("alert alert-success")
        # The custody page reloads itself with the outcome.
        expect(custody["sam"].locator("#custody-submit")).to_contain_text("本单位已提交份额。")
        expect(custody["sam"].locator("main, body").first).to_contain_text("开标私钥已于")
        custody["sam"].screenshot(path=str(SHOTS / "ceremony-sam-3-custody.png"), full_page=True)
        expect(alice.at("#host-custody-progress")).to_have_text(
            "保管单位已提交 2 份，需 2 份（共 3 家）。 开标私钥已重建，可用开标密钥解密。"
        )
        open_with_key = alice.at("#host-custody button", has_text="用开标密钥解密")
        expect(open_with_key).to_be_enabled()
        open_with_key.click()

        # --- the reading (唱标), with bob's line cut after the first bid ---------------------------
        for seat in everyone:
            expect(seat.stage).to_have_text("唱标中")
            expect(seat.bidder_row(names["dave"])).to_contain_text("已解密（开标密钥）")
            expect(seat.at("#reading-control")).to_have_text("最高投标限价：11,800,000.00 元")
            expect(seat.at("#reading-empty")).to_be_visible()
        read_next(alice, names["bob"])
        for seat in everyone:
            expect(seat.reading_rows).to_have_count(1)

        bob.context.set_offline(True)
        bobs_line.cut()
        expect(bob.at("#room-status")).to_have_class("room-conn room-conn-reconnecting")
        expect(bob.at("#room-status")).to_contain_text("重新连接中")
        read_next(alice, names["carol"])
        for seat in (alice, carol, dave, sam):
            expect(seat.reading_rows).to_have_count(2)
        assert bob.reading_rows.count() == 1  # he is away: nothing reaches him
        bob.shot("4-offline")

        bobs_line.restore()
        bob.context.set_offline(False)
        expect(bob.at("#room-status")).to_have_text("已连接")
        expect(bob.reading_rows).to_have_count(2)
        expect(bob.stage).to_have_text("唱标中")
        bob.shot("5-back")
        read_next(alice, names["dave"])

        expected = [
            ["1", names["bob"], "10,850,000.00", "365 日历天", "合格", "", "未确认"],
            [
                "2",
                names["carol"],
                "11,900,000.00",
                "365 日历天",
                "合格",
                "报价无效：报价超过最高投标限价",
                "未确认",
            ],
            ["3", names["dave"], "11,200,000.00", "365 日历天", "合格", "", "未确认"],
        ]
        expect(alice.stage).to_have_text("确认中")
        digest = Room.objects.get(lot=lot).reading_digest
        for seat in everyone:
            expect(seat.stage).to_have_text("确认中")
            expect(seat.reading_rows).to_have_count(3)
            expect(seat.at("#reading-digest")).to_have_text(digest)
            assert seat.reading() == expected, seat.name
        expect(alice.at("#host-read-why")).to_have_text("全部投标文件已唱标。")
        # Bob's page had every event once, in order, across both of his connections.
        # (Attempts made while he was cut off opened no connection and carried nothing.)
        received = bob.received
        carried = [list(seqs) for seqs in bob.connections if seqs]
        assert len(carried) >= 2
        assert received == list(range(1, received[-1] + 1))
        for before, after in zip(carried, carried[1:], strict=False):
            assert after[0] == before[-1] + 1  # each connection resumed right after the last event

        # --- objection (异议) and answer, confirmations signed in the browsers ----------------------
        carol.at("#objection-text").fill(
            "我单位报价未超过招标文件规定的最高投标限价，请主持人复核。"
        )
        carol.at("#objection-button").click()
        expect(carol.at("#objection-status")).to_have_text("异议已提交，请等待主持人答复。")
        for seat in everyone:
            expect(seat.at("#objections-list")).to_contain_text("请主持人复核")
            expect(seat.at("#objections-list")).to_contain_text("待答复")
        expect(alice.at("#host-close")).to_be_disabled()
        expect(alice.at("#host-close-why")).to_contain_text("还有异议未答复，答复后才能结束开标。")
        expect(alice.at("#host-close-why")).to_contain_text("确认时限未到，且仍有投标人未确认。")
        carol.shot("6-objection")
        answer = alice.at("#objections-list form.room-answer-form")
        answer.locator("textarea").fill(
            "经复核，贵单位报价 11,900,000.00 元高于最高投标限价 11,800,000.00 元，按招标文件作无效报价处理。"
        )
        answer.locator("button").click()
        for seat in everyone:
            expect(seat.at("#objections-list")).to_contain_text(
                f"{people['alice'].display_name} 答复：经复核"
            )
            expect(seat.at("#objections-list")).not_to_contain_text("待答复")

        for seat in (bob, carol):
            expect(seat.at("#confirm-digest")).to_have_text(digest)
            seat.at("#confirm-button").click()
            expect(seat.at("#confirm-status")).to_have_text("本单位已签名确认唱标结果。")
        # Dave's key was never in this browser: he signs after restoring it from his backup file.
        dave.at("#confirm-button").click()
        expect(dave.at("#key-restore")).to_be_visible()
        dave.at("#key-restore-file").set_input_files(files=[backup_upload(made, "dave")])
        dave.at("#key-restore-passphrase").fill(PASSPHRASE)
        dave.at("#key-restore-button").click()
        expect(dave.at("#confirm-status")).to_have_text("本单位已签名确认唱标结果。")
        for seat in everyone:
            expect(seat.at("#reading-body td", has_text="已确认")).to_have_count(3)
        expect(alice.at("#host-close-why li")).to_have_count(0)
        alice.shot("7-confirmed")

        # --- the host closes: the record is published ---------------------------------------------
        alice.at("#host-close").click()
        expect(alice.at("#host-close-status")).to_have_text("已完成")
        room = Room.objects.get(lot=lot)
        assert room.record_sha256
        for seat in everyone:
            expect(seat.stage).to_have_text("已结束")
            expect(seat.at("#record-box")).to_be_visible()
            expect(seat.at("#record-pdf")).to_have_attribute(
                "href", f"/opening/lots/{lot.pk}/record.pdf"
            )
            expect(seat.at("#record-json")).to_have_attribute(
                "href", f"/opening/lots/{lot.pk}/record.json"
            )
            expect(seat.at("#record-sha")).to_contain_text(room.record_sha256)
            expect(seat.at("#room-timer")).to_be_hidden()
            seat.shot("8-closed")
        expect(alice.at("#host-console")).to_be_hidden()
        expect(sam.at("#supervisor-console")).to_be_hidden()

        with sam.page.expect_download() as download:
            sam.at("#record-json").click()
        record = json.loads(download.value.path().read_bytes())
        with bob.page.expect_download() as download:
            bob.at("#record-pdf").click()
        pdf = download.value.path().read_bytes()

        # Bob, cut off mid-reading, still had every event of the ceremony exactly once, in order.
        assert bob.received == list(range(1, room.last_seq + 1))
        for seat in everyone:
            assert seat.errors == [], (seat.name, seat.errors)
            expect(seat.at("#room-error")).to_be_hidden()
            seat.context.close()

    # --- what was published ------------------------------------------------------------------------
    assert pdf.startswith(b"%PDF")
    record_verify(record, receipt_key().public_pem)
    assert record["lot"]["id"] == lot.pk
    assert [
        (bid["organisation_name"], bid["outcome"], bid["key"], bid["price"], bid["invalid"])
        for bid in record["bids"]
    ] == [
        (names["bob"], "decrypted", "bidder", "10850000.00", False),
        (names["carol"], "decrypted", "bidder", "11900000.00", True),
        (names["dave"], "decrypted", "opening", "11200000.00", False),
    ]
    assert record["bids"][2]["cause"] == "custodians"
    for bid in record["bids"]:
        assert bid["confirmation"]["silent"] is False and bid["confirmation"]["signature"]
    [objection] = record["objections"]
    assert objection["organisation_name"] == names["carol"]
    assert objection["answered_by"] == people["alice"].display_name
    assert {p["user_name"] for p in record["participants"]} == {
        people[name].display_name for name in ("alice", "bob", "carol", "dave", "sam")
    }
    assert record["reading_digest"] == digest
    lot.refresh_from_db()
    assert lot.status == LotStatus.OPENED
    assert room.stage == RoomStage.CLOSED
    assert set(RoomBid.objects.filter(room=room).values_list("outcome", flat=True)) == {
        BidOutcome.DECRYPTED
    }
    assert RoomEvent.objects.filter(room=room).count() == room.last_seq


def bidder_backup(made: Ceremony, name: str) -> bytes:
    """The key backup file of a bidder's organisation (the key set it sealed its bid with)."""
    keys = made.keys[name]
    return backup_file(
        made.people[name].organisation, keys.encryption_private, keys.signing_private
    )


def backup_upload(made: Ceremony, name: str) -> dict[str, Any]:
    """The backup file as a file input receives it from the user's disk."""
    return {
        "name": f"{name}-keys.json",
        "mimeType": "application/json",
        "buffer": bidder_backup(made, name),
    }
