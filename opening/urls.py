"""Pages of the opening key, under /opening/: the public key download and the custodian's page."""

from __future__ import annotations

from django.urls import path

from opening import views

app_name = "opening"
urlpatterns = [
    path("lots/<int:lot_id>/public-key.pem", views.public_key, name="public_key"),
    path("lots/<int:lot_id>/custody/", views.custody, name="custody"),
]
