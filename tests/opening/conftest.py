"""The browser fixtures of tests/browser, for the custodian page's Chromium test."""

from __future__ import annotations

from tests.browser.conftest import browser, context, page  # noqa: F401 - fixtures, used by name
