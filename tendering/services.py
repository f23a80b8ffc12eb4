"""Writes of the tender lifecycle. Every state change is audited in its transaction.

Guard first, then change: each service checks the actor's right to the object
and the rules of ../shared/RULES.md, locks the rows it changes, and only then
writes. Notifications and e-mails leave after commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, OrganisationKind, Role, User
from accounts.services import notify_users
from audit.models import CheckpointReason, Sensitivity
from audit.services import record
from audit.tree import checkpoint_request
from core.errors import DomainError, NotFound, NotPermitted
from finance.services import savings_fact_record
from opening import selectors as opening_selectors
from opening import services as opening
from tendering import tasks
from tendering.models import (
    Amendment,
    Category,
    DeadlineChange,
    DocumentObtain,
    EvaluationMethod,
    Lot,
    LotStatus,
    Tender,
    TenderDocument,
    TenderStatus,
)
from tendering.regions import REGION_NAMES

# Which lot states each state may move to. Anything else is refused.
LOT_TRANSITIONS: dict[str, frozenset[str]] = {
    LotStatus.DRAFT: frozenset({LotStatus.PUBLISHED, LotStatus.CANCELLED}),
    LotStatus.PUBLISHED: frozenset({LotStatus.BIDDING_CLOSED, LotStatus.CANCELLED}),
    LotStatus.BIDDING_CLOSED: frozenset({LotStatus.OPENING, LotStatus.FAILED, LotStatus.CANCELLED}),
    LotStatus.OPENING: frozenset({LotStatus.OPENED, LotStatus.FAILED, LotStatus.CANCELLED}),
    LotStatus.OPENED: frozenset({LotStatus.EVALUATING, LotStatus.FAILED, LotStatus.CANCELLED}),
    LotStatus.EVALUATING: frozenset({LotStatus.AWARDED, LotStatus.FAILED, LotStatus.CANCELLED}),
    LotStatus.AWARDED: frozenset(),
    LotStatus.FAILED: frozenset(),
    LotStatus.CANCELLED: frozenset(),
}

MIN_DECRYPTION_MINUTES = 5
MAX_DECRYPTION_MINUTES = 240


@dataclass(frozen=True, kw_only=True)
class TenderInput:
    title: str
    project_name: str
    tenderer_id: int
    category: str
    region: str
    description: str
    contact_name: str
    contact_phone: str
    # Optional on a draft, required to publish.
    supervising_authority_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class LotInput:
    name: str
    estimated_price: Decimal
    control_price: Decimal
    bid_security: Decimal
    doc_start: dt.datetime
    doc_end: dt.datetime
    bid_deadline: dt.datetime
    opening_time: dt.datetime
    evaluation_method: str
    decryption_minutes: int = 30
    min_bidders: int = 3
    # Extra items of the sealed bid summary: {"key", "label", "required"} each.
    bid_fields: tuple[dict[str, Any], ...] = ()
    # The opening key's custodians (none: the agency, the supervising
    # authority and the tenderer) and how many of them rebuild it.
    custodian_ids: tuple[int, ...] = ()
    custodian_threshold: int = 2
    # Whether the custodians may open a bid its bidder could not decrypt through no fault of its own.
    custodian_fallback: bool = True


# The bid summary's own items (docs/sealing.md): an extra field may not take their names.
RESERVED_BID_FIELD_KEYS = frozenset({"price", "duration_days", "quality"})
BID_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_BID_FIELDS = 20
MAX_BID_FIELD_LABEL = 50


# --- guards -------------------------------------------------------------------


def _require_agent_of(actor: User, tender: Tender) -> None:
    """The actor is an agent of the tender's agency; others do not see it at all."""
    if not actor.has_role(Role.AGENT):
        raise NotPermitted("permission.role", _("只有招标代理机构经办人可以进行此操作。"))
    if actor.organisation_id != tender.agency_id:
        raise NotFound("tender.not_found", _("招标项目不存在。"))


def _require_draft(tender: Tender) -> None:
    if tender.status != TenderStatus.DRAFT:
        raise DomainError("tender.not_draft", _("公告已发布，不能再修改；请发布澄清或补遗。"), status=409)


