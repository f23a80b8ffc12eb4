"""The one error type of the sealed bid format library.

The library is pure (no settings, no ORM): it cannot translate. A
``SealingError`` carries a stable ``code`` (documented in docs/sealing.md), the
Chinese ``message`` as a msgid marked with ``gettext_noop`` so that
``makemessages`` collects it, and ``params`` for its placeholders. The Django
side translates when it shows the error: ``gettext(error.message) % error.params``.
"""

from __future__ import annotations

from typing import Any


def gettext_noop(message: str) -> str:
    """Mark ``message`` for ``makemessages`` (which looks for this name) and return it.

    Django's own ``gettext_noop`` reads settings when called at import time, and
    this library must load without settings (command-line client, fuzzing).
    """
    return message


class SealingError(Exception):
    """A sealed bid, a key or a key backup was refused.

    ``code`` is stable (``seal.chunk_invalid``); ``message`` is the untranslated
    Chinese msgid; ``params`` fills its ``%(name)s`` placeholders.
    """

    def __init__(self, code: str, message: str, **params: Any) -> None:
        self.code = code
        self.message = message
        self.params = params
        super().__init__(code)

    @property
    def text(self) -> str:
        """The message in the source language, placeholders filled."""
        return self.message % self.params if self.params else self.message

    def __str__(self) -> str:
        return f"{self.code}: {self.text}"


# --- the messages, one place, so the spec and the catalog list the same texts ---------

NOT_SEALED = gettext_noop("这不是封装（加密）的投标文件。未加密的投标文件不予接收。")
UNSUPPORTED_VERSION = gettext_noop("不支持的投标文件封装格式版本，请使用最新的投标客户端重新封装。")
HEADER_INVALID = gettext_noop("投标文件的文件头格式错误（%(field)s）。")
TRUNCATED = gettext_noop("投标文件不完整（文件被截断）。")
SIZE_INVALID = gettext_noop("投标文件的长度与其分块结构不符。")
SIGNER_UNKNOWN = gettext_noop(
    "投标文件的签名密钥（指纹 %(fingerprint)s）不是该投标人登记的签名密钥。"
)
SIGNATURE_INVALID = gettext_noop("投标人签名验证失败：文件头或密文与签名不符。")
KEY_MISMATCH = gettext_noop(
    "该私钥不是封装此投标文件时使用的密钥（需要指纹为 %(fingerprint)s 的密钥）。"
)
KEY_UNWRAP_FAILED = gettext_noop("无法用该私钥解开投标文件的文件密钥。")
KEY_WRONG_KIND = gettext_noop(
    "密钥不符合要求：加密密钥须为 RSA-3072（公开指数 65537），签名密钥须为 ECDSA P-256。"
)
FILE_KEY_LENGTH = gettext_noop("文件密钥的长度必须是 32 字节。")
HEADER_MAC_INVALID = gettext_noop("文件头认证失败：文件密钥不正确，或文件头已被篡改。")
CHUNK_INVALID = gettext_noop("密文第 %(index)s 块认证失败：密文已被篡改、截断、重排或拼接。")
MANIFEST_INVALID = gettext_noop("投标文件内的文件清单无效（%(field)s）。")
SUMMARY_INVALID = gettext_noop("投标摘要无效（%(field)s）。")
FILE_SIZE_MISMATCH = gettext_noop("文件“%(name)s”的实际大小与声明的 %(size)s 字节不符。")
BACKUP_INVALID = gettext_noop("密钥备份文件格式错误（%(field)s）。")
BACKUP_PASSPHRASE_INVALID = gettext_noop("口令不正确，或密钥备份文件已损坏。")
BACKUP_PASSPHRASE_TOO_SHORT = gettext_noop("口令至少需要 %(minimum)s 个字符。")
