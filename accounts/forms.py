"""Forms for signing in, the finance period, and the platform administrator's admin pages.

Forms parse and check the shape of input; the rules (credit codes, which
roles an organisation may hold) come from the models and services, so the
admin shows the same Chinese messages the services raise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from accounts import credit_code
from accounts.models import Organisation, Role, User
from accounts.services import user_roles_validate
from core.errors import DomainError
from tendering.regions import REGIONS


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("用户名"),
        max_length=150,
        error_messages={"required": _("请输入用户名。")},
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("密码"),
        strip=False,
        error_messages={"required": _("请输入密码。")},
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class FinancePeriodForm(forms.Form):
    """The period of the savings statement: award dates, both ends included."""

    start = forms.DateField(
        label=_("定标日期自"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("请输入有效的日期。")},
    )
    end = forms.DateField(
        label=_("至"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("请输入有效的日期。")},
    )

    @staticmethod
    def default_period(today: dt.date) -> dict[str, dt.date]:
        """This calendar year up to today."""
        return {"start": today.replace(month=1, day=1), "end": today}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            self.add_error("end", _("结束日期不能早于开始日期。"))
        return cleaned


# --- admin --------------------------------------------------------------------------------


class OrganisationAdminForm(forms.ModelForm):
    region = forms.ChoiceField(label=_("所在地区"), choices=[("", "---------"), *REGIONS], required=False)

    class Meta:
        model = Organisation
        fields = [
            "name",
            "credit_code",
            "kind",
            "region",
            "address",
            "contact_name",
            "contact_phone",
            "is_active",
        ]

    def clean_credit_code(self) -> str:
        # Stored upper-case and trimmed, so the uniqueness check compares like with like;
        # the model's validator then explains any fault in Chinese.
        return credit_code.normalise(self.cleaned_data.get("credit_code") or "")


def _role_error(exc: DomainError) -> forms.ValidationError:
    return forms.ValidationError(exc.message, code=exc.code)


class UserAddForm(UserCreationForm):
    """A new user: account, organisation and roles together, so ``user_create`` can check them at once."""

    roles = forms.MultipleChoiceField(
        label=_("角色"),
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("请至少选择一个角色。")},
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "organisation", "full_name", "email", "mobile")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organisation"].required = True
        self.fields["organisation"].queryset = Organisation.objects.filter(is_active=True)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        organisation, roles = cleaned.get("organisation"), cleaned.get("roles")
        if organisation is not None and roles:
            try:
                cleaned["roles"] = user_roles_validate(organisation=organisation, roles=roles)
            except DomainError as exc:
                self.add_error("roles", _role_error(exc))
        return cleaned


class UserAdminChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = ("username", "password", "organisation", "full_name", "email", "mobile", "is_active")


class RoleGrantInlineFormSet(BaseInlineFormSet):
    """Checks the roles the user keeps against the kind of the organisation they will belong to."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        roles = [
            form.cleaned_data["role"]
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("role")
        ]
        if len(roles) != len(set(roles)):
            raise forms.ValidationError(_("同一角色只能授予一次。"), code="user.role_repeated")
        organisation = self.instance.organisation
        if organisation is None:
            if roles:
                raise forms.ValidationError(_("拥有角色的用户必须属于一个组织。"), code="user.organisation")
            return
        try:
            user_roles_validate(organisation=organisation, roles=roles)
        except DomainError as exc:
            raise _role_error(exc) from None

    def roles(self) -> list[str]:
        """The roles the submitted forms leave the user with (call after validation)."""
        return sorted(
            {
                form.cleaned_data["role"]
                for form in self.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("role")
            }
        )


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("令牌名称"),
        max_length=100,
        error_messages={"required": _("请填写令牌名称（不超过100个字符）。")},
        help_text=_("例如“投标客户端（办公室电脑）”，便于日后辨认和撤销。"),
    )
