"""Pages of the opening, under /opening/: the opening key, the custodian's page, the room and its record."""

from __future__ import annotations

from django.urls import path

from opening import views, views_room

app_name = "opening"
urlpatterns = [
    path("lots/<int:lot_id>/public-key.pem", views.public_key, name="public_key"),
    path("lots/<int:lot_id>/custody/", views.custody, name="custody"),
    path("lots/<int:lot_id>/room/", views_room.room, name="room"),
    path("lots/<int:lot_id>/record.pdf", views_room.record_pdf, name="record_pdf"),
    path("lots/<int:lot_id>/record.json", views_room.record_json, name="record_json"),
    path("lots/<int:lot_id>/record.proof.json", views_room.record_proof, name="record_proof"),
]
