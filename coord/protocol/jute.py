"""Jute binary primitives: the building blocks every ZooKeeper record is made of.

Theory of operation.  Jute (ZooKeeper's serialization) writes a record as its fields back to
back, big-endian, with no tags (docs/zookeeper-wire-protocol.md §2):

    int      4 bytes signed            long     8 bytes signed
    boolean  1 byte (0 / non-zero)     buffer   int length + bytes, length -1 = null
    ustring  like buffer, UTF-8        vector   int count + items, count -1 = null

Reading goes through a ``Reader``: a cursor (``offset``) over one complete, already framed
payload.  Every read checks the bytes it needs against the end of that payload first, so a
truncated or lying peer can only ever cause ``RemoteProtocolError``, never ``struct.error`` or
``IndexError``, and a length field can never make us allocate more than the payload holds.  Null
(-1) and empty (0) are kept apart: ``None`` vs ``b""`` / ``""`` / ``[]``.  Lengths below -1 and
invalid UTF-8 are errors (the Java server would read a count below -1 as an empty vector and
replace bad UTF-8; we refuse both, since no real client sends them).

Writing is a set of plain functions appending to a caller-owned ``bytearray`` (one growing buffer
per message, no intermediate ``bytes`` objects).  They assume valid Python values and let
``struct.error`` / ``UnicodeEncodeError`` / ``TypeError`` escape; the connection-level encoders
turn those into ``LocalProtocolError``.  All structs are compiled once at import time.
"""

import struct
from typing import Any, Callable, Iterable, TypeVar

from .errors import RemoteProtocolError

__all__ = [
    "Reader",
    "INT_STRUCT",
    "LONG_STRUCT",
    "write_int",
    "write_long",
    "write_bool",
    "write_buffer",
    "write_ustring",
    "write_vector",
    "write_record",
]

INT_STRUCT = struct.Struct(">i")
LONG_STRUCT = struct.Struct(">q")
_NULL_LENGTH = INT_STRUCT.pack(-1)
_TRUE = b"\x01"
_FALSE = b"\x00"

T = TypeVar("T")


class Reader:
    """A bounds-checked cursor over one payload (``bytes``, ``bytearray`` or ``memoryview``).

    ``end`` defaults to the end of ``data``; ``offset`` is public and advances as fields are read.
    """

    __slots__ = ("_data", "offset", "_end")

    def __init__(self, data: bytes | bytearray | memoryview, offset: int = 0, end: int | None = None):
        self._data = data
        self.offset = offset
        self._end = len(data) if end is None else end

    def remaining(self) -> int:
        """Bytes left between the cursor and the end of the payload."""
        return self._end - self.offset

    def _truncated(self, needed_bytes: int) -> RemoteProtocolError:
        return RemoteProtocolError(
            f"truncated record: needed {needed_bytes} bytes at offset {self.offset}, "
            f"only {self._end - self.offset} left"
        )

    def read_int(self) -> int:
        offset = self.offset
        if offset + 4 > self._end:
            raise self._truncated(4)
        self.offset = offset + 4
        return INT_STRUCT.unpack_from(self._data, offset)[0]

    def read_long(self) -> int:
        offset = self.offset
        if offset + 8 > self._end:
            raise self._truncated(8)
        self.offset = offset + 8
        return LONG_STRUCT.unpack_from(self._data, offset)[0]

    def read_bool(self) -> bool:
        offset = self.offset
        if offset >= self._end:
            raise self._truncated(1)
        self.offset = offset + 1
        # Java's DataInput.readBoolean: any non-zero byte is true.
        return self._data[offset] != 0

    def read_struct(self, compiled: struct.Struct) -> tuple:
        """Unpack a fixed-size run of fields in one call (headers, Stat)."""
        offset = self.offset
        size = compiled.size
        if offset + size > self._end:
            raise self._truncated(size)
        self.offset = offset + size
        return compiled.unpack_from(self._data, offset)

    def skip_if_next(self, expected: bytes) -> bool:
        """Consume ``expected`` if the next bytes are exactly it (fast paths for common values)."""
        offset = self.offset
        end = offset + len(expected)
        if end <= self._end and self._data[offset:end] == expected:
            self.offset = end
            return True
        return False

    def _read_length(self, what: str) -> int:
        length = self.read_int()
        if length < -1:
            raise RemoteProtocolError(f"unreasonable {what} length {length}")
        return length

    def _take(self, length: int):
        start = self.offset
        stop = start + length
        if stop > self._end:
            raise RemoteProtocolError(
                f"length {length} at offset {start - 4} runs past the end of the record "
                f"({self._end - start} bytes left)"
            )
        self.offset = stop
        return self._data[start:stop]

    def read_buffer(self) -> bytes | None:
        """A jute ``buffer``: ``None`` for length -1, else exactly ``length`` bytes."""
        length = self._read_length("buffer")
        if length == -1:
            return None
        return bytes(self._take(length))

    def read_ustring(self) -> str | None:
        """A jute ``ustring``: ``None`` for length -1; invalid UTF-8 is a protocol error."""
        length = self._read_length("string")
        if length == -1:
            return None
        raw = self._take(length)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"string is not valid UTF-8: {exc.reason}") from None

    def read_vector(self, read_item: Callable[["Reader"], T], min_item_bytes: int = 1) -> list[T] | None:
        """A jute ``vector``: ``None`` for count -1, else ``[read_item(self), ...]``.

        ``min_item_bytes`` (every jute item takes at least one byte) lets a lying count fail at
        once instead of after a long loop.
        """
        count = self._read_length("vector")
        if count == -1:
            return None
        if count * min_item_bytes > self._end - self.offset:
            raise RemoteProtocolError(
                f"vector of {count} items cannot fit in the {self._end - self.offset} bytes left"
            )
        return [read_item(self) for _ in range(count)]


def write_int(out: bytearray, value: int) -> None:
    out += INT_STRUCT.pack(value)


def write_long(out: bytearray, value: int) -> None:
    out += LONG_STRUCT.pack(value)


def write_bool(out: bytearray, value: bool) -> None:
    out += _TRUE if value else _FALSE


def write_buffer(out: bytearray, value: bytes | bytearray | memoryview | None) -> None:
    """``None`` is written as null (-1), ``b""`` as empty (0): the two stay distinct on the wire."""
    if value is None:
        out += _NULL_LENGTH
        return
    out += INT_STRUCT.pack(len(value))
    out += value


def write_ustring(out: bytearray, value: str | None) -> None:
    """``None`` is null (-1); ``""`` is written as an empty string (unlike kazoo, which sends -1)."""
    if value is None:
        out += _NULL_LENGTH
        return
    encoded = value.encode("utf-8")
    out += INT_STRUCT.pack(len(encoded))
    out += encoded


def write_vector(
    out: bytearray, items: Iterable[Any] | None, write_item: Callable[[bytearray, Any], None]
) -> None:
    """``None`` is a null vector (-1); ``write_item(out, item)`` writes each element."""
    if items is None:
        out += _NULL_LENGTH
        return
    if not isinstance(items, (list, tuple)):
        items = list(items)
    out += INT_STRUCT.pack(len(items))
    for item in items:
        write_item(out, item)


def write_record(out: bytearray, record: Any) -> None:
    """Adapter so that vectors of records can use ``write_vector(out, acl, write_record)``."""
    record.serialize(out)
