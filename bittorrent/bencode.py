"""Bencoding (BEP 3), the serialisation of tracker answers and .torrent files.

``decode`` is strict: it accepts only the one canonical encoding of a value
(no leading zeros, no ``-0``, dictionary keys sorted and unique, nothing after
the value), so that a hash over decoded-and-encoded data is the hash of what
was received.
"""

import re
from collections.abc import Callable

BencodeValue = int | bytes | list["BencodeValue"] | dict[bytes, "BencodeValue"]
Encodable = int | bytes | str | list["Encodable"] | tuple["Encodable", ...] | dict[bytes | str, "Encodable"]

# Deep enough for any BEP 52 file tree a publisher makes; shallow enough that
# hostile input cannot exhaust Python's recursion limit.
MAX_DEPTH = 256

_INTEGER = re.compile(rb"-?(?:0|[1-9][0-9]*)")
_LENGTH = re.compile(rb"0|[1-9][0-9]{0,18}")


class BencodeError(ValueError):
    """The input is not the canonical bencoding of one value."""


def encode(value: Encodable) -> bytes:
    """Bencode ``value``; ``str`` is written as UTF-8, dictionary keys are sorted."""
    chunks: list[bytes] = []
    _encode(value, chunks.append)
    return b"".join(chunks)


def _encode(value: Encodable, put: Callable[[bytes], object]) -> None:
    if isinstance(value, bytes):
        put(b"%d:" % len(value))
        put(value)
    elif isinstance(value, str):
        _encode(value.encode(), put)
    elif isinstance(value, bool):
        raise TypeError("bencoding has no booleans")
    elif isinstance(value, int):
        put(b"i%de" % value)
    elif isinstance(value, list | tuple):
        put(b"l")
        for item in value:
            _encode(item, put)
        put(b"e")
    elif isinstance(value, dict):
        items = sorted((key.encode() if isinstance(key, str) else key, item) for key, item in value.items())
        put(b"d")
        previous = None
        for key, item in items:
            if key == previous:
                raise ValueError(f"duplicate dictionary key {key!r}")
            previous = key
            _encode(key, put)
            _encode(item, put)
        put(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def decode(data: bytes) -> BencodeValue:
    """Decode exactly one bencoded value; strings come back as ``bytes``."""
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise BencodeError(f"trailing data at offset {end}")
    return value


def _decode(data: bytes, start: int, depth: int) -> tuple[BencodeValue, int]:
    if depth > MAX_DEPTH:
        raise BencodeError("nested too deeply")
    if start >= len(data):
        raise BencodeError("truncated input")
    kind = data[start]
    if kind == 0x69:  # i
        end = data.find(b"e", start + 1)
        if end < 0:
            raise BencodeError("truncated integer")
        digits = data[start + 1 : end]
        if not _INTEGER.fullmatch(digits) or digits == b"-0":
            raise BencodeError(f"malformed integer at offset {start}")
        try:
            return int(digits), end + 1
        except ValueError:  # longer than int() agrees to parse
            raise BencodeError(f"integer too long at offset {start}") from None
    if kind == 0x6C:  # l
        items: list[BencodeValue] = []
        position = start + 1
        while position < len(data) and data[position] != 0x65:
            item, position = _decode(data, position, depth + 1)
            items.append(item)
        if position >= len(data):
            raise BencodeError("truncated list")
        return items, position + 1
    if kind == 0x64:  # d
        result: dict[bytes, BencodeValue] = {}
        position = start + 1
        previous: bytes | None = None
        while position < len(data) and data[position] != 0x65:
            key_start = position
            key, position = _decode(data, position, depth + 1)
            if not isinstance(key, bytes):
                raise BencodeError(f"dictionary key is not a string at offset {key_start}")
            if previous is not None and key <= previous:
                raise BencodeError(f"dictionary keys unsorted or repeated at offset {key_start}")
            previous = key
            result[key], position = _decode(data, position, depth + 1)
        if position >= len(data):
            raise BencodeError("truncated dictionary")
        return result, position + 1
    if 0x30 <= kind <= 0x39:
        colon = data.find(b":", start)
        if colon < 0:
            raise BencodeError("truncated string length")
        length = data[start:colon]
        if not _LENGTH.fullmatch(length):
            raise BencodeError(f"malformed string length at offset {start}")
        end = colon + 1 + int(length)
        if end > len(data):
            raise BencodeError("truncated string")
        return data[colon + 1 : end], end
    raise BencodeError(f"unexpected byte {bytes([kind])!r} at offset {start}")
