"""The audit browser's filter: a GET form that turns into an ``EventFilter``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from audit.selectors import EventFilter, tender_id_for_code

_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
_DATETIME_INVALID = _("时间格式不正确，请按“年-月-日 时:分”填写，例如 2026-03-01 09:30。")


def _datetime_field(label: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        input_formats=_DATETIME_FORMATS,
        error_messages={"invalid": _DATETIME_INVALID},
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class EventFilterForm(forms.Form):
    tender = forms.CharField(
        label=_("招标项目"),
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"placeholder": _("项目编号或项目ID")}),
    )
    lot = forms.IntegerField(
        label=_("标段ID"),
        required=False,
        min_value=1,
        help_text=_("含该标段所属招标项目的整体记录。"),
        error_messages={"invalid": _("标段ID应为正整数。"), "min_value": _("标段ID应为正整数。")},
    )
    actor = forms.CharField(label=_("操作人用户名"), required=False, max_length=150)
    action = forms.CharField(
        label=_("操作"),
        required=False,
        max_length=100,
        help_text=_("按前缀匹配，例如 tendering.lot"),
        widget=forms.TextInput(attrs={"list": "audit-actions"}),
    )
    time_from = _datetime_field(_("时间自"))
    time_to = _datetime_field(_("至"))

    def clean_tender(self) -> int | None:
        value = (self.cleaned_data.get("tender") or "").strip()
        if not value:
            return None
        if value.isdigit():
            return int(value)
        tender_id = tender_id_for_code(code=value)
        if tender_id is None:
            raise forms.ValidationError(
                _("没有编号为“%(code)s”的招标项目。"), params={"code": value}
            )
        return tender_id

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("time_from"), cleaned.get("time_to")
        if start and end and start > end:
            self.add_error("time_to", _("结束时间不能早于起始时间。"))
        return cleaned

    def filters(self) -> EventFilter:
        """The validated filter; call only after ``is_valid()``."""
        data = self.cleaned_data
        return EventFilter(
            tender_id=data.get("tender"),
            lot_id=data.get("lot"),
            actor=(data.get("actor") or "").strip(),
            action=(data.get("action") or "").strip(),
            time_from=data.get("time_from"),
            time_to=data.get("time_to"),
        )
