"""Signing in and out: throttled by axes, every attempt audited, the password never kept."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests.conftest import PASSWORD

WRONG = "not-the-Password-9"
LOGIN = "/accounts/login/"


def _login_events():
    return list(AuditEvent.objects.filter(action__startswith="accounts.login").order_by("seq"))


def _assert_no_password_anywhere():
    for event in AuditEvent.objects.all():
        stored = " ".join(
            str(value) for value in (event.payload, event.actor_name, event.user_agent, event.object_id)
        )
        assert PASSWORD not in stored
        assert WRONG not in stored


def test_login_page_is_in_chinese(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    page = response.content.decode()
    assert "用户名" in page and "密码" in page and "登录" in page


def test_successful_login_goes_to_the_dashboard_and_is_audited(client, people):
    response = client.post(LOGIN, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:dashboard")
    event = _login_events()[-1]
    assert event.action == "accounts.login.succeeded"
    assert event.actor_id == people["alice"].pk
    assert event.ip == "127.0.0.1"
    _assert_no_password_anywhere()


def test_failed_login_shows_a_chinese_error_and_is_audited_without_the_password(client, people):
    response = client.post(LOGIN, {"username": "alice", "password": WRONG})
    assert response.status_code == 200
    page = response.content.decode()
    assert "用户名或密码错误。" in page
    assert "再输错 4 次" in page
    assert "_auth_user_id" not in client.session
    (event,) = _login_events()
    assert event.action == "accounts.login.failed"
    assert event.actor_id is None
    assert event.data == {"username": "alice"}
    _assert_no_password_anywhere()


def test_empty_fields_are_refused_in_chinese_without_an_attempt(client, people):
    response = client.post(LOGIN, {"username": "", "password": ""})
    page = response.content.decode()
    assert "请输入用户名。" in page and "请输入密码。" in page
    assert _login_events() == []


def test_sixth_wrong_attempt_is_locked_out_and_then_even_the_right_password_is_refused(client, people):
    for _ in range(4):
        response = client.post(LOGIN, {"username": "alice", "password": WRONG})
        assert response.status_code == 200
        assert "用户名或密码错误。" in response.content.decode()
    # axes locks at the attempt that reaches AXES_FAILURE_LIMIT (the fifth).
    fifth = client.post(LOGIN, {"username": "alice", "password": WRONG})
    assert fifth.status_code == 429
    sixth = client.post(LOGIN, {"username": "alice", "password": WRONG})
    assert sixth.status_code == 429
    page = sixth.content.decode()
    assert "账户已暂时锁定" in page
    assert "之后再试" in page
    assert "锁定时长为 15 分钟" in page

    right = client.post(LOGIN, {"username": "alice", "password": PASSWORD})
    assert right.status_code == 429
    assert "账户已暂时锁定" in right.content.decode()
    assert "_auth_user_id" not in client.session

    actions = [event.action for event in _login_events()]
    assert actions == ["accounts.login.failed"] * 4 + ["accounts.login.locked_out"] * 3
    assert all(event.data == {"username": "alice"} for event in _login_events())
    assert not AuditEvent.objects.filter(action="accounts.login.succeeded").exists()
    _assert_no_password_anywhere()


def test_lockout_is_per_username_so_another_user_can_still_sign_in(client, people):
    for _ in range(5):
        client.post(LOGIN, {"username": "alice", "password": WRONG})
    response = client.post(LOGIN, {"username": "bob", "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/manage/tenders/", "/manage/tenders/"),
        ("https://evil.example.com/steal", "/accounts/"),
        ("//evil.example.com/", "/accounts/"),
    ],
)
def test_next_is_followed_only_within_the_site(client, people, next_url, expected):
    response = client.post(f"{LOGIN}?next={next_url}", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == expected


def test_logout_is_post_only_and_audited(client, people):
    client.force_login(people["alice"])
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:index")
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.filter(action="accounts.logout").get()
    assert event.actor_id == people["alice"].pk
