"""``audit.note``: C2SP signed notes and checkpoints with Ed25519, and their refusals.

No database. Published vectors:

* golang.org/x/mod/sumdb/note, note_test.go and the package documentation
  (https://github.com/golang/mod/blob/master/sumdb/note/note_test.go): the
  PeterNeumann and EnochRoot keys, the signed note they produce, the
  malformed notes and mangled keys that must be refused;
* a real signed tree head of the Go checksum database, as quoted in
  transparency-dev/formats log/note_test.go (TestSumDBNoteParsing), with the
  sum.golang.org verifier key that the go command ships
  (src/cmd/go/internal/modfetch/key.go).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.note import (
    MAX_SIGNATURES,
    Checkpoint,
    NoteError,
    Verifier,
    key_id,
    open_checkpoint,
    open_note,
    parse_verifier_key,
    sign_note,
    verifier_key,
)

EM = "\u2014"

# golang.org/x/mod/sumdb/note
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = f"{EM} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = f"{EM} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

# transparency-dev/formats log/note_test.go; the key from the go command.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n"
    "6476701\n"
    "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
    "\n"
    f"{EM} sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
)

ROOT = hashlib.sha256(b"some tree").digest()
ROOT64 = base64.b64encode(ROOT).decode()
URLSAFE_ROOT64 = base64.urlsafe_b64encode(b"\xfb" * 32).decode()
ORIGIN = "sunbid.example/audit"


def peter_private_key() -> Ed25519PrivateKey:
    # "PRIVATE+KEY+<name>+<key ID>+base64(0x01 || 32-byte seed)"
    encoded = PETER_SKEY.split("+", 4)[4]
    raw = base64.b64decode(encoded)
    assert raw[0] == 1 and len(raw) == 33
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.fixture(scope="module")
def platform_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"platform test key").digest())


@pytest.fixture(scope="module")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"someone else").digest())


# --- keys ------------------------------------------------------------------------------------


def test_the_key_id_is_the_first_four_bytes_of_sha256_of_name_newline_type_and_key(platform_key):
    public = raw_public(platform_key)
    by_hand = hashlib.sha256(ORIGIN.encode("utf-8") + b"\x0a" + b"\x01" + public).digest()[:4]
    assert key_id(ORIGIN, platform_key.public_key()) == by_hand
    assert key_id(ORIGIN, public) == by_hand
    encoded = base64.b64encode(b"\x01" + public).decode()
    assert verifier_key(ORIGIN, platform_key.public_key()) == f"{ORIGIN}+{by_hand.hex()}+{encoded}"


def test_the_published_private_key_gives_the_published_verifier_key():
    key = peter_private_key()
    assert verifier_key("PeterNeumann", key.public_key()) == PETER_VKEY
    assert key_id("PeterNeumann", key.public_key()).hex() == "c74f20a3"


def test_published_verifier_keys_parse_to_their_name_id_and_key():
    peter = parse_verifier_key(PETER_VKEY)
    assert peter.name == "PeterNeumann"
    assert peter.key_id == bytes.fromhex("c74f20a3")
    assert peter.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw_public(
        peter_private_key()
    )
    name, ident, public = parse_verifier_key(ENOCH_VKEY)
    assert (name, ident.hex()) == ("EnochRoot", "af0cfe78")
    assert isinstance(public, Ed25519PublicKey)
    assert parse_verifier_key(SUMDB_VKEY).key_id.hex() == "033de0ae"


def test_every_mangling_of_a_verifier_key_is_refused():
    # As TestNewVerifier: every proper substring, every byte raised by one.
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    parse_verifier_key(PETER_VKEY[i:j])
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            parse_verifier_key(mangled)


@pytest.mark.parametrize(
    ("vkey", "reason"),
    [
        # From TestNewVerifier: wrong key length and unknown algorithm, each with a matching key ID.
        # (its padding bits are not zero, so it fails earlier here than in Go)
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "not canonical base64",
        ),
        (
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "signature type 0x65",
        ),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "invalid key name"),
        ("PeterNeumann+c74f20a3", "form"),
        ("PeterNeumann+c74f20a3+", "no key"),
        (
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
            "not valid base64",
        ),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW", "not valid base64"),
    ],
)
def test_malformed_verifier_keys_are_refused_with_their_reason(vkey, reason):
    with pytest.raises(NoteError, match=reason):
        parse_verifier_key(vkey)


def test_a_verifier_key_of_the_wrong_length_is_refused_even_with_a_matching_key_id():
    short = b"\x01" + raw_public(peter_private_key())[:31]
    ident = hashlib.sha256(b"PeterNeumann\n" + short).digest()[:4].hex()
    with pytest.raises(NoteError, match="has 31 bytes, not 32"):
        parse_verifier_key(f"PeterNeumann+{ident}+{base64.b64encode(short).decode()}")


def test_verifier_keys_round_trip(platform_key):
    vkey = verifier_key(ORIGIN, platform_key.public_key())
    name, ident, public = parse_verifier_key(vkey)
    assert name == ORIGIN
    assert ident == key_id(ORIGIN, platform_key.public_key())
    assert public.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw_public(platform_key)


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "tab\there", "nbsp\u00a0here", "new\nline", "ideographic\u3000space"]
)
def test_key_names_with_spaces_or_plus_are_refused(platform_key, name):
    with pytest.raises(NoteError, match="invalid key name"):
        verifier_key(name, platform_key.public_key())
    with pytest.raises(NoteError, match="invalid key name"):
        sign_note("text\n", name, platform_key)


# --- signing and opening notes ---------------------------------------------------------------


def test_signing_with_the_published_key_gives_the_published_note():
    assert sign_note(GO_TEXT, "PeterNeumann", peter_private_key()) == GO_TEXT + "\n" + PETER_SIG


def test_a_note_signed_by_two_keys_opens_with_the_names_that_verified():
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [PETER_VKEY]) == (GO_TEXT, ["PeterNeumann"])
    assert open_note(note, [PETER_VKEY, ENOCH_VKEY]) == (GO_TEXT, ["PeterNeumann", "EnochRoot"])
    assert open_note(note, [parse_verifier_key(ENOCH_VKEY)]) == (GO_TEXT, ["EnochRoot"])
    assert open_note(note.encode(), [PETER_VKEY]) == (GO_TEXT, ["PeterNeumann"])


def test_a_note_with_no_known_signer_is_refused():
    with pytest.raises(NoteError, match="no valid signature from a known key"):
        open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    with pytest.raises(NoteError, match="no valid signature from a known key"):
        open_note(GO_TEXT + "\n" + ENOCH_SIG, [PETER_VKEY])


def test_repeated_signatures_are_all_checked_and_named_once():
    # TestOpen's "duplicated verified and unverified signatures".
    bad_enoch = ENOCH_SIG[:48] + "ABCD" + ENOCH_SIG[48:]
    note = GO_TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + bad_enoch
    assert open_note(note, [PETER_VKEY]) == (GO_TEXT, ["PeterNeumann"])
    with pytest.raises(NoteError, match="invalid signature for key EnochRoot\\+af0cfe78"):
        open_note(note, [PETER_VKEY, ENOCH_VKEY])


def test_a_bad_signature_from_a_known_key_refuses_the_whole_note():
    # TestOpen's "invalid signature": four base64 characters slipped into the signature.
    bad_peter = PETER_SIG[:58] + "ABCD" + PETER_SIG[58:]
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(GO_TEXT + "\n" + bad_peter, [PETER_VKEY])
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann"):
        open_note(GO_TEXT + "\n" + ENOCH_SIG + bad_peter, [PETER_VKEY, ENOCH_VKEY])


def test_a_changed_text_fails_its_signature():
    changed = GO_TEXT.replace("problem,", "problem;")
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann"):
        open_note(changed + "\n" + PETER_SIG, [PETER_VKEY])


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        # TestOpen's malformed messages
        (GO_TEXT, "no blank line"),
        (GO_TEXT + "\n", "no signature after its blank line"),
        (GO_TEXT + "\n" + PETER_SIG[:-1], "does not end with a newline"),
        ("\x01" + GO_TEXT + "\n" + PETER_SIG, "control character U\\+0001 at position 0"),
        (
            GO_TEXT
            + "\n"
            + f"{EM} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
            "does not end with a newline",
        ),
        (
            GO_TEXT
            + "\n"
            + f"{EM} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
            "more than two fields",
        ),
        (
            GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
            "signature line 2 does not start with an em dash",
        ),
        # and more
        (
            GO_TEXT + "\n" + PETER_SIG.replace(EM, "-"),
            "signature line 1 does not start with an em dash",
        ),
        (GO_TEXT + "\n" + PETER_SIG.replace(f"{EM} ", f"{EM}  "), "invalid key name ''"),
        (GO_TEXT + "\n" + f"{EM} PeterNeumann\n", "no space between key name and signature"),
        (GO_TEXT + "\n" + f"{EM} Peter+Neumann AAAAAAA=\n", "invalid key name 'Peter\\+Neumann'"),
        (GO_TEXT + "\n" + f"{EM} PeterNeumann AAAAAA==\n", "fewer than a key ID and a signature"),
        (GO_TEXT + "\n" + PETER_SIG.replace("AM=\n", "AN=\n"), "not canonical base64"),
        (GO_TEXT + "\n" + PETER_SIG.replace("=\n", "\n"), "not valid base64"),
        (GO_TEXT + "\n" + PETER_SIG.replace("\n", "\r\n"), "control character U\\+000D"),
        (GO_TEXT.replace(",", "\t") + "\n" + PETER_SIG, "control character U\\+0009"),
        (GO_TEXT + "\n" + PETER_SIG + "\n" + PETER_SIG + "\n", "no signature after its blank line"),
        (GO_TEXT + "\ud800" + "\n" + PETER_SIG, "lone surrogate"),
    ],
)
def test_malformed_notes_are_refused_with_their_reason(note, reason):
    with pytest.raises(NoteError, match=reason):
        open_note(note, [PETER_VKEY])


def test_a_note_in_invalid_utf8_is_refused():
    with pytest.raises(NoteError, match="not valid UTF-8"):
        open_note(b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(), [PETER_VKEY])


def test_a_note_with_too_many_signatures_is_refused_even_if_they_are_valid():
    assert open_note(GO_TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, [PETER_VKEY])[1] == [
        "PeterNeumann"
    ]
    with pytest.raises(NoteError, match="101 signatures, more than the 100"):
        open_note(GO_TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1), [PETER_VKEY])


def test_signatures_from_unknown_keys_are_ignored_even_when_they_share_a_name_or_a_key_id(
    platform_key, other_key
):
    body = Checkpoint(ORIGIN, 3, ROOT).body()
    signed = sign_note(body, ORIGIN, platform_key)
    platform_id = key_id(ORIGIN, platform_key.public_key())
    # Another key under the platform's name: different key ID, an unknown key.
    same_name = sign_note(body, ORIGIN, other_key).split("\n\n", 1)[1]
    # The platform's key ID under another name: an unknown key too, even with garbage after it.
    same_id = f"{EM} someone.else {base64.b64encode(platform_id + b'x' * 64).decode()}\n"
    note = signed + same_name + same_id
    assert open_note(note, [verifier_key(ORIGIN, platform_key.public_key())]) == (body, [ORIGIN])
    other = verifier_key(ORIGIN, other_key.public_key())
    assert open_note(body + "\n" + same_name, [other]) == (body, [ORIGIN])


def test_a_signature_by_another_key_is_not_accepted_for_the_platform(platform_key, other_key):
    platform = verifier_key(ORIGIN, platform_key.public_key())
    body = Checkpoint(ORIGIN, 3, ROOT).body()
    impostor = sign_note(body, ORIGIN, other_key)
    with pytest.raises(NoteError, match="no valid signature from a known key"):
        open_note(impostor, [platform])
    # The impostor copies the platform's key ID in front of its own signature.
    forged_sig = other_key.sign(body.encode())
    platform_id = key_id(ORIGIN, platform_key.public_key())
    forged = f"{body}\n{EM} {ORIGIN} {base64.b64encode(platform_id + forged_sig).decode()}\n"
    with pytest.raises(
        NoteError, match=f"invalid signature for key {ORIGIN}\\+{platform_id.hex()}"
    ):
        open_note(forged, [platform])


def test_a_signature_line_hand_built_with_hashlib_and_ed25519_opens(platform_key):
    body = "sunbid\n1\n" + base64.b64encode(ROOT).decode() + "\n"
    ident = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw_public(platform_key)).digest()[:4]
    line = (
        f"{EM} {ORIGIN} "
        + base64.b64encode(ident + platform_key.sign(body.encode())).decode()
        + "\n"
    )
    assert sign_note(body, ORIGIN, platform_key) == body + "\n" + line
    assert open_note(body + "\n" + line, [verifier_key(ORIGIN, raw_public(platform_key))]) == (
        body,
        [ORIGIN],
    )


def test_two_different_known_keys_with_the_same_name_and_key_id_are_ambiguous():
    # Birthday-search two 32-byte keys whose IDs collide under one name (about 2**16 tries).
    seen: dict[bytes, bytes] = {}
    rng = random.Random(9162)
    while True:
        raw = rng.randbytes(32)
        ident = key_id("collide", raw)
        if ident in seen and seen[ident] != raw:
            first, second = seen[ident], raw
            break
        seen[ident] = raw
    keys = [
        Verifier("collide", ident, Ed25519PublicKey.from_public_bytes(k)) for k in (first, second)
    ]
    note = "text\n\n" + f"{EM} collide " + base64.b64encode(ident + b"s" * 64).decode() + "\n"
    with pytest.raises(NoteError, match=f"ambiguous key collide\\+{ident.hex()}"):
        open_note(note, keys)
    # The same key given twice is not ambiguous: it is one key.
    with pytest.raises(NoteError, match="invalid signature for key collide"):
        open_note(note, [keys[0], keys[0]])


def test_a_known_key_listed_with_the_wrong_key_id_is_refused(platform_key):
    wrong = Verifier(ORIGIN, b"\x00\x00\x00\x00", platform_key.public_key())
    with pytest.raises(NoteError, match="wrong key ID"):
        open_note(sign_note("x\n", ORIGIN, platform_key), [wrong])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "non-empty"),
        ("no final newline", "does not end with a newline"),
        ("bell\x07\n", "control character U\\+0007"),
        ("lone \udc80 surrogate\n", "lone surrogate"),
    ],
)
def test_signing_refuses_a_text_that_cannot_be_a_note(platform_key, body, reason):
    with pytest.raises(NoteError, match=reason):
        sign_note(body, ORIGIN, platform_key)


def test_signing_refuses_a_key_that_is_not_ed25519():
    with pytest.raises(NoteError, match="Ed25519 private key"):
        sign_note("text\n", ORIGIN, b"\x00" * 32)  # type: ignore[arg-type]


# --- checkpoints -------------------------------------------------------------------------------


def test_the_published_go_checksum_database_checkpoint_opens_and_parses():
    checkpoint, names = open_checkpoint(SUMDB_CHECKPOINT, [SUMDB_VKEY])
    assert names == ["sum.golang.org"]
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.size == 6476701
    assert checkpoint.root == base64.b64decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=")
    assert checkpoint.extensions == ()
    assert checkpoint.body() == SUMDB_CHECKPOINT.split("\n\n")[0] + "\n"
    with pytest.raises(NoteError, match="invalid signature for key sum.golang.org"):
        open_checkpoint(SUMDB_CHECKPOINT.replace("6476701", "6476702"), [SUMDB_VKEY])


def test_a_checkpoint_body_is_origin_size_root_and_extensions_one_per_line():
    checkpoint = Checkpoint(ORIGIN, 1234, ROOT, ("time 2026-11-23T09:00:00Z", "lot 7"))
    assert checkpoint.body() == (f"{ORIGIN}\n1234\n{ROOT64}\ntime 2026-11-23T09:00:00Z\nlot 7\n")
    assert Checkpoint.parse(checkpoint.body()) == checkpoint
    empty = Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest())
    assert empty.body().split("\n")[1:3] == ["0", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]


def test_a_signed_checkpoint_round_trips_with_its_time(platform_key):
    when = dt.datetime(2026, 11, 23, 17, 0, 0, 999_999, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    checkpoint = Checkpoint(ORIGIN, 42, ROOT).with_time(when)
    assert checkpoint.extensions == ("time 2026-11-23T09:00:00Z",)
    assert checkpoint.time == dt.datetime(2026, 11, 23, 9, 0, 0, tzinfo=dt.UTC)
    note = sign_note(checkpoint.body(), ORIGIN, platform_key)
    opened, names = open_checkpoint(note, [verifier_key(ORIGIN, platform_key.public_key())])
    assert (opened, names) == (checkpoint, [ORIGIN])
    assert opened.time == checkpoint.time


def test_with_time_replaces_a_previous_time_and_keeps_other_extensions():
    first = Checkpoint(ORIGIN, 1, ROOT, ("lot 7",)).with_time(
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    assert first.extensions == ("time 2026-01-01T00:00:00Z", "lot 7")
    second = first.with_time(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert second.extensions == ("time 2026-01-02T03:04:05Z", "lot 7")
    assert Checkpoint(ORIGIN, 1, ROOT).time is None


def test_a_naive_time_is_refused():
    with pytest.raises(NoteError, match="timezone-aware"):
        Checkpoint(ORIGIN, 1, ROOT).with_time(dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (f"{ORIGIN}\n1\n{ROOT64}", "does not end with a newline"),
        (f"{ORIGIN}\n1\n", "fewer than three lines"),
        (f"\n1\n{ROOT64}\n", "line 1 is empty"),
        (f"{ORIGIN}\n1\n{ROOT64}\n\nextension\n", "line 4 is empty"),
        (f"{ORIGIN}\n01\n{ROOT64}\n", "'01' is not a decimal number"),
        (f"{ORIGIN}\n+1\n{ROOT64}\n", "'\\+1' is not a decimal number"),
        (f"{ORIGIN}\n-1\n{ROOT64}\n", "'-1' is not a decimal number"),
        (f"{ORIGIN}\n 1\n{ROOT64}\n", "' 1' is not a decimal number"),
        (f"{ORIGIN}\n1_000\n{ROOT64}\n", "'1_000' is not a decimal number"),
        (f"{ORIGIN}\n\u0661\n{ROOT64}\n", "is not a decimal number"),  # Arabic-Indic 1
        (f"{ORIGIN}\n{2**64}\n{ROOT64}\n", "larger than 2\\^64 - 1"),
        (f"{ORIGIN}\n1\n{ROOT.hex()}\n", "48 bytes, not 32"),  # hex digits are base64 digits too
        (f"{ORIGIN}\n1\n{ROOT64.rstrip('=')}\n", "not valid base64"),
        (f"{ORIGIN}\n1\n{URLSAFE_ROOT64}\n", "not valid base64"),
        (f"{ORIGIN}\n1\n{base64.b64encode(ROOT[:31]).decode()}\n", "31 bytes, not 32"),
        (f"{ORIGIN}\n1\n{ROOT64[:-2]}9=\n", "not canonical base64"),
        (f"{ORIGIN}\n1\n{ROOT64}\ntime 2026-11-23 09:00:00\n", "not of the form"),
        (f"{ORIGIN}\n1\n{ROOT64}\ntime 2026-11-23T09:00:00.5Z\n", "not of the form"),
        (f"{ORIGIN}\n1\n{ROOT64}\ntime 2026-02-30T09:00:00Z\n", "not a real date"),
        (
            f"{ORIGIN}\n1\n{ROOT64}\ntime 2026-11-23T09:00:00Z\ntime 2026-11-23T09:00:01Z\n",
            "more than one time line",
        ),
        (f"{ORIGIN}\r\n1\n{ROOT64}\n", "control character U\\+000D"),
    ],
)
def test_malformed_checkpoints_are_refused_with_their_reason(body, reason):
    with pytest.raises(NoteError, match=reason):
        Checkpoint.parse(body)


def test_a_checkpoint_whose_origin_has_spaces_is_accepted_as_the_spec_allows():
    # The origin only SHOULD avoid spaces; the Go checksum database's has them.
    checkpoint = Checkpoint.parse(
        "go.sum database tree\n5\n" + base64.b64encode(ROOT).decode() + "\n"
    )
    assert checkpoint.origin == "go.sum database tree"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"origin": ""}, "origin must be a non-empty string"),
        ({"origin": "two\nlines"}, "origin holds a newline"),
        ({"size": -1}, "integer from 0 to 2\\^64 - 1"),
        ({"size": 2**64}, "integer from 0 to 2\\^64 - 1"),
        ({"size": True}, "integer"),
        ({"size": 1.0}, "integer"),
        ({"root": ROOT.hex()}, "32 bytes"),
        ({"root": ROOT[:16]}, "32 bytes"),
        ({"extensions": ("",)}, "extension line 1 is empty"),
        ({"extensions": ("a", "b\nc")}, "extension line 2 holds a newline"),
        ({"extensions": "time 2026-11-23T09:00:00Z"}, "sequence of lines"),
        ({"extensions": ("time yesterday",)}, "not of the form"),
    ],
)
def test_a_checkpoint_that_cannot_be_written_is_refused_at_construction(kwargs, reason):
    fields = {"origin": ORIGIN, "size": 1, "root": ROOT, **kwargs}
    with pytest.raises(NoteError, match=reason):
        Checkpoint(**fields)


def test_note_errors_are_value_errors_for_callers_that_catch_those():
    with pytest.raises(ValueError):
        Checkpoint.parse("nonsense")
