"""The complaint pages: who sees what (404 for others), the form, the queue, the actions and the files."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from complaints import services
from complaints.models import CalendarDay, Complaint, ComplaintStatus, Subject
from tests.complaints.conftest import at, client_for, evidence

pytestmark = pytest.mark.django_db

EVERYONE = ("alice", "agnes", "terry", "bob", "carol", "dave", "sam", "fay", "pat", "eve")


def status_of(user, url: str, method: str = "get", data=None) -> int:
    client = client_for(user)
    return (client.post(url, data or {}) if method == "post" else client.get(url)).status_code


def test_the_bidder_files_a_complaint_from_the_form(people, tender, clock):
    bob = people["bob"]
    url = reverse("complaints:new", args=[tender.pk])
    page = client_for(bob).get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "整个项目（全部标段）" in html and "第2标段" in html and "10日内" in html
    lot = tender.lots.get(number=1)
    response = client_for(bob).post(
        url,
        {
            "lot": lot.pk,
            "subject": Subject.EVALUATION,
            "known_on": "2026-03-01",
            "facts": "评标委员会未按招标文件规定的标准评审。",
            "claims": "请求责令重新评标。",
            "objection_raised": "on",
            "objected_on": "2026-03-01",
            "attachments": [evidence("评分表.pdf"), evidence("异议答复.pdf", b"%PDF answer")],
        },
    )
    complaint = Complaint.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "complaints:detail", args=[complaint.pk]
    )
    assert (
        complaint.lot == lot and complaint.attachments.count() == 2 and complaint.objection_raised
    )
    detail = client_for(bob).get(response.url).content.decode()
    assert complaint.number in detail and "评分表.pdf" in detail and "2026-03-05" in detail


def test_a_late_complaint_is_refused_on_the_form_with_a_clear_message(people, tender):
    response = client_for(people["bob"]).post(
        reverse("complaints:new", args=[tender.pk]),
        {
            "subject": Subject.RESULT,
            "known_on": "2026-02-01",
            "facts": "f",
            "claims": "c",
            "attachments": [evidence()],
        },
    )
    assert response.status_code == 200
    assert "投诉期限已于2026-02-11届满" in response.context["form"].errors["known_on"][0]
    assert not Complaint.objects.exists()


def test_the_form_is_for_interested_bidders_only(people, tender):
    url = reverse("complaints:new", args=[tender.pk])
    assert status_of(people["dave"], url) == 404
    for name in ("alice", "terry", "sam", "fay", "eve", "pat"):
        assert status_of(people[name], url) == 403, name
    assert status_of(None, url) == 302
    assert status_of(people["bob"], reverse("complaints:new", args=[tender.pk + 999])) == 404


def test_who_sees_a_pending_complaint(file_complaint, people, sven):
    url = reverse("complaints:detail", args=[file_complaint().pk])
    for name in ("bob", "sam"):
        assert status_of(people[name], url) == 200, name
    for name in ("alice", "agnes", "terry", "carol", "dave", "fay", "pat", "eve"):
        assert status_of(people[name], url) == 404, name
    assert status_of(sven, url) == 404
    assert status_of(None, url) == 302


def test_the_agency_and_the_tenderer_see_it_once_accepted(accepted, people):
    url = reverse("complaints:detail", args=[accepted.pk])
    for name in ("bob", "sam", "alice", "terry"):
        assert status_of(people[name], url) == 200, name
    for name in ("agnes", "carol", "dave", "fay", "pat", "eve"):
        assert status_of(people[name], url) == 404, name


def test_evidence_is_served_only_to_those_who_see_the_complaint(file_complaint, people, sven):
    complaint = file_complaint()
    url = reverse("complaints:attachment", args=[complaint.attachments.get().pk])
    response = client_for(people["bob"]).get(url)
    assert (
        response.status_code == 200 and b"".join(response.streaming_content) == b"%PDF-1.4 evidence"
    )
    assert (
        response["Content-Type"] == "application/octet-stream"
        and "attachment" in response["Content-Disposition"]
    )
    assert status_of(people["sam"], url) == 200
    for user in [people[n] for n in ("alice", "terry", "carol", "dave", "fay", "pat", "eve")] + [
        sven
    ]:
        assert status_of(user, url) == 404, user
    services.complaint_accept(actor=people["sam"], complaint=complaint)
    assert status_of(people["alice"], url) == 200 and status_of(people["terry"], url) == 200


def test_the_statements_attachments_are_not_shown_to_the_complainant(accepted, people):
    statement = services.statement_request(
        actor=people["sam"], complaint=accepted, questions="请说明。", due_on=dt.date(2026, 3, 9)
    )
    response = client_for(people["alice"]).post(
        reverse("complaints:statement_answer", args=[statement.pk]),
        {"answer": "已按规定办理。", "attachments": [evidence("说明材料.pdf")]},
    )
    assert response.status_code == 302
    attachment = statement.attachments.get()
    url = reverse("complaints:attachment", args=[attachment.pk])
    assert status_of(people["sam"], url) == 200 and status_of(people["terry"], url) == 200
    assert status_of(people["bob"], url) == 404
    bob_page = (
        client_for(people["bob"])
        .get(reverse("complaints:detail", args=[accepted.pk]))
        .content.decode()
    )
    assert "已按规定办理" not in bob_page and "说明材料.pdf" not in bob_page
    assert "被投诉人提交书面说明" in bob_page
    sam_page = (
        client_for(people["sam"])
        .get(reverse("complaints:detail", args=[accepted.pk]))
        .content.decode()
    )
    assert "已按规定办理" in sam_page and "说明材料.pdf" in sam_page


def test_the_supervisors_queue_flags_overdue_complaints(file_complaint, people, clock, sven):
    first = file_complaint()
    clock.move_to(at("2026-03-05"))
    second = file_complaint(known_on=dt.date(2026, 3, 4))
    clock.move_to(at("2026-03-06"))  # the first was due on Thursday 5 March
    page = client_for(people["sam"]).get(reverse("complaints:index"))
    queue = page.context["queue"]
    assert [row.complaint for row in queue.pending] == [first, second] and queue.overdue == 1
    html = page.content.decode()
    assert html.count('class="overdue"') == 1 and "已逾期 1 天" in html and "2026-03-10" in html
    assert client_for(sven).get(reverse("complaints:index")).context["queue"].pending == []


def test_the_queue_warns_when_a_due_date_runs_into_a_year_without_a_calendar(
    file_complaint, people, clock
):
    clock.move_to(at("2026-12-30"))
    complaint = file_complaint(known_on=dt.date(2026, 12, 28))
    html = client_for(people["sam"]).get(reverse("complaints:index")).content.decode()
    assert "2027-01-04" in html and "2027年的节假日安排尚未录入" in html
    CalendarDay.objects.create(date=dt.date(2027, 1, 1), is_workday=False, name="元旦")
    html = client_for(people["sam"]).get(reverse("complaints:index")).content.decode()
    assert "2027-01-05" in html and "尚未录入" not in html
    detail = (
        client_for(people["bob"])
        .get(reverse("complaints:detail", args=[complaint.pk]))
        .content.decode()
    )
    assert "2027-01-05" in detail


def test_the_supervisor_handles_the_complaint_from_its_page(file_complaint, people, tender):
    sam = client_for(people["sam"])
    complaint = file_complaint()
    page = sam.get(reverse("complaints:detail", args=[complaint.pk])).content.decode()
    assert reverse("complaints:accept", args=[complaint.pk]) in page
    assert sam.post(reverse("complaints:accept", args=[complaint.pk])).status_code == 302
    sam.post(reverse("complaints:suspend", args=[complaint.pk]), {"reason": "核查"})
    page = sam.get(reverse("complaints:detail", args=[complaint.pk])).content.decode()
    assert 'id="suspension"' in page and reverse("complaints:lift", args=[complaint.pk]) in page
    response = sam.post(
        reverse("complaints:suspend", args=[complaint.pk]), {"reason": "再次"}, follow=True
    )
    assert "已责令暂停招标投标活动，尚未恢复。" in response.content.decode()
    sam.post(
        reverse("complaints:statement_request", args=[complaint.pk]),
        {"questions": "请说明。", "due_on": "2026-03-09"},
    )
    sam.post(
        reverse("complaints:decide", args=[complaint.pk]),
        {"outcome": "dismissed", "decision": "投诉缺乏事实依据，驳回。"},
    )
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.DECIDED and complaint.statements.count() == 1
    assert not complaint.suspensions.filter(lifted_at__isnull=True).exists()
    page = (
        client_for(people["bob"])
        .get(reverse("complaints:detail", args=[complaint.pk]))
        .content.decode()
    )
    assert "驳回投诉" in page and "投诉缺乏事实依据" in page and 'id="withdraw"' not in page


def test_a_supervisor_form_with_a_missing_reason_says_so_and_changes_nothing(
    file_complaint, people
):
    complaint = file_complaint()
    before = AuditEvent.objects.count()
    response = client_for(people["sam"]).post(
        reverse("complaints:not_accept", args=[complaint.pk]), {"reason": ""}, follow=True
    )
    assert '<li class="msg-error">这个字段是必填项。</li>' in response.content.decode()
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.SUBMITTED and AuditEvent.objects.count() == before


def test_the_actions_are_refused_to_everyone_else(file_complaint, people, sven):
    complaint = file_complaint()
    for name in ("accept", "not_accept", "suspend", "lift", "statement_request", "decide"):
        url = reverse(f"complaints:{name}", args=[complaint.pk])
        complete = {"reason": "x", "questions": "q", "due_on": "2026-03-09", "outcome": "dismissed", "decision": "d"}
        assert status_of(people["bob"], url, "post", complete) == 403, name
        for user in [
            people[n] for n in ("alice", "terry", "carol", "dave", "fay", "eve", "pat")
        ] + [sven]:
            assert status_of(user, url, "post", {"reason": "x"}) == 404, (name, user)
        assert status_of(people["sam"], url) == 405
    assert (
        status_of(people["bob"], reverse("complaints:accept", args=[complaint.pk]), "post") == 403
    )
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.SUBMITTED


def test_the_complainant_withdraws_from_its_page(file_complaint, people):
    complaint = file_complaint()
    assert (
        status_of(
            people["carol"],
            reverse("complaints:withdraw", args=[complaint.pk]),
            "post",
            {"reason": "x"},
        )
        == 404
    )
    response = client_for(people["bob"]).post(
        reverse("complaints:withdraw", args=[complaint.pk]), {"reason": "误投"}
    )
    assert response.status_code == 302
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.WITHDRAWN


def test_the_index_lists_each_roles_complaints(accepted, file_complaint, people):
    carols = file_complaint(people["carol"])
    bob_page = client_for(people["bob"]).get(reverse("complaints:index"))
    assert [row.complaint for row in bob_page.context["rows"]] == [accepted]
    assert reverse("complaints:new", args=[accepted.tender_id]) in bob_page.content.decode()
    alice_rows = client_for(people["alice"]).get(reverse("complaints:index")).context["rows"]
    assert [row.complaint for row in alice_rows] == [accepted]  # carol's is not accepted yet
    assert carols.pk not in [row.complaint.pk for row in alice_rows]
    assert client_for(people["agnes"]).get(reverse("complaints:index")).context["rows"] == []
    for name in ("fay", "eve", "pat"):
        assert status_of(people[name], reverse("complaints:index")) == 403
    assert status_of(None, reverse("complaints:index")) == 302


def test_the_agent_answers_on_the_complaint_page(accepted, people):
    services.statement_request(
        actor=people["sam"],
        complaint=accepted,
        questions="请说明资格条件。",
        due_on=dt.date(2026, 3, 9),
    )
    page = (
        client_for(people["alice"])
        .get(reverse("complaints:detail", args=[accepted.pk]))
        .content.decode()
    )
    assert "请说明资格条件" in page and "提交书面说明" in page
    terry_page = (
        client_for(people["terry"])
        .get(reverse("complaints:detail", args=[accepted.pk]))
        .content.decode()
    )
    assert "请说明资格条件" in terry_page and 'class="statement-answer"' not in terry_page


def test_the_template_tags_for_other_pages(accepted, people, tender):
    from django.template import Context, Template

    template = Template(
        "{% load complaints %}{% complaint_summary user as s %}{{ s.pending }}/{{ s.handling }}/{{ s.overdue }}"
        "|{% complaints_about user tender as cs %}{{ cs|length }}|{% may_complain user tender as ok %}{{ ok }}"
        "|{% for lot in tender.lots.all %}{{ lot|lot_is_suspended }}{% endfor %}"
    )
    assert (
        template.render(Context({"user": people["sam"], "tender": tender}))
        == "0/1/0|1|False|FalseFalse"
    )
    assert (
        template.render(Context({"user": people["bob"], "tender": tender}))
        == "0/0/0|1|True|FalseFalse"
    )
    services.complaint_suspend(actor=people["sam"], complaint=accepted, reason="核查")
    assert (
        template.render(Context({"user": people["dave"], "tender": tender}))
        == "0/0/0|0|False|TrueTrue"
    )
