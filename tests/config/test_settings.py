"""config.env and config.settings: bad configuration stops start-up, production passes the deploy check."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_optional, env_str

SETUP = ("-c", "import django; django.setup(); print('started')")

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "sunbid.example.cn",
    "CSRF_TRUSTED_ORIGINS": "https://sunbid.example.cn",
}


# --- the helpers ----------------------------------------------------------------


def test_env_bool_reads_the_usual_spellings(monkeypatch):
    for value, expected in (
        ("1", True),
        ("Yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("", False),
    ):
        monkeypatch.setenv("SUNBID_TEST_FLAG", value)
        assert env_bool("SUNBID_TEST_FLAG", not expected) is expected
    monkeypatch.delenv("SUNBID_TEST_FLAG")
    assert env_bool("SUNBID_TEST_FLAG", True) is True


def test_env_bool_refuses_a_value_that_is_not_a_boolean(monkeypatch):
    monkeypatch.setenv("SUNBID_TEST_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SUNBID_TEST_FLAG"):
        env_bool("SUNBID_TEST_FLAG", False)


def test_env_int_refuses_a_value_that_is_not_a_number(monkeypatch):
    monkeypatch.setenv("SUNBID_TEST_NUMBER", "x")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("SUNBID_TEST_NUMBER", 5)


def test_env_int_refuses_a_value_below_its_minimum(monkeypatch):
    monkeypatch.setenv("SUNBID_TEST_NUMBER", "9")
    with pytest.raises(ImproperlyConfigured, match="below the minimum 10"):
        env_int("SUNBID_TEST_NUMBER", 1000, minimum=10)
    monkeypatch.setenv("SUNBID_TEST_NUMBER", "10")
    assert env_int("SUNBID_TEST_NUMBER", 1000, minimum=10) == 10


def test_env_str_without_a_default_requires_the_variable(monkeypatch):
    monkeypatch.delenv("SUNBID_TEST_TEXT", raising=False)
    with pytest.raises(ImproperlyConfigured, match="SUNBID_TEST_TEXT is required"):
        env_str("SUNBID_TEST_TEXT")
    assert env_str("SUNBID_TEST_TEXT", "fallback") == "fallback"


def test_env_list_and_env_optional_ignore_blanks(monkeypatch):
    monkeypatch.setenv("SUNBID_TEST_LIST", " a.example.cn, ,b.example.cn ")
    assert env_list("SUNBID_TEST_LIST", []) == ["a.example.cn", "b.example.cn"]
    monkeypatch.setenv("SUNBID_TEST_TEXT", "   ")
    assert env_optional("SUNBID_TEST_TEXT") is None


# --- start-up -----------------------------------------------------------------------


def test_the_embedded_default_starts_with_nothing_configured(run_django):
    result = run_django(*SETUP)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_debug_off_without_secret_key_refuses_to_start(run_django):
    result = run_django(*SETUP, DEBUG="0", ALLOWED_HOSTS="sunbid.example.cn")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off." in result.stderr


def test_debug_off_without_allowed_hosts_refuses_to_start(run_django):
    result = run_django(*SETUP, DEBUG="0", SECRET_KEY=PRODUCTION["SECRET_KEY"])
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_a_typo_in_a_boolean_variable_refuses_to_start(run_django):
    result = run_django(*SETUP, DEBUG="maybe")
    assert result.returncode != 0
    assert "ImproperlyConfigured: DEBUG='maybe' is not a boolean" in result.stderr


def _receipt_key_file(directory) -> str:
    path = directory / "receipt-signing-key.pem"
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def test_production_settings_pass_the_deploy_check_without_warnings(run_django, tmp_path):
    result = run_django(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        RECEIPT_SIGNING_KEY=_receipt_key_file(tmp_path),
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_refuses_production_without_a_receipt_signing_key(run_django):
    result = run_django("manage.py", "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode != 0
    assert "bidding.E001" in result.stderr
    assert "RECEIPT_SIGNING_KEY" in result.stderr


def test_the_deploy_check_refuses_a_receipt_key_that_is_not_ed25519(run_django, tmp_path):
    wrong = tmp_path / "wrong.pem"
    wrong.write_text("not a key")
    result = run_django(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        RECEIPT_SIGNING_KEY=str(wrong),
        **PRODUCTION,
    )
    assert result.returncode != 0
    assert "bidding.E001" in result.stderr


def test_the_deploy_check_flags_debug_left_on(run_django):
    result = run_django("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W018" in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://sunbid@127.0.0.1:3306/sunbid",
            "Unsupported database engine django.db.backends.mysql",
        ),
        (
            "oracle://sunbid@127.0.0.1:1521/sunbid",
            "Unsupported database engine django.db.backends.oracle",
        ),
        ("ftp://127.0.0.1/sunbid", "DATABASE_URL is not a database URL"),
    ],
)
def test_a_database_url_with_an_unsupported_scheme_fails_loudly(run_django, url, message):
    result = run_django(*SETUP, DATABASE_URL=url)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_postgresql_and_sqlite_urls_are_accepted(run_django):
    code = "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
    postgres = run_django("-c", code, DATABASE_URL="postgres://sunbid@127.0.0.1:5432/sunbid")
    assert postgres.stdout.strip() == "django.db.backends.postgresql", postgres.stderr
    sqlite = run_django("-c", code)
    assert sqlite.stdout.strip() == "django.db.backends.sqlite3", sqlite.stderr
