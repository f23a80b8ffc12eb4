"""Helpers shared by the draw tests (test_draw_*.py): the clock, expert rows, requests, notifications.

Plain functions rather than fixtures, so each test module states its own
fixtures and what they build.

Time: every draw test freezes the clock at ``T0``; the conftest lot's bidding
closes at ``DEADLINE`` (30 days later) and evaluation is at ``EVALUATION``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from accounts.credit_code import make as make_code
from accounts.models import Organisation, User
from experts import notifications, services
from experts.models import (
    DrawRequest,
    DrawSelection,
    Expert,
    ExpertStatus,
    ExpertTitle,
    SelectionStatus,
    Specialty,
)
from tendering import services as tendering
from tendering.models import Lot, LotStatus

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
DEADLINE = T0 + dt.timedelta(
    days=30
)  # the conftest lot's bid deadline and opening time, clock at T0
AFTER_DEADLINE = DEADLINE + dt.timedelta(hours=1)
EVALUATION = DEADLINE + dt.timedelta(days=1, minutes=30)
TENDER_REGION = "330000"  # tender_input's region
OTHER_REGION = "320000"

# Expert codes, identity numbers and mobiles must be unique across a test; a
# module-wide counter never repeats (rolled-back rows leave gaps, harmlessly).
_serial = itertools.count(1)


def specialty(code: str) -> Specialty:
    """A specialty of the code list loaded by migration 0002_specialties."""
    return Specialty.objects.get(code=code)


def outside_code(n: int) -> str:
    """The credit code of an employer that has nothing to do with any tender."""
    return make_code(f"91110000MA{n:07d}")


def make_experts(
    count: int,
    specialties: Iterable[Specialty],
    *,
    employer_credit_code: str | None = None,
    **fields: Any,
) -> list[Expert]:
    """``count`` active experts of the tender's region holding every one of ``specialties``."""
    specialties = list(specialties)
    return make_expert_rows(
        [
            {"specialties": specialties, "employer_credit_code": employer_credit_code, **fields}
            for _index in range(count)
        ]
    )


def make_expert_rows(rows: Sequence[dict[str, Any]]) -> list[Expert]:
    """Experts in bulk, one per dict: ``specialties`` plus any Expert field to override."""
    experts: list[Expert] = []
    for row in rows:
        n = next(_serial)
        values = {
            "code": f"E{n:07d}",
            "name": f"专家{n:04d}",
            "id_number": f"T{n:017d}",
            "mobile": f"139{n:08d}",
            "email": f"expert{n}@example.cn",
            "employer_name": "某设计研究院",
            "employer_credit_code": outside_code(n),
            "title": ExpertTitle.SENIOR,
            "region": TENDER_REGION,
            "status": ExpertStatus.ACTIVE,
        }
        values.update({k: v for k, v in row.items() if k != "specialties" and v is not None})
        experts.append(Expert(**values))
    created = Expert.objects.bulk_create(experts)
    through = Expert.specialties.through
    through.objects.bulk_create(
        [
            through(expert_id=expert.pk, specialty_id=spec.pk)
            for expert, row in zip(created, rows, strict=True)
            for spec in row["specialties"]
        ]
    )
    return created


def close_bidding(clock: Any) -> None:
    """Move the clock past the deadline and let the timed sweep close bidding (the lot opens too).

    Nobody bids in the draw tests, and an opening room with fewer bids than
    the lot's minimum fails the lot (TR 44): the lots due ask for none, so
    that their rooms open and the draws have a lot to draw for. Written
    straight to the rows, as ``lot_save`` rightly refuses fewer than three.
    """
    clock.move_to(AFTER_DEADLINE, tick=False)
    Lot.objects.filter(status=LotStatus.PUBLISHED, bid_deadline__lte=AFTER_DEADLINE).update(
        min_bidders=0
    )
    tendering.lots_advance_due()


def award(people: dict[str, User], orgs: dict[str, Organisation], lot: Lot) -> Lot:
    lot.refresh_from_db()
    lot = tendering.lot_mark_opened(actor=people["alice"], lot=lot)
    lot = tendering.lot_start_evaluation(actor=people["alice"], lot=lot)
    return tendering.lot_award(
        actor=people["alice"], lot=lot, winner=orgs["bidder_a"], award_price=Decimal("11000000")
    )


def request_input(
    items: Sequence[tuple[Specialty, int, int]], **overrides: Any
) -> services.DrawRequestInput:
    values: dict[str, Any] = {
        "items": [
            services.DrawItemInput(specialty_id=s.pk, members=m, reserves=r) for s, m, r in items
        ],
        "evaluation_start": EVALUATION,
        "evaluation_place": "市公共资源交易中心第3评标室",
    }
    values.update(overrides)
    return services.DrawRequestInput(**values)


def approved_request(
    people: dict[str, User], lot: Lot, items: Sequence[tuple[Specialty, int, int]], **overrides: Any
) -> DrawRequest:
    """Requested by alice, approved by sam (the secret is committed)."""
    request = services.draw_request_create(
        actor=people["alice"], lot=lot, data=request_input(items, **overrides)
    )
    return services.draw_request_approve(actor=people["sam"], request=request)


@dataclass
class Sent:
    """What the draw asked ``experts.notifications`` to do, call by call."""

    notified: list[list[int]] = field(
        default_factory=list
    )  # selection ids of each selections_notify call
    alerts: list[tuple[int, str]] = field(
        default_factory=list
    )  # (request id, reason) of each panel_alert

    @property
    def notified_ids(self) -> list[int]:
        return [pk for call in self.notified for pk in call]


def patch_notifications(monkeypatch: Any) -> Sent:
    """Replace the two notification entry points with recorders (the services call them through the module)."""
    sent = Sent()

    def selections_notify(selections: Sequence[DrawSelection]) -> None:
        assert all(
            s.status == SelectionStatus.NOTIFIED and s.respond_by is not None for s in selections
        )
        sent.notified.append([s.pk for s in selections])

    def panel_alert(request: DrawRequest, *, reason: str) -> None:
        sent.alerts.append((request.pk, reason))

    monkeypatch.setattr(notifications, "selections_notify", selections_notify)
    monkeypatch.setattr(notifications, "panel_alert", panel_alert)
    return sent


def recorded_exclusions(request: DrawRequest) -> dict[str, str]:
    """The exclusions the draw recorded, as the supervisors' page lists them: expert code → reason."""
    from experts.selectors import draw_exclusions

    return {exclusion.code: exclusion.reason for exclusion in draw_exclusions(request=request)}


def notified(request: DrawRequest) -> list[DrawSelection]:
    return list(
        request.selections.filter(status=SelectionStatus.NOTIFIED).select_related(
            "item__specialty", "expert"
        )
    )
