"""The opening replay in Chromium: a finished ceremony played from its audit records.

The ceremony of tests/audit/test_replay.py (three sealed bids, a pause, an
objection, every confirmation, the close) is run through the services on a
frozen clock; then the clock is let go some minutes after the close and sam,
a supervisor, opens the replay. On the page: the room as it was at the start
(sign-in open), a jump by a click on the `opened` record (decryption), play
at 10× through the reading (the stage and the prices read change under the
player), a click on the bar back to the start (nothing read), a click on the
last record (closed, the record's links). Screenshots go to
/tmp/sb/replay-*.png.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from pathlib import Path

import pytest
import time_machine
from django.apps import apps
from django.urls import reverse

from audit.replay import draw_replay, opening_replay, tender_replay
from experts import services as experts
from experts.models import SelectionStatus
from tests.audit.test_replay import draw_clock, drawn, run_ceremony  # noqa: F401 - fixtures, used by name
from tests.bidding.support import bidding_settings  # noqa: F401 - fixture, used by name
from tests.browser.conftest import sign_in
from tests.opening.room_support import ceremony  # noqa: F401 - fixture, used by name

expect = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
).expect
pytestmark = [pytest.mark.browser]

SHOTS = Path("/tmp/sb")
WAIT_MS = 20_000


def test_a_supervisor_plays_and_jumps_through_a_finished_opening(
    page,
    context,
    live_server,
    ceremony,  # noqa: F811 - a fixture
    people,
):
    room = run_ceremony(ceremony)
    ceremony.stop()
    replay = opening_replay(user=people["sam"], lot_id=room.lot_id, now=room.closed_at)
    assert replay.findings == []
    kinds = [event.room_event["kind"] if event.room_event else None for event in replay.events]
    opened_index = kinds.index("opened")
    reading_index = kinds.index("reading_started")
    names = {name: people[name].organisation.name for name in ("bob", "carol", "dave")}
    expect.set_options(timeout=WAIT_MS)
    SHOTS.mkdir(parents=True, exist_ok=True)

    # The server's clock some minutes after the close (bidding has closed: nothing is sealed).
    with time_machine.travel(room.closed_at + dt.timedelta(minutes=5), tick=True):
        sign_in(context, people["sam"], live_server.url)
        page.goto(live_server.url + reverse("audit:replay_opening", args=[room.lot_id]))
        expect(page.locator("#replay-player")).to_have_attribute("data-ready", "1")
        expect(page.locator("#replay-intact")).to_contain_text("均由审计链重建")

        # The start: sign-in open, the countdown to the opening running from the records' times.
        expect(page.locator("#room-stage")).to_have_text("签到中")
        expect(page.locator("#room-countdown-label")).to_have_text("距开标时间")
        expect(page.locator("#room-countdown")).to_have_text("00:30:00")
        expect(page.locator("#reading-body tr")).to_have_count(0)

        # A click on the `opened` record: the bidders are announced, decryption runs.
        page.locator(f'tr.replay-row[data-index="{opened_index}"] td').nth(1).click()
        expect(page.locator("#room-stage")).to_have_text("解密中")
        expect(page.locator("#bidders-body tr")).to_have_count(3)
        expect(page.locator("#bidders-body tr", has_text=names["bob"])).to_contain_text("已签到")
        expect(page.locator("#bidders-body tr", has_text=names["carol"])).to_contain_text("未签到")
        expect(page.locator("#room-countdown-label")).to_have_text("距解密截止")
        expect(page.locator("tr.replay-current")).to_have_attribute("data-index", str(opened_index))

        # Just before the reading, then play at 10×: the prices are read out one by one under the player.
        page.locator(f'tr.replay-row[data-index="{reading_index - 1}"] td').nth(1).click()
        expect(page.locator("#room-stage")).to_have_text("解密中")
        page.select_option("#replay-speed", "time:10")
        page.locator("#replay-play").click()
        expect(page.locator("#replay-play")).to_have_text("暂停")
        expect(page.locator("#room-stage")).to_have_text("唱标中")
        expect(page.locator("#reading-body tr").first).to_contain_text("10,850,000.00")
        expect(page.locator("#reading-body tr")).to_have_count(3)
        expect(page.locator("#reading-body tr", has_text=names["carol"])).to_contain_text(
            "报价无效"
        )
        expect(page.locator("#room-stage")).to_have_text("确认中")
        page.locator("#replay-play").click()
        expect(page.locator("#replay-play")).to_have_text("播放")
        page.screenshot(path=str(SHOTS / "replay-reading.png"), full_page=True)

        # A click near the start of the bar: back to before anything was read.
        bar = page.locator("#replay-bar")
        box = bar.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)
        expect(page.locator("#room-stage")).to_have_text("签到中")
        expect(page.locator("#reading-body tr")).to_have_count(0)
        expect(page.locator("#bidders-empty")).to_be_visible()

        # The last record: closed, the record published, everyone confirmed.
        last = len(replay.events) - 1
        page.locator(f'tr.replay-row[data-index="{last}"] td').nth(1).click()
        expect(page.locator("#room-stage")).to_have_text("已结束")
        expect(page.locator("#record-box")).to_be_visible()
        expect(page.locator("#reading-body tr", has_text=names["dave"])).to_contain_text("已确认")
        expect(page.locator("#objections-list")).to_contain_text("经核对唱标无误")
        expect(page.locator("#pauses-list")).to_contain_text("网络故障，暂停开标")
        page.screenshot(path=str(SHOTS / "replay-closed.png"), full_page=True)

    assert page.page_errors == []  # type: ignore[attr-defined]


@pytest.fixture
def specialties(transactional_db) -> None:
    """The specialty code list (a transactional test flushed the one the migration loaded)."""
    importlib.import_module("experts.migrations.0002_specialties").load(apps, None)


def test_a_supervisor_steps_through_a_draw_and_a_tenders_life_without_seeing_a_name(
    page,
    context,
    live_server,
    specialties,
    draw_clock,  # noqa: F811 - a fixture
    drawn,  # noqa: F811 - a fixture
    people,
):
    draw_clock.shift(dt.timedelta(minutes=3))
    experts.selection_confirm(
        selection=drawn.selections.get(position=1), actor=people["eve"], channel="web"
    )
    draw_clock.shift(dt.timedelta(minutes=4))
    experts.selection_decline(selection=drawn.selections.get(position=2), channel="link")
    for selection in drawn.selections.filter(status=SelectionStatus.NOTIFIED).order_by("position"):
        draw_clock.shift(dt.timedelta(minutes=2))
        experts.selection_confirm(selection=selection, channel="sms")
    names = [selection.expert.name for selection in drawn.selections.select_related("expert")]
    replay = draw_replay(user=people["sam"], lot_id=drawn.lot_id)
    actions = [event.action for event in replay.events]
    expect.set_options(timeout=WAIT_MS)

    sign_in(context, people["sam"], live_server.url)
    page.goto(live_server.url + reverse("audit:replay_draw", args=[drawn.lot_id]))
    expect(page.locator("#replay-player")).to_have_attribute("data-ready", "1")
    card = page.locator(f'.replay-draw[data-request="{drawn.pk}"]')
    # The first record (request, approval and run share one frozen instant): requested, waiting for a supervisor.
    page.locator('tr.replay-row[data-index="0"] td').nth(1).click()
    expect(card.locator(".draw-status")).to_have_text("待监督审核")

    # The run: six seats, the first five notified with their deadline, the sixth a reserve.
    page.locator(f'tr.replay-row[data-index="{actions.index("experts.draw.run")}"] td').nth(
        1
    ).click()
    expect(card.locator(".draw-status")).to_have_text("已抽取，通知确认中")
    expect(card.locator("tbody tr[data-position]")).to_have_count(6)
    expect(card.locator('tr[data-position="6"]')).to_contain_text("候补")
    expect(card.locator('tr[data-position="1"]')).to_contain_text("已通知，待答复")
    expect(card).to_contain_text("271828")

    # Step by step to the end: the decline, the reserve called up, every confirmation, the panel complete.
    for _step in range(len(actions) - actions.index("experts.draw.run") - 1):
        page.locator("#replay-next").click()
    expect(card.locator(".draw-status")).to_have_text("评标委员会已组建")
    expect(card.locator('tr[data-position="2"]')).to_contain_text("已拒绝")
    expect(card.locator('tr[data-position="6"]')).to_contain_text("递补第 2 位")
    expect(card.locator('tr[data-position="6"]')).to_contain_text("已确认参加")
    expect(page.locator("#replay-rows")).to_contain_text("评标专家（结果公布前保密）")
    body = page.content()
    for name in names:
        assert name not in body
    page.screenshot(path=str(SHOTS / "replay-draw.png"), full_page=True)

    # The tender's life, event by event: the lot's state follows its transitions.
    page.goto(live_server.url + reverse("audit:replay_tender", args=[drawn.lot.tender_id]))
    expect(page.locator("#replay-player")).to_have_attribute("data-ready", "1")
    lot_status = page.locator(f'#tender-lots tr[data-lot="{drawn.lot_id}"] .replay-lot-status')
    expect(lot_status).to_have_text("—")
    expect(page.locator("#replay-position")).to_have_text(
        f"第 0 / {len(tender_replay(user=people['sam'], tender_id=drawn.lot.tender_id).events)} 个事件"
    )
    page.locator("#replay-next").click()
    expect(lot_status).to_have_text("—")  # the tender is created first, then its lot
    page.select_option("#replay-speed", "events:2")
    page.locator("#replay-play").click()
    expect(lot_status).to_have_text("草稿")
    expect(lot_status).to_have_text("投标中")
    expect(lot_status).to_have_text("开标中")
    expect(page.locator("#replay-play")).to_have_text("播放")  # stopped at the last record
    expect(page.locator('#tender-phases li[data-phase="draw"]')).to_have_class(
        re.compile("replay-phase-current")
    )
    page.screenshot(path=str(SHOTS / "replay-tender.png"), full_page=True)
    assert page.page_errors == []  # type: ignore[attr-defined]
