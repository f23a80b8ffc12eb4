"""Fixtures of the opening tests: the browser (tests/browser) for the Chromium tests, and a ceremony.

``ceremony``: a published lot with three real sealed bids (bob's, carol's and
dave's) and a clock to walk through its opening (tests/opening/room_support.py).
"""

from __future__ import annotations

from tests.bidding.support import bidding_settings  # noqa: F401 - fixture, used by name
from tests.browser.conftest import browser, context, page  # noqa: F401 - fixtures, used by name
from tests.opening.room_support import ceremony  # noqa: F401 - fixture, used by name
