"""The expert pool (评标专家库): records, status, declared conflicts, unavailable dates, import.

Writes only; reads are in ``experts.selectors_pool``. Every change is audited
(``experts.expert.*``) in the transaction that makes it.

Personal data in the audit chain: the identity number appears only masked —
its first 6 and last 4 characters, the 8 in between starred
(``experts.id_number.mask``) — and the mobile number and e-mail address only
masked too (``138****0001``, ``z***@example.cn``). Nothing here logs, and the
functions that handle the full number hide it from Django's error reports
(``sensitive_variables``); ``ExpertInput`` leaves it out of its ``repr``.

Who may do what: the platform administrator maintains the pool; an expert
(role ``expert``, linked through ``Expert.user``) may change their own mobile,
e-mail and unavailable dates and nothing else. ``actor=None`` is the system
itself (demo seeding, data migrations).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from accounts import credit_code as credit_codes
from accounts.models import Organisation, Role, User, validate_credit_code
from audit.services import record
from core.errors import DomainError, NotPermitted
from experts import id_number
from experts.models import (
    ConflictKind,
    Expert,
    ExpertConflict,
    ExpertStatus,
    ExpertTitle,
    ExpertUnavailability,
    Specialty,
)
from tendering.regions import REGION_NAMES

MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")
CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,19}$")
GENERATED_CODE_PREFIX = "ZJ"
# Several specialty codes in one cell: 、 (the enumeration comma) or ; as the
# format says; the full-width semicolon and commas are accepted too, since
# that is what people type in Chinese spreadsheets.
SPECIALTY_SEPARATORS = re.compile(r"[、;；,，\s]+")
MAX_UNAVAILABLE_DAYS = 366
MAX_IMPORT_ROWS = 5000
MAX_IMPORT_BYTES = 5 * 1024 * 1024
_IN_CHUNK = 500


# --- input ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpertInput:
    """An expert record as entered (form or import row), before normalisation.

    ``code`` may be left empty on creation (the next ``ZJnnnnnn`` is given);
    ``specialty_codes`` must name leaf specialties; ``title`` and ``region``
    accept the stored value or its Chinese label (``副高级``, ``浙江省``).
    """

    name: str
    id_number: str = field(repr=False)
    mobile: str
    title: str
    region: str
    specialty_codes: tuple[str, ...]
    code: str = ""
    email: str = ""
    employer_name: str = ""
    employer_credit_code: str = ""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of an input."""

    field: str
    code: str
    message: str

    def error(self) -> DomainError:
        return DomainError(self.code, self.message, field=self.field)


@dataclass(frozen=True)
class _Checked:
    """An input with every value normalised and the specialties resolved."""

    values: dict[str, str] = field(repr=False)
    specialties: tuple[Specialty, ...]


# --- permissions -----------------------------------------------------------------------


def _is_pool_admin(actor: User | None) -> bool:
    return actor is None or actor.has_role(Role.PLATFORM_ADMIN)


def _require_pool_admin(actor: User | None) -> None:
    if not _is_pool_admin(actor):
        raise NotPermitted("experts.pool_admin_only", _("只有平台管理员可以维护评标专家库。"))


def _require_self_or_admin(actor: User | None, expert: Expert) -> None:
    if _is_pool_admin(actor):
        return
    assert actor is not None
    if not (actor.has_role(Role.EXPERT) and expert.user_id == actor.pk):
        raise NotPermitted("experts.not_own", _("只能修改本人的专家信息。"))


# --- masking --------------------------------------------------------------------------------


