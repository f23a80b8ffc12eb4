from __future__ import annotations

from django.urls import include, path

from finance import views

app_name = "finance"

urlpatterns: list = [
    # The savings reports (节约率报表), docs/finance-savings.md.
    path("savings/", views.savings, name="savings"),
    path("savings/lots/", views.savings_lots, name="savings_lots"),
    path("savings/export.<str:fmt>", views.savings_export, name="savings_export"),
    path("savings/lots/export.<str:fmt>", views.savings_lots_export, name="savings_lots_export"),
    path("", include("finance.urls_security")),  # bid security (投标保证金), finance/urls_security.py
]
