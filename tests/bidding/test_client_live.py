"""The command-line client against a running server (pytest-django's live_server).

The whole path a bidder takes on its own machine: keygen and registration,
lot information saved for offline sealing, sealing, an upload cut off midway
and resumed from the server's offset, the receipt checked offline, status and
withdrawal. Parts are 4 KiB (``bidding_settings``) so a bid of a few dozen
kilobytes travels in many parts; RSA keys come from the test key pool.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accounts.models import OrganisationKey
from accounts.services import api_token_create
from bidding import client
from bidding.models import Bid, BidStatus, Upload, UploadStatus
from bidding.sealing import keys as sealkeys
from opening.selectors import opening_public_key
from tests.bidding.support import PART_SIZE, bidding_settings, obtain  # noqa: F401
from tests.opening.keypool import POOL

pytestmark = pytest.mark.usefixtures("bidding_settings")

PASSPHRASE = "门诊楼投标-口令-2026"


class Opener:
    """The real urllib opener, counting part uploads and cutting the connection after ``cut_after`` of them."""

    def __init__(self, cut_after: int | None = None) -> None:
        self.real = urllib.request.build_opener(client._NoRedirect)
        self.cut_after = cut_after
        self.parts: list[int] = []

    def open(self, request: urllib.request.Request, timeout: float | None = None):
        if request.get_method() == "PUT":
            if self.cut_after is not None and len(self.parts) >= self.cut_after:
                raise urllib.error.URLError(ConnectionResetError(104, "Connection reset by peer"))
            self.parts.append(int(request.full_url.rsplit("/", 1)[1]))
        return self.real.open(request, timeout=timeout)


@pytest.fixture
def bench(tmp_path, live_server, people, lot, monkeypatch):
    """bob of 浙江建工, with the tender documents obtained, an API token in a file and a passphrase file."""
    bob = people["bob"]
    obtain(bob, lot)
    _token, secret = api_token_create(actor=bob, name="命令行客户端")
    token_file = tmp_path / "token"
    token_file.write_text(secret + "\n")
    token_file.chmod(0o600)
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    monkeypatch.setenv("SUNBID_SERVER", live_server.url)
    monkeypatch.delenv("SUNBID_TOKEN", raising=False)
    monkeypatch.setattr(sealkeys, "generate_encryption_key", POOL.next_key)
    for name, size in (("商务标.pdf", 9 * 1024 + 17), ("技术标.pdf", 14 * 1024)):
        (tmp_path / name).write_bytes(bytes((i * 7 + len(name)) % 251 for i in range(size)))
    return {
        "bob": bob,
        "lot": lot,
        "dir": tmp_path,
        "common": ["--token-file", str(token_file)],
        "passphrase": ["--passphrase-file", str(passphrase_file)],
    }


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = client.main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def keygen(bench) -> Path:
    keys = bench["dir"] / "keys.json"
    code, out, err = run(
        [
            "keygen",
            "--organisation",
            bench["bob"].organisation.credit_code,
            "--out",
            str(keys),
            "--register",
            *bench["passphrase"],
            *bench["common"],
        ]
    )
    assert code == client.EXIT_OK, err
    assert "已登记到平台 / registered" in out
    return keys


def seal(bench, keys: Path, *, out: str = "bid.sealed", price: str = "11500000.00") -> Path:
    sealed = bench["dir"] / out
    code, _out, err = run(
        [
            "seal",
            "--keys",
            str(keys),
            "--lot",
            str(bench["lot"].pk),
            "--price",
            price,
            "--duration",
            "365",
            "--quality",
            "合格",
            str(bench["dir"] / "商务标.pdf"),
            str(bench["dir"] / "技术标.pdf"),
            "--out",
            str(sealed),
            "--force",
            *bench["passphrase"],
            *bench["common"],
        ]
    )
    assert code == client.EXIT_OK, err
    return sealed


def upload(bench, sealed: Path, opener: Opener, monkeypatch, *extra: str) -> tuple[int, str, str]:
    monkeypatch.setattr(client, "build_opener", lambda: opener)
    return run(["upload", str(sealed), "--lot", str(bench["lot"].pk), *extra, *bench["common"]])


def test_a_bidder_seals_uploads_resumes_verifies_and_withdraws_from_the_command_line(
    bench, monkeypatch
):
    bob, lot, folder = bench["bob"], bench["lot"], bench["dir"]

    keys = keygen(bench)
    backup = json.loads(keys.read_text())
    registered = OrganisationKey.objects.get(organisation=bob.organisation, status="active")
    assert (registered.encryption_fingerprint, registered.signing_fingerprint) == (
        backup["encryption_fingerprint"],
        backup["signing_fingerprint"],
    )

    # Offline preparation (EB 26): the lot's parameters saved, then sealed without the server.
    code, out, err = run(
        ["lot-info", "--lot", str(lot.pk), "--out", str(folder / "lot.json"), *bench["common"]]
    )
    assert code == client.EXIT_OK, err
    assert f"开标公钥指纹 / opening key: {opening_public_key(lot)[1]}" in out
    code, out, err = run(
        [
            "seal",
            "--keys",
            str(keys),
            "--lot-info",
            str(folder / "lot.json"),
            "--price",
            "11,500,000.00",
            "--duration",
            "365",
            "--quality",
            "合格",
            str(folder / "商务标.pdf"),
            str(folder / "技术标.pdf"),
            "--out",
            str(folder / "bid.sealed"),
            "--server",
            "http://127.0.0.1:9",  # never contacted: offline sealing needs no server
            *bench["passphrase"],
        ]
    )
    assert code == client.EXIT_OK, err
    sealed = folder / "bid.sealed"
    size, sha256 = client.file_digest(sealed)
    parts = -(-size // PART_SIZE)
    assert parts >= 6
    assert f"SHA-256: {sha256}" in out

    # The connection drops after three parts: the network exit code, and the state kept for a rerun.
    code, _out, err = upload(bench, sealed, Opener(cut_after=3), monkeypatch, "--retries", "0")
    assert code == client.EXIT_NETWORK
    assert "无法连接服务器" in err
    state = client.UploadState.load(client.state_path(sealed))
    assert state is not None
    pending = Upload.objects.get(pk=state.upload)
    assert (pending.status, pending.received) == (UploadStatus.OPEN, 3 * PART_SIZE)

    # The rerun asks the server where it stands and sends only the rest.
    resumed = Opener()
    code, out, err = upload(bench, sealed, resumed, monkeypatch)
    assert code == client.EXIT_OK, err
    assert resumed.parts == list(range(3, parts))
    assert "续传" in err
    assert "投标已提交 / bid submitted" in out
    assert "✓ 回执签名有效 / signature valid" in out
    assert f"✓ 文件 SHA-256 一致（{sha256}）" in out
    assert not client.state_path(sealed).exists()
    bid = Bid.objects.get(lot=lot, organisation=bob.organisation, status=BidStatus.CURRENT)
    assert (bid.upload_id, bid.size, bid.sha256) == (pending.pk, size, sha256)

    # The receipt, checked offline against the platform key fetched once.
    code, _out, err = run(["receipt-key", "--out", str(folder / "platform.pem")])
    assert code == client.EXIT_OK, err
    code, out, err = run(
        [
            "receipt",
            "--verify",
            str(client.receipt_path(sealed)),
            "--public-key",
            str(folder / "platform.pem"),
            "--file",
            str(sealed),
        ]
    )
    assert code == client.EXIT_OK, err
    assert "回执有效 / RECEIPT VALID" in out
    assert json.loads(client.receipt_path(sealed).read_text())["receipt_no"] == bid.receipt_no

    code, _out, err = run(
        [
            "receipt",
            "--bid",
            str(bid.pk),
            "--out",
            str(folder / "again.json"),
            "--pdf",
            str(folder / "receipt.pdf"),
            *bench["common"],
        ]
    )
    assert code == client.EXIT_OK, err
    assert (folder / "receipt.pdf").read_bytes().startswith(b"%PDF")
    assert json.loads((folder / "again.json").read_text()) == json.loads(bid.receipt)

    code, out, err = run(["status", "--lot", str(lot.pk), "--json", *bench["common"]])
    assert code == client.EXIT_OK, err
    assert json.loads(out)["bid"]["bid"] == str(bid.pk)

    code, out, err = run(["withdraw", "--lot", str(lot.pk), "--yes", *bench["common"]])
    assert code == client.EXIT_OK, err
    assert "投标已撤回 / bid withdrawn" in out
    bid.refresh_from_db()
    assert bid.status == BidStatus.WITHDRAWN

    code, out, err = run(["status", "--lot", str(lot.pk), *bench["common"]])
    assert code == client.EXIT_OK, err
    assert "没有有效投标" in out


def test_a_part_whose_answer_was_lost_is_not_sent_twice_and_the_upload_completes(
    bench, monkeypatch
):
    keys = keygen(bench)
    sealed = seal(bench, keys)

    class LosesOneAnswer(Opener):
        """The server stores part 2, but its answer never arrives."""

        lost = False

        def open(self, request, timeout=None):
            answer = super().open(request, timeout=timeout)
            if request.get_method() == "PUT" and self.parts[-1] == 2 and not self.lost:
                self.lost = True
                answer.close()
                raise urllib.error.URLError(TimeoutError("timed out"))
            return answer

    opener = LosesOneAnswer()
    code, out, err = upload(bench, sealed, opener, monkeypatch)
    assert code == client.EXIT_OK, err
    assert "第 2 块发送失败" in err
    parts = -(-sealed.stat().st_size // PART_SIZE)
    # Part 2 went twice (the server took the repeat as a no-op), every other part once.
    assert opener.parts == [0, 1, 2, 2, *range(3, parts)]
    assert Upload.objects.get().status == UploadStatus.COMPLETE


def test_a_resealed_file_abandons_the_unfinished_upload_and_starts_again(bench, monkeypatch):
    keys = keygen(bench)
    sealed = seal(bench, keys)
    code, _out, _err = upload(bench, sealed, Opener(cut_after=2), monkeypatch, "--retries", "0")
    assert code == client.EXIT_NETWORK
    first = client.UploadState.load(client.state_path(sealed))
    assert first is not None

    # A new price: sealing again writes a new file and forgets the old upload's state.
    sealed = seal(bench, keys, price="11400000.00")
    assert not client.state_path(sealed).exists()
    again = Opener()
    code, _out, err = upload(bench, sealed, again, monkeypatch)
    assert code == client.EXIT_OK, err
    assert again.parts[0] == 0
    bid = Bid.objects.get(status=BidStatus.CURRENT)
    assert bid.upload_id != first.upload
    assert bid.sha256 == client.file_digest(sealed)[1]


def test_a_changed_file_next_to_an_old_state_file_starts_a_fresh_upload(bench, monkeypatch):
    keys = keygen(bench)
    sealed = seal(bench, keys)
    code, _out, _err = upload(bench, sealed, Opener(cut_after=2), monkeypatch, "--retries", "0")
    assert code == client.EXIT_NETWORK
    state_file = client.state_path(sealed)
    old = client.UploadState.load(state_file)
    # Resealed elsewhere and copied over the old file: the state file is still there.
    kept = state_file.read_bytes()
    seal(bench, keys, out="other.sealed", price="11300000.00")
    (bench["dir"] / "other.sealed").replace(sealed)
    state_file.write_bytes(kept)

    code, _out, err = upload(bench, sealed, Opener(), monkeypatch)
    assert code == client.EXIT_OK, err
    assert "投标文件已改变" in err
    assert Upload.objects.get(pk=old.upload).status == UploadStatus.DISCARDED
    assert Bid.objects.get(status=BidStatus.CURRENT).sha256 == client.file_digest(sealed)[1]


def test_a_file_that_is_not_sealed_is_refused_before_anything_is_sent(bench, monkeypatch):
    keygen(bench)
    plain = bench["dir"] / "商务标.pdf"
    opener = Opener()
    code, _out, err = upload(bench, plain, opener, monkeypatch)
    assert code == client.EXIT_REFUSED
    assert "[seal.not_sealed]" in err
    assert "未加密的投标文件不予接收" in err
    assert opener.parts == []
    assert not Upload.objects.exists()


def test_sealing_with_keys_that_are_not_the_registered_ones_is_refused(bench):
    keys = keygen(bench)
    # Registered again from another machine: the first backup's keys are retired.
    other = bench["dir"] / "other-keys.json"
    code, _out, err = run(
        [
            "keygen",
            "--organisation",
            bench["bob"].organisation.credit_code,
            "--out",
            str(other),
            "--register",
            *bench["passphrase"],
            *bench["common"],
        ]
    )
    assert code == client.EXIT_OK, err
    code, _out, err = run(
        [
            "seal",
            "--keys",
            str(keys),
            "--lot",
            str(bench["lot"].pk),
            "--price",
            "1",
            "--duration",
            "1",
            "--quality",
            "合格",
            str(bench["dir"] / "商务标.pdf"),
            "--out",
            str(bench["dir"] / "x.sealed"),
            *bench["passphrase"],
            *bench["common"],
        ]
    )
    assert code == client.EXIT_REFUSED
    assert "[client.key_not_active]" in err
    assert not (bench["dir"] / "x.sealed").exists()


def test_a_wrong_passphrase_is_refused_with_the_librarys_code(bench, tmp_path):
    keys = keygen(bench)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all\n")
    code, _out, err = run(
        [
            "lot-info",
            "--lot",
            str(bench["lot"].pk),
            "--out",
            str(tmp_path / "lot.json"),
            *bench["common"],
        ]
    )
    assert code == client.EXIT_OK, err
    code, _out, err = run(
        [
            "seal",
            "--keys",
            str(keys),
            "--lot-info",
            str(tmp_path / "lot.json"),
            "--price",
            "1",
            "--duration",
            "1",
            "--quality",
            "合格",
            str(bench["dir"] / "商务标.pdf"),
            "--out",
            str(tmp_path / "x.sealed"),
            "--passphrase-file",
            str(wrong),
        ]
    )
    assert code == client.EXIT_REFUSED
    assert "[backup.passphrase_invalid]" in err


def test_an_upload_after_the_deadline_prints_the_servers_refusal(bench, monkeypatch):
    keys = keygen(bench)
    sealed = seal(bench, keys)
    lot = bench["lot"]
    with time_machine.travel(lot.bid_deadline + dt.timedelta(seconds=1), tick=True):
        code, _out, err = upload(bench, sealed, Opener(), monkeypatch)
    assert code == client.EXIT_REFUSED
    assert "[bid." in err
    assert not Bid.objects.exists()


def test_an_upload_without_a_valid_token_prints_the_token_refusal(bench, monkeypatch, tmp_path):
    keys = keygen(bench)
    sealed = seal(bench, keys)
    bad = tmp_path / "bad-token"
    bad.write_text("sbt_" + "A" * 43 + "\n")
    bad.chmod(0o600)
    monkeypatch.setattr(client, "build_opener", lambda: Opener())
    code, _out, err = run(
        ["upload", str(sealed), "--lot", str(bench["lot"].pk), "--token-file", str(bad)]
    )
    assert code == client.EXIT_REFUSED
    assert "[auth.token_invalid]（HTTP 401）" in err


def test_a_pinned_platform_key_that_did_not_sign_the_receipt_makes_the_upload_fail_its_check(
    bench, monkeypatch, tmp_path
):
    keys = keygen(bench)
    sealed = seal(bench, keys)
    pinned = tmp_path / "old-platform.pem"
    pinned.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    code, _out, err = upload(bench, sealed, Opener(), monkeypatch, "--public-key", str(pinned))
    assert code == client.EXIT_REFUSED
    assert "[client.receipt_invalid]" in err
    assert "投标已提交，但回执校验失败" in err
    # The bid was received all the same, and its receipt kept for a later check.
    assert Bid.objects.filter(status=BidStatus.CURRENT).exists()
    assert client.receipt_path(sealed).exists()


def test_status_shows_an_unfinished_upload_of_the_file(bench, monkeypatch):
    keys = keygen(bench)
    sealed = seal(bench, keys)
    code, _out, _err = upload(bench, sealed, Opener(cut_after=2), monkeypatch, "--retries", "0")
    assert code == client.EXIT_NETWORK
    state = client.UploadState.load(client.state_path(sealed))
    code, out, err = run(["status", "--lot", str(bench["lot"].pk), str(sealed), *bench["common"]])
    assert code == client.EXIT_OK, err
    assert "没有有效投标" in out
    assert f"未完成的上传 / unfinished upload {state.upload}：已收 0.0 MiB" in out
    assert "重新运行 upload 即可续传" in out
