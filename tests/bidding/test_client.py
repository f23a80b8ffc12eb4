"""The command-line client without a server: arguments, the bid summary, receipts, errors, progress.

The end-to-end runs against a live server are in test_client_live.py.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.error
from email.message import Message
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accounts.credit_code import make as make_code
from bidding import client
from bidding import receipts as server_receipts

ROOT = Path(__file__).resolve().parents[2]
BID_UUID = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
BOB_CODE = make_code("91330100MA0000004")
# The same code with a wrong check character.
BAD_CODE = BOB_CODE[:-1] + ("0" if BOB_CODE[-1] != "0" else "1")


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = client.main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# --- receipts: the server signs, the client verifies offline ---------------------------


@pytest.fixture
def platform_key(settings, tmp_path) -> Ed25519PrivateKey:
    """The platform's receipt key, as the server loads it from RECEIPT_SIGNING_KEY."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "receipt-signing-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.RECEIPT_SIGNING_KEY = str(path)
    settings.RECEIPT_SIGNING_KEY_CREATE = False
    return key


def pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture
def sealed_file(tmp_path) -> Path:
    path = tmp_path / "bid.sealed"
    path.write_bytes(b"sunbid-sealed-bid/v1\n" + bytes(range(256)) * 40)
    return path


@pytest.fixture
def receipt(platform_key, sealed_file) -> dict:
    size, sha256 = client.file_digest(sealed_file)
    return server_receipts.receipt_sign(
        {
            "receipt_no": "HZ-2026-000123",
            "tender": "ZB2026-0042",
            "lot": 1,
            "lot_name": "门诊楼改造工程施工",
            "bidder": BOB_CODE,
            "bidder_name": "浙江建工集团有限公司",
            "bid": BID_UUID,
            "size": size,
            "ciphertext_sha256": sha256,
            "received_at": "2026-03-02T09:59:59.999999+08:00",
            "audit_seq": 4711,
        }
    )


def write(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_receipt_signed_by_the_server_verifies_offline_with_the_platform_key(
    receipt, platform_key, sealed_file
):
    size, sha256 = client.file_digest(sealed_file)
    checks = list(
        client.verify_receipt(receipt, platform_key.public_key(), size=size, sha256=sha256)
    )
    assert [english for _chinese, english in checks] == [
        "receipt format v1",
        f"platform key fingerprint {client.public_key_fingerprint(platform_key.public_key())}",
        "signature valid",
        f"file size matches ({size} bytes)",
        "file SHA-256 matches",
    ]


def test_the_client_verifies_over_the_same_bytes_the_server_signs(receipt):
    assert client.receipt_canonical(receipt) == server_receipts.signed_bytes(receipt)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size", 1),
        ("received_at", "2026-03-02T10:00:00.000000+08:00"),
        ("bidder_name", "杭州市政建设有限公司"),
        ("ciphertext_sha256", "0" * 64),
        ("audit_seq", 4712),
    ],
)
def test_a_receipt_with_any_field_changed_fails_the_signature_check(
    receipt, platform_key, field, value
):
    forged = {**receipt, field: value}
    with pytest.raises(client.ReceiptMismatch) as caught:
        list(client.verify_receipt(forged, platform_key.public_key()))
    assert caught.value.english == "the signature does not verify"


def test_a_receipt_checked_against_another_key_names_the_key_mismatch(receipt):
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(client.ReceiptMismatch) as caught:
        list(client.verify_receipt(receipt, other))
    assert caught.value.english == "the receipt names another signing key than the one given"


def test_a_receipt_relabelled_with_another_keys_fingerprint_still_fails(receipt):
    other = Ed25519PrivateKey.generate()
    relabelled = {**receipt, "key_fingerprint": client.public_key_fingerprint(other.public_key())}
    with pytest.raises(client.ReceiptMismatch) as caught:
        list(client.verify_receipt(relabelled, other.public_key()))
    assert caught.value.english == "the signature does not verify"


def test_a_receipt_missing_a_field_is_refused_before_the_signature(receipt, platform_key):
    incomplete = {key: value for key, value in receipt.items() if key != "audit_seq"}
    with pytest.raises(client.ReceiptMismatch) as caught:
        list(client.verify_receipt(incomplete, platform_key.public_key()))
    assert "audit_seq" in caught.value.english


