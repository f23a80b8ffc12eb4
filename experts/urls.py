"""Expert pool pages and draw pages, each from its own module."""

from __future__ import annotations

from django.urls import include, path

app_name = "experts"
urlpatterns = [
    path("pool/", include("experts.urls_pool")),
    path("draws/", include("experts.urls_draw")),
]
