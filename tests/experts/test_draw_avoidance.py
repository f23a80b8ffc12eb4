"""Avoidance (ER 12): nobody with a stake in the lot, a conflict, a suspension, a date clash, a recent panel for the same tenderer, a full month or the wrong region is ever drawn, and each excluded expert's reason is recorded."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.credit_code import make as make_code
from accounts.models import OrganisationKind
from accounts.services import organisation_create
from experts import draw, selectors, services
from experts.models import (
    ConflictKind,
    DrawItem,
    DrawRequest,
    DrawSelection,
    DrawStatus,
    ExclusionReason,
    ExpertConflict,
    ExpertStatus,
    ExpertUnavailability,
    Locality,
    SelectionStatus,
)
from tendering import services as tendering
from tests.conftest import lot_input, tender_input

from .draw_support import (
    AFTER_DEADLINE,
    EVALUATION,
    OTHER_REGION,
    SHANGHAI,
    T0,
    TENDER_REGION,
    approved_request,
    close_bidding,
    make_expert_rows,
    make_experts,
    outside_code,
    recorded_exclusions,
    specialty,
)

NOW = AFTER_DEADLINE  # the clock when every draw of this module runs
EVALUATION_DAY = EVALUATION.date()
MONTHLY_LIMIT = 2
RECENT_DAYS = 90


@pytest.fixture(autouse=True)
def clock(time_machine, settings):
    settings.EXPERT_DRAW = {
        **settings.EXPERT_DRAW,
        "MONTHLY_LIMIT": MONTHLY_LIMIT,
        "RECENT_SAME_TENDERER_DAYS": RECENT_DAYS,
    }
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def closed_lot(published, people, clock):
    """The conftest lot, whose documents bob's and carol's organisations obtained; bidding closed."""
    tendering.documents_obtain(actor=people["bob"], tender=published)
    tendering.documents_obtain(actor=people["carol"], tender=published)
    lot = published.lots.get()
    close_bidding(clock)
    lot.refresh_from_db()
    return lot


@pytest.fixture
def party_codes(orgs):
    """Organisation keys the strategies use, and their credit codes."""
    return {
        "tenderer": orgs["tenderer"].credit_code,
        "agency": orgs["agency"].credit_code,
        "bidder_a": orgs["bidder_a"].credit_code,  # obtained the documents: a party
        "bidder_b": orgs["bidder_b"].credit_code,  # obtained the documents: a party
        "bidder_c": orgs["bidder_c"].credit_code,  # took no part: not a party
        "outside": outside_code(9_000_001),
        "blank": "",
    }


PARTIES = frozenset({"tenderer", "agency", "bidder_a", "bidder_b"})


# --- past panels, for the "recently for the same tenderer" and monthly rules ------------------------


@dataclass(frozen=True)
class Past:
    same_tenderer: bool
    evaluation: dt.datetime
    notified: dt.datetime

    @property
    def in_evaluation_month(self) -> bool:
        local = self.evaluation.astimezone(SHANGHAI)
        return (local.year, local.month) == (EVALUATION.year, EVALUATION.month)

    def recent_for(self, status: str) -> bool:
        return (
            self.same_tenderer
            and status in (SelectionStatus.NOTIFIED, SelectionStatus.CONFIRMED)
            and self.notified >= NOW - dt.timedelta(days=RECENT_DAYS)
        )


def _at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


PAST = {
    "same_recent": Past(True, _at(2026, 3, 20, 9), NOW - dt.timedelta(days=10)),
    "same_old": Past(True, _at(2025, 9, 10, 9), NOW - dt.timedelta(days=212)),
    "same_recent_this_month": Past(True, _at(2026, 4, 10, 9), NOW - dt.timedelta(days=7)),
    "same_exactly_90_days": Past(True, _at(2026, 1, 5, 9), NOW - dt.timedelta(days=RECENT_DAYS)),
    "same_90_days_and_a_minute": Past(
        True, _at(2026, 1, 5, 9), NOW - dt.timedelta(days=RECENT_DAYS, minutes=1)
    ),
    "other_month_start": Past(False, _at(2026, 4, 1, 0), NOW - dt.timedelta(days=5)),
    "other_mid_month": Past(False, _at(2026, 4, 15, 14), NOW - dt.timedelta(days=6)),
    "other_late_month": Past(False, _at(2026, 4, 20, 9), NOW - dt.timedelta(days=8)),
    "other_month_end": Past(False, _at(2026, 4, 30, 23, 59), NOW - dt.timedelta(days=4)),
    "other_next_month": Past(False, _at(2026, 5, 1, 0), NOW - dt.timedelta(days=3)),
    "other_previous_month": Past(False, _at(2026, 3, 31, 23, 59), NOW - dt.timedelta(days=2)),
}
PAST_STATUSES = [s.value for s in SelectionStatus]


@pytest.fixture
def past_requests(orgs, people, building):
    """One finished request per ``PAST`` entry, on other lots of the same or another tenderer."""
    other_tenderer = organisation_create(
        actor=None,
        name="市第二人民医院",
        code=make_code("91330100MA0000099"),
        kind=OrganisationKind.TENDERER,
    )
    lots = {}
    for same in (True, False):
        data = tender_input(orgs) if same else tender_input(orgs, tenderer_id=other_tenderer.pk)
        tender = tendering.tender_create(actor=people["alice"], data=data)
        lots[same] = tendering.lot_save(actor=people["alice"], tender=tender, data=lot_input())
    requests = {}
    for key, past in PAST.items():
        request = DrawRequest.objects.create(
            lot=lots[past.same_tenderer],
            requested_by=people["alice"],
            evaluation_start=past.evaluation,
            evaluation_place="评标室",
            status=DrawStatus.COMPLETE,
        )
        item = DrawItem.objects.create(request=request, specialty=building, members=5)
        requests[key] = (request, item)
    return requests


@pytest.fixture
def structure(db):
    return specialty("A0103")


# --- the oracle: the rules of docs/draw.md §2, written out independently --------------------------


def expected_reason(expert: dict, locality: str) -> str | None:
    if expert["employer"] in PARTIES:
        return ExclusionReason.EMPLOYER_PARTY
    if expert["conflicts"] & PARTIES:
        return ExclusionReason.DECLARED_CONFLICT
    if expert["status"] != ExpertStatus.ACTIVE:
        return ExclusionReason.NOT_ACTIVE
    if expert["unavailable"] in ("covers", "that_day"):
        return ExclusionReason.UNAVAILABLE
    if any(PAST[key].recent_for(status) for key, status in expert["past"].items()):
        return ExclusionReason.RECENT_SAME_TENDERER
    confirmed_this_month = sum(
        1 for key, status in expert["past"].items()
        if status == SelectionStatus.CONFIRMED and PAST[key].in_evaluation_month
    )  # fmt: skip
    if confirmed_this_month >= MONTHLY_LIMIT:
        return ExclusionReason.MONTHLY_LIMIT
    if (locality == Locality.LOCAL and expert["region"] != TENDER_REGION) or (
        locality == Locality.REMOTE and expert["region"] == TENDER_REGION
    ):
        return ExclusionReason.LOCALITY
    return None


UNAVAILABLE = {
    "covers": (EVALUATION_DAY - dt.timedelta(days=2), EVALUATION_DAY + dt.timedelta(days=1)),
    "that_day": (EVALUATION_DAY, EVALUATION_DAY),
    "before": (EVALUATION_DAY - dt.timedelta(days=5), EVALUATION_DAY - dt.timedelta(days=1)),
    "after": (EVALUATION_DAY + dt.timedelta(days=1), EVALUATION_DAY + dt.timedelta(days=3)),
}

OTHER_PANELS_THIS_MONTH = [
    key for key, p in sorted(PAST.items()) if p.in_evaluation_month and not p.same_tenderer
]


def with_panels_this_month(past: dict[str, str], confirmed: int) -> dict[str, str]:
    """``past`` with ``confirmed`` panels of other tenderers this month confirmed, so the monthly limit is reached often."""
    return {**past, **dict.fromkeys(OTHER_PANELS_THIS_MONTH[:confirmed], SelectionStatus.CONFIRMED)}


# Weighted by repetition so that every rule fires, yet often enough an expert gets past the first
# four for the later rules to be reached at all (about half of them do). The benign value comes
# first, which is where Hypothesis shrinks to.
CONFLICT_CHOICES = [frozenset()] * 10 + [
    frozenset({"bidder_c"}),
    frozenset({"outside"}),
    frozenset({"tenderer"}),
    frozenset({"agency", "outside"}),
    frozenset({"bidder_b", "bidder_c"}),
]
experts_strategy = st.fixed_dictionaries(
    {
        "specialties": st.frozensets(st.sampled_from(["A0101", "A0102", "A0103"]), min_size=1),
        "employer": st.sampled_from(
            ["outside"] * 18 + ["blank", "bidder_c", "tenderer", "agency", "bidder_a", "bidder_b"]
        ),
        "conflicts": st.sampled_from(CONFLICT_CHOICES),
        "status": st.sampled_from(
            [ExpertStatus.ACTIVE] * 8 + [ExpertStatus.SUSPENDED, ExpertStatus.RETIRED]
        ),
        "unavailable": st.sampled_from([None] * 6 + list(UNAVAILABLE)),
        "region": st.sampled_from([TENDER_REGION, OTHER_REGION]),
        "past": st.builds(
            with_panels_this_month,
            st.dictionaries(
                st.sampled_from(sorted(PAST)), st.sampled_from(PAST_STATUSES), max_size=5
            ),
            st.integers(0, MONTHLY_LIMIT + 1),
        ),
    }
)


def build(experts: list[dict], party_codes: dict, specialties: dict, past_requests: dict) -> list:
    rows = make_expert_rows(
        [
            {
                "specialties": [specialties[code] for code in sorted(e["specialties"])],
                "employer_credit_code": party_codes[e["employer"]],
                "status": e["status"],
                "region": e["region"],
            }
            for e in experts
        ]
    )
    ExpertConflict.objects.bulk_create(
        [
            ExpertConflict(
                expert=row,
                credit_code=party_codes[key],
                organisation_name=key,
                kind=ConflictKind.INTEREST,
            )
            for row, e in zip(rows, experts, strict=True)
            for key in sorted(e["conflicts"])
        ]
    )
    ExpertUnavailability.objects.bulk_create(
        [
            ExpertUnavailability(
                expert=row,
                start=UNAVAILABLE[e["unavailable"]][0],
                end=UNAVAILABLE[e["unavailable"]][1],
            )
            for row, e in zip(rows, experts, strict=True)
            if e["unavailable"]
        ]
    )
    positions: dict[str, int] = {}
    past_rows = []
    for row, e in zip(rows, experts, strict=True):
        for key, status in sorted(e["past"].items()):
            request, item = past_requests[key]
            positions[key] = positions.get(key, 0) + 1
            past_rows.append(
                DrawSelection(
                    request=request,
                    item=item,
                    expert=row,
                    position=positions[key],
                    status=status,
                    notified_at=None if status == SelectionStatus.RESERVE else PAST[key].notified,
                    token=secrets.token_urlsafe(32),
                    reply_code="000000",
                )
            )
    DrawSelection.objects.bulk_create(past_rows)
    return rows


# --- the property ------------------------------------------------------------------------------


@hypothesis_settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    experts=st.lists(experts_strategy, max_size=20),
    locality=st.sampled_from(Locality.values),
    building_members=st.integers(1, 3),
    building_reserves=st.integers(0, 2),
    decoration_members=st.integers(0, 2),
)
def test_no_drawn_expert_ever_matches_an_avoidance_rule_and_every_exclusion_has_its_reason(
    closed_lot, people, party_codes, past_requests, building, decoration, structure, sent,
    experts, locality, building_members, building_reserves, decoration_members,
):  # fmt: skip
    specialties = {"A0101": building, "A0102": decoration, "A0103": structure}
    requested = {"A0101": building_members} | (
        {"A0102": decoration_members} if decoration_members else {}
    )
    with transaction.atomic():
        rows = build(experts, party_codes, specialties, past_requests)
        secret = secrets.token_bytes(32)
        request = DrawRequest.objects.create(
            lot=closed_lot,
            requested_by=people["alice"],
            evaluation_start=EVALUATION,
            evaluation_place="评标室",
            locality=locality,
            status=DrawStatus.APPROVED,
            secret=secret.hex(),
            secret_commitment=draw.commitment(secret),
        )
        for code, members in requested.items():
            DrawItem.objects.create(
                request=request,
                specialty=specialties[code],
                members=members,
                reserves=building_reserves if code == "A0101" else 0,
            )

        request = services.draw_run(actor=people["sam"], request=request, supervisor_number="123")

        reasons = {
            row.code: expected_reason(e, locality) for row, e in zip(rows, experts, strict=True)
        }
        candidates = {
            row.code
            for row, e in zip(rows, experts, strict=True)
            if e["specialties"] & set(requested)
        }
        recorded = recorded_exclusions(request)
        assert recorded == {code: reasons[code] for code in candidates if reasons[code] is not None}
        assert request.frozen.pool() == {
            code: sorted(
                row.code for row, e in zip(rows, experts, strict=True)
                if code in e["specialties"] and reasons[row.code] is None
            )
            for code in requested
        }  # fmt: skip
        drawn = list(request.selections.values_list("expert__code", "item__specialty__code"))
        by_code = {row.code: e for row, e in zip(rows, experts, strict=True)}
        for code, specialty_code in drawn:
            assert reasons[code] is None, (code, reasons[code])
            assert specialty_code in by_code[code]["specialties"]
        if request.status == DrawStatus.NOTIFYING:
            notified = request.selections.filter(status=SelectionStatus.NOTIFIED)
            assert notified.count() == sum(requested.values())
        else:
            assert request.status == DrawStatus.EXHAUSTED and drawn == []
        transaction.set_rollback(True)


# --- each rule, spelled out ----------------------------------------------------------------------


def test_the_lots_parties_are_tenderer_agency_and_whoever_obtained_the_documents(closed_lot, orgs):
    assert selectors.lot_party_credit_codes(closed_lot) == {
        orgs["tenderer"].credit_code,
        orgs["agency"].credit_code,
        orgs["bidder_a"].credit_code,
        orgs["bidder_b"].credit_code,
    }


def test_each_rule_excludes_with_its_own_reason(
    closed_lot, people, orgs, past_requests, building, sent
):
    (employed,) = make_experts(1, [building], employer_credit_code=orgs["bidder_b"].credit_code)
    (conflicted,) = make_experts(1, [building])
    ExpertConflict.objects.create(
        expert=conflicted,
        credit_code=orgs["agency"].credit_code,
        organisation_name="代理",
        kind=ConflictKind.RELATIVE,
    )
    (suspended,) = make_experts(1, [building], status=ExpertStatus.SUSPENDED)
    (retired,) = make_experts(1, [building], status=ExpertStatus.RETIRED)
    (away,) = make_experts(1, [building])
    ExpertUnavailability.objects.create(expert=away, start=EVALUATION_DAY, end=EVALUATION_DAY)
    (recent,) = make_experts(1, [building])
    request0, item0 = past_requests["same_recent"]
    DrawSelection.objects.create(
        request=request0,
        item=item0,
        expert=recent,
        position=1,
        status=SelectionStatus.CONFIRMED,
        notified_at=PAST["same_recent"].notified,
        token="t-recent",
        reply_code="000001",
    )
    (busy,) = make_experts(1, [building])
    for position, key in enumerate(["other_month_start", "other_month_end"], 1):
        request_n, item_n = past_requests[key]
        DrawSelection.objects.create(
            request=request_n,
            item=item_n,
            expert=busy,
            position=position,
            status=SelectionStatus.CONFIRMED,
            notified_at=PAST[key].notified,
            token=f"t-busy-{key}",
            reply_code="000002",
        )
    (far,) = make_experts(1, [building], region=OTHER_REGION)
    eligible = make_experts(5, [building], employer_credit_code=orgs["bidder_c"].credit_code)
    request = approved_request(people, closed_lot, [(building, 5, 0)], locality=Locality.LOCAL)

    request = services.draw_run(actor=people["sam"], request=request, supervisor_number="1")

    recorded = recorded_exclusions(request)
    assert recorded == {
        employed.code: ExclusionReason.EMPLOYER_PARTY,
        conflicted.code: ExclusionReason.DECLARED_CONFLICT,
        suspended.code: ExclusionReason.NOT_ACTIVE,
        retired.code: ExclusionReason.NOT_ACTIVE,
        away.code: ExclusionReason.UNAVAILABLE,
        recent.code: ExclusionReason.RECENT_SAME_TENDERER,
        busy.code: ExclusionReason.MONTHLY_LIMIT,
        far.code: ExclusionReason.LOCALITY,
    }
    assert request.frozen.pool() == {"A0101": sorted(e.code for e in eligible)}
    assert set(request.selections.values_list("expert_id", flat=True)) == {e.pk for e in eligible}


def test_the_first_applicable_rule_is_the_one_recorded(closed_lot, people, orgs, building, sent):
    (expert,) = make_experts(
        1,
        [building],
        employer_credit_code=orgs["tenderer"].credit_code,
        status=ExpertStatus.SUSPENDED,
        region=OTHER_REGION,
    )
    ExpertUnavailability.objects.create(expert=expert, start=EVALUATION_DAY, end=EVALUATION_DAY)
    request = approved_request(people, closed_lot, [(building, 5, 0)], locality=Locality.LOCAL)

    pool, exclusions = selectors.eligible_pool(request)

    assert exclusions == {expert.code: ExclusionReason.EMPLOYER_PARTY}
    assert pool == {"A0101": []}


def test_remote_draws_take_only_experts_from_other_regions(closed_lot, people, building, sent):
    local = make_experts(2, [building])
    remote = make_experts(3, [building], region=OTHER_REGION)
    request = approved_request(people, closed_lot, [(building, 5, 0)], locality=Locality.REMOTE)

    pool, exclusions = selectors.eligible_pool(request)

    assert pool == {"A0101": sorted(e.code for e in remote)}
    assert exclusions == {e.code: ExclusionReason.LOCALITY for e in local}


def test_experts_of_other_specialties_are_neither_candidates_nor_excluded(
    closed_lot, people, orgs, building, structure, sent
):
    make_experts(2, [structure], employer_credit_code=orgs["tenderer"].credit_code)
    mine = make_experts(2, [building])
    request = approved_request(people, closed_lot, [(building, 5, 0)])

    pool, exclusions = selectors.eligible_pool(request)

    assert pool == {"A0101": sorted(e.code for e in mine)}
    assert exclusions == {}


def test_a_declined_or_reserve_selection_for_the_same_tenderer_does_not_exclude(
    closed_lot, people, past_requests, building, sent
):
    declined, reserve = make_experts(2, [building])
    request0, item0 = past_requests["same_recent"]
    DrawSelection.objects.create(
        request=request0,
        item=item0,
        expert=declined,
        position=1,
        status=SelectionStatus.DECLINED,
        notified_at=PAST["same_recent"].notified,
        token="t-declined",
        reply_code="000001",
    )
    DrawSelection.objects.create(
        request=request0,
        item=item0,
        expert=reserve,
        position=2,
        status=SelectionStatus.RESERVE,
        token="t-reserve",
        reply_code="000002",
    )
    request = approved_request(people, closed_lot, [(building, 5, 0)])

    pool, exclusions = selectors.eligible_pool(request)

    assert exclusions == {}
    assert pool == {"A0101": sorted([declined.code, reserve.code])}


def test_the_windows_include_their_first_moment_and_exclude_the_next(
    closed_lot, people, past_requests, building, sent
):
    ninety_days, ninety_days_and_a_minute, month_edges, outside_month = make_experts(4, [building])

    def selected(expert, key, status=SelectionStatus.CONFIRMED):
        request_n, item_n = past_requests[key]
        DrawSelection.objects.create(
            request=request_n,
            item=item_n,
            expert=expert,
            position=expert.pk,
            status=status,
            notified_at=PAST[key].notified,
            token=f"t-{expert.pk}-{key}",
            reply_code="000003",
        )

    selected(ninety_days, "same_exactly_90_days", SelectionStatus.NOTIFIED)
    selected(ninety_days_and_a_minute, "same_90_days_and_a_minute")
    selected(month_edges, "other_month_start")  # 1 April 00:00
    selected(month_edges, "other_month_end")  # 30 April 23:59
    selected(outside_month, "other_previous_month")  # 31 March 23:59
    selected(outside_month, "other_next_month")  # 1 May 00:00
    selected(outside_month, "other_month_end")  # one in April: below the limit of two
    request = approved_request(people, closed_lot, [(building, 5, 0)])

    pool, exclusions = selectors.eligible_pool(request)

    assert exclusions == {
        ninety_days.code: ExclusionReason.RECENT_SAME_TENDERER,
        month_edges.code: ExclusionReason.MONTHLY_LIMIT,
    }
    assert pool == {"A0101": sorted([ninety_days_and_a_minute.code, outside_month.code])}


def test_a_code_that_breaks_the_query_format_stops_the_draw_rather_than_misreading_the_pool(
    closed_lot, people, building, sent
):
    # The pool's services never store such a code (pool.CODE_PATTERN); a write that bypassed them might.
    make_expert_rows([{"specialties": [building], "code": "E 0000001"}])
    make_experts(5, [building])
    request = approved_request(people, closed_lot, [(building, 5, 0)])

    with pytest.raises(RuntimeError, match="holds a space"):
        selectors.eligible_pool(request)
