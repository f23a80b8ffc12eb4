"""The evaluation scheme (评标办法): the default, the agent's page with Chinese messages, frozen from the bid deadline."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from core.errors import DomainError, NotFound
from evaluation import services
from evaluation.models import EvaluationScheme
from evaluation.report import canonical, digest
from tendering import services as tendering
from tendering.models import EvaluationMethod, Lot
from tests.conftest import lot_input, tender_input


def _draft_lot(world, *, method: str = EvaluationMethod.COMPREHENSIVE, publish: bool = False) -> Lot:
    alice = world.people["alice"]
    tender = tendering.tender_create(actor=alice, data=tender_input(world.orgs))
    tendering.lot_save(actor=alice, tender=tender, data=lot_input(evaluation_method=method))
    if publish:
        tendering.document_upload(
            actor=alice, tender=tender, upload=SimpleUploadedFile("招标文件.pdf", b"%PDF-1.4 x", "application/pdf")
        )
        tender = tendering.tender_publish(actor=alice, tender=tender)
    return tender.lots.get()


def _post(world, default=None, **changes) -> dict[str, str]:
    """The scheme form as the agent's browser posts it: the default scheme, with ``changes``."""
    data = default or services.default_scheme_input()
    fields = {
        "benchmark_method": data.benchmark_method,
        "drop_extremes": "on" if data.drop_extremes else "",
        "drop_extremes_min_bids": str(data.drop_extremes_min_bids),
        "price_points": str(data.price_points),
        "deduct_above": str(data.deduct_above),
        "deduct_below": str(data.deduct_below),
        "candidates": str(data.candidates),
        "duration_minutes": str(data.duration_minutes),
        "extension_minutes": str(data.extension_minutes),
        "items-TOTAL_FORMS": str(len(data.items)),
        "items-INITIAL_FORMS": str(len(data.items)),
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "30",
    }
    for n, item in enumerate(data.items):
        fields.update(
            {
                f"items-{n}-kind": item.kind,
                f"items-{n}-name": item.name,
                f"items-{n}-description": item.description,
                f"items-{n}-min_score": str(item.min_score),
                f"items-{n}-max_score": str(item.max_score),
            }
        )
    fields.update(changes)
    return fields


def test_the_default_scheme_adds_up_to_one_hundred_and_names_three_candidates():
    default = services.default_scheme_input()
    assert default.price_points + sum(item.max_score for item in default.items) == Decimal("100.00")
    assert default.candidates == 3
    services.scheme_validate(default, method=EvaluationMethod.COMPREHENSIVE)


