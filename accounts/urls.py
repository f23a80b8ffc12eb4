from __future__ import annotations

from django.urls import path

from accounts import views, views_keys

app_name = "accounts"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification_read"),
    path("notifications/read-all/", views.notifications_read_all, name="notifications_read_all"),
    path("keys/", views_keys.keys_page, name="keys"),
    path("tokens/", views_keys.tokens_page, name="tokens"),
    path("tokens/<int:pk>/revoke/", views_keys.token_revoke, name="token_revoke"),
]
