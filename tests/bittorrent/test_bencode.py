"""Bencoding: every value type, the canonical form, and refusal of anything else."""

import pytest

from bittorrent.bencode import MAX_DEPTH, BencodeError, decode, encode

TORRENT_LIKE = (
    b"d8:announce30:http://127.0.0.1:6969/announce4:infod6:lengthi1048576e4:name8:file.bin"
    b"12:piece lengthi262144e6:pieces0:ee"
)


def test_it_encodes_every_type():
    assert encode(0) == b"i0e"
    assert encode(-42) == b"i-42e"
    assert encode(b"spam") == b"4:spam"
    assert encode("é") == b"2:\xc3\xa9"
    assert encode([1, b"a", []]) == b"li1e1:alee"
    assert encode((1,)) == b"li1ee"
    assert encode({}) == b"de"


def test_it_sorts_dictionary_keys_as_bytes():
    assert encode({"b": 1, b"a": 2, "B": 3}) == b"d1:Bi3e1:ai2e1:bi1ee"


def test_it_refuses_values_bencoding_has_no_form_for():
    with pytest.raises(TypeError):
        encode(True)
    with pytest.raises(TypeError):
        encode(1.5)
    with pytest.raises(ValueError):
        encode({"a": 1, b"a": 2})


def test_it_decodes_a_whole_message_back_to_what_was_encoded():
    value = decode(TORRENT_LIKE)
    assert value[b"info"][b"piece length"] == 262144
    assert encode(value) == TORRENT_LIKE


@pytest.mark.parametrize("cut", range(len(TORRENT_LIKE)))
def test_it_refuses_every_truncation(cut):
    with pytest.raises(BencodeError):
        decode(TORRENT_LIKE[:cut])


@pytest.mark.parametrize(
    "data",
    [
        b"i01e",
        b"i-0e",
        b"i-e",
        b"ie",
        b"i1.5e",
        b"i 1e",
        b"03:abc",
        b"-1:a",
        b"d1:bi1e1:ai2ee",
        b"d1:ai1e1:ai2ee",
        b"di1ei2ee",
        b"i1ei2e",
        b"x",
        b"5:abc",
        b"99999999999999999999999:a",
        b"l" * (MAX_DEPTH + 2) + b"e" * (MAX_DEPTH + 2),
        b"i" + b"9" * 5000 + b"e",
    ],
)
def test_it_refuses_non_canonical_or_hostile_input(data):
    with pytest.raises(BencodeError):
        decode(data)


def test_its_errors_are_value_errors():
    assert issubclass(BencodeError, ValueError)
