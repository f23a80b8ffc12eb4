"""Objections to the publicity (TR 54): only while it is open, answered within three days of receipt."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.credit_code import make as make_code
from accounts.models import OrganisationKind, Role
from accounts.services import organisation_create, user_create
from audit.models import AuditEvent
from award import selectors, services
from award.models import Objection
from core.errors import DomainError, NotFound
from tests.award.conftest import answer, object_, publish
from tests.conftest import PASSWORD
from tests.evaluation.conftest import SHANGHAI

# The clock of these tests: the publicity starts on 2 April at 12:30 and ends on 5 April at 12:30.
RECEIVED = dt.datetime(2026, 4, 3, 10, 0, tzinfo=SHANGHAI)
ANSWER_DUE = dt.datetime(2026, 4, 7, 0, 0, tzinfo=SHANGHAI)  # the end of 6 April


def test_a_bidder_objects_while_the_publicity_is_open_and_the_answer_is_due_in_three_days(
    world, clock
):
    publish(world)
    clock.move_to(RECEIVED)
    objection = object_(world, "dave")
    assert (objection.organisation, objection.received_at, objection.answer_due) == (
        world.orgs["bidder_c"],
        RECEIVED,
        ANSWER_DUE,
    )
    event = AuditEvent.objects.get(action="award.objection.filed")
    assert event.data["organisation"] == "宁波远大建设有限公司"
    assert event.data["text_sha256"] == hashlib.sha256(objection.text.encode()).hexdigest()
    assert event.data["answer_due"].startswith("2026-04-06T16:00:00")  # UTC
    # The agents and the tenderer are told, with the due day.
    note = world.people["alice"].notifications.get(title__startswith="收到异议")
    assert "2026-04-06 24:00" in note.body
    assert world.people["terry"].notifications.filter(title__startswith="收到异议").exists()
    # A bidder that is not a candidate is an interested party too.
    assert object_(world, "frank").organisation == world.orgs["bidder_e"]


def test_no_objection_before_the_window_opens_or_after_it_closes(world, clock):
    publicity = publish(world, starts_at=dt.datetime(2026, 4, 3, 9, 0, tzinfo=SHANGHAI))
    with pytest.raises(DomainError) as early:
        object_(world)
    assert early.value.code == "objection.not_started"
    clock.move_to(publicity.starts_at)
    object_(world)
    clock.move_to(publicity.ends_at - dt.timedelta(seconds=1))
    object_(world, "erin")
    clock.move_to(publicity.ends_at)
    with pytest.raises(DomainError) as late:
        object_(world, "carol")
    assert late.value.code == "objection.window_closed"
    assert "2026-04-06 09:00" in late.value.message and "公示期" in late.value.message
    assert Objection.objects.count() == 2


def test_no_objection_before_the_publicity(world, clock):
    with pytest.raises(DomainError) as none:
        object_(world)
    assert none.value.code == "objection.no_publicity"


def test_only_a_bidder_of_the_lot_may_object(world, clock):
    publish(world)
    outsider = user_create(
        actor=None,
        organisation=organisation_create(
            actor=None,
            name="未投标的建设有限公司",
            code=make_code("91330100MA0000099"),
            kind=OrganisationKind.BIDDER,
        ),
        username="olga",
        password=PASSWORD,
        roles=[Role.BIDDER],
    )
    for user in (
        world.people["agnes"],
        world.people["terry"],
        world.people["sam"],
        world.people["alice"],
        outsider,
    ):
        with pytest.raises(NotFound):
            services.objection_file(actor=user, lot=world.lot, text="异议")
    # A bidder of another lot only: oscar's lot has none of these bidders' bids.
    with pytest.raises(NotFound):
        services.objection_file(actor=world.people["bob"], lot=world.other_lot, text="异议")


def test_an_empty_objection_is_refused(world, clock):
    publish(world)
    with pytest.raises(DomainError) as empty:
        services.objection_file(actor=world.people["bob"], lot=world.lot, text="   ")
    assert (empty.value.code, empty.value.field) == ("field.required", "text")


def test_the_attachment_is_kept_with_its_digest_and_read_only_by_the_objector_and_the_managers(
    world, clock
):
    publish(world)
    content = b"%PDF-1.4 evidence"
    objection = services.objection_file(
        actor=world.people["dave"],
        lot=world.lot,
        text="见附件。",
        attachment=SimpleUploadedFile("证明材料.pdf", content, "application/pdf"),
    )
    assert (objection.attachment_name, objection.attachment_size, objection.attachment_sha256) == (
        "证明材料.pdf",
        len(content),
        hashlib.sha256(content).hexdigest(),
    )
    url = f"/award/objections/{objection.pk}/attachment/"
    for name, status in (
        ("dave", 200),
        ("alice", 200),
        ("terry", 200),
        ("sam", 200),
        ("bob", 404),
        ("agnes", 404),
    ):
        client = Client()
        client.force_login(world.people[name])
        response = client.get(url)
        assert response.status_code == status, name
        if status == 200:
            assert b"".join(response.streaming_content) == content
        assert client.get(f"/award/objections/{objection.pk}/").status_code == status, name


def test_the_answer_is_flagged_overdue_after_three_days_and_the_objector_is_told(world, clock):
    publish(world)
    clock.move_to(RECEIVED)
    objection = object_(world)
    clock.move_to(ANSWER_DUE - dt.timedelta(seconds=1))
    state = selectors.award_state(world.lot)
    assert [o.pk for o in state.unanswered] == [objection.pk] and state.overdue_objections == []
    clock.move_to(ANSWER_DUE)
    state = selectors.award_state(world.lot)
    assert [o.pk for o in state.overdue_objections] == [objection.pk]
    assert [o.pk for o in selectors.agent_queue(user=world.people["alice"]).objections] == [
        objection.pk
    ]
    client = Client()
    client.force_login(world.people["alice"])
    assert "已逾期未答复" in client.get(f"/award/lots/{world.lot.pk}/").content.decode()
    answered = answer(world, objection)
    assert answered.is_overdue() is True  # answered, but late: the record keeps it
    event = AuditEvent.objects.get(action="award.objection.answered")
    assert (event.data["late"], event.data["outcome"]) == (True, "maintained")
    note = world.people["dave"].notifications.get(title__startswith="异议已答复")
    assert note.body == answered.answer
    assert selectors.agent_queue(user=world.people["alice"]).objections == []


def test_an_answer_in_time_is_not_overdue_and_an_objection_is_answered_once(world, clock):
    publish(world)
    objection = object_(world)
    answered = answer(world, objection)
    assert answered.is_overdue() is False
    assert AuditEvent.objects.get(action="award.objection.answered").data["late"] is False
    with pytest.raises(DomainError) as twice:
        answer(world, objection)
    assert twice.value.code == "objection.already_answered"


def test_only_the_lots_agent_answers(world, clock):
    publish(world)
    objection = object_(world)
    for name in ("agnes", "terry", "sam", "dave", "pat"):
        with pytest.raises(NotFound):
            services.objection_answer(
                actor=world.people[name], objection=objection, answer="不成立", outcome="maintained"
            )


def test_an_upheld_objection_may_disqualify_a_publicised_candidate_only(world, clock):
    publish(world)
    objection = object_(world)
    with pytest.raises(DomainError) as unknown:
        answer(world, objection, outcome="upheld", rank=4)
    assert unknown.value.code == "objection.candidate"
    with pytest.raises(DomainError) as maintained:
        answer(world, objection, outcome="maintained", rank=1)
    assert maintained.value.code == "objection.disqualify_maintained"
    answer(world, objection, outcome="upheld", rank=1)
    state = selectors.award_state(world.lot)
    assert state.disqualified_ranks == {1} and state.default_winner_rank == 2
    assert AuditEvent.objects.get(action="award.objection.answered").data["disqualified"] == {
        "rank": 1,
        "organisation_name": "浙江建工集团有限公司",
    }
