"""The sign step in Chromium: a key made in the browser signs the report, and the server verifies it.

Uses the Chromium fixtures of tests/browser/conftest.py (skipped with the
reason where Chromium or Playwright is missing). The evaluation is written
straight to the rows — a report waiting for two members' signatures — since
the live server cannot see the package's evaluation world (it lives in a
transaction of the test's own connection).
"""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from evaluation.models import (
    Evaluation,
    EvaluationReport,
    EvaluationStatus,
    Member,
    ReportSignature,
    SigningKey,
)
from evaluation.report import canonical, digest, signature_message, verify_signature
from experts.models import (
    DrawItem,
    DrawRequest,
    DrawSelection,
    DrawStatus,
    SelectionStatus,
    Specialty,
)
from tendering.models import Lot, LotStatus
from tests.browser import conftest as chromium
from tests.experts.draw_support import make_experts, specialty

browser = chromium.browser
context = chromium.context
page = chromium.page
signed_in = chromium.signed_in

pytestmark = pytest.mark.browser


@pytest.fixture
def clock():
    """The package's clock stays where it is: the browser and the live server run on real time."""
    yield None


def _report_waiting_for_signatures(lot: Lot, experts_users: list) -> EvaluationReport:
    if not Specialty.objects.exists():
        # An earlier transactional test flushed the code list the data migration loaded.
        importlib.import_module("experts.migrations.0002_specialties").load(apps, None)
    now = timezone.now()
    Lot.objects.filter(pk=lot.pk).update(status=LotStatus.EVALUATING)
    request = DrawRequest.objects.create(
        lot=lot, requested_by=lot.tender.created_by, evaluation_start=now, evaluation_place="远程",
        status=DrawStatus.COMPLETE,
    )
    item = DrawItem.objects.create(request=request, specialty=specialty("A0101"), members=len(experts_users))
    evaluation = Evaluation.objects.create(
        lot=lot, draw_request=request, method=lot.evaluation_method, status=EvaluationStatus.SIGNING,
        scheme_json="{}", scheme_sha256="0" * 64, started_at=now, started_by=lot.tender.created_by,
        deadline=now + dt.timedelta(hours=8), all_submitted_at=now,
    )
    members = []
    for seat, (expert, user) in enumerate(zip(make_experts(len(experts_users), [specialty("A0101")]), experts_users, strict=True), 1):
        expert.user = user
        expert.save(update_fields=["user"])
        selection = DrawSelection.objects.create(
            request=request, item=item, expert=expert, position=seat, status=SelectionStatus.CONFIRMED,
            token=f"browser-{seat}", reply_code=f"{seat:06d}",
        )
        members.append(
            Member.objects.create(
                evaluation=evaluation, seat=seat, selection=selection, expert=expert, user=user, signed_in_at=now,
                submitted_at=now,
            )
        )
    evaluation.chair = members[0]
    evaluation.save(update_fields=["chair"])
    document = {
        "format": "sunbid-evaluation-report",
        "version": 1,
        "lot": {"id": lot.pk, "evaluation_method": lot.evaluation_method},
        "committee": {"members": len(members), "seats": [m.seat for m in members], "chair": 1, "election": []},
        "benchmark_price": None,
        "bids": [],
        "candidates": [],
    }
    text = canonical(document)
    return EvaluationReport.objects.create(
        evaluation=evaluation, version=1, document=text, sha256=digest(text), drafted_at=now, drafted_by=members[0]
    )


def test_a_member_generates_a_key_in_the_browser_and_signs_the_report(page, signed_in, people, published):
    from accounts.models import Role
    from accounts.services import user_create

    other = user_create(actor=None, organisation=people["eve"].organisation, username="expert2", password=None, roles=[Role.EXPERT])
    lot = published.lots.get()
    report = _report_waiting_for_signatures(lot, [people["eve"], other])
    signed_in(people["eve"])
    page.goto(f"/evaluation/lots/{lot.pk}/report/")
    page.wait_for_selector("#sign-key-state:has-text('请生成新的签名密钥')")
    assert page.is_disabled("#sign-report")
    page.click("#sign-new-key")
    page.wait_for_selector("#sign-report:not([disabled])")
    key = SigningKey.objects.get(user=people["eve"], status="active")
    assert key.fingerprint[:16] in page.inner_text("#sign-key-state")
    # The private key is kept in IndexedDB and cannot be read out of it.
    extractable = page.evaluate(
        """async (fp) => {
            const { getSigningKey } = await import('/static/js/evaluation-keys.js');
            const kept = await getSigningKey(fp);
            return kept.private_key.extractable;
        }""",
        key.fingerprint,
    )
    assert extractable is False
    page.click("#sign-report")
    page.wait_for_selector("text=您已签署本评标报告。")
    signature = ReportSignature.objects.get(report=report)
    assert signature.key == key and signature.member.seat == 1
    message = signature_message(lot_id=lot.pk, report_sha256=report.sha256, seat=1)
    assert verify_signature(public_key_der=bytes(key.public_key), signature=bytes(signature.signature), message=message)
    assert page.page_errors == []
