"""Fixtures of the complaint tests.

The clock is frozen on Monday 2 March 2026, 09:30 in Shanghai (``T0``).
Alice's tender has two lots; bob's and carol's organisations obtained its
documents, dave's did not. ``sven`` supervises for another authority.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.credit_code import make as make_code
from accounts.models import OrganisationKind, Role, User
from accounts.services import organisation_create, user_create
from complaints import services
from complaints.models import Complaint, Subject
from tendering import services as tendering
from tendering.models import Tender
from tests.conftest import PASSWORD
from tests.finance.conftest import security_bid  # noqa: F401  (a bid row without sealing)

SH = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=SH)  # a Monday


@pytest.fixture
def clock(time_machine):
    """The server clock frozen at ``T0``; move it with ``clock.move_to(...)``."""
    time_machine.move_to(T0, tick=False)
    return time_machine


def at(day: dt.date | str, hour: int = 10) -> dt.datetime:
    """A moment of a day in Shanghai (for ``clock.move_to``)."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=SH)


@pytest.fixture
def tender(clock, make_draft, people) -> Tender:
    """Alice's published tender with two lots, whose documents bob's and carol's organisations obtained."""
    tender = tendering.tender_publish(actor=people["alice"], tender=make_draft(lots=2))
    for name in ("bob", "carol"):
        tendering.documents_obtain(actor=people[name], tender=tender)
    return tender


@pytest.fixture
def sven(orgs) -> User:
    """A supervisor of another authority."""
    authority = organisation_create(
        actor=None,
        name="县公共资源交易监督管理办公室",
        code=make_code("91330100MA0000099"),
        kind=OrganisationKind.SUPERVISOR,
    )
    return user_create(
        actor=None,
        organisation=authority,
        username="sven",
        password=PASSWORD,
        roles=[Role.SUPERVISOR],
        full_name="Sven",
        email="sven@example.cn",
    )


def evidence(name: str = "证据.pdf", content: bytes = b"%PDF-1.4 evidence") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "application/pdf")


def complaint_input(**overrides) -> services.ComplaintInput:
    values = {
        "subject": Subject.OTHER,
        "facts": "招标文件设置了排斥潜在投标人的资质条件。",
        "claims": "请求责令招标人修改招标文件。",
        "known_on": T0.date(),
    }
    values.update(overrides)
    return services.ComplaintInput(**values)


@pytest.fixture
def file_complaint(people, tender) -> Callable[..., Complaint]:
    """``file_complaint()`` files bob's complaint about the whole tender; keywords change the input."""

    def file(
        user: User | None = None, *, files=None, on: Tender | None = None, **overrides
    ) -> Complaint:
        return services.complaint_file(
            actor=user or people["bob"],
            tender=on or tender,
            data=complaint_input(**overrides),
            files=[evidence()] if files is None else files,
        )

    return file


@pytest.fixture
def accepted(file_complaint, people) -> Complaint:
    return services.complaint_accept(actor=people["sam"], complaint=file_complaint())


def client_for(user: User | None = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client
