"""The supervisors' replays: an opening, a draw and a tender's life, rebuilt from the audit chain alone.

A whole ceremony is run through the services on a frozen clock (bob, carol
and dave bid; alice hosts; sam supervises, pauses and resumes; carol objects
and alice answers; everyone confirms; alice closes), and the replay rebuilt
from its audit records must equal what the room stored and sent. Then the
chain is damaged — a record deleted, a record altered — and the replay must
say where. Sealed records (EB 21/27) stay out of the replay exactly as they
stay out of the audit browser, and experts stay unnamed until the result is
published (ER 8).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from audit.context import AuditContext, bind
from audit.models import AuditEvent
from audit.replay import draw_replay, initial_seats, opening_replay, phase_of, tender_replay
from audit.services import record
from core.errors import NotFound, NotPermitted
from experts import services as experts
from experts.models import DrawRequest, Expert, SelectionStatus
from opening import room_services
from opening.models import Room, RoomEvent
from tendering import services as tendering
from tests.bidding.support import bidding_settings  # noqa: F401 - fixture, used by name
from tests.experts.draw_support import (
    T0,
    approved_request,
    award,
    close_bidding,
    make_experts,
    patch_notifications,
    specialty,
)
from tests.opening.room_support import Ceremony, ceremony  # noqa: F401 - fixture, used by name

pytestmark = pytest.mark.django_db

BOBS_ADDRESS = "198.51.100.23"
BOBS_CLIENT = "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 bob-at-the-office"
URL_NAMES = (
    "replay_opening",
    "replay_opening_json",
    "replay_draw",
    "replay_draw_json",
)


def run_ceremony(made: Ceremony) -> Room:
    """A whole opening through the services, a few seconds or minutes between steps, on a frozen clock."""
    lot, people = made.lot, made.people
    alice, sam = people["alice"], people["sam"]
    # The room is made, with its `scheduled` event, by whoever first looks at it: here weeks ahead.
    made.at(lot.opening_time - dt.timedelta(days=20))
    room_services.room_ensure(lot=lot)
    made.at(lot.opening_time - dt.timedelta(minutes=10))
    room_services.room_sign_in(actor=alice, lot=lot)
    made.after(minutes=1)
    room_services.room_sign_in(actor=sam, lot=lot)
    made.after(minutes=1)
    room_services.room_sign_in(actor=people["bob"], lot=lot)  # before the deadline: sealed (EB 21)
    made.open()
    made.after(seconds=40)
    with bind(AuditContext(ip=BOBS_ADDRESS, user_agent=BOBS_CLIENT)):
        made.decrypt("bob")
    made.after(seconds=30)
    room_services.room_pause(actor=sam, lot=lot, reason="网络故障，暂停开标")
    made.after(minutes=2)
    room_services.room_unpause(actor=sam, lot=lot, reason="网络已恢复")
    made.after(seconds=30)
    made.decrypt("carol")
    made.after(seconds=30)
    made.decrypt("dave")  # the last decryption starts the reading
    for _bid in range(3):
        made.after(seconds=20)
        room_services.room_read_next(actor=alice, lot=lot)
    made.after(seconds=30)
    objection = room_services.room_object(actor=people["carol"], lot=lot, text="我方报价唱错")
    made.after(seconds=30)
    room_services.room_answer(
        actor=alice, lot=lot, objection_id=objection.pk, text="经核对唱标无误"
    )
    for name in ("bob", "carol", "dave"):
        made.after(seconds=10)
        room_services.room_confirm(
            actor=people[name], lot=lot, signature=made.sign_confirmation(name)
        )
    made.after(seconds=30)
    return room_services.room_close(actor=alice, lot=lot)


def stored_events(room: Room) -> list[dict]:
    return [
        json.loads(text)
        for text in RoomEvent.objects.filter(room=room)
        .order_by("seq")
        .values_list("text", flat=True)
    ]


def room_record(room: Room, kind: str) -> AuditEvent:
    return (
        AuditEvent.objects.filter(action=f"opening.room.{kind}", object_id=str(room.pk))
        .order_by("seq")
        .first()
    )


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def closed(ceremony) -> Room:  # noqa: F811 - ceremony is a fixture
    return run_ceremony(ceremony)


# --- who may replay -------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, lot):
    urls = [reverse(f"audit:{name}", args=[lot.pk]) for name in URL_NAMES]
    urls += [
        reverse("audit:replay_index"),
        reverse("audit:replay_tender", args=[lot.tender_id]),
        reverse("audit:replay_tender_json", args=[lot.tender_id]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("person", ["alice", "agnes", "terry", "bob", "fay", "eve"])
def test_agents_bidders_and_outsiders_are_refused_every_replay(people, lot, person):
    client = as_user(people[person])
    urls = [reverse(f"audit:{name}", args=[lot.pk]) for name in URL_NAMES]
    urls += [
        reverse("audit:replay_index"),
        reverse("audit:replay_tender", args=[lot.tender_id]),
        reverse("audit:replay_tender_json", args=[lot.tender_id]),
        # A lot that does not exist is refused the same way: a refusal says nothing about lots.
        reverse("audit:replay_opening", args=[lot.pk + 1000]),
    ]
    for url in urls:
        assert client.get(url).status_code == 403, url
    with pytest.raises(NotPermitted):
        opening_replay(user=people[person], lot_id=lot.pk)


@pytest.mark.parametrize("person", ["sam", "pat"])
def test_supervisors_and_platform_admins_replay_an_opening_and_a_tender(people, lot, person):
    client = as_user(people[person])
    # A lot's room is made by its first visitor or at the opening time: none yet, nothing to replay.
    assert client.get(reverse("audit:replay_opening", args=[lot.pk])).status_code == 404
    room_services.room_ensure(lot=lot)
    assert client.get(reverse("audit:replay_index")).status_code == 200
    assert client.get(reverse("audit:replay_opening", args=[lot.pk])).status_code == 200
    assert client.get(reverse("audit:replay_opening_json", args=[lot.pk])).status_code == 200
    assert client.get(reverse("audit:replay_tender", args=[lot.tender_id])).status_code == 200
    assert client.get(reverse("audit:replay_tender_json", args=[lot.tender_id])).status_code == 200
    # No draw on record, no lot: a 404, as for anything else that does not exist.
    assert client.get(reverse("audit:replay_draw", args=[lot.pk])).status_code == 404
    assert client.get(reverse("audit:replay_opening", args=[lot.pk + 1000])).status_code == 404


def test_only_get_is_answered(people, lot):
    client = as_user(people["sam"])
    assert client.post(reverse("audit:replay_opening", args=[lot.pk])).status_code == 405
    assert client.post(reverse("audit:replay_opening_json", args=[lot.pk])).status_code == 405


# --- the opening, rebuilt ---------------------------------------------------------------------


def test_a_room_rebuilt_from_the_audit_chain_equals_the_rooms_stored_events(closed, people):
    replay = opening_replay(user=people["sam"], lot_id=closed.lot_id)

    assert replay.findings == []
    assert replay.room_events == stored_events(closed)
    assert [event["seq"] for event in replay.room_events] == list(range(1, closed.last_seq + 1))
    kinds = [event["kind"] for event in replay.room_events]
    assert kinds[0] == "scheduled" and kinds[-1] == "closed"
    for kind in (
        "opened",
        "decrypted",
        "paused",
        "unpaused",
        "reading_started",
        "read",
        "objection",
        "answered",
        "confirmed",
    ):
        assert kind in kinds


def test_the_timeline_runs_from_the_opening_of_sign_in_to_the_close(closed, people):
    replay = opening_replay(user=people["sam"], lot_id=closed.lot_id)
    lot = closed.lot
    # The `scheduled` event's sign-in time, as the room sent it (to the millisecond).
    opens = lot.opening_time - dt.timedelta(minutes=30)
    assert dt.timedelta(0) <= opens - replay.start < dt.timedelta(milliseconds=1)
    assert replay.end == closed.closed_at
    # The room was scheduled at publication, weeks earlier: played at the start, not stretched over weeks.
    assert replay.events[0].room_event["kind"] == "scheduled"
    assert replay.events[0].at < replay.start


def test_every_event_says_who_from_where_and_when(closed, people):
    replay = opening_replay(user=people["sam"], lot_id=closed.lot_id)
    bobs = [event for event in replay.events if event.ip == BOBS_ADDRESS]
    actions = {event.action for event in bobs}
    # The room's event and the chain's own record of the decryption, both from bob's machine.
    assert {"opening.room.decrypted", "bidding.bid.decrypted"} <= actions
    decrypted = next(event for event in bobs if event.action == "opening.room.decrypted")
    assert decrypted.actor_name == "bob"
    assert decrypted.organisation_name == people["bob"].organisation.name
    assert decrypted.user_agent == BOBS_CLIENT
    assert decrypted.at == AuditEvent.objects.get(seq=decrypted.seq).created_at

    page = as_user(people["sam"]).get(reverse("audit:replay_opening", args=[closed.lot_id]))
    body = page.content.decode()
    assert BOBS_ADDRESS in body and "bob-at-the-office" in body
    assert "投标文件解密成功" in body and people["bob"].organisation.name in body
    assert "均由审计链重建，与开标室保存的事件逐一相符" in body


def test_the_sealed_sign_in_is_in_the_replay_once_bidding_has_closed(closed, people):
    replay = opening_replay(user=people["sam"], lot_id=closed.lot_id)
    sealed = [event for event in replay.events if event.action == "opening.room.signed_in_sealed"]
    assert len(sealed) == 1 and sealed[0].actor_name == "bob"
    assert sealed[0].room_event is None  # recorded, not announced: the `opened` event carries it


def test_the_json_gives_the_player_the_rebuilt_events_and_the_room_texts(closed, people):
    response = as_user(people["sam"]).get(
        reverse("audit:replay_opening_json", args=[closed.lot_id])
    )
    body = response.json()
    assert body["kind"] == "opening" and body["mode"] == "time"
    played = [event["room"] for event in body["events"] if event["room"]]
    assert played == stored_events(closed)
    assert body["findings"] == []
    assert body["stages"]["reading"] == "唱标中"
    assert body["texts"]["countdown.decrypting"] == "距解密截止"
    first = body["events"][0]
    assert {"seq", "at", "actor", "organisation", "ip", "client", "url", "label"} <= set(first)
    assert response["Cache-Control"].startswith("max-age=0")


# --- a damaged chain --------------------------------------------------------------------------


def test_a_deleted_room_record_is_a_finding_and_the_replay_plays_the_rest(closed, people):
    read = room_record(closed, "read")
    room_seq = read.data["seq"]
    AuditEvent.objects.filter(seq=read.seq).delete()

    replay = opening_replay(user=people["sam"], lot_id=closed.lot_id)

    assert [(f.code, f.room_seq, f.audit_seq) for f in replay.findings] == [
        ("missing_stored", room_seq, read.seq)
    ]
    assert [event["seq"] for event in replay.room_events] == [
        s for s in range(1, closed.last_seq + 1) if s != room_seq
    ]
    page = as_user(people["sam"]).get(reverse("audit:replay_opening", args=[closed.lot_id]))
    body = page.content.decode()
    assert (
        f"开标室第 {room_seq} 号事件在审计链中缺失（开标室保存的该事件指向审计记录 #{read.seq}）"
        in body
    )
    assert body.index('id="replay-findings"') < body.index('id="replay-player"')


def test_an_altered_room_record_is_a_finding_and_the_replay_plays_what_the_chain_says(
    closed, people
):
    read = room_record(closed, "read")
    data = read.data
    data["price"] = "9990000.00"
    AuditEvent.objects.filter(seq=read.seq).update(
        payload=json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )

    replay = opening_replay(user=people["sam"], lot_id=closed.lot_id)

    findings = {(f.code, f.audit_seq): f for f in replay.findings}
    assert set(findings) == {("hash", read.seq), ("differs", read.seq)}
    assert findings["differs", read.seq].differences == ("data",)
    assert "事件内容" in findings["differs", read.seq].message
    rebuilt = next(event for event in replay.room_events if event["seq"] == data["seq"])
    assert rebuilt["data"]["price"] == "9990000.00"


def test_a_record_the_room_never_made_is_a_finding(closed, people):
    with transaction.atomic():
        forged = record(
            "opening.room.chat",
            actor=people["bob"],
            obj=closed,
            data={
                "seq": closed.last_seq + 1,
                "user_name": "Bob",
                "organisation_name": "",
                "role": "bidder",
                "text": "补记",
            },
        )
    replay = opening_replay(user=people["sam"], lot_id=closed.lot_id)
    codes = {(f.code, f.room_seq, f.audit_seq) for f in replay.findings}
    assert ("extra", closed.last_seq + 1, forged.seq) in codes
    assert any(f.code == "last_seq" for f in replay.findings)


def test_a_stored_event_a_moment_before_its_record_agrees_and_one_far_off_does_not(closed, people):
    """Rooms before one time was used for both stamped an event a moment before its record."""
    first, second = RoomEvent.objects.filter(room=closed).order_by("seq")[2:4]
    for event, lag in ((first, dt.timedelta(milliseconds=500)), (second, dt.timedelta(minutes=5))):
        message = json.loads(event.text)
        at = dt.datetime.fromisoformat(message["at"]) - lag
        message["at"] = at.isoformat(timespec="milliseconds")
        RoomEvent.objects.filter(pk=event.pk).update(text=json.dumps(message, ensure_ascii=False))

    replay = opening_replay(user=people["sam"], lot_id=closed.lot_id)

    assert [(f.code, f.room_seq, f.differences) for f in replay.findings] == [
        ("differs", second.seq, ("at",))
    ]


# --- sealed records, as the audit browser hides them ---------------------------------------------


def test_a_sealed_sign_in_is_neither_played_nor_listed_before_the_deadline(ceremony, people):  # noqa: F811
    lot = ceremony.lot
    ceremony.at(lot.bid_deadline - dt.timedelta(minutes=5))
    room_services.room_sign_in(actor=people["alice"], lot=lot)
    room_services.room_sign_in(actor=people["bob"], lot=lot)
    assert AuditEvent.objects.filter(action="opening.room.signed_in_sealed").count() == 1

    for person in ("sam", "pat"):  # EB 27: hidden from platform administrators too
        replay = opening_replay(user=people[person], lot_id=lot.pk)
        actions = [event.action for event in replay.events]
        assert "opening.room.signed_in_sealed" not in actions
        assert "opening.room.signed_in" in actions
        assert replay.findings == []
        body = (
            as_user(people[person])
            .get(reverse("audit:replay_opening", args=[lot.pk]))
            .content.decode()
        )
        assert "投标人签到（截止后公布）" not in body
        tender = tender_replay(user=people[person], tender_id=lot.tender_id)
        assert not [
            e
            for e in tender.events
            if e.action.startswith(("bidding.bid.", "opening.room.signed_in_sealed"))
        ]

    ceremony.at(lot.bid_deadline + dt.timedelta(minutes=1))
    replay = opening_replay(user=people["sam"], lot_id=lot.pk)
    assert "opening.room.signed_in_sealed" in [event.action for event in replay.events]
    tender = tender_replay(user=people["sam"], tender_id=lot.tender_id)
    assert len([e for e in tender.events if e.action == "bidding.bid.submitted"]) == 3


# --- the tender's whole life --------------------------------------------------------------------


def test_a_tenders_life_is_every_record_in_order_grouped_by_phase(closed, people):
    replay = tender_replay(user=people["sam"], tender_id=closed.lot.tender_id)
    seqs = [event.seq for event in replay.events]
    assert seqs == sorted(seqs)
    assert len(seqs) == AuditEvent.objects.filter(tender_id=closed.lot.tender_id).count()
    keys = [phase.key for phase in replay.phases]
    assert keys == ["draft", "published", "obtained", "bids", "deadline", "opening", "record"]
    record_phase = next(phase for phase in replay.phases if phase.key == "record")
    assert {event.action for event in record_phase.events} == {
        "opening.room.record",
        "opening.room.closed",
        "tendering.lot.opened",
    }
    body = (
        as_user(people["sam"])
        .get(reverse("audit:replay_tender", args=[closed.lot.tender_id]))
        .content.decode()
    )
    assert body.index("编制公告") < body.index("获取招标文件") < body.index("开标记录")
    payload = (
        as_user(people["sam"])
        .get(reverse("audit:replay_tender_json", args=[closed.lot.tender_id]))
        .json()
    )
    assert payload["mode"] == "events"
    assert payload["lotStatuses"]["opened"] == "已开标"
    assert any(event["data"].get("to") == "opened" for event in payload["events"])


@pytest.mark.parametrize(
    ("action", "data", "phase"),
    [
        ("tendering.document.uploaded", {"amendment": None}, "draft"),
        ("tendering.document.uploaded", {"amendment": 1}, "clarifications"),
        ("tendering.lot.failed", {"from": "opening"}, "opening"),
        ("tendering.lot.failed", {"from": "evaluating"}, "ended"),
        ("bidding.upload.started", {}, "bids"),
        ("bidding.upload.discarded", {}, "deadline"),
        ("experts.selection.replaced", {}, "draw"),
        ("tendering.lot.awarded", {}, "award"),
        ("accounts.key.registered", {}, "other"),
    ],
)
def test_each_record_has_its_phase(action, data, phase):
    assert phase_of(action, data) == phase


# --- the draw ---------------------------------------------------------------------------------


@pytest.fixture
def draw_clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def drawn(draw_clock, make_draft, people, monkeypatch) -> DrawRequest:
    """A lot past its deadline, a panel of 5 + 1 reserve drawn; eve (an expert with an account) among the picks."""
    patch_notifications(monkeypatch)
    tender = tendering.tender_publish(actor=people["alice"], tender=make_draft())
    lot = tender.lots.get()
    close_bidding(draw_clock)
    building = specialty("A0101")
    make_experts(8, [building])
    request = approved_request(people, lot, [(building, 5, 1)], tenderer_representatives=0)
    request = experts.draw_run(actor=people["sam"], request=request, supervisor_number="271828")
    first = request.selections.get(position=1)
    Expert.objects.filter(pk=first.expert_id).update(user=people["eve"])
    return request


def answer_all(request: DrawRequest, people) -> None:
    """Eve (position 1) confirms signed in; position 2 declines by link (the reserve takes over); the rest confirm."""
    experts.selection_confirm(
        selection=request.selections.get(position=1), actor=people["eve"], channel="web"
    )
    experts.selection_decline(selection=request.selections.get(position=2), channel="link")
    for selection in request.selections.filter(status=SelectionStatus.NOTIFIED):
        experts.selection_confirm(selection=selection, channel="sms")


def test_a_draw_is_replayed_from_request_to_panel_without_naming_anyone(drawn, people):
    answer_all(drawn, people)
    drawn.refresh_from_db()
    assert drawn.status == "complete"

    replay = draw_replay(user=people["sam"], lot_id=drawn.lot_id)

    assert replay.findings == []
    actions = [event.action for event in replay.events]
    assert actions[:4] == [
        "experts.draw_request.created",
        "experts.draw_request.approved",
        "experts.draw.committed",
        "experts.draw.run",
    ]
    assert "experts.selection.replaced" in actions and actions[-1] == "experts.draw.complete"
    run = replay.events[3]
    assert run.derived["seats"] == [
        {"position": position, "specialty": "A0101", "notified": position <= 5}
        for position in range(1, 7)
    ]
    evess = [
        event
        for event in replay.events
        if event.action == "experts.selection.confirmed" and event.masked
    ]
    assert len(evess) == 1 and evess[0].actor_name == "" and evess[0].organisation_name == ""
    assert replay.tracks[0].panel == []

    names = [selection.expert.name for selection in drawn.selections.select_related("expert")]
    for url in (
        reverse("audit:replay_draw", args=[drawn.lot_id]),
        reverse("audit:replay_draw_json", args=[drawn.lot_id]),
        reverse("audit:replay_tender", args=[drawn.lot.tender_id]),
        reverse("audit:replay_tender_json", args=[drawn.lot.tender_id]),
    ):
        body = as_user(people["sam"]).get(url).content.decode()
        assert "评标专家（结果公布前保密）" in body, url
        assert ">eve<" not in body and '"actor": "eve"' not in body, url
        for name in names:
            assert name not in body, url


def test_once_the_result_is_published_the_panel_is_named_and_the_draw_checks_out(
    drawn, people, orgs
):
    answer_all(drawn, people)
    award(people, orgs, drawn.lot)
    experts.draw_reveal(actor=people["sam"], request=drawn)

    replay = draw_replay(user=people["sam"], lot_id=drawn.lot_id)

    assert replay.findings == []
    panel = replay.tracks[0].panel
    confirmed = drawn.selections.filter(status=SelectionStatus.CONFIRMED).select_related("expert")
    assert [(m.position, m.name) for m in panel] == [
        (s.position, s.expert.name) for s in confirmed.order_by("position")
    ]
    eve_confirmed = next(
        e
        for e in replay.events
        if e.action == "experts.selection.confirmed" and e.actor_name == "eve"
    )
    assert not eve_confirmed.masked
    revealed = next(e for e in replay.events if e.action == "experts.draw.revealed")
    assert revealed.data["seed"] == DrawRequest.objects.get(pk=drawn.pk).seed


def test_a_published_seed_that_does_not_follow_from_the_inputs_is_a_finding(drawn, people, orgs):
    answer_all(drawn, people)
    award(people, orgs, drawn.lot)
    experts.draw_reveal(actor=people["sam"], request=drawn)
    revealed = AuditEvent.objects.get(action="experts.draw.revealed")
    data = revealed.data
    data["seed"] = "00" * 32
    AuditEvent.objects.filter(seq=revealed.seq).update(
        payload=json.dumps(data, sort_keys=True, separators=(",", ":"))
    )

    replay = draw_replay(user=people["sam"], lot_id=drawn.lot_id)

    assert {(f.code, f.audit_seq) for f in replay.findings} == {
        ("hash", revealed.seq),
        ("draw_seed", revealed.seq),
    }


def test_a_run_without_a_prior_commitment_is_a_finding(drawn, people):
    committed = AuditEvent.objects.get(action="experts.draw.committed")
    AuditEvent.objects.filter(seq=committed.seq).delete()
    replay = draw_replay(user=people["sam"], lot_id=drawn.lot_id)
    run = AuditEvent.objects.get(action="experts.draw.run")
    assert [(f.code, f.audit_seq) for f in replay.findings] == [("draw_no_commitment", run.seq)]
    body = (
        as_user(people["sam"])
        .get(reverse("audit:replay_draw", args=[drawn.lot_id]))
        .content.decode()
    )
    assert "之前没有随机秘密承诺记录" in body


def test_a_lot_without_a_draw_has_no_draw_replay(people, lot):
    with pytest.raises(NotFound):
        draw_replay(user=people["sam"], lot_id=lot.pk)


@pytest.mark.parametrize(
    ("sizes", "members", "reserves", "expected"),
    [
        (
            {"A": 5, "B": 5},
            3,
            2,
            [("A", True), ("A", True), ("A", False), ("B", True), ("B", False)],
        ),
        # B's pool gives one pick only: A's three, then B's one, still exact.
        ({"A": 5, "B": 1}, 3, 1, [("A", True), ("A", True), ("A", False), ("B", True)]),
        # An expert of both specialties taken for A: B gives fewer than its pool says, so seats are unknown.
        ({"A": 5, "B": 2}, 3, 1, []),
    ],
)
def test_the_first_seats_follow_from_the_records_when_they_determine_them(
    sizes, members, reserves, expected
):
    created = {
        "items": [
            {"specialty": "A", "members": 2, "reserves": 1},
            {"specialty": "B", "members": 1, "reserves": 1},
        ]
    }
    run = {"pool_sizes": sizes, "members": members, "reserves": reserves, "status": "notifying"}
    seats = initial_seats(created, run)
    assert [(seat["specialty"], seat["notified"]) for seat in seats] == expected
    assert [seat["position"] for seat in seats] == list(range(1, len(expected) + 1))


# --- picking an opening ------------------------------------------------------------------------


def test_the_index_lists_rooms_with_links_to_their_replays(closed, people):
    page = as_user(people["sam"]).get(reverse("audit:replay_index"), {"q": closed.lot.tender.code})
    body = page.content.decode()
    assert reverse("audit:replay_opening", args=[closed.lot_id]) in body
    assert reverse("audit:replay_tender", args=[closed.lot.tender_id]) in body
    assert reverse("audit:replay_draw", args=[closed.lot_id]) not in body  # no draw for this lot
    assert (
        "没有符合条件的开标室"
        in as_user(people["sam"])
        .get(reverse("audit:replay_index"), {"q": "SB-无此项目"})
        .content.decode()
    )


def test_prices_are_decimal_strings_in_the_replay(closed, people):
    replay = opening_replay(user=people["sam"], lot_id=closed.lot_id)
    reads = [event["data"] for event in replay.room_events if event["kind"] == "read"]
    assert [Decimal(read["price"]) for read in reads] == [
        Decimal("10850000.00"),
        Decimal("11900000.00"),
        Decimal("11200000.00"),
    ]
    assert [read["invalid"] for read in reads] == [False, True, False]


# --- the audit browser keeps the panel as confidential as the replay (ER 8) -------------------


def test_the_audit_browser_does_not_name_an_expert_before_the_draw_is_revealed(drawn, people):
    answer_all(drawn, people)
    confirmed = AuditEvent.objects.get(action="experts.selection.confirmed", actor_name="eve")
    supervisor = as_user(people["sam"])

    listing = supervisor.get(reverse("audit:events")).content.decode()
    detail = supervisor.get(reverse("audit:event", args=[confirmed.seq])).content.decode()

    for body in (listing, detail):
        assert "评标专家（结果公布前保密）" in body
        assert ">eve<" not in body and f"(ID {people['eve'].pk})" not in body
    searched = supervisor.get(reverse("audit:events"), {"actor": "eve"}).content.decode()
    assert f'href="{reverse("audit:event", args=[confirmed.seq])}"' not in searched


def test_the_audit_browser_names_the_expert_once_the_draw_is_revealed(drawn, people, orgs):
    answer_all(drawn, people)
    award(people, orgs, drawn.lot)
    experts.draw_reveal(actor=people["sam"], request=drawn)
    confirmed = AuditEvent.objects.get(action="experts.selection.confirmed", actor_name="eve")
    supervisor = as_user(people["sam"])

    detail = supervisor.get(reverse("audit:event", args=[confirmed.seq])).content.decode()
    searched = supervisor.get(reverse("audit:events"), {"actor": "eve"}).content.decode()

    assert "eve" in detail and "评标专家（结果公布前保密）" not in detail
    assert f'href="{reverse("audit:event", args=[confirmed.seq])}"' in searched
