"""The draw reads each expert's code, status, region and employer from a copy on the specialty rows: every way of changing an expert reaches it.

The copy (``ExpertSpecialty``) is kept by database triggers (experts/draw_copy.py);
each test changes an expert one way and looks at what the next draw's
avoidance makes of it (``selectors.eligible_pool``), which reads only the copy.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import connection

from accounts.credit_code import make as make_code
from core.errors import DomainError
from experts import draw_copy, id_number, pool, selectors, services
from experts.models import (
    DrawPool,
    ExclusionReason,
    Expert,
    ExpertSpecialty,
    ExpertStatus,
    ExpertTitle,
    Locality,
)

from .draw_support import OTHER_REGION, T0, TENDER_REGION, approved_request, make_experts

pytestmark = pytest.mark.django_db

ID_SHEN = id_number.make("33010219800101313")
EMPLOYER = make_code("12330000470001234")


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


def shen(**overrides: object) -> pool.ExpertInput:
    values: dict[str, object] = {
        "code": "ZJ330001",
        "name": "沈立群",
        "id_number": ID_SHEN,
        "mobile": "13857100001",
        "title": "senior",
        "region": TENDER_REGION,
        "employer_name": "浙江省建筑设计研究院",
        "employer_credit_code": EMPLOYER,
        "specialty_codes": ("A0101",),
    }
    values.update(overrides)
    return pool.ExpertInput(**values)  # type: ignore[arg-type]


@pytest.fixture
def request_(closed_lot, people, building, decoration):
    """An approved request for the two specialties: avoidance can be asked again after every change."""
    return approved_request(people, closed_lot, [(building, 3, 0), (decoration, 2, 0)])


def avoidance(request, *, locality: str = Locality.ANY):
    """What the request's draw would make of the pool now, from ``locality``: (pool, exclusions)."""
    request.locality = locality  # in memory: the request itself is left as it is
    return selectors.eligible_pool(request)


def copies(expert: Expert) -> list[tuple[str, str, str, str]]:
    return sorted(ExpertSpecialty.objects.filter(expert=expert).values_list(*draw_copy.COPIED))


def import_rows(people, rows: Sequence[Sequence[str]], header: Sequence[str]) -> pool.ImportReport:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    upload = SimpleUploadedFile("专家名单.csv", buffer.getvalue().encode("utf-8-sig"), "text/csv")
    report = pool.experts_import(actor=people["pat"], file=upload)
    assert report.imported, [row.errors for row in report.failed_rows]
    return report


# --- the pool services ---------------------------------------------------------------------------


def test_an_expert_added_through_the_pool_is_a_candidate_with_their_own_values(request_, people):
    expert = pool.expert_create(actor=people["pat"], data=shen())

    assert avoidance(request_) == ({"A0101": ["ZJ330001"], "A0102": []}, {})
    assert copies(expert) == [("ZJ330001", ExpertStatus.ACTIVE, TENDER_REGION, EMPLOYER)]


def test_a_suspension_and_a_reinstatement_reach_the_next_draw(request_, people):
    expert = pool.expert_create(actor=people["pat"], data=shen())

    pool.expert_set_status(
        actor=people["pat"], expert=expert, status=ExpertStatus.SUSPENDED, reason="违规"
    )
    assert avoidance(request_) == (
        {"A0101": [], "A0102": []},
        {"ZJ330001": ExclusionReason.NOT_ACTIVE},
    )

    pool.expert_set_status(
        actor=people["pat"], expert=expert, status=ExpertStatus.ACTIVE, reason="恢复"
    )
    assert avoidance(request_) == ({"A0101": ["ZJ330001"], "A0102": []}, {})


def test_a_move_to_another_region_reaches_local_and_remote_draws(request_, people):
    expert = pool.expert_create(actor=people["pat"], data=shen())

    pool.expert_update(actor=people["pat"], expert=expert, data=shen(region=OTHER_REGION))

    assert avoidance(request_, locality=Locality.LOCAL) == (
        {"A0101": [], "A0102": []},
        {"ZJ330001": ExclusionReason.LOCALITY},
    )
    assert avoidance(request_, locality=Locality.REMOTE) == (
        {"A0101": ["ZJ330001"], "A0102": []},
        {},
    )


def test_a_new_employer_that_is_a_party_reaches_the_next_draw(request_, people, orgs):
    expert = pool.expert_create(actor=people["pat"], data=shen())

    pool.expert_update(
        actor=people["pat"],
        expert=expert,
        data=shen(employer_name="招标人", employer_credit_code=orgs["tenderer"].credit_code),
    )

    assert avoidance(request_) == (
        {"A0101": [], "A0102": []},
        {"ZJ330001": ExclusionReason.EMPLOYER_PARTY},
    )


def test_changed_specialties_reach_the_next_draw(request_, people):
    expert = pool.expert_create(actor=people["pat"], data=shen())

    pool.expert_update(actor=people["pat"], expert=expert, data=shen(specialty_codes=("A0102",)))

    assert avoidance(request_) == ({"A0101": [], "A0102": ["ZJ330001"]}, {})
    assert copies(expert) == [("ZJ330001", ExpertStatus.ACTIVE, TENDER_REGION, EMPLOYER)]


# --- the import ------------------------------------------------------------------------------------

