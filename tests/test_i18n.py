"""The English interface: a complete, compiled catalog, and a language switch that takes effect.

Chinese is the source language (every msgid is Chinese); English comes from
locale/en/LC_MESSAGES/django.po, compiled to django.mo and committed so that
machines without GNU gettext run the same translations.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from core.errors import DomainError
from tendering import services as tendering
from tests.conftest import lot_input

CATALOG_DIR = Path(settings.LOCALE_PATHS[0]) / "en" / "LC_MESSAGES"
PO_PATH = CATALOG_DIR / "django.po"
MO_PATH = CATALOG_DIR / "django.mo"

# A printf conversion as Python's % operator reads it: %(name)s, %d, %%, %.2f …
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa%]")
HTML_TAG = re.compile(r"<[^>]+>")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
NAV = re.compile(r'<nav class="mainnav">(.*?)</nav>', re.S)


@pytest.fixture(scope="module")
def catalog() -> polib.POFile:
    return polib.pofile(str(PO_PATH))


def _live(entries: polib.POFile | polib.MOFile) -> list[polib.POEntry | polib.MOEntry]:
    return [entry for entry in entries if entry.msgid and not getattr(entry, "obsolete", False)]


def _translations(entry: polib.POEntry | polib.MOEntry) -> list[str]:
    if entry.msgid_plural:
        return [entry.msgstr_plural[index] for index in sorted(entry.msgstr_plural)]
    return [entry.msgstr]


def _as_map(
    entries: polib.POFile | polib.MOFile,
) -> dict[tuple[str | None, str, str], tuple[str, ...]]:
    return {
        (entry.msgctxt, entry.msgid, entry.msgid_plural or ""): tuple(_translations(entry))
        for entry in _live(entries)
    }


def _nav(html: str) -> str:
    match = NAV.search(html)
    assert match, "the page has no main navigation"
    return match.group(1)


# --- the catalog ----------------------------------------------------------------------


def test_english_catalog_header_declares_english_with_two_plural_forms(catalog):
    assert catalog.metadata["Language"] == "en"
    assert "charset=UTF-8" in catalog.metadata["Content-Type"]
    assert catalog.metadata["Plural-Forms"] == "nplurals=2; plural=(n != 1);"
    assert not catalog.metadata_is_fuzzy


def test_every_english_entry_is_translated_and_none_is_fuzzy(catalog):
    assert len(_live(catalog)) > 100, "the catalog looks empty: was makemessages run?"
    assert [entry.msgid for entry in catalog.untranslated_entries()] == []
    assert [entry.msgid for entry in catalog.fuzzy_entries()] == []


def test_plural_entries_fill_both_english_forms(catalog):
    plurals = [entry for entry in _live(catalog) if entry.msgid_plural]
    assert plurals
    for entry in plurals:
        assert sorted(entry.msgstr_plural) == [0, 1], entry.msgid
        assert all(text.strip() for text in entry.msgstr_plural.values()), entry.msgid


def test_no_english_translation_contains_chinese_text(catalog):
    leftovers = {
        entry.msgid: text
        for entry in _live(catalog)
        for text in _translations(entry)
        if CJK.search(text)
    }
    assert leftovers == {}


def test_compiled_catalog_matches_the_po_file(catalog):
    compiled = polib.mofile(str(MO_PATH))
    assert compiled.metadata.get("Plural-Forms") == catalog.metadata["Plural-Forms"]
    # A forgotten compilemessages after editing the .po fails here.
    assert _as_map(compiled) == _as_map(catalog)


def test_python_format_translations_keep_the_placeholders_of_their_msgid(catalog):
    mismatches = []
    for entry in _live(catalog):
        if "python-format" not in entry.flags:
            continue
        expected = Counter(PLACEHOLDER.findall(entry.msgid))
        for text in _translations(entry):
            if Counter(PLACEHOLDER.findall(text)) != expected:
                mismatches.append((entry.msgid, text))
    assert mismatches == []


def test_translations_keep_the_html_of_their_msgid(catalog):
    mismatches = [
        (entry.msgid, text)
        for entry in _live(catalog)
        for text in _translations(entry)
        if Counter(HTML_TAG.findall(entry.msgid)) != Counter(HTML_TAG.findall(text))
    ]
    assert mismatches == []


# --- switching language ---------------------------------------------------------------


@pytest.mark.django_db
def test_portal_is_chinese_by_default():
    response = Client().get(reverse("portal:index"))

    assert response.status_code == 200
    html = response.content.decode()
    nav = _nav(html)
    assert '<html lang="zh-hans">' in html
    assert "招标公告" in nav
    assert "Tender notices" not in nav


@pytest.mark.django_db
def test_an_english_browser_still_gets_the_chinese_portal_until_english_is_chosen():
    response = Client(headers={"accept-language": "en-US,en;q=0.9"}).get(reverse("portal:index"))

    assert '<html lang="zh-hans">' in response.content.decode()
    assert response.headers["Content-Language"] == "zh-hans"
    assert "Cookie" in response.headers["Vary"]


@pytest.mark.django_db
def test_language_cookie_renders_the_portal_in_english():
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = client.get(reverse("portal:index"))

    assert response.status_code == 200
    html = response.content.decode()
    nav = _nav(html)
    assert '<html lang="en">' in html
    assert "Tender notices" in nav
    assert "Home" in nav
    for chinese in ("首页", "招标公告", "交易结果"):
        assert chinese not in nav


@pytest.mark.django_db
def test_choosing_english_in_the_header_switch_keeps_english_on_later_pages():
    client = Client()

    switched = client.post(
        reverse("set_language"), {"language": "en", "next": reverse("portal:results")}
    )

    assert switched.status_code == 302
    assert switched["Location"] == reverse("portal:results")
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    nav = _nav(client.get(reverse("portal:index")).content.decode())
    assert "Tender notices" in nav
    assert "招标公告" not in nav


# --- domain errors --------------------------------------------------------------------


def _bid_security_error() -> DomainError:
    # 2% of 12,000,000.00 is 240,000.00; a security above it is refused.
    data = lot_input(estimated_price=Decimal("12000000.00"), bid_security=Decimal("250000.00"))
    with pytest.raises(DomainError) as caught:
        tendering.lot_validate(data)
    assert caught.value.code == "lot.bid_security_over_limit"
    return caught.value


def test_domain_error_message_is_chinese_by_default():
    translation.deactivate()
    error = _bid_security_error()

    assert error.message == "投标保证金不得超过项目估算价的2%（最多 240,000.00 元）。"


def test_domain_error_message_is_english_under_english():
    with translation.override("en"):
        error = _bid_security_error()
        message = error.message

    assert (
        message
        == "The bid security may not exceed 2% of the estimated project value (at most CNY 240,000.00)."
    )


def test_domain_error_raised_in_chinese_is_read_in_the_language_active_when_shown():
    translation.deactivate()
    error = _bid_security_error()

    with translation.override("en"):
        assert error.message.startswith("The bid security may not exceed 2%")
    assert error.message.startswith("投标保证金不得超过")