def test_receipt_verify_command_exits_0_for_a_valid_receipt_and_matching_file(
    tmp_path, receipt, platform_key, sealed_file
):
    code, out, _err = run(
        [
            "receipt",
            "--verify",
            str(write(tmp_path / "receipt.json", receipt)),
            "--public-key",
            str(write_pem(tmp_path / "platform.pem", platform_key)),
            "--file",
            str(sealed_file),
        ]
    )
    assert code == client.EXIT_OK
    assert "回执有效 / RECEIPT VALID" in out
    assert "✓ 回执签名有效 / signature valid" in out
    assert "file SHA-256 matches" in out


def write_pem(path: Path, key: Ed25519PrivateKey) -> Path:
    path.write_bytes(pem(key))
    return path


def test_receipt_verify_command_exits_1_when_the_file_is_not_the_one_received(
    tmp_path, receipt, platform_key, sealed_file
):
    sealed_file.write_bytes(sealed_file.read_bytes()[:-1] + b"\x00")
    code, out, _err = run(
        [
            "receipt",
            "--verify",
            str(write(tmp_path / "receipt.json", receipt)),
            "--public-key",
            str(write_pem(tmp_path / "platform.pem", platform_key)),
            "--file",
            str(sealed_file),
        ]
    )
    assert code == client.EXIT_REFUSED
    assert "✓ 回执签名有效 / signature valid" in out
    assert "VERIFICATION FAILED: the file's SHA-256 differs from the receipt" in out


def test_receipt_verify_command_exits_1_for_a_tampered_receipt(tmp_path, receipt, platform_key):
    tampered = {**receipt, "received_at": "2026-03-02T09:00:00.000000+08:00"}
    code, out, _err = run(
        [
            "receipt",
            "--verify",
            str(write(tmp_path / "receipt.json", tampered)),
            "--public-key",
            str(write_pem(tmp_path / "platform.pem", platform_key)),
        ]
    )
    assert code == client.EXIT_REFUSED
    assert "✗ 校验失败：回执签名无效" in out


def test_receipt_verify_command_exits_1_for_the_wrong_platform_key(tmp_path, receipt):
    code, out, _err = run(
        [
            "receipt",
            "--verify",
            str(write(tmp_path / "receipt.json", receipt)),
            "--public-key",
            str(write_pem(tmp_path / "other.pem", Ed25519PrivateKey.generate())),
        ]
    )
    assert code == client.EXIT_REFUSED
    assert "回执由另一把密钥签署" in out


def test_receipt_verify_without_a_key_or_server_is_a_usage_error(tmp_path, receipt, monkeypatch):
    monkeypatch.delenv("SUNBID_SERVER", raising=False)
    code, _out, err = run(["receipt", "--verify", str(write(tmp_path / "receipt.json", receipt))])
    assert code == client.EXIT_USAGE
    assert "--public-key" in err


