"""Organisation keys: registration, rotation, history, who may register, refused keys, the API and the page."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.keys import fingerprint_groups, spki_fingerprint
from accounts.models import OrganisationKey, OrganisationKeyStatus, User
from accounts.selectors import organisation_key_active, organisation_key_by_fingerprint
from accounts.services import api_token_create, organisation_key_register, user_update
from accounts.views_keys import KEY_PAGE_TEXTS
from audit.models import AuditEvent
from core.errors import DomainError

SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
DER = serialization.Encoding.DER


def spki(public_key) -> bytes:
    return public_key.public_bytes(DER, SPKI)


@dataclass(frozen=True)
class KeyPair:
    encryption: bytes
    signing: bytes

    @property
    def encryption_fingerprint(self) -> str:
        return hashlib.sha256(self.encryption).hexdigest()

    @property
    def signing_fingerprint(self) -> str:
        return hashlib.sha256(self.signing).hexdigest()

    def as_json(self) -> str:
        return json.dumps(
            {
                "encryption_public": base64.b64encode(self.encryption).decode(),
                "signing_public": base64.b64encode(self.signing).decode(),
            }
        )


@pytest.fixture(scope="session")
def key_pairs() -> list[KeyPair]:
    """Six real key sets, made once per session: RSA 3072 generation takes a while."""
    return [
        KeyPair(
            encryption=spki(
                rsa.generate_private_key(public_exponent=65537, key_size=3072).public_key()
            ),
            signing=spki(ec.generate_private_key(ec.SECP256R1()).public_key()),
        )
        for _ in range(6)
    ]


def register(user: User, pair: KeyPair) -> OrganisationKey:
    return organisation_key_register(
        actor=user, encryption_public=pair.encryption, signing_public=pair.signing
    )


def payload(event: AuditEvent) -> dict:
    return json.loads(event.payload)


def keys_of(user: User) -> QuerySet[OrganisationKey]:
    return OrganisationKey.objects.filter(organisation_id=user.organisation_id)


def key_events(user: User) -> QuerySet[AuditEvent]:
    """The key events ``user`` caused (the people fixture registers keys for the custodians too)."""
    return AuditEvent.objects.filter(action__startswith="accounts.key.", actor_id=user.pk)


def client_for(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


# --- registering and rotating ----------------------------------------------------------------


def test_a_bidder_registers_its_organisations_keys_and_they_become_active(people, key_pairs):
    bob = people["bob"]
    key = register(bob, key_pairs[0])
    assert key.organisation == bob.organisation
    assert key.status == OrganisationKeyStatus.ACTIVE
    assert key.registered_by == bob
    assert key.retired_at is None
    assert bytes(key.encryption_public) == key_pairs[0].encryption
    assert key.encryption_fingerprint == key_pairs[0].encryption_fingerprint
    assert key.signing_fingerprint == key_pairs[0].signing_fingerprint
    assert organisation_key_active(bob.organisation) == key
    assert organisation_key_active(bob.organisation_id) == key


def test_the_fingerprint_is_the_sha256_of_the_spki_der_in_lowercase_hex(key_pairs):
    fingerprint = spki_fingerprint(key_pairs[0].encryption)
    assert fingerprint == hashlib.sha256(key_pairs[0].encryption).hexdigest()
    assert len(fingerprint) == 64 and fingerprint == fingerprint.lower()
    assert fingerprint_groups(fingerprint).split(" ")[0] == fingerprint[:4]
    assert len(fingerprint_groups(fingerprint).split(" ")) == 16


def test_the_fingerprint_agrees_with_the_sealing_library(key_pairs):
    keys = pytest.importorskip("bidding.sealing.keys")
    public = serialization.load_der_public_key(key_pairs[0].encryption)
    assert keys.fingerprint(public) == spki_fingerprint(key_pairs[0].encryption)


def test_registration_is_audited_with_both_fingerprints(people, key_pairs):
    key = register(people["bob"], key_pairs[0])
    event = key_events(people["bob"]).get(action="accounts.key.registered")
    assert event.actor_id == people["bob"].pk
    assert event.object_id == str(key.pk)
    data = payload(event)
    assert data["encryption_fingerprint"] == key.encryption_fingerprint
    assert data["signing_fingerprint"] == key.signing_fingerprint
    assert data["organisation"] == people["bob"].organisation.credit_code
    assert data["replaces"] is None
    assert not key_events(people["bob"]).filter(action="accounts.key.retired").exists()


def test_rotating_retires_the_previous_key_and_keeps_it_findable(people, key_pairs):
    bob = people["bob"]
    first = register(bob, key_pairs[0])
    second = register(bob, key_pairs[1])
    first.refresh_from_db()
    assert first.status == OrganisationKeyStatus.RETIRED
    assert first.retired_at == second.registered_at
    assert organisation_key_active(bob.organisation) == second
    # A bid sealed before the rotation names the old fingerprints: still found, either of them.
    assert organisation_key_by_fingerprint(key_pairs[0].encryption_fingerprint) == first
    assert organisation_key_by_fingerprint(key_pairs[0].signing_fingerprint) == first
    assert organisation_key_by_fingerprint(key_pairs[1].signing_fingerprint) == second
    assert OrganisationKey.objects.filter(organisation=bob.organisation).count() == 2
    retired = key_events(bob).get(action="accounts.key.retired")
    assert payload(retired)["encryption_fingerprint"] == first.encryption_fingerprint
    registered = key_events(bob).filter(action="accounts.key.registered").order_by("-seq").first()
    assert payload(registered)["replaces"] == first.encryption_fingerprint
    assert retired.seq < registered.seq


def test_only_one_key_set_per_organisation_is_ever_active(people, key_pairs):
    bob = people["bob"]
    for pair in key_pairs[:3]:
        register(bob, pair)
    statuses = sorted(
        OrganisationKey.objects.filter(organisation=bob.organisation).values_list(
            "status", flat=True
        )
    )
    assert statuses == ["active", "retired", "retired"]


def test_an_unknown_or_malformed_fingerprint_finds_nothing(people, key_pairs):
    register(people["bob"], key_pairs[0])
    assert organisation_key_by_fingerprint("0" * 64) is None
    assert organisation_key_by_fingerprint(key_pairs[0].encryption_fingerprint[:63]) is None
    assert organisation_key_by_fingerprint(key_pairs[0].encryption_fingerprint.upper()) is None


def test_an_organisation_without_keys_has_no_active_key(people):
    assert organisation_key_active(people["carol"].organisation) is None


# --- who may register -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bob", "alice", "terry", "sam"])
def test_every_role_that_seals_or_keeps_a_share_may_register_its_organisations_keys(
    people, key_pairs, name
):
    user = people[name]
    key = register(user, key_pairs[0])
    assert key.organisation_id == user.organisation_id


@pytest.mark.parametrize("name", ["fay", "pat", "eve"])
def test_roles_that_hold_no_keys_may_not_register(people, key_pairs, name):
    with pytest.raises(DomainError) as refused:
        register(people[name], key_pairs[0])
    assert refused.value.code == "key.not_permitted"
    assert refused.value.status == 403
    assert not OrganisationKey.objects.filter(organisation=people[name].organisation).exists()


def test_an_inactive_user_may_not_register(people, key_pairs):
    bob = user_update(actor=None, user=people["bob"], data={"is_active": False})
    with pytest.raises(DomainError) as refused:
        register(bob, key_pairs[0])
    assert refused.value.code == "key.not_permitted"


def test_a_user_of_a_disabled_organisation_may_not_register(people, key_pairs):
    bob = people["bob"]
    bob.organisation.is_active = False
    bob.organisation.save()
    with pytest.raises(DomainError) as refused:
        register(User.objects.get(pk=bob.pk), key_pairs[0])
    assert refused.value.code == "key.not_permitted"


def test_keys_of_one_organisation_never_touch_another(people, key_pairs):
    bob_key = register(people["bob"], key_pairs[0])
    carol_key = register(people["carol"], key_pairs[1])
    bob_key.refresh_from_db()
    assert bob_key.status == OrganisationKeyStatus.ACTIVE
    assert organisation_key_active(people["carol"].organisation) == carol_key
    assert organisation_key_active(people["dave"].organisation) is None


# --- refused keys -------------------------------------------------------------------------------


def refused_code(user: User, *, encryption: bytes, signing: bytes) -> tuple[str, str | None, str]:
    with pytest.raises(DomainError) as refused:
        organisation_key_register(actor=user, encryption_public=encryption, signing_public=signing)
    return refused.value.code, refused.value.field, refused.value.message


def fake_rsa(bits: int, e: int = 65537) -> bytes:
    """An RSA public key of the given size; the modulus need not factor for a public-key check."""
    return spki(rsa.RSAPublicNumbers(e, (1 << (bits - 1)) | 1).public_key())


def test_a_short_rsa_key_is_refused_as_weak(people, key_pairs):
    code, field, message = refused_code(
        people["bob"], encryption=fake_rsa(2048), signing=key_pairs[0].signing
    )
    assert (code, field) == ("key.weak", "encryption_public")
    assert "2048" in message


def test_a_small_public_exponent_is_refused_as_weak(people, key_pairs):
    public = serialization.load_der_public_key(key_pairs[0].encryption)
    small_e = spki(rsa.RSAPublicNumbers(3, public.public_numbers().n).public_key())
    code, field, _message = refused_code(
        people["bob"], encryption=small_e, signing=key_pairs[0].signing
    )
    assert (code, field) == ("key.weak", "encryption_public")


def test_an_rsa_key_of_another_size_is_refused(people, key_pairs):
    code, field, _message = refused_code(
        people["bob"], encryption=fake_rsa(4096), signing=key_pairs[0].signing
    )
    assert (code, field) == ("key.invalid", "encryption_public")


def test_a_signing_key_on_another_curve_is_refused(people, key_pairs):
    p384 = spki(ec.generate_private_key(ec.SECP384R1()).public_key())
    code, field, message = refused_code(
        people["bob"], encryption=key_pairs[0].encryption, signing=p384
    )
    assert (code, field) == ("key.invalid", "signing_public")
    assert "secp384r1" in message


def test_a_signing_key_on_a_smaller_curve_is_refused_as_weak(people, key_pairs):
    try:
        p224 = spki(ec.generate_private_key(ec.SECP224R1()).public_key())
    except Exception:  # pragma: no cover - an OpenSSL built without P-224
        pytest.skip("P-224 not available")
    code, field, _message = refused_code(
        people["bob"], encryption=key_pairs[0].encryption, signing=p224
    )
    assert (code, field) == ("key.weak", "signing_public")


@pytest.mark.parametrize(
    "which",
    ["swapped", "ed25519_signing", "garbage", "empty", "trailing_bytes", "pem", "too_long"],
)
def test_malformed_keys_are_refused_as_invalid(people, key_pairs, which):
    pair = key_pairs[0]
    ed = spki(ed25519.Ed25519PrivateKey.generate().public_key())
    pem = serialization.load_der_public_key(pair.encryption).public_bytes(
        serialization.Encoding.PEM, SPKI
    )
    encryption, signing = {
        "swapped": (pair.signing, pair.encryption),
        "ed25519_signing": (pair.encryption, ed),
        "garbage": (b"\x30\x82not a key at all", pair.signing),
        "empty": (b"", pair.signing),
        "trailing_bytes": (pair.encryption + b"\x00", pair.signing),
        "pem": (pem, pair.signing),
        "too_long": (b"\x30" * 5000, pair.signing),
    }[which]
    code, _field, message = refused_code(people["bob"], encryption=encryption, signing=signing)
    assert code == "key.invalid"
    assert message and not message.isascii()
    assert not keys_of(people["bob"]).exists()
    assert not key_events(people["bob"]).exists()


def test_registering_the_same_keys_again_is_refused_and_changes_nothing(people, key_pairs):
    first = register(people["bob"], key_pairs[0])
    code, _field, _message = refused_code(
        people["bob"], encryption=key_pairs[0].encryption, signing=key_pairs[0].signing
    )
    assert code == "key.duplicate"
    first.refresh_from_db()
    assert first.status == OrganisationKeyStatus.ACTIVE
    assert key_events(people["bob"]).filter(action="accounts.key.registered").count() == 1
    assert not key_events(people["bob"]).filter(action="accounts.key.retired").exists()


def test_another_organisation_cannot_register_a_key_already_registered(people, key_pairs):
    register(people["bob"], key_pairs[0])
    code, _field, _message = refused_code(
        people["carol"], encryption=key_pairs[1].encryption, signing=key_pairs[0].signing
    )
    assert code == "key.duplicate"
    assert organisation_key_active(people["carol"].organisation) is None


def test_a_refused_rotation_keeps_the_active_key(people, key_pairs):
    first = register(people["bob"], key_pairs[0])
    refused_code(people["bob"], encryption=fake_rsa(2048), signing=key_pairs[1].signing)
    assert organisation_key_active(people["bob"].organisation) == first


# --- JSON API -------------------------------------------------------------------------------------


def test_the_api_registers_keys_from_the_browser_with_session_and_csrf(people, key_pairs):
    client = client_for(people["bob"], enforce_csrf_checks=True)
    client.get(reverse("accounts:keys"))
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/api/keys/",
        key_pairs[0].as_json(),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["encryption_fingerprint"] == key_pairs[0].encryption_fingerprint
    assert body["signing_fingerprint"] == key_pairs[0].signing_fingerprint
    assert (
        organisation_key_active(people["bob"].organisation).encryption_fingerprint
        == body["encryption_fingerprint"]
    )


def test_the_api_refuses_a_session_post_without_csrf_token(people, key_pairs):
    client = client_for(people["bob"], enforce_csrf_checks=True)
    response = client.post("/api/keys/", key_pairs[0].as_json(), content_type="application/json")
    assert response.status_code == 403
    assert not keys_of(people["bob"]).exists()


def test_the_api_registers_keys_with_an_api_token_and_no_csrf_token(people, key_pairs):
    _token, secret = api_token_create(actor=people["bob"], name="客户端")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/keys/",
        key_pairs[0].as_json(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 201
    assert organisation_key_active(people["bob"].organisation).registered_by == people["bob"]


def test_the_api_asks_an_anonymous_client_to_authenticate(db, key_pairs):
    response = Client().post("/api/keys/", key_pairs[0].as_json(), content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.required"
    assert not OrganisationKey.objects.filter(
        encryption_fingerprint=key_pairs[0].encryption_fingerprint
    ).exists()


def test_the_api_refuses_roles_that_hold_no_keys(people, key_pairs):
    response = client_for(people["fay"]).post(
        "/api/keys/", key_pairs[0].as_json(), content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "key.not_permitted"


@pytest.mark.parametrize(
    "body",
    [
        '{"encryption_public": "not base64!", "signing_public": "AAAA"}',
        '{"signing_public": "AAAA"}',
        '{"encryption_public": 12, "signing_public": "AAAA"}',
    ],
)
def test_the_api_refuses_public_keys_that_are_not_base64(people, body):
    response = client_for(people["bob"]).post("/api/keys/", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "key.invalid"
    assert error["message"].startswith(("encryption_public 应为", "signing_public 应为"))


@pytest.mark.parametrize(
    "body", ["not json", "[1, 2]", "\xff", json.dumps({"encryption_public": "A" * 20000})]
)
def test_the_api_refuses_a_body_that_is_not_a_json_object(people, body):
    response = client_for(people["bob"]).post("/api/keys/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request.invalid"


def test_the_api_reports_a_weak_key_with_its_code_and_a_chinese_message(people, key_pairs):
    body = json.dumps(
        {
            "encryption_public": base64.b64encode(fake_rsa(2048)).decode(),
            "signing_public": base64.b64encode(key_pairs[0].signing).decode(),
        }
    )
    response = client_for(people["bob"]).post("/api/keys/", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "key.weak"
    assert "3072" in error["message"] and not error["message"].isascii()


def test_the_api_lists_only_the_users_own_organisations_keys(people, key_pairs):
    register(people["bob"], key_pairs[0])
    register(people["bob"], key_pairs[1])
    register(people["carol"], key_pairs[2])
    body = client_for(people["bob"]).get("/api/keys/").json()
    assert body["organisation"] == people["bob"].organisation.credit_code
    assert body["active"]["encryption_fingerprint"] == key_pairs[1].encryption_fingerprint
    assert [key["encryption_fingerprint"] for key in body["keys"]] == [
        key_pairs[1].encryption_fingerprint,
        key_pairs[0].encryption_fingerprint,
    ]
    assert body["keys"][1]["status"] == "retired" and body["keys"][1]["retired_at"]
    assert base64.b64decode(body["keys"][1]["encryption_public"]) == key_pairs[0].encryption


# --- the page -----------------------------------------------------------------------------------------


def test_the_key_page_shows_the_active_key_and_the_history_grouped_for_reading(people, key_pairs):
    register(people["bob"], key_pairs[0])
    register(people["bob"], key_pairs[1])
    register(people["carol"], key_pairs[2])
    response = client_for(people["bob"]).get(reverse("accounts:keys"))
    assert response.status_code == 200
    html = response.content.decode()
    assert fingerprint_groups(key_pairs[1].encryption_fingerprint) in html
    assert fingerprint_groups(key_pairs[0].signing_fingerprint) in html
    assert key_pairs[2].encryption_fingerprint not in html
    assert fingerprint_groups(key_pairs[2].encryption_fingerprint) not in html
    assert "已停用" in html and "当前使用" in html
    assert 'src="/static/js/keys-page.js"' in html
    data = json.loads(
        html.split('id="keys-page-data" type="application/json">')[1].split("</script>")[0]
    )
    assert data["organisation"] == people["bob"].organisation.credit_code
    assert data["registerUrl"] == "/api/keys/"
    assert data["registered"] == {
        key_pairs[0].encryption_fingerprint: "retired",
        key_pairs[1].encryption_fingerprint: "active",
    }
    assert data["texts"]["backup.passphrase_too_short"] == "备份口令至少12个字符。"


def test_the_key_page_passes_english_texts_to_its_script_when_english_is_chosen(people):
    client = client_for(people["bob"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(reverse("accounts:keys")).content.decode()
    data = json.loads(
        html.split('id="keys-page-data" type="application/json">')[1].split("</script>")[0]
    )
    with translation.override("en"):
        expected = {code: str(text) for code, text in KEY_PAGE_TEXTS.items()}
    assert data["texts"] == expected
    assert set(data["texts"]) >= {"keystore.insecure_context", "backup.invalid", "held", "not_held"}


def test_the_key_page_says_https_is_needed_on_plain_http_to_another_host(people, settings):
    settings.ALLOWED_HOSTS = ["sunbid.example.cn"]
    client = client_for(people["bob"])
    html = client.get(reverse("accounts:keys"), HTTP_HOST="sunbid.example.cn").content.decode()
    assert '<div class="alert alert-danger" id="keys-insecure" role="alert">' in html
    assert "https://" in html


@pytest.mark.parametrize(
    ("host", "secure"),
    [("localhost:8000", False), ("127.0.0.1:8000", False), ("sunbid.example.cn", True)],
)
def test_the_key_page_hides_the_https_warning_where_webcrypto_works(people, settings, host, secure):
    settings.ALLOWED_HOSTS = ["*"]
    client = client_for(people["bob"])
    html = client.get(reverse("accounts:keys"), HTTP_HOST=host, secure=secure).content.decode()
    assert 'id="keys-insecure" hidden' in html


@pytest.mark.parametrize("name", ["fay", "pat", "eve"])
def test_the_key_page_is_forbidden_to_roles_that_hold_no_keys(people, name):
    assert client_for(people[name]).get(reverse("accounts:keys")).status_code == 403


def test_the_key_page_sends_anonymous_visitors_to_sign_in(db):
    response = Client().get(reverse("accounts:keys"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_dashboard_links_to_the_key_page_and_warns_while_no_key_is_registered(
    people, key_pairs
):
    client = client_for(people["bob"])
    html = client.get(reverse("accounts:dashboard")).content.decode()
    assert reverse("accounts:keys") in html and "本单位尚未登记密钥" in html
    register(people["bob"], key_pairs[0])
    html = client.get(reverse("accounts:dashboard")).content.decode()
    assert reverse("accounts:keys") in html and "本单位尚未登记密钥" not in html


@pytest.mark.parametrize("name", ["alice", "terry", "sam"])
def test_custodian_dashboards_link_to_the_key_page(people, name):
    html = client_for(people[name]).get(reverse("accounts:dashboard")).content.decode()
    assert f'href="{reverse("accounts:keys")}"' in html


def test_dashboards_of_roles_without_keys_do_not_link_to_the_key_page(people):
    html = client_for(people["fay"]).get(reverse("accounts:dashboard")).content.decode()
    assert f'href="{reverse("accounts:keys")}"' not in html
