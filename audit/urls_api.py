"""The proof API under /api/audit/ (JSON, errors with stable codes)."""

from __future__ import annotations

from django.urls import URLPattern, path

from audit import views_tree

app_name = "audit_api"
urlpatterns: list[URLPattern] = [
    path("key/", views_tree.platform_key, name="key"),
    path("proofs/inclusion/<int:seq>/", views_tree.inclusion_proof, name="inclusion_proof"),
    path("proofs/consistency/", views_tree.consistency_proof, name="consistency_proof"),
]
