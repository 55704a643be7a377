"""`imap_server.accounts`: password hashes and SCRAM keys as text, for stores that keep them
in a database."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imap_server.accounts import PasswordHash, decode_scram, encode_scram, scram_keys

FAST_N = 2**4  # the cost does not matter to the encoding


@settings(max_examples=30, deadline=None)
@given(password=st.text(max_size=40))
def test_hash_survives_encoding(password: str) -> None:
    record = PasswordHash.create(password, n=FAST_N)
    again = PasswordHash.decode(record.encode())
    assert again.verify(password)
    assert not again.verify(password + "x")
    assert repr(again) == "<password hash>"


def test_encoding_keeps_no_password_and_differs_per_salt() -> None:
    one = PasswordHash.create("hunter2", n=FAST_N).encode()
    two = PasswordHash.create("hunter2", n=FAST_N).encode()
    assert one != two
    assert "hunter2" not in one
    assert one.startswith("scrypt$16$8$1$")


def test_decoy_matches_nothing() -> None:
    assert not PasswordHash.decoy(n=FAST_N).verify("")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "scrypt$16$8$1$AAAA",
        "bcrypt$16$8$1$AAAA$AAAA",
        "scrypt$x$8$1$AAAA$AAAA",
        "scrypt$16$8$1$!!$AA",
    ],
)
def test_bad_encodings_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        PasswordHash.decode(text)


@settings(max_examples=10, deadline=None)
@given(password=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1))
def test_scram_keys_survive_encoding(password: str) -> None:
    keys = scram_keys(password, iterations=16)
    assert set(keys) == {"sha1", "sha256"}
    for credentials in keys.values():
        assert decode_scram(encode_scram(credentials)) == credentials


def test_scram_keys_empty_for_a_password_saslprep_refuses() -> None:
    assert scram_keys("a\u0007b", iterations=16) == {}


@pytest.mark.parametrize("text", ["", "16$AA$AA", "x$AA$AA$AA", "16$!$AA$AA"])
def test_bad_scram_encodings_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode_scram(text)