def mask_mobile(value: str) -> str:
    """``138****0001``: the carrier prefix and the last four digits."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_email(value: str) -> str:
    """``z***@example.cn``: the first character of the mailbox and the domain."""
    if not value:
        return ""
    local, _at, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


_MASKS = {"id_number": id_number.mask, "mobile": mask_mobile, "email": mask_email}


def _for_audit(name: str, value: Any) -> Any:
    mask = _MASKS.get(name)
    return mask(value) if mask is not None and value else value


# --- checking one input ----------------------------------------------------------------------


_TITLES = {
    **{value: value for value in ExpertTitle.values},
    **{str(label): value for value, label in ExpertTitle.choices},
}
_STATUSES = {
    **{value: value for value in ExpertStatus.values},
    **{str(label): value for value, label in ExpertStatus.choices},
}


def _title_value(text: str) -> str | None:
    # Labels are compared in Chinese, the language of the files and of the stored labels.
    return {**_TITLES, "正高": ExpertTitle.SENIOR_FULL, "副高": ExpertTitle.SENIOR}.get(text)


def _region_value(text: str) -> str | None:
    """The region code for a code or its Chinese name, whatever language the importing page is in."""
    if text in REGION_NAMES:
        return text
    with translation.override(settings.LANGUAGE_CODE):
        by_name = {str(name): code for code, name in REGION_NAMES.items()}
    return by_name.get(text)


def status_value(text: str) -> str | None:
    """The stored status for a value or its Chinese label (在库, 暂停, 退出), else None."""
    return _STATUSES.get(text.strip())


def normalise_mobile(value: str) -> str:
    """Without spaces or hyphens, and without a +86 / 0086 country prefix."""
    mobile = re.sub(r"[\s-]", "", value)
    for prefix in ("+86", "0086", "86"):
        if mobile.startswith(prefix) and len(mobile) == 11 + len(prefix):
            return mobile[len(prefix) :]
    return mobile


def split_specialty_codes(text: str) -> tuple[str, ...]:
    return tuple(code for code in SPECIALTY_SEPARATORS.split(text.strip().upper()) if code)


def _specialty_index() -> dict[str, tuple[Specialty, bool]]:
    """Every specialty by code, with whether it is a leaf (draws use leaves only)."""
    return {
        specialty.code: (specialty, specialty.child_count == 0)
        for specialty in Specialty.objects.annotate(child_count=Count("children"))
    }


def _check_mobile(value: str) -> tuple[str, list[Problem]]:
    mobile = normalise_mobile(value)
    if not mobile:
        return mobile, [Problem("mobile", "expert.mobile_required", gettext("请填写手机号。"))]
    if not MOBILE_PATTERN.match(mobile):
        return mobile, [
            Problem(
                "mobile",
                "expert.mobile",
                gettext("手机号应为11位中国大陆手机号码（以1开头，第2位为3至9）。"),
            )
        ]
    return mobile, []


def _check_email(value: str) -> tuple[str, list[Problem]]:
    email = value.strip()
    if not email:
        return email, []
    try:
        validate_email(email)
    except ValidationError:
        return email, [Problem("email", "expert.email", gettext("电子邮箱格式不正确。"))]
    if len(email) > 254:
        return email, [Problem("email", "expert.email", gettext("电子邮箱格式不正确。"))]
    return email, []


@sensitive_variables("data", "number")
def _check(
    data: ExpertInput,
    *,
    specialties: Mapping[str, tuple[Specialty, bool]],
    today: dt.date | None = None,
) -> tuple[_Checked, list[Problem]]:
    """Normalise every field of ``data`` and list what is wrong with each (no database writes)."""
    problems: list[Problem] = []
    values: dict[str, str] = {}

    code = data.code.strip().upper()
    if code and not CODE_PATTERN.match(code):
        problems.append(
            Problem("code", "expert.code", gettext("专家编号应为2至20位大写字母、数字或连字符。"))
        )
    values["code"] = code

    name = data.name.strip()
    if not name:
        problems.append(Problem("name", "expert.name_required", gettext("请填写姓名。")))
    elif len(name) > 50:
        problems.append(Problem("name", "expert.name_length", gettext("姓名不能超过50个字。")))
    values["name"] = name

    number = id_number.normalise(data.id_number)
    try:
        number = id_number.validate(number, today=today)
    except id_number.IdNumberError as exc:
        problems.append(Problem("id_number", f"expert.id_number.{exc.reason}", exc.message))
    values["id_number"] = number

    values["mobile"], found = _check_mobile(data.mobile)
    problems += found
    values["email"], found = _check_email(data.email)
    problems += found

    employer = data.employer_name.strip()
    employer_code = credit_codes.normalise(data.employer_credit_code)
    if len(employer) > 200:
        problems.append(
            Problem(
                "employer_name", "expert.employer_name", gettext("工作单位名称不能超过200个字。")
            )
        )
    if employer_code:
        try:
            validate_credit_code(employer_code)
        except ValidationError as exc:
            problems.append(Problem("employer_credit_code", f"expert.{exc.code}", exc.messages[0]))
        if not employer:
            problems.append(
                Problem(
                    "employer_name",
                    "expert.employer_name_required",
                    gettext("填写了工作单位统一社会信用代码时，请同时填写工作单位名称。"),
                )
            )
    values["employer_name"], values["employer_credit_code"] = employer, employer_code

    title = _title_value(data.title.strip())
    if title is None:
        problems.append(
            Problem("title", "expert.title", gettext("职称应为：正高级、副高级或中级。"))
        )
    values["title"] = title or ""

    region = _region_value(data.region.strip())
    if region is None:
        problems.append(
            Problem(
                "region",
                "expert.region",
                gettext("所在地区应为省级行政区的名称或代码，例如“浙江省”或“330000”。"),
            )
        )
    values["region"] = region or ""

    chosen: list[Specialty] = []
    codes = list(
        dict.fromkeys(code.strip().upper() for code in data.specialty_codes if code.strip())
    )
    if not codes:
        problems.append(
            Problem(
                "specialties", "expert.specialties_required", gettext("请至少选择一个评标专业。")
            )
        )
    for specialty_code in codes:
        found_specialty = specialties.get(specialty_code)
        if found_specialty is None:
            problems.append(
                Problem(
                    "specialties",
                    "expert.specialty_unknown",
                    gettext("专业代码“%(code)s”不存在。") % {"code": specialty_code},
                )
            )
        elif not found_specialty[1]:
            problems.append(
                Problem(
                    "specialties",
                    "expert.specialty_not_leaf",
                    gettext(
                        "专业代码“%(code)s”（%(name)s）不是末级专业，请填写其下的细分专业代码。"
                    )
                    % {"code": specialty_code, "name": found_specialty[0].name},
                )
            )
        else:
            chosen.append(found_specialty[0])
    return _Checked(values=values, specialties=tuple(chosen)), problems


def _duplicate_problems(values: Mapping[str, str], *, expert: Expert | None) -> list[Problem]:
    """The identity number and the code must belong to no other expert."""
    problems = []
    others = Expert.objects.exclude(pk=expert.pk) if expert is not None else Expert.objects.all()
    holder = others.filter(id_number=values["id_number"]).values_list("code", flat=True).first()
    if values["id_number"] and holder is not None:
        problems.append(
            Problem(
                "id_number",
                "expert.duplicate_id_number",
                gettext("该身份证号码已登记为专家 %(code)s。") % {"code": holder},
            )
        )
    if values["code"] and others.filter(code=values["code"]).exists():
        problems.append(Problem("code", "expert.duplicate_code", gettext("该专家编号已被使用。")))
    return problems


def _raise_first(problems: Sequence[Problem]) -> None:
    if problems:
        raise problems[0].error()


def _next_code() -> str:
    """The next ``ZJnnnnnn`` code; the caller holds the transaction that uses it."""
    highest = Expert.objects.filter(code__regex=rf"^{GENERATED_CODE_PREFIX}[0-9]{{6}}$").aggregate(
        top=Max("code")
    )
    number = int(highest["top"][len(GENERATED_CODE_PREFIX) :]) + 1 if highest["top"] else 1
    return f"{GENERATED_CODE_PREFIX}{number:06d}"


def _snapshot(expert: Expert, specialties: Iterable[Specialty]) -> dict[str, Any]:
    return {
        "code": expert.code,
        "name": expert.name,
        "id_number": expert.id_number,
        "mobile": expert.mobile,
        "email": expert.email,
        "employer_name": expert.employer_name,
        "employer_credit_code": expert.employer_credit_code,
        "title": expert.title,
        "region": expert.region,
        "status": expert.status,
        "specialties": sorted(specialty.code for specialty in specialties),
    }


def _audit_view(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _for_audit(name, value) for name, value in snapshot.items()}


_EDITABLE = (
    "name",
    "id_number",
    "mobile",
    "email",
    "employer_name",
    "employer_credit_code",
    "title",
    "region",
)


# --- create and update ---------------------------------------------------------------------------


def _create(
    *, actor: User | None, checked: _Checked, user: User | None, status: str, source: str
) -> Expert:
    """Insert a checked record; the caller holds the transaction and has checked duplicates."""
    values = checked.values
    expert = Expert.objects.create(
        code=values["code"] or _next_code(),
        user=user,
        status=status,
        **{name: values[name] for name in _EDITABLE},
    )
    expert.specialties.set(checked.specialties)
    payload = _audit_view(_snapshot(expert, checked.specialties))
    payload["source"] = source
    if user is not None:
        payload["username"] = user.get_username()
    record("experts.expert.created", actor=actor, obj=expert, data=payload)
    return expert


def _update(
    *,
    actor: User | None,
    expert: Expert,
    checked: _Checked,
    fields: Iterable[str],
    status: str | None,
    source: str,
) -> dict[str, Any]:
    """Apply the named fields of a checked record to a locked expert; audit and return what changed."""
    before = _snapshot(expert, expert.specialties.all())
    for name in fields:
        setattr(expert, name, checked.values[name])
    if status is not None:
        expert.status = status
    after = _snapshot(expert, checked.specialties)
    changes = {name: after[name] for name in after if after[name] != before[name]}
    if not changes:
        return {}
    expert.save()
    if "specialties" in changes:
        expert.specialties.set(checked.specialties)
    record(
        "experts.expert.updated",
        actor=actor,
        obj=expert,
        data={
            "code": expert.code,
            "name": expert.name,
            "changes": _audit_view(changes),
            "source": source,
        },
    )
    return changes


def _locked(expert: Expert) -> Expert:
    return Expert.objects.select_for_update().get(pk=expert.pk)


@sensitive_variables("data", "checked")
def expert_create(*, actor: User | None, data: ExpertInput, user: User | None = None) -> Expert:
    """Add an expert to the pool (status active).

    Checks every field (``DomainError`` with the field at fault, the first
    problem found): a valid identity number (GB 11643) no other expert holds,
    a mobile number ``1[3-9]\\d{9}``, an e-mail address if given, a valid
    credit code for the employer if given (with the employer's name), a
    title, a province-level region and at least one leaf specialty. An empty
    code gets the next ``ZJnnnnnn``. ``user``, if given, must be an expert
    account not yet linked to another record. Audited as
    ``experts.expert.created`` with the identity number masked.
    """
    _require_pool_admin(actor)
    checked, problems = _check(data, specialties=_specialty_index())
    _raise_first(problems)
    with transaction.atomic():
        _raise_first(_duplicate_problems(checked.values, expert=None))
        if user is not None:
            _check_account(user, expert=None)
        return _create(
            actor=actor, checked=checked, user=user, status=ExpertStatus.ACTIVE, source="form"
        )


@sensitive_variables("data", "checked")
def expert_update(*, actor: User | None, expert: Expert, data: ExpertInput) -> Expert:
    """Change an expert's record (everything but the code, status and account link).

    The same checks as ``expert_create``. The code is fixed once given: the
    frozen pools of past draws name experts by code. An empty ``data.code``
    means "unchanged". Audited as ``experts.expert.updated`` with only the
    fields that changed (personal data masked); no change, no record.
    """
    _require_pool_admin(actor)
    checked, problems = _check(data, specialties=_specialty_index())
    if checked.values["code"] and checked.values["code"] != expert.code:
        problems.insert(
            0,
            Problem(
                "code",
                "expert.code_fixed",
                gettext("专家编号登记后不能修改（历史抽取记录以编号为准）。"),
            ),
        )
    _raise_first(problems)
    with transaction.atomic():
        expert = _locked(expert)
        checked.values["code"] = expert.code
        _raise_first(_duplicate_problems(checked.values, expert=expert))
        _update(
            actor=actor,
            expert=expert,
            checked=checked,
            fields=_EDITABLE,
            status=None,
            source="form",
        )
    return expert


def expert_contact_update(*, actor: User, expert: Expert, mobile: str, email: str) -> Expert:
    """An expert's own (or the platform's) change of mobile number and e-mail address.

    The only fields of the record an expert may change themselves; audited as
    ``experts.expert.contact_updated`` with both values masked.
    """
    _require_self_or_admin(actor, expert)
    mobile, problems = _check_mobile(mobile)
    email, found = _check_email(email)
    _raise_first(problems + found)
    with transaction.atomic():
        expert = _locked(expert)
        changes = {
            name: value
            for name, value in (("mobile", mobile), ("email", email))
            if getattr(expert, name) != value
        }
        if changes:
            for name, value in changes.items():
                setattr(expert, name, value)
            expert.save(update_fields=[*changes, "updated_at"])
            record(
                "experts.expert.contact_updated",
                actor=actor,
                obj=expert,
                data={"code": expert.code, "changes": _audit_view(changes)},
            )
    return expert


def expert_set_status(*, actor: User | None, expert: Expert, status: str, reason: str) -> Expert:
    """Put an expert in the pool (active), suspend them or retire them, for a stated reason.

    Only active experts are ever drawn. Audited as
    ``experts.expert.status_changed`` with the old and new status and the reason.
    """
    _require_pool_admin(actor)
    if status not in ExpertStatus.values:
        raise DomainError("expert.status", _("专家状态无效。"), field="status")
    reason = reason.strip()
    if not reason:
        raise DomainError("expert.status_reason", _("请填写变更原因。"), field="reason")
    with transaction.atomic():
        expert = _locked(expert)
        if expert.status == status:
            raise DomainError("expert.status_unchanged", _("专家当前已是该状态。"), field="status")
        previous = expert.status
        expert.status = status
        expert.save(update_fields=["status", "updated_at"])
        record(
            "experts.expert.status_changed",
            actor=actor,
            obj=expert,
            data={
                "code": expert.code,
                "name": expert.name,
                "from": previous,
                "to": status,
                "reason": reason,
            },
        )
    return expert


def _check_account(user: User, *, expert: Expert | None) -> None:
    if not user.has_role(Role.EXPERT):
        raise DomainError(
            "expert.account_role",
            _("只能关联具有“评标专家”角色且已启用的平台账户。"),
            field="username",
        )
    linked = Expert.objects.filter(user=user)
    if expert is not None:
        linked = linked.exclude(pk=expert.pk)
    holder = linked.values_list("code", flat=True).first()
    if holder is not None:
        raise DomainError(
            "expert.account_taken", _("该账户已关联专家 %(expert)s。"), field="username", expert=holder
        )


def expert_account_link(*, actor: User | None, expert: Expert, username: str) -> Expert:
    """Link the expert record to a platform account (an empty username unlinks it).

    The account is what the expert signs in with to see and change their own
    details. It must hold the expert role and not be linked to another
    record. Audited as ``experts.expert.account_linked``.
    """
    _require_pool_admin(actor)
    username = username.strip()
    user: User | None = None
    if username:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise DomainError("expert.account_unknown", _("没有该用户名的账户。"), field="username")
        _check_account(user, expert=expert)
    with transaction.atomic():
        expert = _locked(expert)
        if expert.user_id == (user.pk if user is not None else None):
            return expert
        expert.user = user
        expert.save(update_fields=["user", "updated_at"])
        record(
            "experts.expert.account_linked",
            actor=actor,
            obj=expert,
            data={"code": expert.code, "username": username or None},
        )
    return expert


# --- conflicts and unavailable dates ---------------------------------------------------------


def expert_conflict_declare(
    *, actor: User | None, expert: Expert, credit_code: str, organisation_name: str, kind: str
) -> ExpertConflict:
    """Record an organisation the expert must never evaluate for (ER 12).

    ``credit_code`` is the organisation's unified social credit code,
    which is what avoidance compares; the name may be left empty for an
    organisation registered on the platform (its registered name is taken).
    Audited as ``experts.expert.conflict_declared``.
    """
    _require_pool_admin(actor)
    try:
        validate_credit_code(credit_code)
    except ValidationError as exc:
        raise DomainError(f"conflict.{exc.code}", exc.messages[0], field="credit_code") from None
    code = credit_codes.normalise(credit_code)
    name = organisation_name.strip()
    if not name:
        name = (
            Organisation.objects.filter(credit_code=code).values_list("name", flat=True).first()
            or ""
        )
    if not name:
        raise DomainError(
            "conflict.name_required",
            _("该单位未在平台登记，请填写单位名称。"),
            field="organisation_name",
        )
    if len(name) > 200:
        raise DomainError(
            "conflict.name_length", _("单位名称不能超过200个字。"), field="organisation_name"
        )
    if kind not in ConflictKind.values:
        raise DomainError("conflict.kind", _("请选择利害关系类型。"), field="kind")
    with transaction.atomic():
        expert = _locked(expert)
        if expert.conflicts.filter(credit_code=code).exists():
            raise DomainError(
                "conflict.duplicate", _("已申报与该单位的利害关系。"), field="credit_code"
            )
        conflict = ExpertConflict.objects.create(
            expert=expert, credit_code=code, organisation_name=name, kind=kind
        )
        record(
            "experts.expert.conflict_declared",
            actor=actor,
            obj=expert,
            data={
                "code": expert.code,
                "credit_code": code,
                "organisation_name": name,
                "kind": kind,
            },
        )
    return conflict


def expert_conflict_remove(*, actor: User | None, conflict: ExpertConflict) -> None:
    """Withdraw a declared conflict. Audited as ``experts.expert.conflict_removed``."""
    _require_pool_admin(actor)
    with transaction.atomic():
        expert = _locked(conflict.expert)
        deleted, _rows = ExpertConflict.objects.filter(pk=conflict.pk, expert=expert).delete()
        if not deleted:
            return
        record(
            "experts.expert.conflict_removed",
            actor=actor,
            obj=expert,
            data={
                "code": expert.code,
                "credit_code": conflict.credit_code,
                "organisation_name": conflict.organisation_name,
            },
        )


def expert_unavailability_add(
    *, actor: User, expert: Expert, start: dt.date, end: dt.date, note: str = ""
) -> ExpertUnavailability:
    """Declare days (``start`` to ``end`` inclusive) on which the expert cannot evaluate.

    By the expert themselves or the platform. ``end`` may not be before
    ``start`` nor before today (a past period changes nothing), and one
    period covers at most ``MAX_UNAVAILABLE_DAYS`` days (longer absences are a
    suspension). Audited as ``experts.expert.unavailability_added``.
    """
    _require_self_or_admin(actor, expert)
    if end < start:
        raise DomainError("unavailability.order", _("结束日期不能早于开始日期。"), field="end")
    if end < timezone.localdate():
        raise DomainError("unavailability.past", _("不可参评的日期已过去，无需申报。"), field="end")
    if (end - start).days + 1 > MAX_UNAVAILABLE_DAYS:
        raise DomainError(
            "unavailability.too_long",
            _("一次最多申报%(days)s天；长期不能参评请联系交易中心暂停专家资格。"),
            field="end",
            days=MAX_UNAVAILABLE_DAYS,
        )
    note = note.strip()
    if len(note) > 200:
        raise DomainError("unavailability.note", _("说明不能超过200个字。"), field="note")
    with transaction.atomic():
        expert = _locked(expert)
        period = ExpertUnavailability.objects.create(expert=expert, start=start, end=end, note=note)
        record(
            "experts.expert.unavailability_added",
            actor=actor,
            obj=expert,
            data={"code": expert.code, "start": start, "end": end, "note": note},
        )
    return period


def expert_unavailability_remove(*, actor: User, unavailability: ExpertUnavailability) -> None:
    """Withdraw declared unavailable days. Audited as ``experts.expert.unavailability_removed``."""
    _require_self_or_admin(actor, unavailability.expert)
    with transaction.atomic():
        expert = _locked(unavailability.expert)
        deleted, _rows = ExpertUnavailability.objects.filter(
            pk=unavailability.pk, expert=expert
        ).delete()
        if not deleted:
            return
        record(
            "experts.expert.unavailability_removed",
            actor=actor,
            obj=expert,
            data={"code": expert.code, "start": unavailability.start, "end": unavailability.end},
        )


# --- import ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportColumn:
    header: str  # exactly as in the file's first row (Chinese; a trailing * is ignored)
    field: str
    required: bool


# The file format (docs/expert-pool.md). Headers are part of the format, not
# interface text, so they are not translated.
IMPORT_COLUMNS: tuple[ImportColumn, ...] = (
    ImportColumn("专家编号", "code", True),
    ImportColumn("姓名", "name", True),
    ImportColumn("身份证号码", "id_number", True),
    ImportColumn("手机号", "mobile", True),
    ImportColumn("电子邮箱", "email", False),
    ImportColumn("工作单位", "employer_name", False),
    ImportColumn("工作单位统一社会信用代码", "employer_credit_code", False),
    ImportColumn("职称", "title", True),
    ImportColumn("所在地区", "region", True),
    ImportColumn("专业代码", "specialties", True),
    ImportColumn("状态", "status", False),
)
_HEADER_OF = {column.field: column.header for column in IMPORT_COLUMNS}
_COLUMN_BY_HEADER = {column.header: column for column in IMPORT_COLUMNS}


@dataclass(frozen=True)
class RowError:
    column: str  # the column header, or "" for the row as a whole
    message: str


@dataclass
class RowReport:
    """One data row of the file: its row number as a spreadsheet shows it (the header is row 1)."""

    number: int
    code: str
    name: str
    errors: list[RowError] = field(default_factory=list)
    action: str = ""  # "created" or "updated" once imported, "create"/"update" when it would be

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ImportReport:
    file_name: str
    rows: list[RowReport] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    imported: bool = False
    created: int = 0
    updated: int = 0

    @property
    def failed_rows(self) -> list[RowReport]:
        return [row for row in self.rows if not row.ok]

    @property
    def ok(self) -> bool:
        return self.imported


class _FileProblem(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).replace("\ufeff", "").strip()
    # A leading apostrophe is how spreadsheet users force a long number to stay text.
    return text[1:].strip() if text.startswith("'") else text


def _decode_csv(raw: bytes) -> str:
    """UTF-8 with or without BOM, else GB18030 (what Chinese Excel writes for "CSV")."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise _FileProblem(
            gettext(
                "无法识别文件的字符编码，请将文件另存为 UTF-8 或 GB18030（GBK）编码的 CSV 文件。"
            )
        ) from None


