"""Sunbid command-line client: ``python -m bidding.client COMMAND …``.

Prepares bids offline (EB 26) and drives the platform's JSON API for
automation — the same keys, the same sealed format and the same server checks
as the browser page (docs/sealing.md, "Command-line client")::

    keygen      make the organisation's keys and their passphrase-protected backup file
    register    register the public keys of a backup file (POST /api/keys/)
    lot-info    fetch a lot's sealing parameters, e.g. to seal offline later
    seal        seal files and the bid summary into one sealed bid (offline)
    upload      upload a sealed bid, resumably; saves and checks the receipt
    status      the organisation's bid on a lot (and a pending upload)
    withdraw    withdraw the bid on a lot
    receipt     fetch a receipt (JSON, PDF), or verify one offline
    receipt-key fetch the platform's receipt signing key (PEM)

It needs the ``sunbid`` package only for ``bidding.sealing`` (pure) and the
credit code check, plus ``cryptography``; HTTP goes through the standard
library. It never touches Django settings or a database, so a bidder runs it on
its own machine.

Uploads and withdrawals carry this installation's device id in
``X-Sunbid-Device``: a random UUID made on first use and kept in
``SUNBID_DEVICE_FILE`` (default: ``sunbid/device-id`` under the user's
configuration directory). It names nothing but this installation; the
platform records it with the upload so that supervisors can see, after the
opening, bids of different organisations sent from one machine
(docs/collusion.md).

Secrets stay off the command line, where the shell history and the process
list would keep them: the API token comes from ``SUNBID_TOKEN`` or
``--token-file``, passphrases from ``--passphrase-file`` or a prompt.

Exit codes: 0 done; 1 refused — by the server (its Chinese message and stable
code are printed) or by a local check (a bad summary, a receipt that does not
verify, a sealed file for another lot); 2 usage (bad or missing option, no
server or token configured, unreadable input file); 3 network (the server
could not be reached, or kept failing after the retries); 130 interrupted
(Ctrl-C: an upload resumes when the same command is run again).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import contextlib
import datetime as dt
import getpass
import hashlib
import http.client
import json
import mimetypes
import os
import re
import sys
import tempfile
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, BinaryIO

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accounts import credit_code
from bidding.sealing import format as sealed
from bidding.sealing import keys as sealkeys
from bidding.sealing.errors import SealingError

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_NETWORK = 3
EXIT_INTERRUPTED = 130

USER_AGENT = "sunbid-client/1"
STATE_SUFFIX = ".upload.json"
RECEIPT_SUFFIX = ".receipt.json"
STATE_FORMAT = "sunbid-upload-state"
MIN_PASSPHRASE = 12
DEFAULT_TIMEOUT = 120.0
DEFAULT_RETRIES = 8
# Answers worth retrying: the request may succeed a moment later unchanged.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF = 30.0

# The summary rules of docs/sealing.md (contract §1): checked here as well,
# because nobody can check a sealed summary before the opening.
PRICE_RE = re.compile(r"^[0-9]{1,14}(\.[0-9]{1,2})?$")
FIELD_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_FIELDS = 50
MAX_FIELD_VALUE = 500
MAX_QUALITY = 200
MAX_DURATION = 3650
MAX_FILES = 100
MAX_NAME = 255
MAX_MEDIA_TYPE = 100

DEVICE_HEADER = "X-Sunbid-Device"
DEVICE_FILE_ENV = "SUNBID_DEVICE_FILE"
_DEVICE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

RECEIPT_FORMAT = "sunbid-receipt"
RECEIPT_FIELDS = frozenset(
    {
        "format",
        "version",
        "receipt_no",
        "tender",
        "lot",
        "lot_name",
        "bidder",
        "bidder_name",
        "bid",
        "size",
        "ciphertext_sha256",
        "received_at",
        "audit_seq",
        "key_fingerprint",
        "signature",
    }
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# --- errors ---------------------------------------------------------------------------


class ClientError(Exception):
    """A refusal to report: ``message`` for people, ``code`` (stable) when there is one."""

    exit_code = EXIT_REFUSED

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class UsageError(ClientError):
    exit_code = EXIT_USAGE


class NetworkError(ClientError):
    exit_code = EXIT_NETWORK


class ServerRefused(ClientError):
    """The server answered with an error: its code and Chinese message, as it sent them."""

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUS


def _sealing_error(exc: SealingError) -> ClientError:
    # The library's messages are Chinese msgids; the client, having no
    # Django translation machinery, shows them in the source language.
    return ClientError(exc.text, code=exc.code)


# --- output ---------------------------------------------------------------------------


class Console:
    """Where the client talks: results on stdout, progress and warnings on stderr."""

    def __init__(
        self, *, quiet: bool = False, out: IO[str] | None = None, err: IO[str] | None = None
    ) -> None:
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def result(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def info(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.err, flush=True)

    def warn(self, text: str) -> None:
        print(f"警告 / warning: {text}", file=self.err, flush=True)

    def json(self, value: Any) -> None:
        print(
            json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True),
            file=self.out,
            flush=True,
        )


def _mib(size: float) -> str:
    return f"{size / 1048576:.1f} MiB"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class Progress:
    """Bytes done, speed over the last seconds, and time left — on stderr.

    On a terminal the line is redrawn in place; into a file or pipe (a log of
    an unattended upload) a line is written every ``log_every`` seconds so the
    log stays readable.
    """

    WINDOW = 10.0

    def __init__(
        self,
        total: int,
        *,
        done: int = 0,
        label: str = "",
        stream: IO[str] | None = None,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        log_every: float = 5.0,
    ) -> None:
        self.total = max(total, 1)
        self.done = done
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.clock = clock
        self.log_every = log_every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        now = clock()
        self.started = now
        self.first_done = done
        self.samples: collections.deque[tuple[float, int]] = collections.deque([(now, done)])
        self.last_line = float("-inf")
        self.drawn = False

    def speed(self) -> float:
        """Bytes per second over the recent window (the whole run while it is shorter)."""
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0

    def eta(self) -> float | None:
        speed = self.speed()
        return (self.total - self.done) / speed if speed > 0 else None

    def line(self) -> str:
        percent = 100.0 * self.done / self.total
        speed = self.speed()
        eta = self.eta()
        left = _duration(eta) if eta is not None else "--:--:--"
        head = f"{self.label} " if self.label else ""
        return (
            f"{head}{percent:5.1f}%  {_mib(self.done)} / {_mib(self.total)}  "
            f"{speed / 1048576:.1f} MiB/s  剩余 / left {left}"
        )

    def update(self, done: int) -> None:
        now = self.clock()
        self.done = done
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.WINDOW:
            self.samples.popleft()
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()
            self.drawn = True
        elif now - self.last_line >= self.log_every or done >= self.total:
            self.last_line = now
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    def average(self) -> float:
        """Bytes per second since the start (for the closing line)."""
        elapsed = self.clock() - self.started
        return (self.done - self.first_done) / elapsed if elapsed > 0 else 0.0


class CountingReader:
    """A read-only file wrapper that reports how many bytes went through it."""

    def __init__(self, raw: BinaryIO, on_read: Callable[[int], None]) -> None:
        self.raw = raw
        self.on_read = on_read

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if data:
            self.on_read(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)
        if count:
            self.on_read(count)
        return count or 0

    def close(self) -> None:
        self.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


# --- files and secrets ------------------------------------------------------------------


def write_atomic(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write the whole file or nothing: a crash never leaves half a key backup or state file."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or Path(".")
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if not private:
            # mkstemp creates 0600; ordinary outputs get the usual umask-derived mode.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def read_input_file(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"无法读取{what}“{path}”：{exc.strerror} / cannot read {path}") from None


def read_json_file(path: str | Path, what: str) -> Any:
    data = read_input_file(path, what)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UsageError(
            f"{what}“{path}”不是有效的 JSON 文件 / {path} is not a JSON file"
        ) from None


def read_secret_file(path: str | Path, what: str) -> str:
    """A secret from a file: the first line, without its line ending."""
    data = read_input_file(path, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{what}文件“{path}”不是 UTF-8 文本 / {path} is not UTF-8 text") from None
    return text.splitlines()[0] if text else ""


def read_passphrase(path: str | None, *, new: bool) -> str:
    """The key backup passphrase, from a file or typed at a prompt (twice when it is new).

    Normalised to NFC as the backup format prescribes, so the same passphrase
    typed on another system (which may compose characters differently) opens
    the same file.
    """
    if path:
        passphrase = read_secret_file(path, "口令")
    else:
        try:
            passphrase = getpass.getpass("密钥备份口令 / key backup passphrase: ")
            if new:
                again = getpass.getpass("再次输入口令 / repeat the passphrase: ")
                if unicodedata.normalize("NFC", again) != unicodedata.normalize("NFC", passphrase):
                    raise UsageError("两次输入的口令不一致 / the passphrases do not match")
        except EOFError:
            raise UsageError(
                "未提供口令：请使用 --passphrase-file / no passphrase: use --passphrase-file"
            ) from None
    passphrase = unicodedata.normalize("NFC", passphrase)
    if new and len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(
            f"口令至少需要 {MIN_PASSPHRASE} 个字符 / the passphrase needs at least {MIN_PASSPHRASE} characters"
        )
    if not passphrase:
        raise UsageError("口令为空 / the passphrase is empty")
    return passphrase


def load_keyset(path: str | Path, passphrase_file: str | None) -> sealkeys.KeySet:
    data = read_input_file(path, "密钥备份文件")
    passphrase = read_passphrase(passphrase_file, new=False)
    try:
        return sealkeys.backup_load(data, passphrase)
    except SealingError as exc:
        raise _sealing_error(exc) from None


def public_keys_payload(keyset: sealkeys.KeySet) -> dict[str, str]:
    """The body of POST /api/keys/: both public keys as base64 SubjectPublicKeyInfo DER."""
    return {
        "encryption_public": base64.b64encode(
            sealkeys.spki_der(keyset.encryption_private.public_key())
        ).decode(),
        "signing_public": base64.b64encode(
            sealkeys.spki_der(keyset.signing_private.public_key())
        ).decode(),
    }


# --- this installation's device id ----------------------------------------------------


def device_file() -> Path:
    """Where this installation keeps its device id: ``SUNBID_DEVICE_FILE``, else the user's config directory."""
    configured = os.environ.get(DEVICE_FILE_ENV, "").strip()
    if configured:
        return Path(configured)
    if os.name == "nt":
        appdata = os.environ.get("APPDATA", "").strip()
        return (
            (Path(appdata) if appdata else Path.home() / "AppData" / "Roaming")
            / "Sunbid"
            / "device-id"
        )
    config = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(config) if config else Path.home() / ".config") / "sunbid" / "device-id"


