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
    path("api/", include("accounts.urls_api")),
    path("manage/", include("tendering.urls_manage")),
    path("audit/", include("audit.urls")),
    path("api/audit/", include("audit.urls_api")),
    path("experts/", include("experts.urls")),
    path("bidding/", include("bidding.urls")),
    path("api/", include("bidding.urls_api")),
    path("opening/", include("opening.urls")),
    path("api/opening/", include("opening.urls_api")),
    path("evaluation/", include("evaluation.urls")),
    path("finance/", include("finance.urls")),
    path("award/", include("award.urls")),
    path("complaints/", include("complaints.urls")),
    path("", include("tendering.urls_portal")),
]
