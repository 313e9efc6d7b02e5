"""Jute primitives: exact bytes, null vs empty, and every way a peer can lie about lengths."""

import pytest

from coord.protocol.errors import RemoteProtocolError
from coord.protocol.jute import (
    Reader,
    write_bool,
    write_buffer,
    write_int,
    write_long,
    write_ustring,
    write_vector,
)


def written(write, value) -> bytes:
    out = bytearray()
    write(out, value)
    return bytes(out)


def test_fixed_width_encodings_are_big_endian_and_signed():
    assert written(write_int, -2) == b"\xff\xff\xff\xfe"
    assert written(write_int, 2**31 - 1) == b"\x7f\xff\xff\xff"
    assert written(write_long, -(2**63)) == b"\x80" + b"\0" * 7
    assert written(write_bool, True) == b"\x01"
    assert written(write_bool, False) == b"\x00"
    reader = Reader(b"\xff\xff\xff\xfe" + b"\x80" + b"\0" * 7 + b"\x01")
    assert (reader.read_int(), reader.read_long(), reader.read_bool()) == (-2, -(2**63), True)
    assert reader.remaining() == 0


def test_any_non_zero_byte_reads_as_true():
    assert Reader(b"\x02").read_bool() is True
    assert Reader(b"\x00").read_bool() is False


def test_buffer_and_string_null_vs_empty():
    assert written(write_buffer, None) == b"\xff\xff\xff\xff"
    assert written(write_buffer, b"") == b"\0\0\0\0"
    assert written(write_ustring, None) == b"\xff\xff\xff\xff"
    assert written(write_ustring, "") == b"\0\0\0\0"
    assert written(write_ustring, "é") == b"\0\0\0\x02\xc3\xa9"
    assert Reader(b"\xff\xff\xff\xff").read_buffer() is None
    assert Reader(b"\0\0\0\0").read_buffer() == b""
    assert Reader(b"\xff\xff\xff\xff").read_ustring() is None
    assert Reader(b"\0\0\0\0").read_ustring() == ""
    assert Reader(b"\0\0\0\x02\xc3\xa9").read_ustring() == "é"


def test_buffer_read_from_memoryview_returns_bytes():
    value = Reader(memoryview(b"\0\0\0\x03abc")).read_buffer()
    assert type(value) is bytes and value == b"abc"


def test_vectors():
    out = bytearray()
    write_vector(out, ["a", None], write_ustring)
    assert bytes(out) == b"\0\0\0\x02" + b"\0\0\0\x01a" + b"\xff\xff\xff\xff"
    assert Reader(bytes(out)).read_vector(Reader.read_ustring) == ["a", None]
    assert written(lambda o, v: write_vector(o, v, write_ustring), None) == b"\xff\xff\xff\xff"
    assert Reader(b"\xff\xff\xff\xff").read_vector(Reader.read_ustring) is None
    assert Reader(b"\0\0\0\0").read_vector(Reader.read_ustring) == []
    # Any iterable is accepted for writing.
    assert written(lambda o, v: write_vector(o, v, write_int), iter([1])) == b"\0\0\0\x01\0\0\0\x01"


@pytest.mark.parametrize(
    "data, read",
    [
        (b"\0\0\0", Reader.read_int),
        (b"\0" * 7, Reader.read_long),
        (b"", Reader.read_bool),
        (b"\0\0\0\x05abcd", Reader.read_buffer),  # length runs past the end
        (b"\0\0\0\x05abcd", Reader.read_ustring),
        (b"\xff\xff\xff\xfe", Reader.read_buffer),  # -2: unreasonable
        (b"\x80\0\0\0", Reader.read_ustring),  # INT_MIN
        (b"\0\0\0\x02\xc3", Reader.read_ustring),  # truncated UTF-8 sequence
        (b"\0\0\0\x01\xff", Reader.read_ustring),  # invalid UTF-8
        (b"\0\0\0\x03\xed\xa0\x80", Reader.read_ustring),  # an encoded surrogate
        (b"\xff\xff\xff\xfe", lambda r: r.read_vector(Reader.read_int)),  # count -2
        (b"\x7f\xff\xff\xff", lambda r: r.read_vector(Reader.read_int)),  # count far beyond the data
        (b"\0\0\0\x02\0\0\0\x01", lambda r: r.read_vector(Reader.read_int)),  # second item missing
    ],
)
def test_lies_and_truncations_raise_remote_protocol_error(data, read):
    with pytest.raises(RemoteProtocolError):
        read(Reader(data))


def test_reader_respects_its_end_not_the_underlying_buffer():
    data = b"\0\0\0\x01" + b"\0\0\0\x02"
    reader = Reader(data, 0, 4)
    assert reader.read_int() == 1
    with pytest.raises(RemoteProtocolError):
        reader.read_int()
    # A length that would fit the buffer but not the window is refused too.
    with pytest.raises(RemoteProtocolError):
        Reader(b"\0\0\0\x02ab", 0, 5).read_buffer()


def test_failed_read_reports_a_marshalling_error_code():
    with pytest.raises(RemoteProtocolError) as caught:
        Reader(b"").read_int()
    assert caught.value.code == -5
