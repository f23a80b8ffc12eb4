"""Forms of the expert pool pages: they parse input, nothing more.

Every rule (identity number, mobile format, leaf specialties, date order, …)
and its Chinese message lives in ``experts.pool``; views put a refusal back on
the field it names with ``tendering.forms.apply_error``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from experts import selectors_pool
from experts.models import ConflictKind, Expert, ExpertStatus, ExpertTitle
from experts.pool import ExpertInput
from tendering.regions import REGIONS


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class ExpertForm(forms.Form):
    code = forms.CharField(
        label=_("专家编号"),
        max_length=20,
        required=False,
        help_text=_("留空则自动编号；登记后不能修改。"),
    )
    name = forms.CharField(label=_("姓名"), max_length=50)
    id_number = forms.CharField(label=_("身份证号码"), max_length=30)
    mobile = forms.CharField(label=_("手机号"), max_length=20)
    email = forms.CharField(label=_("电子邮箱"), max_length=254, required=False)
    employer_name = forms.CharField(label=_("工作单位"), max_length=200, required=False)
    employer_credit_code = forms.CharField(
        label=_("工作单位统一社会信用代码"), max_length=30, required=False
    )
    title = forms.ChoiceField(
        label=_("职称"), choices=[("", _("请选择职称")), *ExpertTitle.choices]
    )
    region = forms.ChoiceField(label=_("所在地区"), choices=[("", _("请选择地区")), *REGIONS])
    specialties = forms.MultipleChoiceField(
        label=_("评标专业"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("可选多个末级专业；抽取专家时按末级专业抽取。"),
    )

    def __init__(self, *args: Any, expert: Expert | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["specialties"].choices = selectors_pool.specialty_leaf_choices()
        if expert is not None:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = _("专家编号登记后不能修改。")

    @classmethod
    def initial_for(cls, expert: Expert) -> dict[str, Any]:
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
            "specialties": [specialty.code for specialty in expert.specialties.all()],
        }

    def to_input(self) -> ExpertInput:
        data = self.cleaned_data
        return ExpertInput(
            code=data.get("code") or "",
            name=data["name"],
            id_number=data["id_number"],
            mobile=data["mobile"],
            email=data["email"],
            employer_name=data["employer_name"],
            employer_credit_code=data["employer_credit_code"],
            title=data["title"],
            region=data["region"],
            specialty_codes=tuple(data["specialties"]),
        )


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("新状态"), choices=ExpertStatus.choices)
    reason = forms.CharField(
        label=_("变更原因"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class AccountForm(forms.Form):
    username = forms.CharField(
        label=_("平台账户用户名"),
        max_length=150,
        required=False,
        help_text=_("关联后专家可登录查看本人信息、维护联系方式和不可参评日期；留空则解除关联。"),
    )


class ConflictForm(forms.Form):
    credit_code = forms.CharField(label=_("单位统一社会信用代码"), max_length=30)
    organisation_name = forms.CharField(
        label=_("单位名称"),
        max_length=200,
        required=False,
        help_text=_("已在平台登记的单位可留空。"),
    )
    kind = forms.ChoiceField(label=_("关系"), choices=ConflictKind.choices)


class UnavailabilityForm(forms.Form):
    start = forms.DateField(label=_("开始日期"), widget=DateInput())
    end = forms.DateField(label=_("结束日期"), widget=DateInput())
    note = forms.CharField(label=_("说明"), max_length=200, required=False)


class ContactForm(forms.Form):
    mobile = forms.CharField(label=_("手机号"), max_length=20)
    email = forms.CharField(label=_("电子邮箱"), max_length=254, required=False)


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("专家名单文件"),
        help_text=_("CSV（UTF-8 或 GB18030 编码）或 Excel（.xlsx）文件，第1行为列标题。"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )
