"""HTTP/1.1 request framing, fed whole, byte by byte, pipelined, truncated and oversized."""

import pytest

from tracker.http1 import MAX_HEAD_BYTES, HttpError, RequestHead, RequestReader, parse_head, response

REQUEST = b"GET /announce?info_hash=%01%02&port=1 HTTP/1.1\r\nHost: tracker\r\nUser-Agent: lt\r\n\r\n"
EXPECTED = RequestHead(b"GET", b"/announce", b"info_hash=%01%02&port=1", keep_alive=True)


def read_all(reader: RequestReader) -> list[RequestHead]:
    heads = []
    while (head := reader.next_request()) is not None:
        heads.append(head)
    return heads


def test_it_reads_a_whole_request():
    reader = RequestReader()
    reader.feed(REQUEST)
    assert read_all(reader) == [EXPECTED]


def test_it_reads_a_request_fed_byte_by_byte():
    reader = RequestReader()
    heads = []
    for byte in REQUEST:
        reader.feed(bytes([byte]))
        heads += read_all(reader)
    assert heads == [EXPECTED]


def test_it_reads_pipelined_requests_in_order():
    reader = RequestReader()
    reader.feed(REQUEST + REQUEST.replace(b"/announce", b"/scrape") + REQUEST[:10])
    assert [head.path for head in read_all(reader)] == [b"/announce", b"/scrape"]
    reader.feed(REQUEST[10:])
    assert read_all(reader) == [EXPECTED]


@pytest.mark.parametrize("cut", range(len(REQUEST)))
def test_it_waits_for_the_rest_of_a_truncated_request(cut):
    reader = RequestReader()
    reader.feed(REQUEST[:cut])
    assert reader.next_request() is None


@pytest.mark.parametrize(
    ("headers", "keep_alive"),
    [
        (b"HTTP/1.1\r\nConnection: close", False),
        (b"HTTP/1.1\r\nconnection: Close", False),
        (b"HTTP/1.0", False),
        (b"HTTP/1.0\r\nConnection: Keep-Alive", True),
        (b"HTTP/1.1\r\nContent-Length: 0", True),
    ],
)
def test_it_follows_the_connection_header(headers, keep_alive):
    assert parse_head(b"GET /scrape " + headers).keep_alive is keep_alive


def test_it_drops_a_fragment():
    assert parse_head(b"GET /announce?a=1#frag HTTP/1.1").query == b"a=1"


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /announce", 400),
        (b"GET  /announce HTTP/1.1", 400),
        (b"GET http://x/announce HTTP/1.1", 400),
        (b"GET /announce HTTP/2.0", 505),
        (b"GET /announce SPDY", 400),
        (b"GET /announce HTTP/1.1\r\nNoColon", 400),
        (b"GET /announce HTTP/1.1\r\nHost : x", 400),
        (b"GET /announce HTTP/1.1\r\nContent-Length: 5", 400),
        (b"GET /announce HTTP/1.1\r\nTransfer-Encoding: chunked", 400),
        (b"\x00\xff", 400),
    ],
)
def test_it_refuses_malformed_requests(head, status):
    with pytest.raises(HttpError) as refused:
        parse_head(head)
    assert refused.value.status == status


def test_it_caps_the_buffer_of_an_endless_head():
    reader = RequestReader()
    reader.feed(b"GET /announce?" + b"a" * MAX_HEAD_BYTES)
    with pytest.raises(HttpError) as refused:
        reader.next_request()
    assert refused.value.status == 431


def test_it_caps_a_complete_but_oversized_head():
    reader = RequestReader()
    reader.feed(b"GET /announce?" + b"a" * MAX_HEAD_BYTES + b" HTTP/1.1\r\n\r\n")
    with pytest.raises(HttpError):
        reader.next_request()


def test_it_frames_responses():
    assert response(200, b"de", keep_alive=True) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nde"
    )
    assert response(404, b"", keep_alive=False).endswith(b"Connection: close\r\n\r\n")