def installation_device_id() -> str | None:
    """This installation's device id: read from its file, or made (a random UUID) and saved on first use.

    A file holding anything but a device id is replaced. None when the file
    can be neither read nor written (a read-only home): the requests then go
    without an id rather than with one that changes at every run.
    """
    try:
        path = device_file()
    except RuntimeError:  # no home directory to be found
        return None
    try:
        text = path.read_text("ascii").strip().lower()
    except (OSError, UnicodeDecodeError):
        text = ""
    if _DEVICE_ID.match(text):
        return text
    value = str(uuid.uuid4())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, f"{value}\n".encode("ascii"), private=True)
    except OSError:
        return None
    return value


# --- HTTP -------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """An API answers, it never redirects: a redirect means a login page, not a result."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def build_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirect)


@dataclass
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ClientError(
                f"服务器返回了无法解析的内容（HTTP {self.status}）/ the server's answer is not JSON",
                code="client.bad_response",
                status=self.status,
            ) from None


@dataclass
class Api:
    """The platform's JSON API over urllib, with the token as a bearer credential."""

    server: str
    token: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    # Looked up at call time, so a test can stand in for the network.
    opener: urllib.request.OpenerDirector = field(default_factory=lambda: build_opener())
    # Sent as X-Sunbid-Device with every request when set (uploads and withdrawals).
    device: str | None = None

    def url(self, path: str) -> str:
        return self.server.rstrip("/") + path

    def request(
        self,
        method: str,
        path: str,
        *,
        payload: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """One request; a non-2xx answer raises ServerRefused, no answer NetworkError."""
        sent = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if self.device:
            sent[DEVICE_HEADER] = self.device
        if payload is not None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            sent["Content-Type"] = "application/json"
        elif body is not None:
            # urllib would label a raw body as a form; the server must see bytes.
            sent["Content-Type"] = "application/octet-stream"
        sent.update(headers or {})
        request = urllib.request.Request(self.url(path), data=body, headers=sent, method=method)
        try:
            with self.opener.open(request, timeout=timeout or self.timeout) as answer:
                return Response(answer.status, answer.read(), dict(answer.headers.items()))
        except urllib.error.HTTPError as exc:
            try:
                content = exc.read()
            except (OSError, http.client.HTTPException):
                content = b""
            raise _refusal(
                exc.code, content, dict(exc.headers.items()) if exc.headers else {}
            ) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise NetworkError(
                f"无法连接服务器 {self.server}：{reason} / cannot reach the server",
                code="client.network",
            ) from None

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()


def _refusal(status: int, content: bytes, headers: Mapping[str, str]) -> ServerRefused:
    if 300 <= status < 400:
        return ServerRefused(
            "服务器要求登录：请检查 API 令牌（SUNBID_TOKEN 或 --token-file）/ the server asks for a sign-in: check the API token",
            code="client.not_authenticated",
            status=status,
        )
    try:
        error = json.loads(content.decode("utf-8"))["error"]
        return ServerRefused(str(error["message"]), code=str(error["code"]), status=status)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        pass
    text = content.decode("utf-8", "replace").strip()
    hint = f"：{text[:200]}" if text and not text.lstrip().startswith("<") else ""
    return ServerRefused(
        f"服务器返回 HTTP {status}{hint} / the server answered HTTP {status}", status=status
    )


def check_server_url(url: str, console: Console) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"服务器地址无效：{url}（应为 https://… ）/ not a server URL: {url}")
    if parsed.scheme == "http" and parsed.hostname not in ("localhost", "127.0.0.1", "::1"):
        console.warn(
            "服务器地址不是 https，令牌和投标文件将以明文传输 / the server is not https: the token travels in clear"
        )
    return url.rstrip("/")


# --- lot information and the bid summary ------------------------------------------------


@dataclass(frozen=True)
class LotInfo:
    """What sealing needs from GET /api/lots/<id>/ — the whole answer is kept in ``raw``."""

    lot_id: int
    tender: str
    lot_number: int
    name: str
    opening_key: Any
    opening_fingerprint: str
    bid_fields: list[dict[str, Any]]
    max_size: int | None
    part_size: int | None
    bid_deadline: str | None
    your_key: dict[str, str] | None
    raw: dict[str, Any]

    @classmethod
    def parse(cls, data: Any) -> LotInfo:
        try:
            opening = data["opening_key"]
            spki = base64.b64decode(opening["spki"], validate=True)
            key = sealkeys.load_public_spki(spki)
            info = cls(
                lot_id=int(data["lot"]),
                tender=str(data["tender"]),
                lot_number=int(data["lot_number"]),
                name=str(data.get("name", "")),
                opening_key=key,
                opening_fingerprint=str(opening["fingerprint"]),
                bid_fields=list(data.get("bid_fields") or []),
                max_size=int(data["max_size"]) if data.get("max_size") is not None else None,
                part_size=int(data["part_size"]) if data.get("part_size") is not None else None,
                bid_deadline=data.get("bid_deadline"),
                your_key=data.get("your_key") or None,
                raw=dict(data),
            )
        except SealingError as exc:
            raise _sealing_error(exc) from None
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise ClientError(
                "标段信息不完整或格式不符（缺少开标公钥等）/ the lot information is incomplete",
                code="client.lot_info_invalid",
            ) from None
        # The opening key must be the one the lot publishes: a substituted key
        # would let whoever holds its private half open the bid early.
        if sealkeys.fingerprint(info.opening_key) != info.opening_fingerprint:
            raise ClientError(
                "开标公钥与其指纹不符，拒绝使用 / the opening key does not match its fingerprint",
                code="client.opening_key_mismatch",
            )
        return info


def fetch_lot(api: Api, lot_id: int) -> LotInfo:
    return LotInfo.parse(api.json("GET", f"/api/lots/{lot_id}/"))


def parse_field(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"应为 key=value：{text} / expected key=value")
    return key.strip(), value


