"""The expert pool in the platform's admin site: for looking things up, read-only.

Changes to experts go through the pool pages (``experts:pool_*``), whose
services check every field and audit every change; the admin's own forms
would bypass both, so nothing can be added, changed or deleted here. The
specialty code list comes from the data migration and is not edited by hand.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from accounts.admin import is_platform_admin
from experts.models import Expert, ExpertConflict, ExpertUnavailability, Specialty


class ReadOnlyForPlatformAdmin:
    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_platform_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_platform_admin(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Specialty)
class SpecialtyAdmin(ReadOnlyForPlatformAdmin, admin.ModelAdmin):
    list_display = ("code", "name", "parent")
    search_fields = ("code", "name")
    ordering = ("code",)
    actions = None


class ConflictInline(ReadOnlyForPlatformAdmin, admin.TabularInline):
    model = ExpertConflict
    fields = ("organisation_name", "credit_code", "kind", "declared_at")
    readonly_fields = fields
    extra = 0


class UnavailabilityInline(ReadOnlyForPlatformAdmin, admin.TabularInline):
    model = ExpertUnavailability
    fields = ("start", "end", "note")
    readonly_fields = fields
    extra = 0


@admin.register(Expert)
class ExpertAdmin(ReadOnlyForPlatformAdmin, admin.ModelAdmin):
    list_display = ("code", "name", "title", "region", "employer_name", "status", "pool_page")
    list_filter = ("status", "title", "region")
    search_fields = ("code", "name", "employer_name")
    ordering = ("code",)
    actions = None
    inlines = [ConflictInline, UnavailabilityInline]
    fields = (
        "code",
        "name",
        "id_number",
        "mobile",
        "email",
        "employer_name",
        "employer_credit_code",
        "title",
        "region",
        "status",
        "specialties",
        "user",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description=_("专家库页面"))
    def pool_page(self, obj: Expert) -> SafeString:
        return format_html(
            '<a href="{}">{}</a>', reverse("experts:pool_detail", args=[obj.pk]), _("查看与维护")
        )
