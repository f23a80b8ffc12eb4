"""The platform administrator's pages: organisations, users and their roles.

Only platform administrators may enter (``is_staff`` alone is not enough), and
they sign in and out through the audited, throttled pages of this app. Every
save goes through ``accounts.services``, so registrations, changes and role
grants are audited like everything else; nothing is ever deleted here
(organisations and users are deactivated instead).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import BaseFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from accounts import services, views
from accounts.forms import (
    OrganisationAdminForm,
    RoleGrantInlineFormSet,
    UserAddForm,
    UserAdminChangeForm,
)
from accounts.models import Organisation, Role, RoleGrant, User


def is_platform_admin(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.has_role(Role.PLATFORM_ADMIN))


def _admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """The admin's sign-in is the site's own: throttled by axes and audited."""
    if is_platform_admin(request):
        return HttpResponseRedirect(reverse("admin:index"))
    if request.user.is_authenticated:
        raise PermissionDenied
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"), reverse("accounts:login"))


# The default site is the one config/urls.py mounts; these replace its access
# check and its own sign-in and sign-out, which would bypass the audit.
admin.site.site_header = _("阳光开标 · 平台管理")
admin.site.site_title = _("阳光开标平台管理")
admin.site.index_title = _("组织与用户")
admin.site.site_url = "/accounts/"
admin.site.has_permission = is_platform_admin
admin.site.login = _admin_login
admin.site.logout = views.logout_view


class PlatformAdminOnly:
    """Model permissions for platform administrators, who hold a role rather than Django permissions."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_platform_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_platform_admin(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_platform_admin(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_platform_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Audit records name organisations and users: deactivate, never delete.
        return False


@admin.register(Organisation)
class OrganisationAdmin(PlatformAdminOnly, admin.ModelAdmin):
    form = OrganisationAdminForm
    list_display = ("name", "credit_code", "kind", "region", "contact_name", "is_active", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "credit_code", "contact_name")
    ordering = ("kind", "name")
    actions = None

    def get_fields(self, request: HttpRequest, obj: Organisation | None = None) -> list[str]:
        fields = ["name", "credit_code", "kind", "region", "address", "contact_name", "contact_phone"]
        if obj is not None:
            fields += ["is_active", "created_at"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Organisation | None = None) -> tuple[str, ...]:
        # The kind is fixed once registered: the roles of the organisation's users depend on it.
        return ("kind", "created_at") if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Organisation, form: ModelForm, change: bool) -> None:
        actor = request.user if isinstance(request.user, User) else None
        if change:
            data = {
                name: form.cleaned_data[name]
                for name in form.changed_data
                if name in services.ORGANISATION_EDITABLE_FIELDS
            }
            services.organisation_update(actor=actor, organisation=obj, data=data)
            return
        data = form.cleaned_data
        created = services.organisation_create(
            actor=actor,
            name=data["name"],
            code=data["credit_code"],
            kind=data["kind"],
            region=data.get("region") or "",
            address=data.get("address") or "",
            contact_name=data.get("contact_name") or "",
            contact_phone=data.get("contact_phone") or "",
        )
        # The admin goes on with ``obj`` (its change message, the redirect): make it the saved row.
        obj.pk = created.pk
        obj.credit_code = created.credit_code
        obj.created_at = created.created_at
        obj._state.adding = False
        obj._state.db = created._state.db


class RoleGrantInline(PlatformAdminOnly, admin.TabularInline):
    model = RoleGrant
    formset = RoleGrantInlineFormSet
    fields = ("role", "granted")
    readonly_fields = ("granted",)
    extra = 1
    verbose_name = _("角色")
    verbose_name_plural = _("角色")

    @admin.display(description=_("授予时间"))
    def granted(self, obj: RoleGrant) -> str:
        return date_format(timezone.localtime(obj.granted_at), "Y-m-d H:i") if obj.granted_at else "—"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoking a role is removing its grant.
        return is_platform_admin(request)


@admin.register(User)
class UserAdmin(PlatformAdminOnly, DjangoUserAdmin):
    form = UserAdminChangeForm
    add_form = UserAddForm
    inlines = [RoleGrantInline]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("个人信息"), {"fields": ("full_name", "email", "mobile")}),
        (_("组织与状态"), {"fields": ("organisation", "is_active")}),
        (_("登录记录"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "password1", "password2")}),
        (_("组织与角色"), {"fields": ("organisation", "roles")}),
        (_("个人信息"), {"fields": ("full_name", "email", "mobile")}),
    )
    list_display = ("username", "full_name", "organisation", "role_list", "is_active", "last_login")
    list_filter = ("role_grants__role", "organisation__kind", "is_active")
    search_fields = ("username", "full_name", "email", "mobile", "organisation__name")
    ordering = ("username",)
    filter_horizontal = ()
    actions = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).select_related("organisation").prefetch_related("role_grants")

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        return ("username", "last_login", "date_joined") if obj is not None else ()

    def get_inlines(self, request: HttpRequest, obj: User | None) -> list[type[admin.options.InlineModelAdmin]]:
        # A new user's roles are chosen on the add form, with the organisation.
        return list(self.inlines) if obj is not None else []

    @admin.display(description=_("角色"))
    def role_list(self, obj: User) -> str:
        return "、".join(str(grant.get_role_display()) for grant in obj.role_grants.all())

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        if change:
            # Saved with the roles in save_related, where the inline's choices are known.
            return
        data = form.cleaned_data
        created = services.user_create(
            actor=request.user if isinstance(request.user, User) else None,
            organisation=data["organisation"],
            username=data["username"],
            password=data["password1"],
            roles=data["roles"],
            full_name=data.get("full_name") or "",
            email=data.get("email") or "",
            mobile=data.get("mobile") or "",
        )
        obj.pk = created.pk
        obj.password = created.password
        obj.is_staff = created.is_staff
        obj._state.adding = False
        obj._state.db = created._state.db

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool) -> None:
        if not change:
            return
        roles: list[str] | None = None
        for formset in formsets:
            if isinstance(formset, RoleGrantInlineFormSet):
                roles = formset.roles()
                # Fills new_objects / deleted_objects for the change message, writing nothing.
                formset.save(commit=False)
        data = {
            name: form.cleaned_data[name] for name in form.changed_data if name in services.USER_EDITABLE_FIELDS
        }
        services.user_update(
            actor=request.user if isinstance(request.user, User) else None,
            user=form.instance,
            data=data,
            roles=roles,
        )