def test_the_agent_saves_a_scheme_and_every_save_is_audited_with_its_digest(world):
    lot = _draft_lot(world)
    client = Client()
    client.force_login(world.people["alice"])
    url = reverse("evaluation:scheme_edit", args=[lot.pk])
    page = client.get(url)
    assert page.status_code == 200 and "设置评标办法" in page.content.decode()
    response = client.post(url, _post(world, **{"price_points": "30.00", "items-0-max_score": "25.00"}))
    assert response.status_code == 302
    scheme = EvaluationScheme.objects.get(lot=lot)
    assert scheme.price_points == Decimal("30.00")
    assert scheme.items.get(position=1).max_score == Decimal("25.00")
    event = AuditEvent.objects.filter(action="evaluation.scheme.saved", lot_id=lot.pk).latest("seq")
    document = services.scheme_document(scheme, lot.evaluation_method)
    assert event.data["sha256"] == digest(canonical(document))
    assert event.data["scheme"]["price"]["full_points"] == "30.00"
    # Anyone may read the scheme of a published tender; a draft's is the agent's own business.
    assert Client().get(reverse("evaluation:scheme", args=[lot.pk])).status_code == 404


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"price_points": "50.00"}, "价格分满分与各评分因素最高分之和应为100分（当前为110.00分）。"),
        ({"candidates": "3", "items-0-min_score": "16.00"}, "第1项评分因素“施工方案与技术措施”的最高分应大于0且不低于最低分。"),
        ({"items-2-name": ""}, "这个字段是必填项。"),
        ({"drop_extremes_min_bids": "2"}, "确保该值大于或等于3。"),
        ({"duration_minutes": "30"}, "评标时限应在60至10080分钟之间。"),
        ({"deduct_above": "1.005"}, "确认小数不超过 2 位."),
    ],
)
def test_an_invalid_scheme_is_refused_with_a_chinese_message(world, changes, message):
    lot = _draft_lot(world)
    client = Client()
    client.force_login(world.people["alice"])
    response = client.post(reverse("evaluation:scheme_edit", args=[lot.pk]), _post(world, **changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not EvaluationScheme.objects.filter(lot=lot).exists()


def test_more_than_three_candidates_is_refused_by_the_service(world):
    lot = _draft_lot(world)
    data = dataclasses.replace(services.default_scheme_input(), candidates=4)
    with pytest.raises(DomainError) as error:
        services.scheme_save(actor=world.people["alice"], lot=lot, data=data)
    assert error.value.code == "scheme.candidates"
    assert "第五十三条" in error.value.message


def test_a_lowest_price_lot_keeps_the_price_formula_and_items_it_does_not_use(world):
    lot = _draft_lot(world, method=EvaluationMethod.LOWEST_PRICE)
    data = dataclasses.replace(services.default_scheme_input(), price_points=Decimal("99.00"), items=(), candidates=1)
    scheme = services.scheme_save(actor=world.people["alice"], lot=lot, data=data)
    assert (scheme.candidates, scheme.price_points, scheme.items.count()) == (1, Decimal("40.00"), 8)


def test_the_scheme_is_frozen_from_the_bid_deadline_on(world, clock):
    lot = _draft_lot(world, publish=True)
    alice = world.people["alice"]
    data = services.default_scheme_input()
    services.scheme_save(actor=alice, lot=lot, data=data)
    saved = AuditEvent.objects.filter(action="evaluation.scheme.saved").count()
    clock.move_to(lot.bid_deadline)
    with pytest.raises(DomainError) as error:
        services.scheme_save(actor=alice, lot=lot, data=dataclasses.replace(data, candidates=1))
    assert error.value.code == "scheme.frozen"
    assert EvaluationScheme.objects.get(lot=lot).candidates == 3
    assert AuditEvent.objects.filter(action="evaluation.scheme.saved").count() == saved
    # The page says so and offers no form; a post is refused with the message.
    client = Client()
    client.force_login(alice)
    page = client.get(reverse("evaluation:scheme_edit", args=[lot.pk])).content.decode()
    assert "评标办法已冻结" in page and 'name="price_points"' not in page
    client.post(reverse("evaluation:scheme_edit", args=[lot.pk]), _post(world, candidates="1"))
    assert EvaluationScheme.objects.get(lot=lot).candidates == 3
    # Everyone reads it, bidders included: they bid against it.
    public = Client().get(reverse("evaluation:scheme", args=[lot.pk]))
    assert public.status_code == 200 and "施工方案与技术措施" in public.content.decode()


def test_another_agency_cannot_edit_the_scheme(world):
    lot = _draft_lot(world)
    with pytest.raises(NotFound):
        services.scheme_save(actor=world.people["agnes"], lot=lot, data=services.default_scheme_input())
    client = Client()
    client.force_login(world.people["agnes"])
    assert client.get(reverse("evaluation:scheme_edit", args=[lot.pk])).status_code == 404


def test_the_evaluation_froze_the_default_scheme_when_it_started(world):
    evaluation = world.evaluation
    frozen = json.loads(evaluation.scheme_json)
    assert evaluation.scheme_sha256 == digest(canonical(frozen))
    assert frozen["price"] == {
        "benchmark": "mean",
        "drop_extremes": True,
        "drop_min_bids": 5,
        "full_points": "40.00",
        "deduct_above": "1.00",
        "deduct_below": "0.50",
    }
    started = AuditEvent.objects.get(action="evaluation.started", lot_id=world.lot.pk)
    assert started.data["scheme_sha256"] == evaluation.scheme_sha256
    assert AuditEvent.objects.filter(action="evaluation.scheme.saved", lot_id=world.lot.pk).get().data["default"]
    assert evaluation.deadline - evaluation.started_at == dt.timedelta(minutes=480)