def test_a_public_key_file_that_is_not_ed25519_is_a_usage_error(tmp_path, receipt, sealing_keys):
    path = tmp_path / "ec.pem"
    path.write_bytes(
        sealing_keys.bob.signing_private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    code, _out, err = run(
        [
            "receipt",
            "--verify",
            str(write(tmp_path / "receipt.json", receipt)),
            "--public-key",
            str(path),
        ]
    )
    assert code == client.EXIT_USAGE
    assert "Ed25519" in err


# --- arguments ----------------------------------------------------------------------------


def test_there_is_no_option_to_put_the_token_on_the_command_line(capsys):
    with pytest.raises(SystemExit) as caught:
        client.main(["status", "--lot", "1", "--token", "sbt_secret"])
    assert caught.value.code == client.EXIT_USAGE
    assert "--token" in capsys.readouterr().err


def test_a_network_command_without_a_token_is_a_usage_error(monkeypatch):
    monkeypatch.delenv("SUNBID_TOKEN", raising=False)
    code, _out, err = run(["status", "--lot", "1", "--server", "http://127.0.0.1:9"])
    assert code == client.EXIT_USAGE
    assert "SUNBID_TOKEN" in err


def test_a_network_command_without_a_server_is_a_usage_error(monkeypatch):
    monkeypatch.delenv("SUNBID_SERVER", raising=False)
    monkeypatch.setenv("SUNBID_TOKEN", "sbt_x")
    code, _out, err = run(["status", "--lot", "1"])
    assert code == client.EXIT_USAGE
    assert "SUNBID_SERVER" in err


def test_common_options_are_accepted_before_and_after_the_command(tmp_path):
    token = tmp_path / "token"
    token.write_text("sbt_abc\n")
    parser = client.build_parser()
    before = parser.parse_args(
        ["--server", "https://a.example", "--token-file", str(token), "status", "--lot", "3"]
    )
    after = parser.parse_args(["status", "--lot", "3", "--server", "https://a.example", "--json"])
    assert (before.server, before.token_file, before.lot) == ("https://a.example", str(token), 3)
    assert (after.server, after.json, after.lot) == ("https://a.example", True, 3)


def test_the_token_is_read_from_the_file_before_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SUNBID_TOKEN", "sbt_from_environment")
    token = tmp_path / "token"
    token.write_text("sbt_from_file\n")
    token.chmod(0o600)
    args = client.build_parser().parse_args(
        ["status", "--lot", "1", "--server", "https://a.example/", "--token-file", str(token)]
    )
    api = client.make_api(args, client.Console(err=io.StringIO()))
    assert (api.server, api.token) == ("https://a.example", "sbt_from_file")


def test_a_token_file_readable_by_others_draws_a_warning(tmp_path):
    token = tmp_path / "token"
    token.write_text("sbt_from_file\n")
    token.chmod(0o644)
    err = io.StringIO()
    args = client.build_parser().parse_args(
        ["status", "--lot", "1", "--server", "https://a.example", "--token-file", str(token)]
    )
    client.make_api(args, client.Console(err=err))
    assert "chmod 600" in err.getvalue()


def test_plain_http_to_another_host_draws_a_warning_but_localhost_does_not(monkeypatch):
    monkeypatch.setenv("SUNBID_TOKEN", "sbt_x")
    err = io.StringIO()
    client.check_server_url("http://127.0.0.1:8000", client.Console(err=err))
    assert err.getvalue() == ""
    client.check_server_url("http://bids.example.cn", client.Console(err=err))
    assert "https" in err.getvalue()


@pytest.mark.parametrize(
    "argv",
    [
        ["upload", "bid.sealed", "--lot", "0"],
        ["upload", "bid.sealed", "--lot", "abc"],
        ["upload", "bid.sealed"],
        ["receipt", "--bid", "42"],
        ["receipt"],
        ["receipt", "--bid", BID_UUID, "--verify", "r.json"],
        [
            "seal",
            "--keys",
            "k.json",
            "--price",
            "1",
            "--duration",
            "1",
            "--quality",
            "q",
            "--out",
            "o",
            "f",
        ],
        [
            "seal",
            "--keys",
            "k.json",
            "--lot",
            "1",
            "--lot-info",
            "l.json",
            "--price",
            "1",
            "--duration",
            "1",
            "--quality",
            "q",
            "--out",
            "o",
            "f",
        ],
        [
            "seal",
            "--keys",
            "k.json",
            "--lot",
            "1",
            "--price",
            "1",
            "--duration",
            "1",
            "--quality",
            "q",
            "--field",
            "novalue",
            "--out",
            "o",
            "f",
        ],
        ["keygen", "--out", "keys.json"],
        ["nonsense"],
    ],
)
def test_bad_arguments_exit_with_the_usage_code(argv):
    with pytest.raises(SystemExit) as caught:
        client.build_parser().parse_args(argv)
    assert caught.value.code == client.EXIT_USAGE


def test_fields_are_split_at_the_first_equals_sign():
    args = client.build_parser().parse_args(
        [
            "seal",
            "--keys",
            "k.json",
            "--lot",
            "1",
            "--price",
            "1",
            "--duration",
            "1",
            "--quality",
            "合格",
            "--field",
            "manager=张三",
            "--field",
            "formula=a=b",
            "--out",
            "o",
            "a.pdf",
            "b.pdf",
        ]
    )
    assert args.field == [("manager", "张三"), ("formula", "a=b")]
    assert args.files == ["a.pdf", "b.pdf"]


def test_receipt_takes_the_bid_id_as_a_uuid():
    args = client.build_parser().parse_args(["receipt", "--bid", BID_UUID.upper()])
    assert args.bid == BID_UUID


def test_keygen_refuses_an_invalid_credit_code(tmp_path):
    code, _out, err = run(["keygen", "--organisation", BAD_CODE, "--out", str(tmp_path / "k.json")])
    assert code == client.EXIT_USAGE
    assert "统一社会信用代码无效" in err
    assert not (tmp_path / "k.json").exists()


def test_keygen_refuses_a_short_passphrase_before_generating_anything(tmp_path):
    passphrase = tmp_path / "pass"
    passphrase.write_text("short\n")
    code, _out, err = run(
        [
            "keygen",
            "--organisation",
            BOB_CODE,
            "--out",
            str(tmp_path / "k.json"),
            "--passphrase-file",
            str(passphrase),
        ]
    )
    assert code == client.EXIT_USAGE
    assert "12" in err
    assert not (tmp_path / "k.json").exists()


# --- the bid summary ---------------------------------------------------------------------

BID_FIELDS = [
    {"key": "manager", "label": "项目经理", "required": True},
    {"key": "warranty", "label": "质保期", "required": False},
]


def summary(**overrides):
    values = {
        "price": "11500000.00",
        "duration": 180,
        "quality": "合格",
        "fields": [("manager", "张三")],
        "bid_fields": BID_FIELDS,
    }
    values.update(overrides)
    return client.build_summary(**values)


def test_a_complete_summary_is_built_in_the_sealed_format():
    assert summary(fields=[("manager", "张三"), ("warranty", "两年")]) == {
        "price": "11500000.00",
        "duration_days": 180,
        "quality": "合格",
        "fields": {"manager": "张三", "warranty": "两年"},
    }


def test_thousands_separators_are_dropped_from_the_price():
    assert summary(price="11,500,000.5")["price"] == "11500000.5"


@pytest.mark.parametrize("price", ["0", "0.00", "1.234", "-5", "12e6", "一百万", "123456789012345"])
def test_a_price_outside_the_format_is_refused(price):
    with pytest.raises(client.ClientError) as caught:
        summary(price=price)
    assert caught.value.code == "client.price_invalid"


@pytest.mark.parametrize("duration", [0, 3651])
def test_a_duration_outside_1_to_3650_days_is_refused(duration):
    with pytest.raises(client.ClientError) as caught:
        summary(duration=duration)
    assert caught.value.code == "client.duration_invalid"


def test_a_field_the_lot_does_not_ask_for_is_refused_naming_the_allowed_ones():
    with pytest.raises(client.ClientError) as caught:
        summary(fields=[("manager", "张三"), ("managre", "李四")])
    assert caught.value.code == "client.field_unknown"
    assert "manager、warranty" in caught.value.message


def test_a_missing_required_field_is_refused_with_its_label():
    with pytest.raises(client.ClientError) as caught:
        summary(fields=[("warranty", "两年")])
    assert caught.value.code == "client.field_missing"
    assert "项目经理（manager）" in caught.value.message


def test_a_field_given_twice_is_refused():
    with pytest.raises(client.ClientError) as caught:
        summary(fields=[("manager", "张三"), ("manager", "李四")])
    assert caught.value.code == "client.field_invalid"


# --- files to seal -----------------------------------------------------------------------


def test_files_are_listed_by_name_size_and_media_type(tmp_path):
    (tmp_path / "商务标.pdf").write_bytes(b"%PDF-1.7 business")
    (tmp_path / "技术标.docx").write_bytes(b"PK technical")
    entries = client.collect_files([str(tmp_path / "商务标.pdf"), str(tmp_path / "技术标.docx")])
    assert [(entry.name, entry.size, entry.media_type) for entry, _path in entries] == [
        ("商务标.pdf", 17, "application/pdf"),
        (
            "技术标.docx",
            12,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ]


def test_two_files_with_the_same_name_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "报价.pdf").write_bytes(b"x")
    with pytest.raises(client.UsageError) as caught:
        client.collect_files([str(tmp_path / "a" / "报价.pdf"), str(tmp_path / "b" / "报价.pdf")])
    assert "报价.pdf" in caught.value.message


def test_a_directory_is_not_a_file_to_seal(tmp_path):
    with pytest.raises(client.UsageError):
        client.collect_files([str(tmp_path)])


# --- talking to the server ----------------------------------------------------------------


class FakeOpener:
    """Stands in for urllib's opener: raises what a server or a network would."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.requests: list = []

    def open(self, request, timeout=None):
        self.requests.append(request)
        raise self.error


def http_error(
    status: int, body: bytes, content_type: str = "application/json"
) -> urllib.error.HTTPError:
    headers = Message()
    headers["Content-Type"] = content_type
    return urllib.error.HTTPError("http://server/api/x", status, "error", headers, io.BytesIO(body))


def test_a_server_refusal_carries_its_code_and_chinese_message():
    body = json.dumps(
        {
            "error": {
                "code": "bid.deadline_passed",
                "message": "投标截止时间已过，不再接收投标文件。",
            }
        }
    )
    api = client.Api("http://server", "sbt_x", opener=FakeOpener(http_error(400, body.encode())))
    with pytest.raises(client.ServerRefused) as caught:
        api.json("POST", "/api/lots/1/uploads/", payload={"size": 10})
    assert (caught.value.code, caught.value.status, caught.value.exit_code) == (
        "bid.deadline_passed",
        400,
        1,
    )
    assert caught.value.message == "投标截止时间已过，不再接收投标文件。"
    request = api.opener.requests[0]
    assert request.get_header("Authorization") == "Bearer sbt_x"
    assert request.get_header("Content-type") == "application/json"


def test_the_main_entry_prints_the_servers_message_and_code_and_exits_1(monkeypatch):
    body = json.dumps(
        {"error": {"code": "auth.token_invalid", "message": "API 令牌无效或已被撤销。"}}
    )
    monkeypatch.setattr(client, "build_opener", lambda: FakeOpener(http_error(401, body.encode())))
    monkeypatch.setenv("SUNBID_TOKEN", "sbt_revoked")
    code, _out, err = run(["status", "--lot", "1", "--server", "http://127.0.0.1:1"])
    assert code == client.EXIT_REFUSED
    assert "[auth.token_invalid]（HTTP 401）：API 令牌无效或已被撤销。" in err


def test_an_unreachable_server_exits_3(monkeypatch):
    refused = urllib.error.URLError(ConnectionRefusedError(111, "refused"))
    monkeypatch.setattr(client, "build_opener", lambda: FakeOpener(refused))
    monkeypatch.setenv("SUNBID_TOKEN", "sbt_x")
    code, _out, err = run(["status", "--lot", "1", "--server", "http://127.0.0.1:1"])
    assert code == client.EXIT_NETWORK
    assert "无法连接服务器" in err


def test_a_redirect_to_the_login_page_reads_as_missing_authentication():
    api = client.Api("http://server", None, opener=FakeOpener(http_error(302, b"", "text/html")))
    with pytest.raises(client.ServerRefused) as caught:
        api.json("GET", "/api/lots/1/")
    assert caught.value.code == "client.not_authenticated"


def test_an_html_error_page_is_reported_by_status_without_its_markup():
    api = client.Api(
        "http://server",
        "t",
        opener=FakeOpener(http_error(502, b"<html>Bad Gateway</html>", "text/html")),
    )
    with pytest.raises(client.ServerRefused) as caught:
        api.json("GET", "/api/lots/1/")
    assert caught.value.retryable
    assert "<html>" not in caught.value.message
    assert "HTTP 502" in caught.value.message


def test_the_default_opener_does_not_follow_redirects():
    handlers = [type(handler) for handler in client.Api("http://server").opener.handlers]
    assert client._NoRedirect in handlers


# --- progress ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_shows_speed_and_time_left_from_the_recent_window():
    clock, stream = Clock(), io.StringIO()
    mib = 1048576
    progress = client.Progress(100 * mib, done=20 * mib, stream=stream, clock=clock, log_every=0)
    for second in range(1, 5):
        clock.now += 1
        progress.update((20 + 10 * second) * mib)
    assert progress.speed() == pytest.approx(10 * mib)
    assert progress.eta() == pytest.approx(4.0)
    assert "60.0%" in stream.getvalue().splitlines()[-1]
    assert "10.0 MiB/s" in stream.getvalue().splitlines()[-1]
    assert "0:00:04" in stream.getvalue().splitlines()[-1]
    assert progress.average() == pytest.approx(10 * mib)


def test_progress_into_a_log_file_writes_a_line_at_intervals_not_per_update():
    clock, stream = Clock(), io.StringIO()
    progress = client.Progress(1000, stream=stream, clock=clock, log_every=5)
    for done in range(100, 1001, 100):
        clock.now += 1
        progress.update(done)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3  # the first, one five seconds later, and the last
    assert lines[-1].startswith("100.0%")


# --- the client runs without Django settings ---------------------------------------------


def test_the_client_imports_and_runs_without_django_settings(tmp_path, receipt, platform_key):
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    receipt_file = write(tmp_path / "receipt.json", receipt)
    key_file = write_pem(tmp_path / "platform.pem", platform_key)
    script = (
        "import sys\n"
        "from bidding import client\n"
        "code = client.main(sys.argv[1:])\n"
        "from django.conf import settings\n"
        "assert not settings.configured, 'settings were configured'\n"
        "assert 'config.settings' not in sys.modules\n"
        "assert not any(name.startswith('django.db.models') for name in sys.modules), 'the ORM was imported'\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "receipt",
            "--verify",
            str(receipt_file),
            "--public-key",
            str(key_file),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "RECEIPT VALID" in result.stdout


def test_python_m_bidding_client_prints_its_help_with_the_exit_codes():
    result = subprocess.run(
        [sys.executable, "-m", "bidding.client", "--help"],
        cwd=ROOT,
        env={key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for command in ("keygen", "seal", "upload", "status", "withdraw", "receipt"):
        assert command in result.stdout
    assert "3 网络错误" in result.stdout
