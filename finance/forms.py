"""The filter of the savings reports: which period, broken down how. Field formats only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from finance import periods
from finance.periods import MAX_RANGE_DAYS, MONTH, QUARTER, RANGE, YEAR, Period
from finance.selectors import DIMENSIONS

PERIOD_KINDS = [
    (MONTH, _("月度")),
    (QUARTER, _("季度")),
    (YEAR, _("年度")),
    (RANGE, _("自定义期间")),
]
FIRST_YEAR = 2000
LAST_YEAR = 2100
_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _month_choices() -> list[tuple[str, str]]:
    # A callable, so that the labels are translated when the form is shown, not at import.
    return [(str(number), gettext("%(month)s月") % {"month": number}) for number in range(1, 13)]


def _quarter_choices() -> list[tuple[str, str]]:
    return [(str(number), gettext("第%(quarter)s季度") % {"quarter": number}) for number in range(1, 5)]


class SavingsFilterForm(forms.Form):
    """Period and breakdown; ``chosen_period()`` is the chosen period once the form is valid.

    Unbound (no parameters at all) it stands for this year by month. Only the
    fields the chosen kind of period needs are read: a month needs the year and
    the month, a custom range its two dates (both included, at most ten years).
    """

    period = forms.ChoiceField(label=_("统计期间"), choices=PERIOD_KINDS, initial=YEAR)
    year = forms.IntegerField(
        label=_("年份"),
        min_value=FIRST_YEAR,
        max_value=LAST_YEAR,
        required=False,
        error_messages={
            "invalid": _("请输入有效的年份。"),
            "min_value": _("年份不能早于 %(limit_value)s 年。"),
            "max_value": _("年份不能晚于 %(limit_value)s 年。"),
        },
    )
    month = forms.TypedChoiceField(label=_("月份"), choices=_month_choices, coerce=int, required=False)
    quarter = forms.TypedChoiceField(label=_("季度"), choices=_quarter_choices, coerce=int, required=False)
    start = forms.DateField(
        label=_("定标日期自"), widget=_DATE, required=False, error_messages={"invalid": _("请输入有效的日期。")}
    )
    end = forms.DateField(
        label=_("至"), widget=_DATE, required=False, error_messages={"invalid": _("请输入有效的日期。")}
    )
    by = forms.ChoiceField(label=_("分组方式"), choices=list(DIMENSIONS.items()), initial=MONTH)

    def __init__(self, data: QueryDict | None = None, *, today: dt.date | None = None, **kwargs: Any) -> None:
        self.today = today or periods.local_today()
        if data is not None and not any(name in data for name in self.base_fields):
            data = None  # a bare page address: the defaults, not a form full of errors
        super().__init__(data, **kwargs)
        self.fields["year"].initial = self.today.year
        self.fields["month"].initial = str(self.today.month)
        self.fields["quarter"].initial = str((self.today.month - 1) // 3 + 1)
        self.fields["start"].initial = self.today.replace(month=1, day=1)
        self.fields["end"].initial = self.today

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("period")
        if kind in (MONTH, QUARTER, YEAR) and cleaned.get("year") is None and "year" not in self.errors:
            self.add_error("year", _("请选择年份。"))
        if kind == MONTH and cleaned.get("month") in (None, "") and "month" not in self.errors:
            self.add_error("month", _("请选择月份。"))
        if kind == QUARTER and cleaned.get("quarter") in (None, "") and "quarter" not in self.errors:
            self.add_error("quarter", _("请选择季度。"))
        if kind == RANGE:
            start, end = cleaned.get("start"), cleaned.get("end")
            if start is None and "start" not in self.errors:
                self.add_error("start", _("请输入开始日期。"))
            if end is None and "end" not in self.errors:
                self.add_error("end", _("请输入结束日期。"))
            if start and end and start > end:
                self.add_error("end", _("结束日期不能早于开始日期。"))
            elif start and end and (end - start).days >= MAX_RANGE_DAYS:
                self.add_error("end", _("自定义期间不能超过十年。"))
        return cleaned

    def chosen_period(self) -> Period:
        """The chosen period; this year when the form is unbound. Call only when unbound or valid."""
        if not self.is_bound:
            return Period.year(self.today.year)
        data = self.cleaned_data
        kind = data["period"]
        if kind == MONTH:
            return Period.month(data["year"], data["month"])
        if kind == QUARTER:
            return Period.quarter(data["year"], data["quarter"])
        if kind == YEAR:
            return Period.year(data["year"])
        return Period.between(data["start"], data["end"])

    def chosen_by(self) -> str:
        return self.cleaned_data["by"] if self.is_bound else MONTH