def build_summary(
    *,
    price: str,
    duration: int,
    quality: str,
    fields: Sequence[tuple[str, str]],
    bid_fields: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The sealed bid summary (contract §1), checked against the lot's extra items.

    Nobody can check a sealed summary before the opening, so a typo here would
    surface only at the price reading: every rule is checked before sealing.
    """
    price = price.strip().replace(",", "")
    if not PRICE_RE.fullmatch(price):
        raise ClientError(
            f"投标报价格式不正确：{price}（以元为单位，最多两位小数）/ the price must be yuan with at most two decimals",
            code="client.price_invalid",
        )
    try:
        if Decimal(price) <= 0:
            raise InvalidOperation
    except InvalidOperation:
        raise ClientError(
            "投标报价必须大于零 / the price must be above zero", code="client.price_invalid"
        ) from None
    if not 1 <= duration <= MAX_DURATION:
        raise ClientError(
            f"工期应为 1 至 {MAX_DURATION} 天 / the duration must be 1 to {MAX_DURATION} days",
            code="client.duration_invalid",
        )
    quality = quality.strip()
    if not 1 <= len(quality) <= MAX_QUALITY:
        raise ClientError(
            f"质量承诺应为 1 至 {MAX_QUALITY} 个字符 / the quality commitment must have 1 to {MAX_QUALITY} characters",
            code="client.quality_invalid",
        )
    values: dict[str, str] = {}
    for key, value in fields:
        if not FIELD_KEY_RE.fullmatch(key):
            raise ClientError(
                f"字段名不合规：{key} / field key not allowed: {key}", code="client.field_invalid"
            )
        if key in values:
            raise ClientError(
                f"字段重复：{key} / field given twice: {key}", code="client.field_invalid"
            )
        if len(value) > MAX_FIELD_VALUE:
            raise ClientError(
                f"字段“{key}”超过 {MAX_FIELD_VALUE} 个字符 / field {key} is longer than {MAX_FIELD_VALUE}",
                code="client.field_invalid",
            )
        values[key] = value
    if len(values) > MAX_FIELDS:
        raise ClientError(
            f"字段超过 {MAX_FIELDS} 项 / more than {MAX_FIELDS} fields", code="client.field_invalid"
        )
    known = {str(item.get("key")): item for item in bid_fields}
    unknown = sorted(set(values) - set(known))
    if unknown:
        allowed = "、".join(sorted(known)) or "（无）"
        raise ClientError(
            f"本标段没有这些字段：{'、'.join(unknown)}；可用字段：{allowed} / unknown fields: {', '.join(unknown)}",
            code="client.field_unknown",
        )
    missing = [
        f"{item.get('label') or key}（{key}）"
        for key, item in known.items()
        if item.get("required") and not values.get(key, "").strip()
    ]
    if missing:
        raise ClientError(
            f"缺少本标段要求填写的字段：{'、'.join(missing)} / required fields missing (use --field key=value)",
            code="client.field_missing",
        )
    return {"price": price, "duration_days": duration, "quality": quality, "fields": values}


def collect_files(paths: Sequence[str]) -> list[tuple[sealed.FileEntry, Path]]:
    """The files to seal, with the names and media types the manifest will show."""
    if not 1 <= len(paths) <= MAX_FILES:
        raise UsageError(f"投标文件应为 1 至 {MAX_FILES} 个 / give 1 to {MAX_FILES} files")
    entries: list[tuple[sealed.FileEntry, Path]] = []
    seen: set[str] = set()
    for text in paths:
        path = Path(text)
        try:
            info = path.stat()
        except OSError as exc:
            raise UsageError(f"无法读取文件“{text}”：{exc.strerror} / cannot read {text}") from None
        if not path.is_file():
            raise UsageError(f"“{text}”不是普通文件 / {text} is not a regular file")
        # NFC: a name written on macOS (decomposed) reads the same at the opening.
        name = unicodedata.normalize("NFC", path.name)
        if not 1 <= len(name) <= MAX_NAME or any(ch in name for ch in "/\\\x00"):
            raise UsageError(f"文件名不合规：{name} / file name not allowed: {name}")
        if name in seen:
            raise UsageError(f"文件名重复：{name}（开标时无法区分）/ two files are named {name}")
        seen.add(name)
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        entries.append(
            (
                sealed.FileEntry(
                    name=name, size=info.st_size, media_type=media_type[:MAX_MEDIA_TYPE]
                ),
                path,
            )
        )
    return entries


def check_own_key(lot: LotInfo, keyset: sealkeys.KeySet, console: Console) -> None:
    """Refuse to seal with a key the platform does not hold as the organisation's active key."""
    bidder = lot.raw.get("bidder")
    if bidder and bidder != keyset.organisation:
        raise ClientError(
            f"密钥属于 {keyset.organisation}，而令牌属于 {bidder} / the keys belong to another organisation",
            code="client.wrong_bidder",
        )
    if lot.your_key is None:
        console.warn(
            "服务器上没有本单位已登记的公钥：上传前请先登记（register）/ no registered key on the server: register before uploading"
        )
        return
    if (
        lot.your_key.get("encryption_fingerprint") != keyset.encryption_fingerprint
        or lot.your_key.get("signing_fingerprint") != keyset.signing_fingerprint
    ):
        raise ClientError(
            "该密钥不是本单位当前登记的密钥，服务器会拒收用它密封的投标文件 / these keys are not the organisation's active registered keys",
            code="client.key_not_active",
        )


# --- receipts ---------------------------------------------------------------------------


class ReceiptMismatch(ClientError):
    """A receipt check failed; ``english`` goes with the Chinese ``message``."""

    def __init__(self, chinese: str, english: str) -> None:
        super().__init__(chinese, code="client.receipt_invalid")
        self.english = english


def receipt_canonical(receipt: Mapping[str, Any]) -> bytes:
    """The signed bytes: the receipt without its signature, sorted and compact (contract §4)."""
    body = {key: value for key, value in receipt.items() if key != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def load_receipt_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        raise UsageError(
            "平台公钥文件不是 PEM 格式的公钥 / the platform key file is not a PEM public key"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError("平台公钥不是 Ed25519 公钥 / the platform key is not an Ed25519 key")
    return key


def public_key_fingerprint(key: Ed25519PublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def verify_receipt(
    receipt: Any,
    public_key: Ed25519PublicKey,
    *,
    size: int | None = None,
    sha256: str | None = None,
) -> Iterator[tuple[str, str]]:
    """Check a receipt, yielding each passed check (Chinese, English); raise ReceiptMismatch at the first failure.

    Order: the shape of the receipt, the signing key, the Ed25519 signature over
    the canonical JSON, then (when a sealed file is given) its size and SHA-256.
    """
    if not isinstance(receipt, dict):
        raise ReceiptMismatch("回执不是 JSON 对象", "the receipt is not a JSON object")
    keys = set(receipt)
    if keys != RECEIPT_FIELDS:
        missing = sorted(RECEIPT_FIELDS - keys)
        extra = sorted(keys - RECEIPT_FIELDS)
        raise ReceiptMismatch(
            f"回执字段不符：缺少 {missing}，多出 {extra}",
            f"receipt fields differ: missing {missing}, unexpected {extra}",
        )
    if receipt["format"] != RECEIPT_FORMAT or receipt["version"] != 1:
        raise ReceiptMismatch("不是第 1 版回执", "not a version 1 receipt")
    for name in ("size", "audit_seq"):
        if (
            not isinstance(receipt[name], int)
            or isinstance(receipt[name], bool)
            or receipt[name] < 0
        ):
            raise ReceiptMismatch(
                f"回执字段“{name}”不是非负整数",
                f"receipt field {name} is not a non-negative integer",
            )
    for name in ("ciphertext_sha256", "key_fingerprint"):
        if not isinstance(receipt[name], str) or not _HEX64.fullmatch(receipt[name]):
            raise ReceiptMismatch(
                f"回执字段“{name}”不是 64 位十六进制", f"receipt field {name} is not 64 hex digits"
            )
    try:
        received = dt.datetime.fromisoformat(receipt["received_at"])
        if received.tzinfo is None:
            raise ValueError
    except (TypeError, ValueError):
        raise ReceiptMismatch(
            "接收时间格式不正确（应含时区）", "received_at is not an ISO 8601 time with offset"
        ) from None
    yield ("回执格式正确（第 1 版）", "receipt format v1")
    fingerprint = public_key_fingerprint(public_key)
    if fingerprint != receipt["key_fingerprint"]:
        raise ReceiptMismatch(
            f"回执由另一把密钥签署（回执写明 {receipt['key_fingerprint']}，给定公钥为 {fingerprint}）",
            "the receipt names another signing key than the one given",
        )
    yield (f"平台签名公钥指纹 {fingerprint}", f"platform key fingerprint {fingerprint}")
    try:
        signature = base64.b64decode(receipt["signature"], validate=True)
        public_key.verify(signature, receipt_canonical(receipt))
    except (InvalidSignature, binascii.Error, TypeError, ValueError):
        raise ReceiptMismatch(
            "回执签名无效：回执内容被改动，或不是该平台签发", "the signature does not verify"
        ) from None
    yield ("回执签名有效", "signature valid")
    if size is not None:
        if receipt["size"] != size:
            raise ReceiptMismatch(
                f"文件大小不符：回执 {receipt['size']} 字节，文件 {size} 字节",
                "the file's size differs from the receipt",
            )
        yield (f"文件大小一致（{size} 字节）", f"file size matches ({size} bytes)")
    if sha256 is not None:
        if receipt["ciphertext_sha256"] != sha256:
            raise ReceiptMismatch(
                "文件 SHA-256 与回执不符", "the file's SHA-256 differs from the receipt"
            )
        yield (f"文件 SHA-256 一致（{sha256}）", "file SHA-256 matches")


def file_digest(path: Path, *, chunk: int = 1 << 20) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def describe_receipt(receipt: Mapping[str, Any]) -> list[str]:
    return [
        f"回执编号 / receipt:   {receipt.get('receipt_no')}",
        f"招标项目 / tender:    {receipt.get('tender')}  标段 / lot {receipt.get('lot')} {receipt.get('lot_name', '')}",
        f"投标人 / bidder:      {receipt.get('bidder_name')}（{receipt.get('bidder')}）",
        f"接收时间 / received:  {receipt.get('received_at')}",
        f"大小 / size:          {receipt.get('size')} 字节",
        f"SHA-256:              {receipt.get('ciphertext_sha256')}",
        f"审计序号 / audit seq: {receipt.get('audit_seq')}",
    ]


def fetch_receipt_key(api: Api) -> Ed25519PublicKey:
    data = api.json("GET", "/api/receipt-key")
    try:
        key = load_receipt_key(str(data["public_key_pem"]).encode("ascii"))
    except (KeyError, TypeError, UnicodeEncodeError):
        raise ClientError(
            "服务器未给出回执公钥 / the server sent no receipt key", code="client.bad_response"
        ) from None
    if data.get("fingerprint") and data["fingerprint"] != public_key_fingerprint(key):
        raise ClientError(
            "回执公钥与其指纹不符 / the receipt key does not match its fingerprint",
            code="client.bad_response",
        )
    return key


# --- resumable upload -------------------------------------------------------------------


def state_path(bid_file: Path) -> Path:
    return bid_file.with_name(bid_file.name + STATE_SUFFIX)


def receipt_path(bid_file: Path) -> Path:
    return bid_file.with_name(bid_file.name + RECEIPT_SUFFIX)


@dataclass
class UploadState:
    """What a rerun needs to resume: kept next to the bid, written before the first part is sent."""

    server: str
    lot: int
    upload: str
    size: int
    mtime_ns: int
    part_size: int

    def save(self, path: Path) -> None:
        write_atomic(
            path,
            json.dumps({"format": STATE_FORMAT, "version": 1, **asdict(self)}, indent=1).encode(),
        )

    @classmethod
    def load(cls, path: Path) -> UploadState | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != STATE_FORMAT or data.get("version") != 1:
                return None
            return cls(
                server=str(data["server"]),
                lot=int(data["lot"]),
                upload=str(data["upload"]),
                size=int(data["size"]),
                mtime_ns=int(data["mtime_ns"]),
                part_size=int(data["part_size"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass
class UploadOutcome:
    bid: Any
    receipt: dict[str, Any] | None
    receipt_pdf: str | None
    size: int
    sha256: str
    resumed_from: int
    sent: int
    seconds: float


class Uploader:
    """Upload one sealed file to one lot, resuming an earlier attempt recorded in the state file.

    Protocol (contract §4, docs/sealing.md): create the upload with the size,
    PUT the parts in order with their SHA-256; the last part's answer carries
    the bid and its receipt. The state file next to the bid is written before
    the first part leaves, so a rerun after a dropped connection, a crash or
    Ctrl-C asks the server how far it got, checks the parts it holds against
    the local file, and sends only the rest. A file that changed since (edited,
    resealed) starts a fresh upload and abandons the old one.

    A request that fails on the way (no answer, 5xx, 429) is retried with
    exponential back-off; resending a part the server already stored is a
    no-op on the server, so a lost answer costs one part, never a duplicate.
    """

    # Out of step with the server (a part it stored although the answer was
    # lost, say): ask where it stands and continue from there.
    RESYNC_CODES = frozenset({"upload.part_out_of_order", "upload.part_conflict"})
    MAX_RESYNCS = 5

    def __init__(
        self,
        api: Api,
        bid_file: Path,
        lot_id: int,
        *,
        console: Console,
        retries: int = DEFAULT_RETRIES,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        progress: bool = True,
    ) -> None:
        self.api = api
        self.bid_file = Path(bid_file)
        self.lot_id = lot_id
        self.console = console
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.progress_enabled = progress and not console.quiet
        self.state_file = state_path(self.bid_file)
        self.parts_sent = 0

    # -- server calls --

    def status(self, upload: str) -> dict[str, Any] | None:
        """The upload as the server sees it; None when it no longer exists."""
        try:
            return self.api.json("GET", f"/api/uploads/{upload}/")
        except ServerRefused as exc:
            if exc.status in (404, 410):
                return None
            raise

    def _abandon(self, upload: str) -> None:
        # Already gone, failed or complete: then there is nothing to abandon.
        with contextlib.suppress(ServerRefused):
            self.api.request("DELETE", f"/api/uploads/{upload}/")

    def _retrying(self, what: str, call: Callable[[], Any]) -> Any:
        """Run ``call``; after a dropped connection or a passing server error, wait and try again."""
        attempt = 0
        while True:
            try:
                return call()
            except (NetworkError, ServerRefused) as exc:
                if isinstance(exc, ServerRefused) and not exc.retryable:
                    raise
                attempt += 1
                if attempt > self.retries:
                    raise
                delay = min(MAX_BACKOFF, self.backoff * 2 ** (attempt - 1))
                self.console.info(
                    f"\n{what}失败（{exc.message}），{delay:.0f} 秒后重试（{attempt}/{self.retries}）"
                    f" / {what} failed, retrying in {delay:.0f} s"
                )
                self.sleep(delay)

    # -- the file --

    def _check_header(self, lot: LotInfo) -> None:
        """Refuse before sending anything when the file is not a sealed bid for this lot and key."""
        try:
            with open(self.bid_file, "rb") as stream:
                header = sealed.read_header(stream)
        except SealingError as exc:
            raise _sealing_error(exc) from None
        if header.tender != lot.tender or header.lot != lot.lot_number:
            raise ClientError(
                f"该密封文件属于 {header.tender} 第 {header.lot} 标段，而不是 {lot.tender} 第 {lot.lot_number} 标段"
                " / the sealed file is for another lot",
                code="client.wrong_lot",
            )
        bidder = lot.raw.get("bidder")
        if bidder and header.bidder != bidder:
            raise ClientError(
                f"该密封文件的投标人为 {header.bidder}，而令牌属于 {bidder} / sealed for another bidder",
                code="client.wrong_bidder",
            )
        if header.opening_fingerprint != lot.opening_fingerprint:
            raise ClientError(
                "该文件不是用本标段的开标公钥密封的 / not sealed to this lot's opening key",
                code="client.wrong_opening_key",
            )
        if lot.your_key is not None and (
            header.bidder_fingerprint != lot.your_key.get("encryption_fingerprint")
            or header.signer_fingerprint != lot.your_key.get("signing_fingerprint")
        ):
            raise ClientError(
                "该文件是用本单位当前登记密钥以外的密钥密封的，服务器会拒收；请用当前密钥重新密封"
                " / sealed with keys other than the organisation's active ones: seal again",
                code="client.key_not_active",
            )

    @staticmethod
    def _matches(stream: BinaryIO, parts: Sequence[Mapping[str, Any]], part_size: int) -> bool:
        """True when every part the server holds is the same as the local file's."""
        for index, part in enumerate(parts):
            if int(part.get("index", -1)) != index:
                return False
            stream.seek(index * part_size)
            data = stream.read(part_size)
            if len(data) != int(part.get("size", -1)) or hashlib.sha256(
                data
            ).hexdigest() != part.get("sha256"):
                return False
        return True

    # -- the run --

    def run(self) -> UploadOutcome:
        try:
            info = self.bid_file.stat()
        except OSError as exc:
            raise UsageError(
                f"无法读取投标文件“{self.bid_file}”：{exc.strerror} / cannot read the bid file"
            ) from None
        size = info.st_size
        lot = fetch_lot(self.api, self.lot_id)
        self._check_header(lot)
        if lot.max_size is not None and size > lot.max_size:
            raise ClientError(
                f"投标文件 {_mib(size)} 超过本标段上限 {_mib(lot.max_size)} / the bid is larger than the lot allows",
                code="client.too_large",
            )
        started = time.monotonic()
        with open(self.bid_file, "rb") as stream:
            status, state = self._resume(stream, size, info.st_mtime_ns)
            if status is None:
                status = self._retrying(
                    "创建上传",
                    lambda: self.api.json(
                        "POST", f"/api/lots/{self.lot_id}/uploads/", payload={"size": size}
                    ),
                )
                state = UploadState(
                    server=self.api.server,
                    lot=self.lot_id,
                    upload=str(status["upload"]),
                    size=size,
                    mtime_ns=info.st_mtime_ns,
                    part_size=int(status["part_size"]),
                )
                state.save(self.state_file)
            assert state is not None
            resumed_from = int(status.get("received", 0))
            if status.get("status") == "complete":
                return self._finish(status, size, None, state, resumed_from=size, started=started)
            answer, digest = self._send_rest(stream, status, state, lot)
        return self._finish(answer, size, digest, state, resumed_from=resumed_from, started=started)

    def _send_rest(
        self, stream: BinaryIO, status: dict[str, Any], state: UploadState, lot: LotInfo
    ) -> tuple[dict[str, Any], str | None]:
        """Send the parts the server lacks; the completing answer and the file's SHA-256 when known."""
        size, part_size = state.size, state.part_size
        total_parts = max(1, -(-size // part_size))
        index = len(status.get("parts") or [])
        offset = min(size, index * part_size)
        if offset:
            self.console.info(
                f"续传：服务器已收到 {_mib(offset)}，从第 {index} 块继续 / resuming at {_mib(offset)} (part {index})"
            )
        self._warn_deadline(lot, size - offset)
        # The whole-file SHA-256 (the receipt's) is hashed on the way when the
        # upload starts at 0; after a resume or resync the file is hashed at the end.
        digest = hashlib.sha256() if index == 0 else None
        progress = Progress(
            size,
            done=offset,
            label="上传 / upload",
            stream=self.console.err,
            enabled=self.progress_enabled,
        )
        resyncs = 0
        answer: dict[str, Any] = status
        try:
            while index < total_parts:
                stream.seek(index * part_size)
                data = stream.read(part_size)
                if len(data) != min(part_size, size - index * part_size):
                    raise ClientError(
                        "投标文件在上传过程中被改动 / the bid file changed during the upload"
                    )
                try:
                    answer = self._send_part(state.upload, index, data)
                except ServerRefused as exc:
                    if exc.code not in self.RESYNC_CODES or resyncs >= self.MAX_RESYNCS:
                        raise
                    resyncs += 1
                    current = self._retrying("查询上传进度", lambda: self.status(state.upload))
                    if current is None or current.get("status") != "open":
                        if current is not None and current.get("status") == "complete":
                            answer = current
                            break
                        raise
                    parts = current.get("parts") or []
                    if not self._matches(stream, parts, part_size):
                        self.state_file.unlink(missing_ok=True)
                        self._abandon(state.upload)
                        raise ClientError(
                            "服务器上的已收部分与本地文件不一致，已放弃该次上传；请重新运行 upload"
                            " / the server holds other parts than the file: rerun upload to start again",
                            code="client.upload_mismatch",
                        ) from None
                    index, digest = len(parts), None
                    continue
                if digest is not None:
                    digest.update(data)
                index += 1
                self.parts_sent += 1
                progress.update(min(size, index * part_size))
                if answer.get("receipt") is not None:
                    break
        finally:
            progress.close()
        if progress.done > progress.first_done:
            self.console.info(
                f"已发送 {_mib(progress.done - progress.first_done)}，平均 {progress.average() / 1048576:.1f} MiB/s"
                " / sent, average speed"
            )
        return answer, digest.hexdigest() if digest is not None else None

    def _resume(
        self, stream: BinaryIO, size: int, mtime_ns: int
    ) -> tuple[dict[str, Any] | None, UploadState | None]:
        state = UploadState.load(self.state_file)
        if state is None or state.server != self.api.server or state.lot != self.lot_id:
            # No earlier attempt, or one for another server or lot: none of this run's business.
            return None, None
        if state.size != size or state.mtime_ns != mtime_ns:
            self.console.info(
                "投标文件已改变，放弃之前未完成的上传 / the file changed: abandoning the earlier upload"
            )
            self._abandon(state.upload)
            return None, None
        status = self._retrying("查询上传进度", lambda: self.status(state.upload))
        if status is None or status.get("status") in ("failed", "discarded"):
            return None, None
        if status.get("status") == "complete":
            return status, state
        if int(status.get("part_size", state.part_size)) != state.part_size or not self._matches(
            stream, status.get("parts") or [], state.part_size
        ):
            self.console.info(
                "服务器上的已收部分与本地文件不一致，重新上传 / the parts on the server differ from the file: starting again"
            )
            self._abandon(state.upload)
            return None, None
        return status, state

    def _send_part(self, upload: str, index: int, data: bytes) -> dict[str, Any]:
        path = f"/api/uploads/{upload}/parts/{index}"
        part_hash = hashlib.sha256(data).hexdigest()

        def put() -> dict[str, Any]:
            return self.api.json("PUT", path, body=data, headers={"X-Part-SHA256": part_hash})

        try:
            return self._retrying(f"第 {index} 块发送", put)
        except ServerRefused as exc:
            if exc.code not in self.RESYNC_CODES:
                # Refused for good (late, wrong lot, not sealed…): an upload the
                # server failed or discarded cannot be resumed.
                with contextlib.suppress(ClientError):
                    status = self.status(upload)
                    if status is None or status.get("status") in ("failed", "discarded"):
                        self.state_file.unlink(missing_ok=True)
            raise

    def _warn_deadline(self, lot: LotInfo, remaining: int) -> None:
        if not lot.bid_deadline:
            return
        self.console.info(
            f"投标截止时间 / bid deadline: {lot.bid_deadline}（以服务器时间为准 / by the server's clock）"
        )
        try:
            deadline = dt.datetime.fromisoformat(lot.bid_deadline)
            server_now = lot.raw.get("server_time")
            now = dt.datetime.fromisoformat(server_now) if server_now else dt.datetime.now(dt.UTC)
            left = (deadline - now).total_seconds()
        except (TypeError, ValueError):
            return
        if left < 3600:
            self.console.warn(
                f"距截止不足 {max(0, int(left // 60))} 分钟，尚需上传 {_mib(remaining)}；截止时未完整接收的投标视为撤回"
                " / less than an hour left: a bid not completely received at the deadline counts as withdrawn"
            )

    def _finish(
        self,
        answer: dict[str, Any],
        size: int,
        digest: str | None,
        state: UploadState,
        *,
        resumed_from: int,
        started: float,
    ) -> UploadOutcome:
        receipt = answer.get("receipt")
        bid = answer.get("bid")
        if isinstance(bid, dict):
            bid = bid.get("bid")
        if receipt is None:
            if bid is None:
                raise ClientError(
                    "服务器未确认接收投标 / the server did not confirm the bid",
                    code="client.bad_response",
                )
            receipt = self.api.json("GET", f"/api/bids/{bid}/receipt.json")
        # Hashed on the way when the upload ran from the start; otherwise read once more now.
        sha256 = digest or file_digest(self.bid_file)[1]
        write_atomic(
            receipt_path(self.bid_file),
            json.dumps(receipt, ensure_ascii=False, indent=1).encode("utf-8"),
        )
        self.state_file.unlink(missing_ok=True)
        return UploadOutcome(
            bid=bid,
            receipt=receipt,
            receipt_pdf=answer.get("receipt_pdf"),
            size=size,
            sha256=sha256,
            resumed_from=resumed_from,
            sent=size - resumed_from,
            seconds=time.monotonic() - started,
        )


# --- commands ---------------------------------------------------------------------------


def _opt(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    return getattr(args, name, default)


def make_api(args: argparse.Namespace, console: Console, *, need_token: bool = True) -> Api:
    server = _opt(args, "server") or os.environ.get("SUNBID_SERVER", "").strip()
    if not server:
        raise UsageError(
            "未指定服务器：使用 --server 或设置 SUNBID_SERVER / no server: use --server or SUNBID_SERVER"
        )
    server = check_server_url(server, console)
    token_file = _opt(args, "token_file")
    token = (
        read_secret_file(token_file, "令牌").strip()
        if token_file
        else os.environ.get("SUNBID_TOKEN", "").strip()
    )
    if need_token and not token:
        raise UsageError(
            "未提供 API 令牌：设置 SUNBID_TOKEN 或使用 --token-file / no API token: set SUNBID_TOKEN or use --token-file"
        )
    if token_file and os.name == "posix":
        mode = Path(token_file).stat().st_mode
        if mode & 0o077:
            console.warn(
                f"令牌文件 {token_file} 可被其他用户读取（建议 chmod 600）/ the token file is readable by others"
            )
    return Api(server=server, token=token or None, timeout=_opt(args, "timeout") or DEFAULT_TIMEOUT)


def cmd_keygen(args: argparse.Namespace, console: Console) -> int:
    try:
        organisation = credit_code.validate(args.organisation.strip().upper())
    except credit_code.CreditCodeError:
        raise UsageError(
            f"统一社会信用代码无效：{args.organisation} / not a valid unified social credit code"
        ) from None
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"文件已存在：{out}（覆盖请加 --force）/ {out} exists (use --force)")
    api = make_api(args, console) if args.register else None
    passphrase = read_passphrase(args.passphrase_file, new=True)
    console.info("正在生成 RSA-3072 加密密钥和 P-256 签名密钥… / generating keys…")
    keyset = sealkeys.KeySet(
        organisation=organisation,
        encryption_private=sealkeys.generate_encryption_key(),
        signing_private=sealkeys.generate_signing_key(),
    )
    # The backup is written before anything is registered: a registered key
    # whose private half was never saved would seal bids nobody can open.
    write_atomic(out, sealkeys.backup_dump(keyset, passphrase), private=True)
    console.info(f"密钥备份已写入 {out}（请离线妥善保管）/ key backup written")
    result: dict[str, Any] = {
        "organisation": organisation,
        "encryption_fingerprint": keyset.encryption_fingerprint,
        "signing_fingerprint": keyset.signing_fingerprint,
        "backup": str(out),
        "registered": False,
    }
    if api is not None:
        _register(api, keyset)
        result["registered"] = True
    _report(
        console,
        args,
        result,
        [
            f"加密公钥指纹 / encryption fingerprint: {keyset.encryption_fingerprint}",
            f"签名公钥指纹 / signing fingerprint:    {keyset.signing_fingerprint}",
            "已登记到平台 / registered"
            if result["registered"]
            else "未登记：登记请运行 register / not registered yet",
        ],
    )
    return EXIT_OK


def _register(api: Api, keyset: sealkeys.KeySet) -> None:
    answer = api.json("POST", "/api/keys/", payload=public_keys_payload(keyset))
    if (
        answer.get("encryption_fingerprint") != keyset.encryption_fingerprint
        or answer.get("signing_fingerprint") != keyset.signing_fingerprint
    ):
        raise ClientError(
            "服务器登记的公钥指纹与本地不符 / the server registered other fingerprints",
            code="client.bad_response",
        )


def cmd_register(args: argparse.Namespace, console: Console) -> int:
    api = make_api(args, console)
    keyset = load_keyset(args.keys, args.passphrase_file)
    _register(api, keyset)
    _report(
        console,
        args,
        {
            "organisation": keyset.organisation,
            "encryption_fingerprint": keyset.encryption_fingerprint,
            "signing_fingerprint": keyset.signing_fingerprint,
            "registered": True,
        },
        [
            "已登记到平台，之前的密钥转为历史密钥（仍可解密旧投标）/ registered; the previous key is kept as history",
            f"加密公钥指纹 / encryption fingerprint: {keyset.encryption_fingerprint}",
            f"签名公钥指纹 / signing fingerprint:    {keyset.signing_fingerprint}",
        ],
    )
    return EXIT_OK


def _lot_lines(lot: LotInfo) -> list[str]:
    lines = [
        f"招标项目 / tender:     {lot.tender}  第 {lot.lot_number} 标段 / lot {lot.lot_number}  {lot.name}",
        f"投标截止 / deadline:   {lot.bid_deadline}",
        f"开标公钥指纹 / opening key: {lot.opening_fingerprint}",
    ]
    if lot.max_size is not None:
        lines.append(f"大小上限 / max size:   {_mib(lot.max_size)}")
    for item in lot.bid_fields:
        required = "必填" if item.get("required") else "选填"
        lines.append(
            f"字段 / field:          {item.get('key')} = {item.get('label')}（{required}）"
        )
    return lines


def cmd_lot_info(args: argparse.Namespace, console: Console) -> int:
    api = make_api(args, console)
    lot = fetch_lot(api, args.lot)
    if args.out:
        write_atomic(
            Path(args.out), json.dumps(lot.raw, ensure_ascii=False, indent=1).encode("utf-8")
        )
        console.info(f"标段信息已保存到 {args.out}，可离线密封 / saved for offline sealing")
    _report(console, args, lot.raw, _lot_lines(lot))
    return EXIT_OK


def cmd_seal(args: argparse.Namespace, console: Console) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"文件已存在：{out}（覆盖请加 --force）/ {out} exists (use --force)")
    files = collect_files(args.files)
    if args.lot_info:
        lot = LotInfo.parse(read_json_file(args.lot_info, "标段信息文件"))
    else:
        api = make_api(args, console)
        lot = fetch_lot(api, args.lot)
        if args.save_lot_info:
            write_atomic(
                Path(args.save_lot_info),
                json.dumps(lot.raw, ensure_ascii=False, indent=1).encode("utf-8"),
            )
    summary = build_summary(
        price=args.price,
        duration=args.duration,
        quality=args.quality,
        fields=args.field or [],
        bid_fields=lot.bid_fields,
    )
    content = sum(entry.size for entry, _path in files)
    if lot.max_size is not None and content > lot.max_size:
        raise ClientError(
            f"文件合计 {_mib(content)}，超过本标段上限 {_mib(lot.max_size)} / the files exceed the lot's size limit",
            code="client.too_large",
        )
    keyset = load_keyset(args.keys, args.passphrase_file)
    check_own_key(lot, keyset, console)
    progress = Progress(
        content, label="密封 / seal", stream=console.err, enabled=not console.quiet and content > 0
    )
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        progress.update(done)

    handle, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    opened: list[BinaryIO] = []
    try:
        with os.fdopen(handle, "w+b") as target:
            for _entry, path in files:
                opened.append(open(path, "rb"))  # noqa: SIM115 - closed in the finally below
            result = sealed.seal(
                target,
                tender=lot.tender,
                lot=lot.lot_number,
                bidder=keyset.organisation,
                bidder_key=keyset.encryption_private.public_key(),
                opening_key=lot.opening_key,
                signing_key=keyset.signing_private,
                summary=summary,
                files=[
                    (entry, CountingReader(stream, advance))  # type: ignore[misc]
                    for (entry, _path), stream in zip(files, opened, strict=True)
                ],
            )
            target.flush()
            os.fsync(target.fileno())
        progress.close()
        if lot.max_size is not None and result.size > lot.max_size:
            raise ClientError(
                f"密封后 {_mib(result.size)}，超过本标段上限 {_mib(lot.max_size)} / the sealed bid exceeds the size limit",
                code="client.too_large",
            )
        os.replace(temp, out)
    except SealingError as exc:
        raise _sealing_error(exc) from None
    finally:
        for stream in opened:
            stream.close()
        with contextlib.suppress(OSError):
            os.unlink(temp)
    # A resealed file is a new bid: an unfinished upload of the old one cannot be resumed.
    state_path(out).unlink(missing_ok=True)
    _report(
        console,
        args,
        {
            "file": str(out),
            "size": result.size,
            "sha256": result.sha256,
            "tender": lot.tender,
            "lot_number": lot.lot_number,
            "opening_fingerprint": lot.opening_fingerprint,
            "files": [entry.name for entry, _path in files],
        },
        [
            f"已密封 / sealed: {out}",
            f"招标项目 / tender: {lot.tender}  第 {lot.lot_number} 标段 / lot {lot.lot_number}",
            f"大小 / size: {result.size} 字节 ({_mib(result.size)})",
            f"SHA-256: {result.sha256}",
            "上传 / upload: python -m bidding.client upload " + str(out) + f" --lot {lot.lot_id}",
        ],
    )
    return EXIT_OK


def cmd_upload(args: argparse.Namespace, console: Console) -> int:
    api = make_api(args, console)
    api.device = installation_device_id()
    # A pinned key is read before anything is sent: a typo in its path must not cost an upload.
    pinned = (
        load_receipt_key(read_input_file(args.public_key, "平台公钥文件"))
        if args.public_key
        else None
    )
    uploader = Uploader(api, Path(args.file), args.lot, console=console, retries=args.retries)
    outcome = uploader.run()
    receipt = outcome.receipt or {}
    checks: list[tuple[str, str]] = []
    try:
        key = pinned or fetch_receipt_key(api)
        checks = list(verify_receipt(receipt, key, size=outcome.size, sha256=outcome.sha256))
    except ReceiptMismatch as exc:
        raise ClientError(
            f"投标已提交，但回执校验失败：{exc.message} / submitted, but the receipt does not verify: {exc.english}",
            code=exc.code,
        ) from None
    lines = ["投标已提交 / bid submitted", *describe_receipt(receipt)]
    lines += [f"✓ {chinese} / {english}" for chinese, english in checks]
    lines.append(f"回执已保存 / receipt saved: {receipt_path(Path(args.file))}")
    if outcome.receipt_pdf:
        lines.append(
            f"PDF 回执 / PDF receipt: {api.url(outcome.receipt_pdf) if outcome.receipt_pdf.startswith('/') else outcome.receipt_pdf}"
        )
    _report(
        console,
        args,
        {
            "bid": outcome.bid,
            "receipt": receipt,
            "receipt_file": str(receipt_path(Path(args.file))),
            "size": outcome.size,
            "sha256": outcome.sha256,
            "resumed_from": outcome.resumed_from,
            "seconds": round(outcome.seconds, 3),
        },
        lines,
    )
    return EXIT_OK


BID_STATUS = {
    "current": "有效 / current",
    "replaced": "已替换 / replaced",
    "withdrawn": "已撤回 / withdrawn",
}


def _bid_lines(bid: Mapping[str, Any]) -> list[str]:
    lines = [
        f"  投标 / bid:           {bid.get('bid')}",
        f"  状态 / status:        {BID_STATUS.get(str(bid.get('status')), bid.get('status'))}",
        f"  回执编号 / receipt:   {bid.get('receipt_no')}",
        f"  接收时间 / received:  {bid.get('received_at')}",
        f"  大小 / size:          {bid.get('size')} 字节",
        f"  SHA-256:              {bid.get('ciphertext_sha256')}",
    ]
    if bid.get("withdrawn_at"):
        lines.append(f"  撤回时间 / withdrawn: {bid.get('withdrawn_at')}")
    return lines


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    """GET /api/lots/<id>/bid: the current bid (or none) and unfinished uploads; and this file's upload."""
    api = make_api(args, console)
    result = api.json("GET", f"/api/lots/{args.lot}/bid")
    bid = result.get("bid") if isinstance(result, dict) else None
    lines: list[str] = []
    if bid:
        lines += ["本单位在该标段的有效投标 / your current bid on this lot:", *_bid_lines(bid)]
    else:
        lines.append("本单位在该标段没有有效投标 / no current bid on this lot")
    for upload in result.get("uploads") or []:
        lines.append(
            f"未完成的上传 / unfinished upload {upload.get('upload')}：已收 {_mib(int(upload.get('received', 0)))}"
            f" / {_mib(int(upload.get('size', 0)))}"
        )
    if args.file:
        state = UploadState.load(state_path(Path(args.file)))
        if state is not None and state.server == api.server and state.lot == args.lot:
            result["file_upload"] = Uploader(
                api, Path(args.file), args.lot, console=console
            ).status(state.upload)
            lines.append(
                f"{args.file} 的上传 {state.upload} 尚未完成：重新运行 upload 即可续传 / unfinished: rerun upload to resume"
            )
        else:
            lines.append(f"{args.file} 没有未完成的上传 / no unfinished upload of {args.file}")
    _report(console, args, result, lines)
    return EXIT_OK


def cmd_withdraw(args: argparse.Namespace, console: Console) -> int:
    api = make_api(args, console)
    api.device = installation_device_id()
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("撤回需要确认：加 --yes / withdrawing needs confirmation: add --yes")
        answer = input(f"确认撤回在标段 {args.lot} 的投标？输入 yes 确认 / type yes to withdraw: ")
        if answer.strip().lower() != "yes":
            console.info("未撤回 / not withdrawn")
            return EXIT_REFUSED
    result = api.json("POST", f"/api/lots/{args.lot}/bid/withdraw")
    _report(console, args, result, ["投标已撤回 / bid withdrawn", *_bid_lines(result)])
    return EXIT_OK


def cmd_receipt(args: argparse.Namespace, console: Console) -> int:
    if args.verify:
        return _receipt_verify_offline(args, console)
    if args.bid is None:
        raise UsageError(
            "需要 --bid ID（在线获取）或 --verify 文件（离线校验）/ give --bid or --verify"
        )
    api = make_api(args, console)
    receipt = api.json("GET", f"/api/bids/{args.bid}/receipt.json")
    key = (
        load_receipt_key(read_input_file(args.public_key, "平台公钥文件"))
        if args.public_key
        else fetch_receipt_key(api)
    )
    checks = list(verify_receipt(receipt, key, **_file_facts(args.file)))
    if args.out:
        write_atomic(
            Path(args.out), json.dumps(receipt, ensure_ascii=False, indent=1).encode("utf-8")
        )
    if args.pdf:
        pdf = api.request(
            "GET", f"/api/bids/{args.bid}/receipt.pdf", headers={"Accept": "application/pdf"}
        )
        if not pdf.body.startswith(b"%PDF"):
            raise ClientError(
                "服务器返回的不是 PDF / the server did not send a PDF", code="client.bad_response"
            )
        write_atomic(Path(args.pdf), pdf.body)
    lines = describe_receipt(receipt) + [f"✓ {chinese} / {english}" for chinese, english in checks]
    if args.out:
        lines.append(f"回执已保存 / saved: {args.out}")
    if args.pdf:
        lines.append(f"PDF 已保存 / saved: {args.pdf}")
    _report(console, args, receipt, lines)
    return EXIT_OK


def _receipt_verify_offline(args: argparse.Namespace, console: Console) -> int:
    receipt = read_json_file(args.verify, "回执文件")
    if args.public_key:
        key = load_receipt_key(read_input_file(args.public_key, "平台公钥文件"))
    elif _opt(args, "server") or os.environ.get("SUNBID_SERVER", "").strip():
        console.info(
            "未给出 --public-key，从服务器获取平台公钥 / no --public-key: fetching the platform key from the server"
        )
        key = fetch_receipt_key(make_api(args, console, need_token=False))
    else:
        raise UsageError(
            "校验需要平台公钥：--public-key platform.pem（可用 receipt-key 获取）/ --verify needs --public-key"
        )
    passed: list[tuple[str, str]] = []
    try:
        for check in verify_receipt(receipt, key, **_file_facts(args.file)):
            passed.append(check)
    except ReceiptMismatch as exc:
        for chinese, english in passed:
            console.result(f"✓ {chinese} / {english}")
        console.result(f"✗ 校验失败：{exc.message}")
        console.result(f"  VERIFICATION FAILED: {exc.english}")
        return EXIT_REFUSED
    lines = describe_receipt(receipt) + [f"✓ {chinese} / {english}" for chinese, english in passed]
    lines.append("回执有效 / RECEIPT VALID")
    _report(console, args, {"valid": True, "receipt": receipt}, lines)
    return EXIT_OK


def _file_facts(file: str | None) -> dict[str, Any]:
    if not file:
        return {}
    try:
        size, sha256 = file_digest(Path(file))
    except OSError as exc:
        raise UsageError(f"无法读取文件“{file}”：{exc.strerror} / cannot read {file}") from None
    return {"size": size, "sha256": sha256}


def cmd_receipt_key(args: argparse.Namespace, console: Console) -> int:
    api = make_api(args, console, need_token=False)
    key = fetch_receipt_key(api)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fingerprint = public_key_fingerprint(key)
    if args.out:
        write_atomic(Path(args.out), pem)
    lines = [f"平台回执签名公钥指纹 / receipt key fingerprint: {fingerprint}"]
    lines.append(f"已保存 / saved: {args.out}" if args.out else pem.decode("ascii").rstrip())
    _report(
        console, args, {"fingerprint": fingerprint, "public_key_pem": pem.decode("ascii")}, lines
    )
    return EXIT_OK


def _report(console: Console, args: argparse.Namespace, data: Any, lines: Sequence[str]) -> None:
    if _opt(args, "json"):
        console.json(data)
    else:
        for line in lines:
            console.result(line)


# --- argument parsing -------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"应为正整数：{text} / expected a positive integer"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"应为正整数：{text} / expected a positive integer")
    return value


def _bid_id(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"投标 ID 格式不正确：{text} / not a bid id") from None


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"应为非负整数：{text} / expected a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"应为非负整数：{text} / expected a number")
    return value


EPILOG = """\
环境变量 / environment:
  SUNBID_SERVER   服务器地址 / server URL (or --server)
  SUNBID_TOKEN    API 令牌 / API token (or --token-file; never given on the command line)
  SUNBID_DEVICE_FILE  本机设备标识文件 / this installation's device id file
                  (默认 / default: ~/.config/sunbid/device-id, Windows: %APPDATA%\\Sunbid\\device-id)

退出码 / exit codes:
  0 成功 / done
  1 被服务器或本地校验拒绝（打印服务器的错误代码和说明）/ refused by the server or a local check
  2 用法错误、缺少配置或无法读取输入文件 / usage error
  3 网络错误（重试后仍无法连接）/ network error after the retries
  130 被中断；重新运行同一 upload 命令即可续传 / interrupted; rerun upload to resume
"""


def build_parser() -> argparse.ArgumentParser:
    # Common options are accepted before or after the command; SUPPRESS keeps a
    # value given before the command from being reset by the subparser's default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server", default=argparse.SUPPRESS, help="服务器地址（默认 SUNBID_SERVER）/ server URL"
    )
    common.add_argument(
        "--token-file",
        default=argparse.SUPPRESS,
        help="API 令牌文件（默认 SUNBID_TOKEN）/ file holding the API token",
    )
    common.add_argument(
        "--timeout",
        type=float,
        default=argparse.SUPPRESS,
        help=f"单次请求超时秒数（默认 {DEFAULT_TIMEOUT:.0f}）/ per-request timeout, seconds",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="以 JSON 输出结果 / JSON output",
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="不显示进度 / no progress output",
    )

    parser = argparse.ArgumentParser(
        prog="python -m bidding.client",
        description="阳光开标命令行客户端：离线密封、断点续传上传、回执校验 / Sunbid command-line client",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
        # No prefixes: "--token SECRET" must be an error, not "--token-file SECRET".
        allow_abbrev=False,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=EPILOG,
            allow_abbrev=False,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = command(
        "keygen",
        "生成本单位的加密和签名密钥及口令保护的备份文件 / generate keys and their backup file",
    )
    p.add_argument(
        "--organisation",
        required=True,
        help="本单位统一社会信用代码（18 位）/ organisation credit code",
    )
    p.add_argument("--out", required=True, help="密钥备份文件 / key backup file to write")
    p.add_argument(
        "--passphrase-file", help="口令文件（不给则提示输入）/ passphrase file (else prompted)"
    )
    p.add_argument(
        "--register", action="store_true", help="同时登记公钥到平台 / also register the public keys"
    )
    p.add_argument("--force", action="store_true", help="覆盖已有文件 / overwrite an existing file")
    p.set_defaults(handler=cmd_keygen)

    p = command("register", "登记密钥备份文件中的公钥 / register the public keys of a backup file")
    p.add_argument("--keys", required=True, help="密钥备份文件 / key backup file")
    p.add_argument("--passphrase-file", help="口令文件（不给则提示输入）/ passphrase file")
    p.set_defaults(handler=cmd_register)

    p = command(
        "lot-info",
        "获取标段的密封参数（开标公钥、字段），可保存供离线密封 / fetch a lot's sealing parameters",
    )
    p.add_argument("--lot", type=_positive_int, required=True, help="标段编号（平台 ID）/ lot id")
    p.add_argument("--out", help="保存为 JSON 文件 / save as JSON for offline sealing")
    p.set_defaults(handler=cmd_lot_info)

    p = command("seal", "离线密封投标文件 / seal a bid offline")
    p.add_argument("--keys", required=True, help="密钥备份文件 / key backup file")
    p.add_argument("--passphrase-file", help="口令文件（不给则提示输入）/ passphrase file")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--lot-info", help="lot-info 保存的标段信息文件（离线）/ saved lot information"
    )
    source.add_argument(
        "--lot", type=_positive_int, help="标段 ID，从服务器获取 / lot id, fetched from the server"
    )
    p.add_argument(
        "--save-lot-info",
        help="与 --lot 一起：保存获取的标段信息 / with --lot: save what was fetched",
    )
    p.add_argument("--price", required=True, help="投标报价（元，最多两位小数）/ price in yuan")
    p.add_argument(
        "--duration", type=_positive_int, required=True, help="工期（天）/ duration in days"
    )
    p.add_argument("--quality", required=True, help="质量承诺 / quality commitment")
    p.add_argument(
        "--field",
        action="append",
        type=parse_field,
        metavar="KEY=VALUE",
        help="标段要求的其他字段，可重复 / extra field",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="投标文件 / files to seal")
    p.add_argument("--out", required=True, help="密封后的文件 / sealed bid to write")
    p.add_argument("--force", action="store_true", help="覆盖已有文件 / overwrite an existing file")
    p.set_defaults(handler=cmd_seal)

    p = command("upload", "上传密封投标文件（可断点续传）/ upload a sealed bid, resumably")
    p.add_argument("file", help="密封后的投标文件 / sealed bid")
    p.add_argument("--lot", type=_positive_int, required=True, help="标段 ID / lot id")
    p.add_argument(
        "--retries",
        type=_non_negative_int,
        default=DEFAULT_RETRIES,
        help=f"每个请求的重试次数（默认 {DEFAULT_RETRIES}）/ retries per request",
    )
    p.add_argument(
        "--public-key",
        metavar="PLATFORM.pem",
        help="用此平台公钥校验回执（默认从服务器获取）/ check the receipt with this key",
    )
    p.set_defaults(handler=cmd_upload)

    p = command("status", "查看本单位在标段的投标和未完成的上传 / your bid on a lot")
    p.add_argument("--lot", type=_positive_int, required=True, help="标段 ID / lot id")
    p.add_argument(
        "file",
        nargs="?",
        help="密封文件：同时显示其未完成的上传 / sealed file: also its pending upload",
    )
    p.set_defaults(handler=cmd_status)

    p = command("withdraw", "撤回本单位在标段的投标 / withdraw your bid on a lot")
    p.add_argument("--lot", type=_positive_int, required=True, help="标段 ID / lot id")
    p.add_argument("--yes", action="store_true", help="不再询问 / do not ask for confirmation")
    p.set_defaults(handler=cmd_withdraw)

    p = command("receipt", "获取回执，或离线校验回执 / fetch a receipt, or verify one offline")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--bid", type=_bid_id, help="投标 ID：从服务器获取并校验 / bid id to fetch")
    what.add_argument(
        "--verify", metavar="RECEIPT.json", help="离线校验回执文件 / verify a receipt offline"
    )
    p.add_argument(
        "--public-key",
        metavar="PLATFORM.pem",
        help="平台回执签名公钥（PEM）/ the platform's receipt key",
    )
    p.add_argument(
        "--file", help="密封文件：核对其大小和 SHA-256 / sealed file to check against the receipt"
    )
    p.add_argument("--out", help="保存回执 JSON / save the receipt JSON")
    p.add_argument("--pdf", help="保存 PDF 回执 / save the PDF receipt")
    p.set_defaults(handler=cmd_receipt)

    p = command("receipt-key", "获取平台回执签名公钥 / fetch the platform's receipt signing key")
    p.add_argument("--out", help="保存为 PEM 文件 / save as PEM")
    p.set_defaults(handler=cmd_receipt_key)
    return parser


def _fail(console: Console, error: ClientError) -> int:
    code = f" [{error.code}]" if error.code else ""
    status = f"（HTTP {error.status}）" if error.status else ""
    console.err.write(f"错误 / error{code}{status}：{error.message}\n")
    console.err.flush()
    return error.exit_code


def main(
    argv: Sequence[str] | None = None, *, out: IO[str] | None = None, err: IO[str] | None = None
) -> int:
    for stream in (sys.stdout, sys.stderr):
        # Output redirected to a file on a GBK (cp936) Windows system cannot
        # encode every character printed (✓, ✗): replace rather than crash.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(quiet=bool(_opt(args, "quiet")), out=out, err=err)
    try:
        return int(args.handler(args, console))
    except ClientError as exc:
        return _fail(console, exc)
    except KeyboardInterrupt:
        console.err.write(
            "\n已中断；重新运行同一 upload 命令即可续传 / interrupted; rerun upload to resume\n"
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
