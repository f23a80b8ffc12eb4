"""Chromium driven by Playwright against pytest-django's live server.

The browser is Debian's /usr/bin/chromium (scripts/ensure_browser.sh installs
it with a Chinese font); Playwright's own browser download is never used.
Without Chromium or the playwright package these tests are skipped with the
reason — except under CI=true, where a missing browser fails the run.

The live server listens on localhost, which browsers treat as a secure
context, so WebCrypto is available as it is over https in production.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.test import Client

CHROMIUM = Path(os.environ.get("SUNBID_CHROMIUM", "/usr/bin/chromium"))
PASSPHRASE = "正确的马电池订书钉-2026"

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]


def _missing() -> str | None:
    if sync_playwright is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        return f"{CHROMIUM} not found: run scripts/ensure_browser.sh"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Every test that drives Chromium is marked ``browser`` (``-m "not browser"`` leaves them out).
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    """A fresh Chromium per test (about a second): nothing leaks from one test to the next."""
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests need Chromium under CI: {reason}", pytrace=False)
        pytest.skip(reason)
    # Playwright's sync API marks an event loop as running on the test thread
    # while it is started; the ORM calls the test makes between browser steps
    # are ordinary blocking calls all the same. Only for the browser's lifetime.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            # sunbid.test resolves to this machine: the page over plain http on
            # a name other than localhost, i.e. not a secure context.
            args=[
                "--host-resolver-rules=MAP sunbid.test 127.0.0.1",
                "--no-sandbox",
            ],
        )
        try:
            yield launched
        finally:
            # ORM calls made while Playwright runs get their own connections
            # (Django keeps them per context, and Playwright's greenlets bring
            # their own): close them here, or PostgreSQL refuses to drop the
            # test database at the end ("being accessed by other users").
            connections.close_all()
            launched.close()


@pytest.fixture
def context(browser: Browser, live_server) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    ctx.set_default_timeout(30_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    new = context.new_page()
    errors: list[str] = []
    new.on("pageerror", lambda error: errors.append(str(error)))
    new.page_errors = errors  # type: ignore[attr-defined]
    return new


def sign_in(context: BrowserContext, user: Any, url: str) -> None:
    """Give the browser a session of ``user`` for ``url``'s host (no login form round trip)."""
    client = Client()
    client.force_login(user)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}]
    )


@pytest.fixture
def signed_in(context: BrowserContext, live_server) -> Callable[[Any], None]:
    return lambda user: sign_in(context, user, live_server.url)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)
