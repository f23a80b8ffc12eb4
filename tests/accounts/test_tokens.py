"""API tokens: creation (secret shown once, stored hashed), revocation, and bearer authentication on /api/ only."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken, User
from accounts.services import api_token_create, api_token_revoke, user_update
from audit.models import AuditEvent
from core.errors import DomainError

# A body /api/keys/ refuses with 400 key.invalid: reaching that answer proves
# the request got past authentication and the CSRF check.
BAD_KEYS = json.dumps({"encryption_public": "AAAA", "signing_public": "AAAA"})


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def signed_in(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


# --- creating and revoking ----------------------------------------------------------------------


def test_a_new_token_has_the_documented_format_and_only_its_hash_is_stored(people):
    token, secret = api_token_create(actor=people["bob"], name="投标客户端")
    assert re.fullmatch(r"sbt_[A-Za-z0-9_-]{43}", secret)
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:12]
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert all(secret not in str(value) for value in stored.values())


def test_two_tokens_never_share_a_secret(people):
    secrets = {api_token_create(actor=people["bob"], name=f"t{i}")[1] for i in range(5)}
    assert len(secrets) == 5


def test_creating_and_revoking_a_token_are_audited_without_the_secret(people):
    token, secret = api_token_create(actor=people["bob"], name="自动化")
    api_token_revoke(actor=people["bob"], token_id=token.pk)
    created = AuditEvent.objects.get(action="accounts.token.created")
    revoked = AuditEvent.objects.get(action="accounts.token.revoked")
    assert json.loads(created.payload) == {"name": "自动化", "prefix": token.prefix}
    assert revoked.actor_id == people["bob"].pk and revoked.object_id == str(token.pk)
    for event in AuditEvent.objects.all():
        assert secret not in event.payload
        assert token.token_hash not in event.payload


def test_revoking_twice_records_once(people):
    token, _secret = api_token_create(actor=people["bob"], name="x")
    first = api_token_revoke(actor=people["bob"], token_id=token.pk)
    second = api_token_revoke(actor=people["bob"], token_id=token.pk)
    assert first.revoked_at == second.revoked_at
    assert AuditEvent.objects.filter(action="accounts.token.revoked").count() == 1


def test_nobody_revokes_someone_elses_token(people):
    token, _secret = api_token_create(actor=people["bob"], name="x")
    with pytest.raises(DomainError) as refused:
        api_token_revoke(actor=people["carol"], token_id=token.pk)
    assert refused.value.code == "token.not_found"
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_token_needs_a_short_name(people, name):
    with pytest.raises(DomainError) as refused:
        api_token_create(actor=people["bob"], name=name)
    assert refused.value.code == "token.name"


def test_a_user_has_at_most_twenty_live_tokens(people):
    made = [api_token_create(actor=people["bob"], name=f"t{i}")[0] for i in range(20)]
    with pytest.raises(DomainError) as refused:
        api_token_create(actor=people["bob"], name="one too many")
    assert refused.value.code == "token.too_many"
    api_token_revoke(actor=people["bob"], token_id=made[0].pk)
    assert api_token_create(actor=people["bob"], name="after revoking")[0].pk


# --- authenticating ------------------------------------------------------------------------------------


def test_a_valid_token_authenticates_as_its_user(people):
    _token, secret = api_token_create(actor=people["bob"], name="x")
    response = Client().get("/api/keys/", **bearer(secret))
    assert response.status_code == 200
    assert response.json()["organisation"] == people["bob"].organisation.credit_code


def test_a_token_overrides_the_session_of_the_browser_it_comes_from(people):
    _token, secret = api_token_create(actor=people["bob"], name="x")
    response = signed_in(people["carol"]).get("/api/keys/", **bearer(secret))
    assert response.json()["organisation"] == people["bob"].organisation.credit_code


def test_a_token_skips_the_csrf_check(people):
    _token, secret = api_token_create(actor=people["bob"], name="x")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/keys/", BAD_KEYS, content_type="application/json", **bearer(secret)
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "key.invalid"


def test_without_a_token_the_csrf_check_still_applies_to_the_session(people):
    client = signed_in(people["bob"], enforce_csrf_checks=True)
    response = client.post("/api/keys/", BAD_KEYS, content_type="application/json")
    assert response.status_code == 403


def assert_token_refused(response) -> None:
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth.token_invalid"
    assert response.json()["error"]["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_refused_even_with_a_signed_in_session(people):
    token, secret = api_token_create(actor=people["bob"], name="x")
    api_token_revoke(actor=people["bob"], token_id=token.pk)
    assert_token_refused(Client().get("/api/keys/", **bearer(secret)))
    # Never falls back to the session: bob is signed in here, the revoked token still fails.
    assert_token_refused(signed_in(people["bob"]).get("/api/keys/", **bearer(secret)))


def test_a_wrong_token_is_refused(people):
    api_token_create(actor=people["bob"], name="x")
    assert_token_refused(Client().get("/api/keys/", **bearer(tokens.new_secret())))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer sbt_short",
        "Bearer abc_" + "A" * 43,
        "Basic Ym9iOnB3",
        "Token sbt_" + "A" * 43,
    ],
)
def test_a_malformed_authorization_header_is_refused(people, header):
    response = signed_in(people["bob"]).get("/api/keys/", HTTP_AUTHORIZATION=header)
    assert_token_refused(response)


def test_the_token_of_a_deactivated_user_is_refused(people):
    _token, secret = api_token_create(actor=people["bob"], name="x")
    user_update(actor=None, user=people["bob"], data={"is_active": False})
    assert_token_refused(Client().get("/api/keys/", **bearer(secret)))


def test_a_token_is_ignored_outside_the_api(people):
    _token, secret = api_token_create(actor=people["bob"], name="x")
    response = Client().get(reverse("accounts:keys"), **bearer(secret))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    # Nor does a bad header break a page: pages run on the session only.
    response = signed_in(people["bob"]).get(
        reverse("accounts:keys"), HTTP_AUTHORIZATION="Bearer nonsense"
    )
    assert response.status_code == 200


def test_using_a_token_records_when_it_was_last_used_at_most_once_a_minute(people):
    token, secret = api_token_create(actor=people["bob"], name="x")
    assert token.last_used_at is None
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        Client().get("/api/keys/", **bearer(secret))
        token.refresh_from_db()
        assert token.last_used_at == start
    with time_machine.travel(start + dt.timedelta(seconds=30), tick=False):
        Client().get("/api/keys/", **bearer(secret))
        token.refresh_from_db()
        assert token.last_used_at == start
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        Client().get("/api/keys/", **bearer(secret))
        token.refresh_from_db()
        assert token.last_used_at == start + dt.timedelta(seconds=61)


def test_tokens_authenticate_through_the_asynchronous_handler_too(people):
    token, secret = api_token_create(actor=people["bob"], name="x")
    response = async_to_sync(AsyncClient().get)(
        "/api/keys/", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200
    assert json.loads(response.content)["organisation"] == people["bob"].organisation.credit_code
    api_token_revoke(actor=people["bob"], token_id=token.pk)
    response = async_to_sync(AsyncClient().get)(
        "/api/keys/", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 401


# --- the token page -----------------------------------------------------------------------------------


def test_the_token_page_shows_a_new_secret_once(people):
    client = signed_in(people["bob"])
    response = client.post(reverse("accounts:tokens"), {"name": "办公室电脑"})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=people["bob"])
    secret = re.search(r"<code>(sbt_[A-Za-z0-9_-]{43})</code>", response.content.decode()).group(1)
    assert tokens.secret_hash(secret) == token.token_hash
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    again = client.get(reverse("accounts:tokens")).content.decode()
    assert secret not in again
    assert "办公室电脑" in again and token.prefix in again


def test_the_token_page_lists_only_the_users_own_tokens(people):
    api_token_create(actor=people["bob"], name="鲍勃的令牌")
    api_token_create(actor=people["carol"], name="卡罗尔的令牌")
    html = signed_in(people["bob"]).get(reverse("accounts:tokens")).content.decode()
    assert "鲍勃的令牌" in html and "卡罗尔的令牌" not in html


def test_the_token_page_revokes_a_token(people):
    token, secret = api_token_create(actor=people["bob"], name="x")
    response = signed_in(people["bob"]).post(reverse("accounts:token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert_token_refused(Client().get("/api/keys/", **bearer(secret)))


def test_revoking_someone_elses_token_from_the_page_is_not_found(people):
    token, _secret = api_token_create(actor=people["bob"], name="x")
    response = signed_in(people["carol"]).post(reverse("accounts:token_revoke", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_token_page_shows_the_name_error(people):
    response = signed_in(people["bob"]).post(reverse("accounts:tokens"), {"name": ""})
    assert response.status_code == 200
    assert "请填写令牌名称" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_the_token_pages_send_anonymous_visitors_to_sign_in(people):
    token, _secret = api_token_create(actor=people["bob"], name="x")
    for response in (
        Client().get(reverse("accounts:tokens")),
        Client().post(reverse("accounts:token_revoke", args=[token.pk])),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


def test_revoking_needs_a_post(people):
    token, _secret = api_token_create(actor=people["bob"], name="x")
    assert (
        signed_in(people["bob"]).get(reverse("accounts:token_revoke", args=[token.pk])).status_code
        == 405
    )
