"""Where sealed bids live: Django's storage API, one object per part; and how their files are read.

A sealed bid can be 1 GiB, so nothing here ever holds a whole bid, or even a
whole part, in memory:

- a part arrives as the request body, which Django's ASGI handler has already
  spooled to a temporary file (in memory only up to
  ``FILE_UPLOAD_MAX_MEMORY_SIZE``); ``part_spool`` copies it in fixed blocks
  into a temporary file, hashing as it goes and reading at most one block
  past the announced length, and only a part whose length and SHA-256 match
  reaches storage (for ``FileSystemStorage`` by a rename);
- ``open_sealed_stream`` reads the parts back in order as one stream, one part
  open at a time, for ``bidding.sealing`` to check or open chunk by chunk;
- ``open_bid_file`` reads one file of a decrypted bid: it decrypts, from the
  ciphertext, only the chunks that hold the file's bytes, verifying each.

The ciphertext is the only copy of a bid: no plaintext is ever written to
storage, before or after the opening (docs/bidding.md, "After the opening").
Storage names are made of ids only (``bids/<lot>/<upload>/part-000000``),
never of names a bidder chose.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.utils.translation import gettext_lazy as _

from bidding.sealing import format as sealing
from bidding.sealing.errors import SealingError
from core.errors import DomainError

if TYPE_CHECKING:
    from bidding.models import Bid, BidFile, Upload

# Read and write in blocks of this size: large enough for throughput, small
# enough that memory does not depend on the size of a part or a bid.
BLOCK_SIZE = 256 * 1024


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def bid_storage() -> Storage:
    """The storage that holds the sealed parts (Django's default storage)."""
    return default_storage


def _temp_dir(storage: Storage) -> str | None:
    """A temporary directory on the same file system as the storage, so a finished file is renamed, not copied."""
    if settings.FILE_UPLOAD_TEMP_DIR:
        return str(settings.FILE_UPLOAD_TEMP_DIR)
    location = getattr(storage, "location", None)
    if location:
        directory = Path(location) / "incoming"
        directory.mkdir(parents=True, exist_ok=True)
        return str(directory)
    return None


class _SpooledFile(File):
    """A finished temporary file handed to ``Storage.save``.

    ``temporary_file_path`` lets ``FileSystemStorage`` move it into place
    instead of copying it; other storages stream it with ``chunks()``.
    """

    def temporary_file_path(self) -> str:
        return self.file.name

    def close(self) -> None:
        # The storage may have moved the file into place: then there is nothing left to delete.
        with contextlib.suppress(FileNotFoundError):
            self.file.close()


def _new_temp(storage: Storage) -> IO[bytes]:
    return tempfile.NamedTemporaryFile(prefix="sunbid-", suffix=".part", dir=_temp_dir(storage))


def part_name(*, lot_id: int, upload_id: object, index: int) -> str:
    return f"bids/{lot_id}/{upload_id}/part-{index:06d}"


class PartTooLong(Exception):
    """The body went on past the part's length: refused without reading the rest."""


@dataclass(frozen=True, slots=True)
class Spooled:
    """A part copied to a temporary file: its length and SHA-256, not yet in storage."""

    temp: IO[bytes]
    size: int
    sha256: str

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.temp.close()


def part_spool(stream: Readable, *, limit: int, storage: Storage | None = None) -> Spooled:
    """Copy ``stream`` into a temporary file in ``BLOCK_SIZE`` blocks, hashing it.

    Reads at most ``limit`` + 1 bytes: one byte more than a part may have is
    enough to know the body is too long (``PartTooLong``), and the rest is
    never read. The caller stores or discards the result.
    """
    storage = storage or bid_storage()
    temp = _new_temp(storage)
    digest = hashlib.sha256()
    size = 0
    try:
        while True:
            block = stream.read(min(BLOCK_SIZE, limit + 1 - size))
            if not block:
                break
            size += len(block)
            if size > limit:
                raise PartTooLong
            digest.update(block)
            temp.write(block)
        temp.flush()
        temp.seek(0)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.close()
        raise
    return Spooled(temp=temp, size=size, sha256=digest.hexdigest())


def spooled_save(spooled: Spooled, name: str, *, storage: Storage | None = None) -> str:
    """Put a spooled part into storage under ``name``; the name the storage used."""
    storage = storage or bid_storage()
    wrapper = _SpooledFile(spooled.temp, name=os.path.basename(name))
    try:
        return storage.save(name, wrapper)
    finally:
        wrapper.close()


def delete_objects(names: Iterable[str], *, storage: Storage | None = None) -> None:
    """Delete storage objects, ignoring any already gone (called after commit, may run twice)."""
    storage = storage or bid_storage()
    for name in names:
        if name:
            storage.delete(name)


class PartsReader(io.RawIOBase):
    """The parts of an upload, in order, read as one stream; one part open at a time.

    ``readinto`` fills the whole buffer unless the end of the last part is
    reached, so ``read(n)`` returns exactly ``n`` bytes until the end: the
    format library may count on full reads across part boundaries. Given the
    parts' sizes, the stream is seekable: a seek opens only the part that
    holds the position (random access to a decrypted bid's files).
    """

    def __init__(
        self,
        names: list[str],
        *,
        sizes: Sequence[int] | None = None,
        storage: Storage | None = None,
    ) -> None:
        super().__init__()
        if sizes is not None and len(sizes) != len(names):
            raise ValueError("one size per part")
        self._names = names
        self._storage = storage or bid_storage()
        # Where each part begins in the stream, when the sizes are known.
        self._starts: list[int] | None = None
        if sizes is not None:
            self._starts = []
            position = 0
            for size in sizes:
                self._starts.append(position)
                position += size
        self._next = 0
        self._current: File | None = None
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._starts is not None

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self._starts is None:
            raise io.UnsupportedOperation("the parts' sizes are needed to seek")
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("only SEEK_SET and SEEK_CUR")
        if offset < 0:
            raise ValueError("negative seek position")
        if offset == self._position:
            return offset
        self._close_current()
        # The part holding ``offset`` (past the end: no part, reads return nothing).
        index = max(0, bisect.bisect_right(self._starts, offset) - 1)
        self._next = index
        if index < len(self._names) and self._advance():
            assert self._current is not None
            self._current.seek(offset - self._starts[index])
        self._position = offset
        return offset

    def _close_current(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def _advance(self) -> bool:
        self._close_current()
        if self._next >= len(self._names):
            return False
        self._current = self._storage.open(self._names[self._next], "rb")
        self._next += 1
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if self._current is None and not self._advance():
                break
            assert self._current is not None
            count = self._current.readinto(view[filled:])
            if not count:
                self._close_current()
                continue
            filled += count
        self._position += filled
        return filled

    def close(self) -> None:
        self._close_current()
        super().close()


def upload_parts(upload: Upload) -> tuple[list[str], list[int]]:
    """The storage names and sizes of an upload's parts, in order."""
    rows = list(upload.parts.order_by("index").values_list("storage_name", "size"))
    return [name for name, _size in rows], [size for _name, size in rows]


def upload_part_names(upload: Upload) -> list[str]:
    return upload_parts(upload)[0]


def _upload_of(bid_or_upload: Bid | Upload) -> Upload:
    from bidding.models import Bid

    return bid_or_upload.upload if isinstance(bid_or_upload, Bid) else bid_or_upload


def open_sealed_raw(bid_or_upload: Bid | Upload) -> PartsReader:
    """The sealed file as an unbuffered, seekable stream (whole-chunk reads at given places)."""
    names, sizes = upload_parts(_upload_of(bid_or_upload))
    return PartsReader(names, sizes=sizes)


def open_sealed_stream(bid_or_upload: Bid | Upload) -> io.BufferedReader:
    """The sealed file of a bid (or of an upload) as a binary stream, parts in order.

    The caller closes it. Buffered reads are whole-buffer reads across part
    boundaries (see ``PartsReader``); ``readinto`` and ``seek`` are supported.
    """
    return io.BufferedReader(open_sealed_raw(bid_or_upload), buffer_size=BLOCK_SIZE)


# --- files of a decrypted bid ----------------------------------------------------------------


def _refusal(exc: SealingError) -> DomainError:
    # Same as bidding.services._sealing_refusal (which imports this module).
    return DomainError(exc.code, _(exc.message), **exc.params)


def _ciphertext_changed() -> DomainError:
    return DomainError(
        "bid.ciphertext_changed",
        _("存储中的密文与回执记载的 SHA-256 不一致，投标文件已被改动。"),
    )


class BidFileReader(io.RawIOBase):
    """One file of a decrypted bid, read (and seekable) like a local binary file.

    Every read decrypts the chunks under the bytes asked for and checks their
    authentication tags (``bidding.sealing.PlaintextRange``); a chunk that
    fails raises ``DomainError`` (``seal.chunk_invalid``, ``seal.truncated``)
    instead of returning a byte. Memory: one chunk of ciphertext and one of
    plaintext (2 MiB), whatever the file's size. ``size`` is the file's size.
    """

    def __init__(self, plaintext: sealing.PlaintextRange, size: int) -> None:
        super().__init__()
        self._plaintext = plaintext
        self.size = size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._plaintext.seek(offset, whence)

    def tell(self) -> int:
        return self._plaintext.tell()

    def readinto(self, buffer: Any) -> int:
        try:
            return self._plaintext.readinto(buffer)
        except SealingError as exc:
            raise _refusal(exc) from None

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._plaintext.read(size)
        except SealingError as exc:
            raise _refusal(exc) from None

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        if not self.closed:
            self._plaintext.close()
        super().close()


def open_bid_file(bid_file: BidFile) -> BidFileReader:
    """The plaintext of one file of a decrypted bid, decrypted from the ciphertext as it is read.

    Who may read it is the caller's rule (issue 7); this only reads. Refused
    unless the bid was decrypted (``bid.not_decrypted``). The header in
    storage must be the one recorded at upload (``bid.ciphertext_changed``)
    and the file key kept at decryption must open it (its MAC); then each
    read decrypts and verifies only the chunks holding the bytes it returns.
    The caller closes the reader.
    """
    from bidding.models import DecryptionStatus

    bid = bid_file.bid
    if bid.decryption_status != DecryptionStatus.DECRYPTED or not bid.file_key:
        raise DomainError(
            "bid.not_decrypted", _("该投标文件尚未解密，不能读取其内容。"), status=409
        )
    raw = open_sealed_raw(bid)
    try:
        try:
            header = sealing.read_header(raw)
        except SealingError:
            # It passed these checks at upload: what is in storage now is not that file.
            raise _ciphertext_changed() from None
        if header.digest.hex() != bid.header_sha256:
            raise _ciphertext_changed()
        plaintext = sealing.open_range(
            raw,
            bid.size,
            header=header,
            file_key=bytes(bid.file_key),
            offset=bid_file.offset,
            length=bid_file.size,
            close_stream=True,
        )
    except SealingError as exc:
        raw.close()
        raise _refusal(exc) from None
    except BaseException:
        raw.close()
        raise
    return BidFileReader(plaintext, bid_file.size)
