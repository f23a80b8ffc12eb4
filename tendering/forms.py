"""Forms of the working area: they parse input and check its format, nothing more.

The rules of the trade (bid security at most 2%, time order, minimum bidders,
the 15 days of TR 21, …) live in ``tendering.services``; a view puts the
``DomainError`` a service raises back on the field it names (``apply_error``).
Datetimes are entered as ``datetime-local`` values in the site's time zone
(Asia/Shanghai) and come out timezone-aware.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from core.errors import DomainError
from opening import selectors as opening_selectors
from tendering import selectors
from tendering.models import Category, EvaluationMethod, Lot, Tender
from tendering.regions import REGIONS
from tendering.services import LotInput, TenderInput

DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


class DateTimeLocalInput(forms.DateTimeInput):
    """An HTML ``datetime-local`` input, shown to the minute in the current time zone."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_LOCAL_FORMAT)


def _datetime_field(
    label: Any, *, required: bool = True, help_text: Any = ""
) -> forms.DateTimeField:
    # Django reads the naive value in the current time zone and returns it aware.
    return forms.DateTimeField(
        label=label,
        required=required,
        help_text=help_text,
        widget=DateTimeLocalInput(),
        input_formats=[
            DATETIME_LOCAL_FORMAT,
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
        ],
    )


def _money_field(label: Any, max_digits: int = 16) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        max_digits=max_digits,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )


def apply_error(
    form: forms.Form, error: DomainError, *, aliases: Mapping[str, str] | None = None
) -> None:
    """Put a service's refusal on the form field it names, or on the form as a whole.

    ``aliases`` maps a service field name to the form's, where they differ.
    """
    field = error.field
    if field and aliases:
        field = aliases.get(field, field)
    if field and field in form.fields:
        form.add_error(field, error.message)
    else:
        form.add_error(None, error.message)


class TenderForm(forms.Form):
    title = forms.CharField(label=_("公告标题"), max_length=200)
    project_name = forms.CharField(label=_("项目名称"), max_length=200)
    tenderer = forms.ModelChoiceField(
        label=_("招标人"), queryset=selectors.tenderer_choices(), empty_label=_("请选择招标人")
    )
    supervising_authority = forms.ModelChoiceField(
        label=_("监督部门"),
        queryset=selectors.supervisor_choices(),
        empty_label=_("请选择监督部门"),
        required=False,
        help_text=_("发布前必须选择。监督部门默认保管各标段开标密钥的一个份额。"),
    )
    category = forms.ChoiceField(label=_("交易类别"), choices=Category.choices)
    region = forms.ChoiceField(label=_("项目所在地区"), choices=[("", _("请选择地区")), *REGIONS])
    contact_name = forms.CharField(label=_("联系人"), max_length=50)
    contact_phone = forms.CharField(label=_("联系电话"), max_length=30)
    description = forms.CharField(label=_("公告正文"), widget=forms.Textarea(attrs={"rows": 12}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A fresh queryset per form, so a tenderer registered since start-up is offered.
        self.fields["tenderer"].queryset = selectors.tenderer_choices()
        self.fields["supervising_authority"].queryset = selectors.supervisor_choices()

    @classmethod
    def initial_for(cls, tender: Tender) -> dict[str, Any]:
        return {
            "title": tender.title,
            "project_name": tender.project_name,
            "tenderer": tender.tenderer_id,
            "supervising_authority": tender.supervising_authority_id,
            "category": tender.category,
            "region": tender.region,
            "description": tender.description,
            "contact_name": tender.contact_name,
            "contact_phone": tender.contact_phone,
        }

    def to_input(self) -> TenderInput:
        data = self.cleaned_data
        return TenderInput(
            title=data["title"],
            project_name=data["project_name"],
            tenderer_id=data["tenderer"].pk,
            category=data["category"],
            region=data["region"],
            description=data["description"],
            contact_name=data["contact_name"],
            contact_phone=data["contact_phone"],
            supervising_authority_id=data["supervising_authority"].pk if data["supervising_authority"] else None,
        )


_REQUIRED_WORDS = {"必填", "是", "required", "yes", "y", "1", "true"}
_OPTIONAL_WORDS = {"选填", "否", "optional", "no", "n", "0", "false"}
_SEPARATOR = re.compile(r"[|｜]")


def parse_bid_fields(text: str) -> tuple[dict[str, Any], ...]:
    """The extra bid items from the editor's text: one per line, ``代码|名称|必填或选填``.

    The third part may be left out (必填). Only the line format is checked
    here; ``tendering.services.bid_fields_validate`` applies the rules.
    """
    fields = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in _SEPARATOR.split(line)]
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise forms.ValidationError(
                _("第%(line)d行应写作“代码|名称|必填”或“代码|名称|选填”。"),
                code="bid_fields_format",
                params={"line": number},
            )
        flag = parts[2].lower() if len(parts) == 3 else "必填"
        if flag not in _REQUIRED_WORDS | _OPTIONAL_WORDS:
            raise forms.ValidationError(
                _("第%(line)d行第三项应为“必填”或“选填”。"), code="bid_fields_flag", params={"line": number}
            )
        fields.append({"key": parts[0], "label": parts[1], "required": flag in _REQUIRED_WORDS})
    return tuple(fields)


def format_bid_fields(fields: list[dict[str, Any]]) -> str:
    """The editor's text for saved extra bid items (the inverse of ``parse_bid_fields``)."""
    return "\n".join(
        f"{item['key']}|{item['label']}|{gettext('必填') if item['required'] else gettext('选填')}" for item in fields
    )


class BidFieldsField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "placeholder": gettext_lazy("warranty_years|质保期（年）|必填")}))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> tuple[dict[str, Any], ...]:
        return parse_bid_fields(super().clean(value) or "")


