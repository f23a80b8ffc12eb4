"""The manifest sealed inside a bid: the bid summary and the list of files.

The summary is what the opening reads out (price in yuan, duration, quality
commitment and the lot's extra items); it never appears in the clear. Writer
and reader use the same validators here, so the writer cannot produce a bid
the reader refuses. Rules: docs/sealing.md §9.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import _strict
from . import errors as E
from ._strict import Invalid
from .errors import SealingError

MAX_MANIFEST = 1024 * 1024
MAX_FILES = 100
MAX_FIELDS = 50
PRICE = re.compile(r"[0-9]{1,14}(\.[0-9]{1,2})?")
FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
# JavaScript numbers are exact up to 2**53 - 1; a larger size could not be
# written by the browser, and no bid comes near it.
MAX_FILE_SIZE = 2**53 - 1


@dataclass(frozen=True)
class FileEntry:
    """One file of a bid: its name as the bidder chose it, size in bytes, media type."""

    name: str
    size: int
    media_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Manifest:
    summary: dict[str, Any]
    files: tuple[FileEntry, ...]

    @property
    def content_size(self) -> int:
        return sum(entry.size for entry in self.files)


def _summary_refused(field: str) -> SealingError:
    return SealingError("seal.summary_invalid", E.SUMMARY_INVALID, field=field)


def _manifest_refused(field: str) -> SealingError:
    return SealingError("seal.manifest_invalid", E.MANIFEST_INVALID, field=field)


def validate_summary(summary: Any) -> dict[str, Any]:
    """The summary as a plain JSON object, or ``seal.summary_invalid`` naming the field.

    ``price`` may be given as a ``Decimal`` when sealing; it is written as its
    plain decimal string.
    """
    try:
        if isinstance(summary, dict) and isinstance(summary.get("price"), Decimal):
            summary = {**summary, "price": format(summary["price"], "f")}
        obj = _strict.exact_keys(
            summary, ("price", "duration_days", "quality", "fields"), "summary"
        )
        price = _strict.pattern(obj["price"], "price", PRICE)
        if Decimal(price) <= 0:
            raise Invalid("price")
        duration = _strict.integer(obj["duration_days"], "duration_days", 1, 3650)
        quality = _strict.text(obj["quality"], "quality", 1, 200)
        fields = obj["fields"]
        if not isinstance(fields, dict) or len(fields) > MAX_FIELDS:
            raise Invalid("fields")
        for key, value in fields.items():
            _strict.pattern(key, "fields", FIELD_KEY)
            _strict.text(value, f"fields.{key}", 0, 500)
        _check_unicode(price, quality, *fields, *fields.values())
    except Invalid as error:
        raise _summary_refused(error.field.removeprefix("summary.")) from None
    return {"price": price, "duration_days": duration, "quality": quality, "fields": dict(fields)}


def _check_unicode(*texts: str) -> None:
    for item in texts:
        _strict.check_text(item, "summary")


def validate_file(entry: Any, field: str = "files") -> FileEntry:
    """A ``FileEntry`` (or its JSON object) checked, or ``seal.manifest_invalid``."""
    if isinstance(entry, FileEntry):
        entry = {"name": entry.name, "size": entry.size, "media_type": entry.media_type}
    try:
        obj = _strict.exact_keys(entry, ("name", "size", "media_type"), field)
        name = _strict.text(obj["name"], f"{field}.name", 1, 255)
        if "/" in name or "\\" in name or "\x00" in name:
            raise Invalid(f"{field}.name")
        _strict.check_text(name, f"{field}.name")
        size = _strict.integer(obj["size"], f"{field}.size", 0, MAX_FILE_SIZE)
        media_type = _strict.text(obj["media_type"], f"{field}.media_type", 0, 100)
        _strict.check_text(media_type, f"{field}.media_type")
    except Invalid as error:
        raise _manifest_refused(error.field) from None
    return FileEntry(name=name, size=size, media_type=media_type)


def validate_files(files: Any) -> tuple[FileEntry, ...]:
    if not isinstance(files, list | tuple) or not 1 <= len(files) <= MAX_FILES:
        raise _manifest_refused("files")
    return tuple(validate_file(entry, f"files[{index}]") for index, entry in enumerate(files))


def build_manifest(summary: Any, files: list[FileEntry] | tuple[FileEntry, ...]) -> bytes:
    """The manifest's JSON bytes, after the same checks a reader applies."""
    checked_summary = validate_summary(summary)
    entries = validate_files(list(files))
    raw = _strict.dumps(
        {
            "summary": checked_summary,
            "files": [
                {"name": entry.name, "size": entry.size, "media_type": entry.media_type}
                for entry in entries
            ],
        }
    )
    if len(raw) > MAX_MANIFEST:
        raise _manifest_refused("size")
    return raw


def parse_manifest(raw: bytes | bytearray | memoryview) -> Manifest:
    """Read a manifest's JSON bytes: ``seal.manifest_invalid`` / ``seal.summary_invalid``."""
    try:
        obj = _strict.exact_keys(_strict.loads(raw, field="json"), ("summary", "files"), "")
    except Invalid as error:
        raise _manifest_refused(error.field) from None
    summary = validate_summary(obj["summary"])
    files = validate_files(obj["files"])
    return Manifest(summary=summary, files=files)
