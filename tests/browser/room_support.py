"""One participant of the opening room in Chromium: a browser context, its room page, what it received.

``Seat`` wraps a signed-in context on ``/opening/lots/<id>/room/`` with what
the ceremony test asks of every page: its stage banner, its reading table,
screenshots under /tmp/sb, the page's script errors, and every room event
frame its WebSockets received, connection by connection (Playwright observes
the frames the browser actually got, so a lost or repeated event shows).

Keys reach the browser as they reach a user's: from a key backup file made
with ``bidding.sealing.keys.backup_dump`` — restored through the page's own
restore control, or imported into the key store (IndexedDB) beforehand with
``keystore.importBackup``, as tests/opening/test_custody_browser.py does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from accounts.models import Organisation, User
from bidding.sealing.keys import KeySet, backup_dump
from tests.browser.conftest import PASSPHRASE, sign_in

if TYPE_CHECKING:  # only the browser fixture needs the package at run time (and skips without it)
    from playwright.sync_api import Browser, BrowserContext, Locator, Page, WebSocket

SHOTS = Path("/tmp/sb")

IMPORT_BACKUP = """async ([text, passphrase]) => {
  const ks = await import("/static/js/keystore.js");
  const restored = await ks.importBackup(text, passphrase);
  return restored.encryption_fingerprint;
}"""


def backup_file(
    organisation: Organisation,
    encryption_private: rsa.RSAPrivateKey,
    signing_private: ec.EllipticCurvePrivateKey,
) -> bytes:
    """The organisation's key backup file (UTF-8 JSON), under the tests' passphrase."""
    return backup_dump(
        KeySet(
            organisation=organisation.credit_code,
            encryption_private=encryption_private,
            signing_private=signing_private,
        ),
        PASSPHRASE,
    )


def import_backup(page: Page, backup: bytes) -> str:
    """Put a key set into the page's key store (IndexedDB of its origin); its encryption fingerprint."""
    return page.evaluate(IMPORT_BACKUP, [backup.decode("utf-8"), PASSPHRASE])


@dataclass
class Seat:
    """One person in the room: ``name`` (alice, bob …), their context and room page."""

    name: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)
    # Room events received, one list of seqs per WebSocket connection, in arrival order.
    connections: list[list[int]] = field(default_factory=list)

    def _watch(self, socket: WebSocket) -> None:
        if "/ws/opening/" not in socket.url:
            return
        seqs: list[int] = []
        self.connections.append(seqs)

        def received(payload: str | bytes) -> None:
            message: dict[str, Any] = json.loads(payload)
            if message.get("type") == "event":
                seqs.append(int(message["seq"]))

        socket.on("framereceived", received)

    @property
    def received(self) -> list[int]:
        """Every event seq received, over all connections, in order."""
        return [seq for seqs in self.connections for seq in seqs]

    def shot(self, moment: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"ceremony-{self.name}-{moment}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def at(self, selector: str, **options: Any) -> Locator:
        return self.page.locator(selector, **options)

    @property
    def stage(self) -> Locator:
        return self.page.locator("#room-stage")

    @property
    def reading_rows(self) -> Locator:
        return self.page.locator("#reading-body tr")

    def reading(self) -> list[list[str]]:
        """The reading table as shown: one list of cell texts per row."""
        return [
            [cell.strip() for cell in row.locator("td").all_inner_texts()]
            for row in self.reading_rows.all()
        ]

    def bidder_row(self, organisation_name: str) -> Locator:
        return self.page.locator("#bidders-body tr", has_text=organisation_name)


def take_seat(browser: Browser, name: str, user: User, base_url: str, room_path: str) -> Seat:
    """A new context signed in as ``user`` (session cookie), on the room page, its events recorded."""
    context = browser.new_context(
        base_url=base_url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )
    context.set_default_timeout(30_000)
    sign_in(context, user, base_url)
    page = context.new_page()
    seat = Seat(name=name, context=context, page=page)
    page.on("pageerror", lambda error: seat.errors.append(str(error)))
    page.on("websocket", seat._watch)
    # Not waiting for the load here lets the five pages load side by side; the test waits for each
    # page to say it is connected.
    page.goto(room_path, wait_until="commit")
    return seat