def _read_csv(raw: bytes) -> list[list[str]]:
    text = _decode_csv(raw)
    try:
        return [
            [_cell_text(cell) for cell in row] for row in csv.reader(io.StringIO(text, newline=""))
        ]
    except csv.Error:
        raise _FileProblem(gettext("CSV 文件格式错误，请检查引号是否成对。")) from None


def _read_xlsx(raw: bytes) -> list[list[str]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise _FileProblem(
            gettext("无法读取该 Excel 文件，请确认文件为 .xlsx 格式且未损坏。")
        ) from None
    try:
        if not workbook.worksheets:
            return []
        rows: list[list[str]] = []
        for values in workbook.worksheets[0].iter_rows(values_only=True):
            rows.append([_cell_text(value) for value in values])
            if len(rows) > MAX_IMPORT_ROWS + 1:
                break
        return rows
    finally:
        workbook.close()


def _read_table(name: str, raw: bytes) -> list[list[str]]:
    lowered = name.lower()
    if lowered.endswith(".xls"):
        raise _FileProblem(gettext("不支持 .xls 格式，请在 Excel 中另存为 .xlsx 或 CSV 后再导入。"))
    if lowered.endswith(".xlsx") or raw.startswith(b"PK\x03\x04"):
        return _read_xlsx(raw)
    if lowered.endswith((".csv", ".txt")) or not lowered:
        return _read_csv(raw)
    raise _FileProblem(gettext("只能导入 CSV 或 Excel（.xlsx）文件。"))


def _header_columns(header: Sequence[str]) -> dict[str, int]:
    """Field name → column index, or ``_FileProblem`` naming unknown, repeated or missing columns."""
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        title = cell.strip().rstrip("*＊").strip()
        if not title:
            continue
        column = _COLUMN_BY_HEADER.get(title)
        if column is None:
            raise _FileProblem(
                gettext("第1行有未知的列“%(name)s”。可用的列：%(columns)s。")
                % {"name": title, "columns": "、".join(_COLUMN_BY_HEADER)}
            )
        if column.field in positions:
            raise _FileProblem(gettext("第1行的列“%(name)s”重复。") % {"name": title})
        positions[column.field] = index
    missing = [
        column.header
        for column in IMPORT_COLUMNS
        if column.required and column.field not in positions
    ]
    if missing:
        raise _FileProblem(gettext("缺少必需的列：%(columns)s。") % {"columns": "、".join(missing)})
    return positions


@dataclass
class _Row:
    report: RowReport
    values: dict[str, str] = field(repr=False)
    checked: _Checked | None = None
    status: str | None = None
    existing: Expert | None = None


def _parse_rows(table: list[list[str]]) -> tuple[dict[str, int], list[_Row]]:
    # The header is the first row; blank rows (anywhere) are skipped, but rows keep their spreadsheet numbers.
    if not table or not any(table[0]):
        raise _FileProblem(gettext("第1行应为列标题（专家编号、姓名、身份证号码……），但它是空的。"))
    positions = _header_columns(table[0])
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        if not any(cells):
            continue
        values = {
            name: (cells[index] if index < len(cells) else "") for name, index in positions.items()
        }
        rows.append(
            _Row(
                RowReport(number=number, code=values["code"].strip().upper(), name=values["name"]),
                values,
            )
        )
    if not rows:
        raise _FileProblem(gettext("文件中没有专家数据。"))
    if len(rows) > MAX_IMPORT_ROWS:
        raise _FileProblem(
            gettext("一次最多导入%(max)s名专家，请拆分文件。") % {"max": MAX_IMPORT_ROWS}
        )
    return positions, rows


def _in_chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


@sensitive_variables("rows", "by_id_number", "holders")
def _check_rows(rows: list[_Row]) -> None:
    """Fill each row's report with its problems: its own fields, then duplicates in the file and the pool."""
    specialties = _specialty_index()
    today = timezone.localdate()
    for row in rows:
        values = row.values
        data = ExpertInput(
            code=values["code"],
            name=values["name"],
            id_number=values["id_number"],
            mobile=values["mobile"],
            email=values.get("email", ""),
            employer_name=values.get("employer_name", ""),
            employer_credit_code=values.get("employer_credit_code", ""),
            title=values["title"],
            region=values["region"],
            specialty_codes=split_specialty_codes(values["specialties"]),
        )
        checked, problems = _check(data, specialties=specialties, today=today)
        if not checked.values["code"]:
            problems.insert(0, Problem("code", "expert.code_required", gettext("请填写专家编号。")))
        status_text = values.get("status", "").strip()
        if status_text:
            row.status = status_value(status_text)
            if row.status is None:
                problems.append(
                    Problem("status", "expert.status", gettext("状态应为：在库、暂停或退出。"))
                )
        row.checked = checked
        row.report.errors += [
            RowError(_HEADER_OF[problem.field], problem.message) for problem in problems
        ]

    by_code: dict[str, int] = {}
    by_id_number: dict[str, int] = {}
    for row in rows:
        assert row.checked is not None
        code, number = row.checked.values["code"], row.checked.values["id_number"]
        if code:
            if code in by_code:
                row.report.errors.append(
                    RowError(
                        _HEADER_OF["code"],
                        gettext("与第%(row)s行的专家编号重复。") % {"row": by_code[code]},
                    )
                )
            else:
                by_code[code] = row.report.number
        if number:
            if number in by_id_number:
                row.report.errors.append(
                    RowError(
                        _HEADER_OF["id_number"],
                        gettext("与第%(row)s行的身份证号码重复。") % {"row": by_id_number[number]},
                    )
                )
            else:
                by_id_number[number] = row.report.number

    existing: dict[str, Expert] = {}
    for chunk in _in_chunks(list(by_code)):
        existing.update(Expert.objects.select_for_update().in_bulk(chunk, field_name="code"))
    holders: dict[str, str] = {}
    for chunk in _in_chunks(list(by_id_number)):
        holders.update(Expert.objects.filter(id_number__in=chunk).values_list("id_number", "code"))
    for row in rows:
        assert row.checked is not None
        code, number = row.checked.values["code"], row.checked.values["id_number"]
        row.existing = existing.get(code)
        holder = holders.get(number)
        if holder is not None and holder != code:
            row.report.errors.append(
                RowError(
                    _HEADER_OF["id_number"],
                    gettext("该身份证号码已登记为专家 %(code)s。") % {"code": holder},
                )
            )
        row.report.action = "update" if row.existing is not None else "create"


@sensitive_variables("raw", "table", "rows")
def experts_import(*, actor: User | None, file: BinaryIO | Any) -> ImportReport:
    """Import experts from a CSV (UTF-8 with or without BOM, or GB18030) or XLSX file: all or nothing.

    The columns are ``IMPORT_COLUMNS`` (docs/expert-pool.md); the first row is
    the header, blank rows are skipped. Every row is checked first, with the
    same rules as ``expert_create``, plus: a code is required; a code or an
    identity number may appear only once in the file; an identity number may
    not belong to an expert with another code. If any row (or the file
    itself) has a problem, nothing is imported and the report lists, per
    row, each column at fault with its message.

    The matching rule: a row whose 专家编号 is already in the pool updates
    that expert — every column present in the file replaces the stored value
    (an empty cell clears an optional field), a column absent from the file
    leaves the field as it is, and an empty 状态 keeps the status. Any other
    row creates an expert (状态 empty: 在库). Account links are never changed
    by an import.

    Everything happens in one transaction, with one audit record per
    expert created or changed (``experts.expert.created`` / ``.updated``,
    ``source: import``) and one for the file (``experts.expert.imported``,
    with its SHA-256 and the counts).
    """
    _require_pool_admin(actor)
    file_name = str(getattr(file, "name", "") or "")
    report = ImportReport(file_name=file_name.rsplit("/", 1)[-1])
    raw = file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        report.file_errors.append(
            gettext("文件不能超过%(mb)s MB，请拆分后分批导入。")
            % {"mb": MAX_IMPORT_BYTES // (1024 * 1024)}
        )
        return report
    try:
        table = _read_table(file_name, raw)
        positions, rows = _parse_rows(table)
    except _FileProblem as problem:
        report.file_errors.append(problem.message)
        return report
    report.rows = [row.report for row in rows]
    with transaction.atomic():
        _check_rows(rows)
        if report.failed_rows:
            return report
        update_fields = [name for name in _EDITABLE if name in positions]
        for row in rows:
            assert row.checked is not None
            if row.existing is None:
                _create(
                    actor=actor,
                    checked=row.checked,
                    user=None,
                    status=row.status or ExpertStatus.ACTIVE,
                    source="import",
                )
                row.report.action = "created"
                report.created += 1
            else:
                _update(
                    actor=actor,
                    expert=row.existing,
                    checked=row.checked,
                    fields=update_fields,
                    status=row.status,
                    source="import",
                )
                row.report.action = "updated"
                report.updated += 1
        record(
            "experts.expert.imported",
            actor=actor,
            data={
                "file_name": report.file_name,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "rows": len(rows),
                "created": report.created,
                "updated": report.updated,
            },
        )
    report.imported = True
    return report


def import_template_csv() -> bytes:
    """The header row of the import format as a UTF-8 CSV with BOM (so that Excel opens it in Chinese)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([column.header for column in IMPORT_COLUMNS])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
