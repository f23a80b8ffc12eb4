"""Forms of the award pages: formats only (a time is a time); the rules are the services'."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from award.models import ObjectionOutcome
from tendering.forms import DATETIME_LOCAL_FORMAT, DateTimeLocalInput

_INPUT_FORMATS = [DATETIME_LOCAL_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def _when(label: Any, *, required: bool = True, help_text: Any = "") -> forms.DateTimeField:
    # Django reads the naive value in the current time zone and returns it aware.
    return forms.DateTimeField(
        label=label,
        required=required,
        help_text=help_text,
        widget=DateTimeLocalInput(),
        input_formats=_INPUT_FORMATS,
    )


class PublicityForm(forms.Form):
    starts_at = _when(_("公示开始时间"), required=False, help_text=_("留空则立即开始。"))
    ends_at = _when(
        _("公示结束时间"), help_text=_("公示期不得少于3日（《招标投标法实施条例》第五十四条）。")
    )
    note = forms.CharField(
        label=_("公示说明"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("可写明异议的提出方式、联系人和联系电话等。"),
    )


class ObjectionForm(forms.Form):
    text = forms.CharField(
        label=_("异议内容"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("请写明异议事项、理由和依据。"),
    )
    attachment = forms.FileField(
        label=_("附件（可选）"), required=False, help_text=_("证明材料，单个文件不超过20 MB。")
    )


class AnswerForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("处理结果"), choices=ObjectionOutcome.choices, widget=forms.RadioSelect
    )
    disqualified_rank = forms.TypedChoiceField(
        label=_("取消资格的中标候选人"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=_("仅在异议成立、相关中标候选人不再符合中标条件时选择。"),
    )
    answer = forms.CharField(label=_("答复内容"), widget=forms.Textarea(attrs={"rows": 8}))

    def __init__(self, *args: Any, candidates: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["disqualified_rank"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", _("不取消任何中标候选人资格"))] + [
            (
                row["rank"],
                _("第%(rank)s名 %(name)s")
                % {"rank": row["rank"], "name": row["organisation_name"]},
            )
            for row in candidates
        ]


class AnnounceForm(forms.Form):
    winner_rank = forms.TypedChoiceField(label=_("中标人"), coerce=int, widget=forms.RadioSelect)
    reason = forms.CharField(
        label=_("理由"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "确定排名非第一的中标候选人为中标人时必填（如排名第一的中标候选人放弃中标、未按要求提交履约保证金）。"
        ),
    )
    note = forms.CharField(
        label=_("公告说明"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, candidates: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["winner_rank"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [
            (
                row["rank"],
                _("第%(rank)s名 %(name)s（投标报价 %(price)s 元）%(flag)s")
                % {
                    "rank": row["rank"],
                    "name": row["organisation_name"],
                    "price": _yuan(row["price"]),
                    "flag": _("（已取消资格）") if row.get("disqualified") else "",
                },
            )
            for row in candidates
        ]


def _yuan(value: str) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01')):,}"
