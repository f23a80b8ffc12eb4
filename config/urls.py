"""URL root.

Uploaded files (``MEDIA_ROOT``) are never served by URL: tender documents go
out only through ``tendering:document_download``, which checks that the
bidder's organisation registered for them (EB 21).
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("manage/", include("tendering.urls_manage")),
    path("audit/", include("audit.urls")),
    path("experts/", include("experts.urls")),
    path("", include("tendering.urls_portal")),
]