def _clean_text(value: str, field: str, label: Any, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError("field.required", _("请填写%(label)s。"), field=field, label=label)
    if len(value) > max_length:
        raise DomainError(
            "field.too_long", _("%(label)s不能超过%(max)d个字符。"), field=field, label=label, max=max_length
        )
    return value


def _validate_tender_input(data: TenderInput) -> Organisation:
    _clean_text(data.title, "title", _("公告标题"), 200)
    _clean_text(data.project_name, "project_name", _("项目名称"), 200)
    _clean_text(data.description, "description", _("公告正文"), 100_000)
    _clean_text(data.contact_name, "contact_name", _("联系人"), 50)
    _clean_text(data.contact_phone, "contact_phone", _("联系电话"), 30)
    if data.category not in Category.values:
        raise DomainError("tender.category", _("请选择有效的交易类别。"), field="category")
    if data.region not in REGION_NAMES:
        raise DomainError("tender.region", _("请选择有效的项目所在地区。"), field="region")
    tenderer = Organisation.objects.filter(
        pk=data.tenderer_id, kind=OrganisationKind.TENDERER, is_active=True
    ).first()
    if tenderer is None:
        raise DomainError("tender.tenderer", _("请选择已登记的招标人。"), field="tenderer")
    return tenderer


def _supervising_authority(data: TenderInput) -> Organisation | None:
    """The chosen supervising authority: an active organisation of kind supervisor, or none yet."""
    if data.supervising_authority_id is None:
        return None
    authority = Organisation.objects.filter(
        pk=data.supervising_authority_id, kind=OrganisationKind.SUPERVISOR, is_active=True
    ).first()
    if authority is None:
        raise DomainError(
            "tender.supervising_authority", _("请选择已登记的监督部门。"), field="supervising_authority"
        )
    return authority


def bid_fields_validate(fields: Sequence[Any]) -> list[dict[str, Any]]:
    """The lot's extra bid summary items, checked and normalised to [{"key", "label", "required"}].

    Keys match ``^[a-z][a-z0-9_]{0,39}$`` (the sealed manifest's rule), are
    unique and are not the summary's own items; labels have 1 to 50
    characters; at most 20 items.
    """
    if not isinstance(fields, (list, tuple)):
        raise DomainError("lot.bid_fields", _("其他投标填报项格式无效。"), field="bid_fields")
    if len(fields) > MAX_BID_FIELDS:
        raise DomainError(
            "lot.bid_fields_too_many", _("其他投标填报项最多%(max)d项。"), field="bid_fields", max=MAX_BID_FIELDS
        )
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in fields:
        if not isinstance(item, dict) or set(item) != {"key", "label", "required"}:
            raise DomainError("lot.bid_fields", _("其他投标填报项格式无效。"), field="bid_fields")
        key, label, required = item["key"], item["label"], item["required"]
        if not isinstance(key, str) or not BID_FIELD_KEY.fullmatch(key):
            raise DomainError(
                "lot.bid_field_key",
                _("填报项代码“%(key)s”无效：应以小写字母开头，只含小写字母、数字和下划线，不超过40个字符。"),
                field="bid_fields",
                key=str(key)[:60],
            )
        if key in RESERVED_BID_FIELD_KEYS:
            raise DomainError(
                "lot.bid_field_reserved",
                _("填报项代码“%(key)s”为投标报价、工期、质量的保留代码，请换一个。"),
                field="bid_fields",
                key=key,
            )
        if key in seen:
            raise DomainError(
                "lot.bid_field_duplicate", _("填报项代码“%(key)s”重复。"), field="bid_fields", key=key
            )
        seen.add(key)
        label = label.strip() if isinstance(label, str) else ""
        if not 1 <= len(label) <= MAX_BID_FIELD_LABEL:
            raise DomainError(
                "lot.bid_field_label",
                _("填报项“%(key)s”的名称应为1至%(max)d个字符。"),
                field="bid_fields",
                key=key,
                max=MAX_BID_FIELD_LABEL,
            )
        if not isinstance(required, bool):
            raise DomainError("lot.bid_fields", _("其他投标填报项格式无效。"), field="bid_fields")
        cleaned.append({"key": key, "label": label, "required": required})
    return cleaned


def _custody_choice(tender: Tender, data: LotInput) -> list[Organisation]:
    """The custodians named for the lot, checked; an empty list when they are the defaults.

    Named custodians must be among ``opening.selectors.custodian_candidates``;
    naming exactly the defaults stores nothing, so the lot follows a later
    change of the supervising authority.
    """
    ids = list(dict.fromkeys(data.custodian_ids))
    candidates = {org.pk: org for org in opening_selectors.custodian_candidates(tender=tender)}
    unknown = [pk for pk in ids if pk not in candidates]
    if unknown:
        raise DomainError(
            "opening.custodian_not_allowed",
            _("开标密钥保管单位只能是本项目的招标代理机构、招标人或监督部门。"),
            field="custodians",
        )
    chosen = [candidates[pk] for pk in ids]
    defaults = opening_selectors.default_custodians(tender=tender)
    # Only the full default three collapse: before the supervising authority is
    # chosen, naming the agency and the tenderer means just those two.
    complete = tender.supervising_authority_id is not None
    if complete and {org.pk for org in chosen} == {org.pk for org in defaults}:
        chosen = []
    # The defaults are three once the supervising authority is chosen (a draft
    # may choose it later); publication checks the whole custody again.
    count = len(chosen) if chosen else opening_selectors.DEFAULT_CUSTODIAN_COUNT
    opening.custody_validate(count=count, threshold=data.custodian_threshold)
    return chosen


def lot_validate(data: LotInput) -> None:
    """The rules a lot must meet to be saved, whatever the clock says (RULES.md TR 26, TR 44)."""
    _clean_text(data.name, "name", _("标段名称"), 200)
    if data.estimated_price <= 0:
        raise DomainError("lot.estimated_price", _("项目估算价必须大于零。"), field="estimated_price")
    if data.control_price <= 0:
        raise DomainError("lot.control_price", _("最高投标限价必须大于零。"), field="control_price")
    if data.bid_security < 0:
        raise DomainError("lot.bid_security", _("投标保证金不能为负数。"), field="bid_security")
    rate = Decimal(settings.SUNBID["BID_SECURITY_MAX_RATE"])
    # Rounded down to the fen: a ceiling rounded up would admit a security above 2%.
    ceiling = (data.estimated_price * rate).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    if data.bid_security > ceiling:
        raise DomainError(
            "lot.bid_security_over_limit",
            _("投标保证金不得超过项目估算价的2%%（最多 %(ceiling)s 元）。"),
            field="bid_security",
            ceiling=f"{ceiling:,}",
        )
    for name in ("doc_start", "doc_end", "bid_deadline", "opening_time"):
        if timezone.is_naive(getattr(data, name)):
            raise DomainError("lot.naive_time", _("时间必须带有时区。"), field=name)
    if data.doc_end <= data.doc_start:
        raise DomainError("lot.doc_window", _("招标文件获取截止时间应晚于开始时间。"), field="doc_end")
    if data.bid_deadline < data.doc_end:
        raise DomainError("lot.deadline_before_doc_end", _("投标截止时间不能早于招标文件获取截止时间。"), field="bid_deadline")
    if data.opening_time < data.bid_deadline:
        raise DomainError("lot.opening_before_deadline", _("开标时间不能早于投标截止时间。"), field="opening_time")
    if data.evaluation_method not in EvaluationMethod.values:
        raise DomainError("lot.evaluation_method", _("请选择评标办法。"), field="evaluation_method")
    if not MIN_DECRYPTION_MINUTES <= data.decryption_minutes <= MAX_DECRYPTION_MINUTES:
        raise DomainError(
            "lot.decryption_minutes",
            _("解密时限应在%(min)d至%(max)d分钟之间。"),
            field="decryption_minutes",
            min=MIN_DECRYPTION_MINUTES,
            max=MAX_DECRYPTION_MINUTES,
        )
    if data.min_bidders < settings.SUNBID["MIN_BIDDERS"]:
        raise DomainError(
            "lot.min_bidders",
            _("最少投标人数不得少于%(min)d家。"),
            field="min_bidders",
            min=settings.SUNBID["MIN_BIDDERS"],
        )
    bid_fields_validate(data.bid_fields)


def _lot_audit_data(lot: Lot) -> dict[str, Any]:
    return {
        "number": lot.number,
        "name": lot.name,
        "estimated_price": lot.estimated_price,
        "control_price": lot.control_price,
        "bid_security": lot.bid_security,
        "doc_start": lot.doc_start,
        "doc_end": lot.doc_end,
        "bid_deadline": lot.bid_deadline,
        "opening_time": lot.opening_time,
        "decryption_minutes": lot.decryption_minutes,
        "min_bidders": lot.min_bidders,
        "evaluation_method": lot.evaluation_method,
        "bid_fields": lot.bid_fields,
        "custodian_threshold": lot.custodian_threshold,
        "custodian_fallback": lot.custodian_fallback,
        "custodians": [organisation.name for organisation in opening_selectors.custodians_planned(lot=lot)],
    }


def _lot_input_of(lot: Lot) -> LotInput:
    """A saved lot as the input that would save it again (publication re-checks every rule)."""
    values = {name: getattr(lot, name) for name in LotInput.__dataclass_fields__ if hasattr(lot, name)}
    values["bid_fields"] = tuple(lot.bid_fields or ())
    values["custodian_ids"] = tuple(lot.custodians.values_list("pk", flat=True))
    return LotInput(**values)


def _locked_tender(tender: Tender) -> Tender:
    return Tender.objects.select_for_update().get(pk=tender.pk)


# --- drafting -------------------------------------------------------------------


def tender_create(*, actor: User, data: TenderInput) -> Tender:
    """Create a draft announcement for the actor's agency."""
    if not actor.has_role(Role.AGENT) or actor.organisation is None:
        raise NotPermitted("permission.role", _("只有招标代理机构经办人可以创建招标公告。"))
    tenderer = _validate_tender_input(data)
    authority = _supervising_authority(data)
    with transaction.atomic():
        tender = Tender.objects.create(
            code=f"DRAFT-{timezone.now():%Y%m%d%H%M%S%f}-{actor.pk}",
            title=data.title.strip(),
            project_name=data.project_name.strip(),
            tenderer=tenderer,
            agency=actor.organisation,
            category=data.category,
            region=data.region,
            description=data.description.strip(),
            contact_name=data.contact_name.strip(),
            contact_phone=data.contact_phone.strip(),
            supervising_authority=authority,
            created_by=actor,
        )
        tender.code = f"SB{timezone.localdate():%Y}{tender.pk:06d}"
        tender.save(update_fields=["code"])
        record("tendering.tender.created", actor=actor, obj=tender, data={"code": tender.code, **asdict(data)})
    return tender


def tender_update(*, actor: User, tender: Tender, data: TenderInput) -> Tender:
    """Change a draft announcement's own fields."""
    _require_agent_of(actor, tender)
    tenderer = _validate_tender_input(data)
    authority = _supervising_authority(data)
    with transaction.atomic():
        tender = _locked_tender(tender)
        _require_draft(tender)
        for name, value in asdict(data).items():
            if name not in ("tenderer_id", "supervising_authority_id"):
                setattr(tender, name, value.strip() if isinstance(value, str) else value)
        tender.tenderer = tenderer
        tender.supervising_authority = authority
        tender.save()
        record("tendering.tender.updated", actor=actor, obj=tender, data=asdict(data))
    return tender


def lot_save(*, actor: User, tender: Tender, data: LotInput, lot: Lot | None = None) -> Lot:
    """Add a lot to a draft announcement, or change one of its lots.

    Besides ``lot_validate``: the extra bid items (``bid_fields_validate``)
    and the opening key's custody (custodians among the tender's agency,
    tenderer and supervising authorities; 2 to 7 of them; a threshold from 2
    to their number).
    """
    _require_agent_of(actor, tender)
    lot_validate(data)
    bid_fields = bid_fields_validate(data.bid_fields)
    with transaction.atomic():
        tender = _locked_tender(tender)
        _require_draft(tender)
        custodians = _custody_choice(tender, data)
        if lot is None:
            number = (tender.lots.order_by("-number").values_list("number", flat=True).first() or 0) + 1
            lot = Lot(tender=tender, number=number)
            action = "tendering.lot.created"
        else:
            # The locked row, not the caller's copy: a full save of a stale copy would rewrite its state.
            lot = Lot.objects.select_for_update().filter(pk=lot.pk, tender=tender).first()
            if lot is None:
                raise NotFound("lot.not_found", _("标段不存在。"))
            action = "tendering.lot.updated"
        for name, value in asdict(data).items():
            if name not in ("bid_fields", "custodian_ids"):
                setattr(lot, name, value.strip() if isinstance(value, str) else value)
        lot.bid_fields = bid_fields
        lot.save()
        lot.custodians.set(custodians)
        record(action, actor=actor, obj=lot, data=_lot_audit_data(lot))
    return lot


def lot_delete(*, actor: User, lot: Lot) -> None:
    """Remove a lot from a draft announcement."""
    tender = lot.tender
    _require_agent_of(actor, tender)
    with transaction.atomic():
        tender = _locked_tender(tender)
        _require_draft(tender)
        record("tendering.lot.deleted", actor=actor, obj=lot, data={"number": lot.number, "name": lot.name})
        lot.delete()


def document_upload(
    *, actor: User, tender: Tender, upload: UploadedFile, amendment: Amendment | None = None
) -> TenderDocument:
    """Store a tender document (or an amendment's attachment) with its SHA-256."""
    _require_agent_of(actor, tender)
    name = (upload.name or "").rsplit("/", 1)[-1].strip()
    if not name:
        raise DomainError("document.name", _("文件名不能为空。"), field="file")
    if upload.size is None or upload.size == 0:
        raise DomainError("document.empty", _("文件为空，请重新选择。"), field="file")
    limit = settings.TENDER_DOCUMENT_MAX_BYTES
    if upload.size > limit:
        raise DomainError(
            "document.too_large", _("文件超过大小上限（%(mb)d MB）。"), field="file", mb=limit // (1024 * 1024)
        )
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    with transaction.atomic():
        tender = _locked_tender(tender)
        # Checked on the locked row, not on the caller's object, which may predate a publication.
        if tender.status == TenderStatus.CANCELLED:
            raise DomainError("tender.cancelled", _("招标已终止。"), status=409)
        if tender.status == TenderStatus.PUBLISHED and amendment is None:
            raise DomainError("tender.not_draft", _("公告发布后，新文件须随澄清或补遗发布。"), status=409)
        document = TenderDocument(
            tender=tender,
            amendment=amendment,
            original_name=name[:200],
            size=upload.size,
            sha256=digest.hexdigest(),
            uploaded_by=actor,
        )
        document.file.save(name, upload, save=False)
        document.save()
        record(
            "tendering.document.uploaded",
            actor=actor,
            obj=document,
            data={"name": document.original_name, "size": document.size, "sha256": document.sha256,
                  "amendment": amendment.number if amendment else None},
        )
    return document


# --- publication ------------------------------------------------------------------


def _transition(lot: Lot, target: str, *, actor: User | None, action: str, data: dict[str, Any] | None = None) -> None:
    """Move a locked lot to ``target`` if the state machine allows it. Caller holds the row lock."""
    if target not in LOT_TRANSITIONS[lot.status]:
        raise DomainError(
            "lot.illegal_transition",
            _("标段当前状态为“%(current)s”，不能变更为“%(target)s”。"),
            status=409,
            current=LotStatus(lot.status).label,
            target=LotStatus(target).label,
        )
    previous = lot.status
    lot.status = target
    lot.status_changed_at = timezone.now()
    lot.save()
    record(action, actor=actor, obj=lot, data={"from": previous, "to": target, **(data or {})})


def tender_publish(*, actor: User, tender: Tender) -> Tender:
    """Publish a draft announcement and all its lots, and schedule their timed steps.

    Needs lots, the tender documents and a supervising authority
    (``tender.no_supervising_authority``); every lot is checked again as on
    saving. Every lot gets its opening key, split among its custodians
    (``opening.services.opening_key_create``): refused, before anything is
    made, when a custodian has no registered key
    (``opening.custodian_without_key``).
    """
    _require_agent_of(actor, tender)
    with transaction.atomic():
        tender = _locked_tender(tender)
        # The clock is read once the lock is held: a long wait must not let a stale "now" through.
        now = timezone.now()
        _require_draft(tender)
        lots = list(tender.lots.select_for_update().order_by("number"))
        if not lots:
            raise DomainError("tender.no_lots", _("公告至少需要一个标段。"))
        if not tender.documents.filter(amendment__isnull=True).exists():
            raise DomainError("tender.no_documents", _("发布前请上传招标文件。"))
        if tender.supervising_authority_id is None:
            raise DomainError(
                "tender.no_supervising_authority",
                _("发布前请选择本项目的监督部门。"),
                field="supervising_authority",
            )
        for lot in lots:
            lot_validate(_lot_input_of(lot))
            if lot.doc_end <= now or lot.bid_deadline <= now:
                raise DomainError(
                    "lot.times_in_past",
                    _("第%(number)d标段的招标文件获取截止时间或投标截止时间已过，请修改后再发布。"),
                    number=lot.number,
                )
        # Every custodian must have a key before any opening key is made.
        opening.opening_keys_check(lots=lots)
        tender.status = TenderStatus.PUBLISHED
        tender.published_at = now
        tender.save(update_fields=["status", "published_at", "updated_at"])
        record(
            "tendering.tender.published",
            actor=actor,
            obj=tender,
            data={"code": tender.code, "title": tender.title, "lots": [lot.number for lot in lots]},
        )
        for lot in lots:
            opening_key = opening.opening_key_create(actor=actor, lot=lot)
            _transition(lot, LotStatus.PUBLISHED, actor=actor, action="tendering.lot.published",
                        data={**_lot_audit_data(lot), "opening_key": opening_key.fingerprint})
            tasks.schedule_lot_steps(lot)
    return tender


def tender_cancel(*, actor: User, tender: Tender, reason: str) -> Tender:
    """Terminate an announcement (终止招标): every lot not yet final is cancelled."""
    _require_agent_of(actor, tender)
    reason = _clean_text(reason, "reason", _("终止原因"), 2000)
    with transaction.atomic():
        tender = _locked_tender(tender)
        if tender.status == TenderStatus.CANCELLED:
            raise DomainError("tender.cancelled", _("招标已终止。"), status=409)
        lots = list(tender.lots.select_for_update().order_by("number"))
        if lots and all(lot.is_final for lot in lots):
            raise DomainError("tender.all_final", _("所有标段均已结束，不能终止。"), status=409)
        tender.status = TenderStatus.CANCELLED
        tender.cancelled_reason = reason
        tender.save(update_fields=["status", "cancelled_reason", "updated_at"])
        record("tendering.tender.cancelled", actor=actor, obj=tender, data={"reason": reason})
        for lot in lots:
            if not lot.is_final:
                lot.cancelled_reason = reason
                _transition(lot, LotStatus.CANCELLED, actor=actor, action="tendering.lot.cancelled",
                            data={"reason": reason})
        _notify_obtainers(
            tender,
            title=_("招标终止：%(title)s"),
            params={"title": tender.title},
            body=reason,
        )
    return tender


def lot_cancel(*, actor: User, lot: Lot, reason: str) -> Lot:
    """Terminate one lot, leaving the others of the announcement running."""
    _require_agent_of(actor, lot.tender)
    reason = _clean_text(reason, "reason", _("终止原因"), 2000)
    with transaction.atomic():
        lot = Lot.objects.select_for_update().select_related("tender").get(pk=lot.pk)
        if lot.status == LotStatus.DRAFT:
            # A draft lot is simply deleted; a cancelled lot in a draft could never be published.
            raise DomainError("lot.cancel_draft", _("草稿中的标段无需终止，请直接删除。"), status=409)
        lot.cancelled_reason = reason
        _transition(lot, LotStatus.CANCELLED, actor=actor, action="tendering.lot.cancelled", data={"reason": reason})
    return lot


# --- amendments (TR 21, EB 22) --------------------------------------------------------


def _ceil_to_hour(value: dt.datetime) -> dt.datetime:
    local = timezone.localtime(value)
    floored = local.replace(minute=0, second=0, microsecond=0)
    return floored if floored == local else floored + dt.timedelta(hours=1)


def _ceil_to_minute(value: dt.datetime) -> dt.datetime:
    floored = value.replace(second=0, microsecond=0)
    return floored if floored == value else floored + dt.timedelta(minutes=1)


def amendment_earliest_deadline(*, now: dt.datetime | None = None) -> dt.datetime:
    """The earliest deadline an amendment published now allows (TR 21)."""
    now = now or timezone.now()
    return now + dt.timedelta(days=settings.SUNBID["AMENDMENT_MIN_DAYS"])


def amendment_publish(
    *,
    actor: User,
    tender: Tender,
    title: str,
    body: str,
    affects_preparation: bool,
    new_deadline: dt.datetime | None = None,
    extend_to_minimum: bool = False,
    files: Iterable[UploadedFile] = (),
) -> Amendment:
    """Publish a clarification or amendment and notify everyone who obtained the documents.

    An amendment that affects bid preparation and lands fewer than
    ``AMENDMENT_MIN_DAYS`` (15) days before a lot's deadline must move that
    deadline (TR 21): either to ``new_deadline`` (applied to every open lot,
    never earlier than its current deadline), or, with ``extend_to_minimum``,
    to the first whole hour that respects the rule. Opening times move by the
    same amount. Without either, the amendment is refused.
    """
    _require_agent_of(actor, tender)
    title = _clean_text(title, "title", _("标题"), 200)
    body = _clean_text(body, "body", _("内容"), 100_000)
    if new_deadline is not None and timezone.is_naive(new_deadline):
        raise DomainError("lot.naive_time", _("时间必须带有时区。"), field="new_deadline")
    with transaction.atomic():
        tender = _locked_tender(tender)
        now = timezone.now()
        earliest = amendment_earliest_deadline(now=now)
        if tender.status != TenderStatus.PUBLISHED:
            raise DomainError("amendment.not_published", _("只有已发布的招标公告可以发布澄清或补遗。"), status=409)
        open_lots = list(
            tender.lots.select_for_update().filter(status=LotStatus.PUBLISHED, bid_deadline__gt=now).order_by("number")
        )
        if not open_lots:
            raise DomainError("amendment.bidding_closed", _("投标已截止，不能再发布澄清或补遗。"), status=409)
        moves: dict[int, dt.datetime] = {}
        if new_deadline is not None:
            if new_deadline <= now:
                raise DomainError("amendment.deadline_past", _("新的投标截止时间必须晚于当前时间。"), field="new_deadline")
            for lot in open_lots:
                if new_deadline < lot.bid_deadline:
                    raise DomainError(
                        "amendment.deadline_earlier",
                        _("新的投标截止时间不能早于第%(number)d标段现有的截止时间。"),
                        field="new_deadline",
                        number=lot.number,
                    )
                if new_deadline != lot.bid_deadline:
                    moves[lot.pk] = new_deadline
        too_close = [lot for lot in open_lots if affects_preparation and moves.get(lot.pk, lot.bid_deadline) < earliest]
        if too_close:
            if not extend_to_minimum:
                raise DomainError(
                    "amendment.deadline_too_close",
                    _(
                        "该澄清或补遗影响投标文件编制，距投标截止时间不足%(days)d日（第%(lots)s标段）。"
                        "请将投标截止时间顺延至 %(earliest)s 或之后。"
                    ),
                    field="new_deadline",
                    days=settings.SUNBID["AMENDMENT_MIN_DAYS"],
                    lots="、".join(str(lot.number) for lot in too_close),
                    # Shown to the minute, so rounded up: the time named must itself be allowed.
                    earliest=timezone.localtime(_ceil_to_minute(earliest)).strftime("%Y-%m-%d %H:%M"),
                )
            for lot in too_close:
                moves[lot.pk] = _ceil_to_hour(earliest)

        number = (tender.amendments.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        amendment = Amendment.objects.create(
            tender=tender,
            number=number,
            title=title,
            body=body,
            affects_preparation=affects_preparation,
            published_at=now,
            published_by=actor,
        )
        changes = []
        for lot in open_lots:
            if lot.pk not in moves:
                continue
            shift = moves[lot.pk] - lot.bid_deadline
            change = DeadlineChange.objects.create(
                amendment=amendment,
                lot=lot,
                old_deadline=lot.bid_deadline,
                new_deadline=lot.bid_deadline + shift,
                old_opening_time=lot.opening_time,
                new_opening_time=lot.opening_time + shift,
            )
            lot.bid_deadline = change.new_deadline
            lot.opening_time = change.new_opening_time
            lot.save(update_fields=["bid_deadline", "opening_time"])
            record(
                "tendering.lot.deadline_moved",
                actor=actor,
                obj=lot,
                data={
                    "amendment": number,
                    "old_deadline": change.old_deadline,
                    "new_deadline": change.new_deadline,
                    "old_opening_time": change.old_opening_time,
                    "new_opening_time": change.new_opening_time,
                },
            )
            tasks.schedule_lot_steps(lot)
            changes.append(lot.number)
        record(
            "tendering.amendment.published",
            actor=actor,
            obj=amendment,
            data={
                "number": number,
                "title": title,
                "body_sha256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
                "affects_preparation": affects_preparation,
                "lots_moved": changes,
            },
        )
        for upload in files:
            document_upload(actor=actor, tender=tender, upload=upload, amendment=amendment)
        _notify_obtainers(
            tender,
            title=_("澄清/补遗：%(title)s"),
            params={"title": title},
            body=body,
        )
    return amendment


def _notify_obtainers(tender: Tender, *, title: Promise, params: dict[str, str], body: str) -> None:
    """Tell every bidder organisation that obtained the documents (EB 22): in-app now, e-mail on commit.

    The text is written in the platform's language, whatever language the
    acting user's page was in: it is stored and mailed to other people.
    """
    organisation_ids = DocumentObtain.objects.filter(tender=tender).values_list("organisation_id", flat=True)
    recipients = User.objects.filter(
        organisation_id__in=organisation_ids, role_grants__role=Role.BIDDER, is_active=True
    ).distinct()
    with translation.override(settings.LANGUAGE_CODE):
        rendered_title = str(title) % params
    notify_users(
        recipients,
        title=rendered_title,
        body=body,
        url=reverse("portal:announcement", kwargs={"pk": tender.pk}),
    )


# --- obtaining the documents (EB 21) -------------------------------------------------


def documents_obtain(*, actor: User, tender: Tender) -> DocumentObtain:
    """Register the actor's organisation as having obtained the tender documents.

    Allowed to bidders while some lot's document window is open. Idempotent
    for an organisation. The registration is audited as confidential until
    bidding has closed (EB 21).
    """
    if not actor.has_role(Role.BIDDER) or actor.organisation is None:
        raise NotPermitted("permission.role", _("只有投标人可以获取招标文件。"))
    with transaction.atomic():
        tender = _locked_tender(tender)
        now = timezone.now()
        if tender.status != TenderStatus.PUBLISHED:
            raise NotFound("tender.not_found", _("招标项目不存在。"))
        existing = DocumentObtain.objects.filter(tender=tender, organisation=actor.organisation).first()
        if existing is not None:
            return existing
        window_open = tender.lots.filter(
            status=LotStatus.PUBLISHED, doc_start__lte=now, doc_end__gt=now
        ).exists()
        if not window_open:
            raise DomainError("documents.window_closed", _("不在招标文件获取期内。"), status=409)
        obtain = DocumentObtain.objects.create(tender=tender, organisation=actor.organisation, user=actor)
        record(
            "tendering.documents.obtained",
            actor=actor,
            obj=obtain,
            data={"organisation": actor.organisation.name, "credit_code": actor.organisation.credit_code},
            sensitivity=Sensitivity.UNTIL_BID_DEADLINE,
        )
    return obtain


# --- timed steps and later stages -------------------------------------------------


def lots_advance_due(*, now: dt.datetime | None = None) -> list[tuple[int, str]]:
    """Close bidding and start openings that are due by the server clock.

    Run by the scheduled task at every deadline and opening time, and safe to
    run any time (idempotent): each lot is re-checked under its row lock.
    Returns the (lot id, new status) pairs it changed.
    """
    now = now or timezone.now()
    changed: list[tuple[int, str]] = []
    due_close = Lot.objects.filter(status=LotStatus.PUBLISHED, bid_deadline__lte=now).values_list("pk", flat=True)
    for pk in list(due_close):
        with transaction.atomic():
            lot = Lot.objects.select_for_update().get(pk=pk)
            if lot.status == LotStatus.PUBLISHED and lot.bid_deadline <= now:
                _transition(lot, LotStatus.BIDDING_CLOSED, actor=None, action="tendering.lot.bidding_closed",
                            data={"deadline": lot.bid_deadline})
                # EB 27: an upload not completely received at the deadline counts as withdrawn.
                from bidding.services import uploads_discard_unfinished

                uploads_discard_unfinished(lot=lot)
                # A signed checkpoint of the audit tree as bidding closes: who bid is fixed from here.
                checkpoint_request(reason=CheckpointReason.BID_DEADLINE, tender_id=lot.tender_id, lot_id=lot.pk)
                changed.append((pk, LotStatus.BIDDING_CLOSED))
    due_open = Lot.objects.filter(status=LotStatus.BIDDING_CLOSED, opening_time__lte=now).values_list("pk", flat=True)
    for pk in list(due_open):
        with transaction.atomic():
            lot = Lot.objects.select_for_update().get(pk=pk)
            if lot.status == LotStatus.BIDDING_CLOSED and lot.opening_time <= now:
                _transition(lot, LotStatus.OPENING, actor=None, action="tendering.lot.opening_started",
                            data={"opening_time": lot.opening_time})
                # EB 29: the room opens by itself — announces the bids, or fails the lot (TR 44).
                from opening.room_services import room_open

                room = room_open(lot=lot, now=now)
                changed.append((pk, LotStatus.FAILED if room.stage == "failed" else LotStatus.OPENING))
    return changed


def _locked_lot_for_agent(actor: User, lot: Lot) -> Lot:
    _require_agent_of(actor, lot.tender)
    return Lot.objects.select_for_update().select_related("tender").get(pk=lot.pk)


def lot_mark_opened_by_room(*, lot: Lot, actor: User | None) -> None:
    """The opening room closed (``opening.room_services.room_close``): the lot is opened.

    Runs in the room's transaction, with the lot row locked here.
    """
    locked = Lot.objects.select_for_update().select_related("tender").get(pk=lot.pk)
    _transition(locked, LotStatus.OPENED, actor=actor, action="tendering.lot.opened")
    lot.status = locked.status
    lot.status_changed_at = locked.status_changed_at


def lot_mark_opened(*, actor: User, lot: Lot) -> Lot:
    """Record a lot as opened without the platform's room (data carried over from elsewhere, the demo's past tenders).

    No page offers it: a lot opened on the platform is opened by its room.
    """
    with transaction.atomic():
        lot = _locked_lot_for_agent(actor, lot)
        _transition(lot, LotStatus.OPENED, actor=actor, action="tendering.lot.opened")
    return lot


def lot_start_evaluation(*, actor: User, lot: Lot) -> Lot:
    with transaction.atomic():
        lot = _locked_lot_for_agent(actor, lot)
        _transition(lot, LotStatus.EVALUATING, actor=actor, action="tendering.lot.evaluation_started")
    return lot


def lot_fail(*, actor: User | None, lot: Lot, reason: str) -> Lot:
    """Declare a lot failed (流标): too few bidders (TR 44), every bid rejected, …

    ``actor`` is None when the platform decides by itself (the opening room
    counting fewer bids than the lot's minimum).
    """
    if actor is not None:
        _require_agent_of(actor, lot.tender)
    reason = _clean_text(reason, "reason", _("流标原因"), 2000)
    with transaction.atomic():
        lot = Lot.objects.select_for_update().select_related("tender").get(pk=lot.pk)
        lot.failed_reason = reason
        _transition(lot, LotStatus.FAILED, actor=actor, action="tendering.lot.failed", data={"reason": reason})
    return lot


def lot_award(*, actor: User, lot: Lot, winner: Organisation, award_price: Decimal) -> Lot:
    """Record the award (定标): winner and award price, never above the maximum price (TR 51(5))."""
    if winner.kind != OrganisationKind.BIDDER:
        raise DomainError("award.winner", _("中标人必须是投标人。"), field="winner")
    if award_price <= 0:
        raise DomainError("award.price", _("中标价必须大于零。"), field="award_price")
    with transaction.atomic():
        lot = _locked_lot_for_agent(actor, lot)
        if award_price > lot.control_price:
            raise DomainError(
                "award.over_control_price",
                _("中标价不得高于最高投标限价（%(limit)s 元）。"),
                field="award_price",
                limit=f"{lot.control_price:,}",
            )
        lot.winner = winner
        lot.award_price = award_price
        lot.awarded_at = timezone.now()
        _transition(
            lot,
            LotStatus.AWARDED,
            actor=actor,
            action="tendering.lot.awarded",
            data={"winner": winner.name, "winner_credit_code": winner.credit_code, "award_price": award_price},
        )
        # The savings reports' row, committed with the award or not at all (docs/finance-savings.md).
        savings_fact_record(lot=lot)
        checkpoint_request(reason=CheckpointReason.AWARD, tender_id=lot.tender_id, lot_id=lot.pk)
    return lot

