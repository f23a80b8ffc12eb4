"""The portal's search form: a GET form whose bad values become messages, never errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tendering.models import Category
from tendering.regions import REGIONS
from tendering.selectors import PortalFilter, PublicStage

_ALL = [("", _("全部"))]
_DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"]


class PortalSearchForm(forms.Form):
    q = forms.CharField(
        label=_("关键词"),
        required=False,
        max_length=100,
        error_messages={"max_length": _("关键词不能超过%(limit_value)d个字符。")},
        widget=forms.TextInput(
            attrs={"placeholder": _("公告标题、项目名称或项目编号"), "type": "search"}
        ),
    )
    category = forms.ChoiceField(
        label=_("交易类别"),
        required=False,
        choices=_ALL + list(Category.choices),
        error_messages={"invalid_choice": _("交易类别无效，请从列表中选择。")},
    )
    region = forms.ChoiceField(
        label=_("地区"),
        required=False,
        choices=_ALL + REGIONS,
        error_messages={"invalid_choice": _("地区无效，请从列表中选择。")},
    )
    stage = forms.ChoiceField(
        label=_("项目阶段"),
        required=False,
        choices=_ALL + PublicStage.choices,
        error_messages={"invalid_choice": _("项目阶段无效，请从列表中选择。")},
    )
    published_from = forms.DateField(
        label=_("发布日期自"),
        required=False,
        input_formats=_DATE_FORMATS,
        error_messages={"invalid": _("日期格式不正确，请按“年-月-日”填写，例如 2026-03-01。")},
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    published_to = forms.DateField(
        label=_("至"),
        required=False,
        input_formats=_DATE_FORMATS,
        error_messages={"invalid": _("日期格式不正确，请按“年-月-日”填写，例如 2026-03-31。")},
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("published_from"), cleaned.get("published_to")
        if start and end and start > end:
            self.add_error("published_to", _("结束日期不能早于开始日期。"))
        return cleaned

    def to_filter(self) -> PortalFilter:
        """The filter built from the values that passed validation; invalid ones are left out."""
        data = getattr(self, "cleaned_data", {})
        return PortalFilter(
            q=(data.get("q") or "").strip(),
            category=data.get("category") or "",
            region=data.get("region") or "",
            stage=data.get("stage") or "",
            published_from=data.get("published_from"),
            published_to=data.get("published_to"),
        )

    @property
    def is_filtered(self) -> bool:
        return any(value not in ("", None) for value in vars(self.to_filter()).values())
