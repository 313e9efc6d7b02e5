"""FrameDecoder: complete payloads out, any split of the input, bad lengths refused."""

import pytest
from hypothesis import given, strategies as st

from coord.protocol.errors import LocalProtocolError, RemoteProtocolError
from coord.protocol.framing import FrameDecoder, encode_frame


def test_encode_frame_prefixes_the_signed_length():
    assert encode_frame(b"abc") == b"\0\0\0\x03abc"
    assert encode_frame(b"") == b"\0\0\0\0"
    assert encode_frame(bytearray(b"x")) == b"\0\0\0\x01x"


def test_whole_frames_partial_frames_and_empty_feeds():
    decoder = FrameDecoder()
    stream = encode_frame(b"one") + encode_frame(b"") + encode_frame(b"three")
    assert decoder.feed(stream[:5]) == []
    assert decoder.feed(b"") == []
    assert decoder.feed(stream[5:12]) == [b"one", b""]
    assert decoder.buffered_bytes == 1
    assert decoder.feed(stream[12:]) == [b"three"]
    assert decoder.buffered_bytes == 0


@given(
    payloads=st.lists(st.binary(max_size=50), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=10),
)
def test_any_split_yields_the_same_frames(payloads, cuts):
    stream = b"".join(encode_frame(p) for p in payloads)
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    decoder = FrameDecoder()
    out = []
    for start, stop in zip(points, points[1:]):
        out.extend(decoder.feed(memoryview(stream)[start:stop]))
    assert out == payloads
    assert decoder.buffered_bytes == 0


def test_many_one_byte_feeds():
    payloads = [bytes([i % 256]) * (i % 7) for i in range(3000)]
    stream = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()
    out = []
    for index in range(len(stream)):
        out.extend(decoder.feed(stream[index : index + 1]))
    assert out == payloads


def test_frame_of_exactly_the_limit_is_accepted_one_more_is_not():
    decoder = FrameDecoder(max_frame_bytes=10)
    assert decoder.feed(encode_frame(b"x" * 10)) == [b"x" * 10]
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"\0\0\0\x0b")


def test_oversize_length_is_refused_before_its_payload_arrives():
    decoder = FrameDecoder()
    with pytest.raises(RemoteProtocolError):
        decoder.feed((1048576).to_bytes(4, "big"))


def test_negative_length_is_refused_and_the_decoder_stays_failed():
    decoder = FrameDecoder()
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"\xff\xff\xff\xff")
    with pytest.raises(LocalProtocolError):
        decoder.feed(encode_frame(b"ok"))


def test_refusal_after_good_frames_in_the_same_chunk_still_raises():
    decoder = FrameDecoder()
    with pytest.raises(RemoteProtocolError):
        decoder.feed(encode_frame(b"fine") + b"\x80\0\0\0")


def test_negative_limit_is_a_local_error():
    with pytest.raises(LocalProtocolError):
        FrameDecoder(max_frame_bytes=-1)