HEADER = ["专家编号", "姓名", "身份证号码", "手机号", "职称", "所在地区", "专业代码", "工作单位",
          "工作单位统一社会信用代码", "状态"]  # fmt: skip


def test_an_import_that_creates_and_changes_experts_reaches_the_next_draw(request_, people, orgs):
    employed = pool.expert_create(actor=people["pat"], data=shen())
    suspended = pool.expert_create(
        actor=people["pat"],
        data=shen(code="ZJ330002", id_number=id_number.make("33010219800101321"),
                  mobile="13857100002"),
    )  # fmt: skip

    import_rows(
        people,
        [
            ["ZJ330001", "沈立群", ID_SHEN, "13857100001", "副高级", "浙江省", "A0101",
             "招标人", orgs["tenderer"].credit_code, "在库"],
            ["ZJ330002", "沈立群", suspended.id_number, "13857100002", "副高级", "浙江省", "A0101",
             "浙江省建筑设计研究院", EMPLOYER, "暂停"],
            ["ZJ330003", "顾晓燕", id_number.make("32050219751230402"), "13962500002", "正高级",
             "江苏省", "A0101、A0102", "", "", ""],
        ],
        HEADER,
    )  # fmt: skip

    assert avoidance(request_, locality=Locality.LOCAL) == (
        {"A0101": [], "A0102": []},
        {
            employed.code: ExclusionReason.EMPLOYER_PARTY,
            suspended.code: ExclusionReason.NOT_ACTIVE,
            "ZJ330003": ExclusionReason.LOCALITY,
        },
    )
    assert avoidance(request_, locality=Locality.REMOTE)[0] == {
        "A0101": ["ZJ330003"],
        "A0102": ["ZJ330003"],
    }


# --- any other way of writing --------------------------------------------------------------------


def test_a_bulk_update_that_bypasses_the_services_still_reaches_the_draw(request_, building):
    retired, kept = make_experts(2, [building])

    Expert.objects.filter(pk=retired.pk).update(status=ExpertStatus.RETIRED)

    assert avoidance(request_) == (
        {"A0101": [kept.code], "A0102": []},
        {retired.code: ExclusionReason.NOT_ACTIVE},
    )


def test_a_write_to_the_copy_itself_is_overruled_by_the_expert_record(building):
    (expert,) = make_experts(1, [building], status=ExpertStatus.SUSPENDED)

    ExpertSpecialty.objects.filter(expert=expert).update(
        status=ExpertStatus.ACTIVE, region="110000"
    )

    assert copies(expert) == [
        (expert.code, ExpertStatus.SUSPENDED, TENDER_REGION, expert.employer_credit_code)
    ]


def test_specialty_rows_written_before_their_expert_take_the_experts_values(building):
    # Foreign keys are checked at commit: rows may arrive in either order (fixtures, raw SQL).
    ExpertSpecialty.objects.create(expert_id=987_654, specialty=building)
    Expert.objects.create(
        id=987_654,
        code="ZJ987654",
        name="后到的专家",
        id_number="T00000000000987654",
        mobile="13900987654",
        title=ExpertTitle.SENIOR,
        region=OTHER_REGION,
        status=ExpertStatus.SUSPENDED,
    )

    assert copies(Expert(pk=987_654)) == [("ZJ987654", ExpertStatus.SUSPENDED, OTHER_REGION, "")]


# --- the triggers themselves ---------------------------------------------------------------------


def test_a_draw_refuses_to_run_while_the_triggers_are_missing_and_migrate_puts_them_back(
    closed_lot, people, building, sent
):
    suspended, *others = make_experts(6, [building])
    draw_copy.uninstall(connection)
    # Unseen by the copy, with nothing to keep it.
    Expert.objects.filter(pk=suspended.pk).update(status=ExpertStatus.SUSPENDED)
    request = approved_request(people, closed_lot, [(building, 5, 0)])

    with pytest.raises(DomainError) as refused:
        services.draw_run(actor=people["sam"], request=request, supervisor_number="7")

    assert (refused.value.code, refused.value.status) == ("draw.pool_copy_missing", 503)
    assert not DrawPool.objects.filter(request=request).exists()

    call_command("migrate", verbosity=0, interactive=False)

    assert draw_copy.installed(connection)
    assert copies(suspended)[0][1] == ExpertStatus.SUSPENDED
    request = services.draw_run(actor=people["sam"], request=request, supervisor_number="7")
    assert request.frozen.excluded == {ExclusionReason.NOT_ACTIVE: [suspended.code]}
    assert request.frozen.pool() == {"A0101": sorted(e.code for e in others)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("specialty_list")
def test_migrations_run_without_the_triggers_so_that_sqlite_can_rebuild_a_table_and_get_them_back():
    assert draw_copy.installed(connection)

    emit_pre_migrate_signal(verbosity=0, interactive=False, db=connection.alias)
    assert not draw_copy.installed(connection)
    # What Django's SQLite schema editor does for most changes to a table's columns
    # (PostgreSQL alters tables in place). With the triggers in place, renaming the
    # rebuilt table fails: they name it.
    if connection.vendor == "sqlite":
        with connection.schema_editor() as editor:
            editor._remake_table(Expert)
            editor._remake_table(ExpertSpecialty)
    emit_post_migrate_signal(verbosity=0, interactive=False, db=connection.alias)

    assert draw_copy.installed(connection)
