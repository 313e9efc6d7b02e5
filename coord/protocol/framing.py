"""Length-prefixed framing: every ZooKeeper message is ``int length`` + ``length`` bytes.

Theory of operation.  ``FrameDecoder.feed(data)`` appends the bytes to one ``bytearray`` and cuts
out every complete payload.  Consumed bytes are dropped from the front with ``del buf[:n]``, which
CPython's bytearray does in O(1) by advancing its start pointer, so N small feeds cost O(N) in total
(no quadratic re-slicing, h11 ``_receivebuffer.py`` style).  When the buffer is empty the common
case (a chunk holding whole frames) is cut straight out of the caller's bytes without first copying
them into the buffer.

The length is signed on the wire.  A negative length, or one above ``max_frame_bytes``
(``jute.maxbuffer``, 1,048,575 by default), is the peer's fault: ``RemoteProtocolError``, and the
decoder stays failed.  The check happens as soon as the 4 length bytes are in, so a peer cannot make
us buffer more than ``max_frame_bytes`` + 4 bytes of a frame we will refuse anyway.
"""

import struct

from .codes import DEFAULT_MAX_FRAME_BYTES
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = ["FrameDecoder", "encode_frame", "LENGTH_STRUCT"]

LENGTH_STRUCT = struct.Struct(">i")


def encode_frame(payload: bytes | bytearray | memoryview) -> bytes:
    """``payload`` with its 4-byte big-endian length in front."""
    return LENGTH_STRUCT.pack(len(payload)) + bytes(payload)


class FrameDecoder:
    """Bytes in, complete frame payloads (``bytes``, without the length prefix) out."""

    __slots__ = ("max_frame_bytes", "_buffer", "_failed")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 0:
            raise LocalProtocolError(f"max_frame_bytes must be >= 0, not {max_frame_bytes}")
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._failed = False

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add ``data``; return every payload completed by it, in order."""
        if self._failed:
            raise LocalProtocolError("feed() after the frame decoder failed")
        buffer = self._buffer
        if buffer:
            buffer += data
            source = buffer
        else:
            source = data
        frames: list[bytes] = []
        offset = 0
        end = len(source)
        max_frame_bytes = self.max_frame_bytes
        unpack_length = LENGTH_STRUCT.unpack_from
        # A memoryview makes each frame a single copy (slicing a bytearray would copy twice); it is
        # released before the bytearray is resized below.
        with memoryview(source) as view:
            while end - offset >= 4:
                length = unpack_length(view, offset)[0]
                if length < 0 or length > max_frame_bytes:
                    self._failed = True
                    raise RemoteProtocolError(
                        f"frame length {length} outside 0..{max_frame_bytes}"
                    )
                frame_end = offset + 4 + length
                if frame_end > end:
                    break
                frames.append(bytes(view[offset + 4 : frame_end]))
                offset = frame_end
            if source is buffer:
                pass
            elif offset < end:
                buffer += view[offset:]
        if source is buffer and offset:
            del buffer[:offset]
        return frames