class LotForm(forms.Form):
    name = forms.CharField(label=_("标段名称"), max_length=200)
    estimated_price = _money_field(_("项目估算价（元）"))
    control_price = _money_field(_("最高投标限价（招标控制价，元）"))
    bid_security = _money_field(_("投标保证金（元）"), max_digits=14)
    doc_start = _datetime_field(_("招标文件获取开始时间"))
    doc_end = _datetime_field(_("招标文件获取截止时间"))
    bid_deadline = _datetime_field(_("投标截止时间"))
    opening_time = _datetime_field(_("开标时间"))
    evaluation_method = forms.ChoiceField(label=_("评标办法"), choices=EvaluationMethod.choices)
    decryption_minutes = forms.IntegerField(
        label=_("解密时限（分钟）"), initial=30, help_text=_("开标后投标人完成解密的时限。")
    )
    min_bidders = forms.IntegerField(
        label=_("最少投标人数"), initial=3, help_text=_("投标人少于此数时不予开标，标段流标。")
    )
    # Not named "bid_fields": the service's errors about them are aliased here.
    extra_bid_fields = BidFieldsField(
        label=_("其他投标填报项"),
        required=False,
        help_text=_(
            "投标报价、工期、质量承诺之外，投标人须在加密投标文件中填报、开标时唱出的内容。每行一项，"
            "格式为“代码|名称|必填或选填”，如 warranty_years|质保期（年）|必填；代码用小写字母、数字和下划线，"
            "最多20项。"
        ),
    )
    custodians = forms.ModelMultipleChoiceField(
        label=_("开标密钥保管单位"),
        queryset=Organisation.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "开标私钥拆分为若干份额，分别加密交给各保管单位，开标时间后凑足门限数量的份额才能重建；"
            "平台自身无法解密投标文件。不选择则使用默认：招标代理机构、监督部门、招标人。"
        ),
    )
    custodian_threshold = forms.IntegerField(
        label=_("开标密钥门限"),
        initial=opening_selectors.DEFAULT_THRESHOLD,
        min_value=opening_selectors.MIN_THRESHOLD,
        max_value=opening_selectors.MAX_CUSTODIANS,
        help_text=_("重建开标私钥所需的份额数，默认3家中任意2家。"),
    )
    custodian_fallback = forms.BooleanField(
        label=_("允许保管单位代为解密"),
        required=False,
        initial=True,
        help_text=_(
            "投标人因非自身原因未能在解密时限内解密的，由保管单位在开标室提交份额、用开标密钥解密"
            "（招标文件应作相应约定）；不允许的，该投标文件按撤回处理。"
        ),
    )

    # Service field names that the form spells differently.
    ERROR_ALIASES = {"bid_fields": "extra_bid_fields"}

    def __init__(self, *args: Any, tender: Tender, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["custodians"].queryset = Organisation.objects.filter(
            pk__in=[org.pk for org in opening_selectors.custodian_candidates(tender=tender)]
        ).order_by("kind", "name")
        if not self.is_bound and "custodians" not in self.initial:
            self.initial["custodians"] = [org.pk for org in opening_selectors.default_custodians(tender=tender)]

    @classmethod
    def initial_for(cls, lot: Lot) -> dict[str, Any]:
        initial = {name: getattr(lot, name) for name in cls.base_fields if hasattr(lot, name)}
        initial["extra_bid_fields"] = format_bid_fields(lot.bid_fields or [])
        initial["custodians"] = [org.pk for org in opening_selectors.custodians_planned(lot=lot)]
        return initial

    def to_input(self) -> LotInput:
        data = self.cleaned_data
        values = {
            name: data[name]
            for name in self.fields
            if name not in ("extra_bid_fields", "custodians")
        }
        return LotInput(
            **values,
            bid_fields=data["extra_bid_fields"],
            custodian_ids=tuple(org.pk for org in data["custodians"]),
        )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; each checked like a single ``FileField``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data]
        cleaned = single(data, initial)
        return [cleaned] if cleaned else []


class AmendmentForm(forms.Form):
    title = forms.CharField(label=_("标题"), max_length=200)
    body = forms.CharField(label=_("内容"), widget=forms.Textarea(attrs={"rows": 10}))
    affects_preparation = forms.BooleanField(
        label=_("影响投标文件编制"), required=False, initial=True
    )
    new_deadline = _datetime_field(
        _("新的投标截止时间"),
        required=False,
        help_text=_("留空则不变更；开标时间随之顺延相同时长。"),
    )
    extend_to_minimum = forms.BooleanField(
        label=_("自动顺延至最早允许时间"),
        required=False,
        help_text=_("距截止时间不足规定日数的标段，自动顺延至满足规定的最早整点。"),
    )
    attachments = MultipleFileField(label=_("附件"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["affects_preparation"].help_text = _(
            "影响投标文件编制的澄清或补遗，须在投标截止时间至少%(days)d日前发布，否则应顺延投标截止时间。"
        ) % {"days": settings.SUNBID["AMENDMENT_MIN_DAYS"]}


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("原因"), max_length=2000, widget=forms.Textarea(attrs={"rows": 5})
    )

    def __init__(self, *args: Any, label: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if label is not None:
            self.fields["reason"].label = label


class DocumentUploadForm(forms.Form):
    file = forms.FileField(
        label=_("招标文件"),
        help_text=_("文件保存时计算SHA-256摘要，投标人下载后可核对。"),
    )
