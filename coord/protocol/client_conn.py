"""ClientConnection: the client's side of one ZooKeeper connection, without any I/O.

Theory of operation.  The driver (a Twisted protocol, a blocking socket loop, or a test) calls
``connect(...)`` and writes the bytes, then ``send(opcode, record)`` for each request (writing the
bytes it returns), and feeds whatever it reads to ``receive_data(data)``, which returns events::

    Connected(response)                          the ConnectResponse; timeout_ms <= 0 = expired
    ReplyReceived(xid, zxid, err, opcode, response)   response decoded by the request's opcode,
                                                 None when err != 0 or the reply has no body
    WatchNotification(zxid, event)               xid -1; ZooKeeper 3.8 sends zxid -1
    PingReply(zxid)                              xid -2

Xids (docs §5.1): ordinary requests get ``first_xid`` (default 1), then +1 each, wrapping from
2**31-1 back to 1 (Java and kazoo start at 1, the C client at a clock-derived number); PING uses
-2, AUTH -4, SET_WATCHES / SET_WATCHES2 -8.  Replies must come back in request order: every request
except PING is queued FIFO, and a reply must match the head of that queue, or it is the server's
fault (``RemoteProtocolError``, "xid out of order", as the Java client and kazoo treat it).  Two
exceptions, both from how ZooKeeper behaves: ping replies are matched to a count of outstanding
pings, out of band; an AUTH (-4) reply matches the oldest outstanding AUTH wherever it sits in the
queue, because the Java server answers auth as soon as it reads it, overtaking earlier replies.
SET_WATCHES replies (-8) are ordered like any other (ZooKeeper pipelines them).

Requests may be sent right after ``connect()``, before ``Connected`` (pipelining, as the Java
Netty client does).  ``last_zxid_seen`` is the highest zxid in any reply header (ping replies
included, notifications not, as in the Java client); pass it to the next ``connect``.  ``close()``
sends CLOSE_SESSION; after its reply the connection is CLOSED and accepts no more data.

Misuse by the caller (wrong record type for an opcode, reads in a MULTI, sending before
``connect()``) raises ``LocalProtocolError``.  ``send_raw`` skips those checks, for tests that
need to put invalid requests on the wire.
"""

import collections
import enum
import struct
from typing import NamedTuple

from .codes import (
    DEFAULT_MAX_FRAME_BYTES,
    XID_AUTH,
    XID_NOTIFICATION,
    XID_PING,
    XID_SET_WATCHES,
    OpCode,
)
from .errors import LocalProtocolError, RemoteProtocolError
from .framing import FrameDecoder
from .jute import Reader
from .records import (
    MULTI_READ_OPS,
    MULTI_WRITE_OPS,
    REQUEST_RECORDS,
    RESPONSE_RECORDS,
    ConnectRequest,
    ConnectResponse,
    MultiRequest,
    WatcherEvent,
)

__all__ = [
    "ClientConnection",
    "ClientConnectionState",
    "Connected",
    "ReplyReceived",
    "WatchNotification",
    "PingReply",
]


class Connected(NamedTuple):
    response: ConnectResponse


class ReplyReceived(NamedTuple):
    xid: int
    zxid: int
    err: int
    opcode: int  # the request's OpCode
    response: object  # decoded response record, or None (error reply, or an op without a body)


class WatchNotification(NamedTuple):
    zxid: int
    event: WatcherEvent


class PingReply(NamedTuple):
    zxid: int


class ClientConnectionState(enum.Enum):
    IDLE = "idle"  # connect() not called yet
    CONNECTING = "connecting"  # ConnectRequest sent, no ConnectResponse yet
    CONNECTED = "connected"
    CLOSED = "closed"  # CLOSE_SESSION answered
    FAILED = "failed"  # the server broke the protocol


_INT = struct.Struct(">i")
_FRAMED_REQUEST_HEADER = struct.Struct(">iii")  # frame length, xid, type
_REPLY_HEADER = struct.Struct(">iqi")
_MAX_XID = 2**31 - 1

# Opcodes with reserved xids; everything else gets the next ordinary xid.
_SPECIAL_XIDS = {
    OpCode.PING: XID_PING,
    OpCode.AUTH: XID_AUTH,
    OpCode.SET_WATCHES: XID_SET_WATCHES,
    OpCode.SET_WATCHES2: XID_SET_WATCHES,
}
_OPCODE_NAMES: dict[int, OpCode] = {op.value: op for op in OpCode}
_ENCODING_ERRORS = (struct.error, UnicodeError, TypeError, AttributeError, ValueError, OverflowError)


class ClientConnection:
    """Encode what a client sends; decode and match what the server answers."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, first_xid: int = 1) -> None:
        if not 1 <= first_xid <= _MAX_XID:
            raise LocalProtocolError(f"first_xid must be in 1..{_MAX_XID}, not {first_xid}")
        self.max_frame_bytes = max_frame_bytes
        self.state = ClientConnectionState.IDLE
        self.last_zxid_seen = 0
        # Filled from the ConnectResponse.
        self.session_id: int | None = None
        self.passwd: bytes | None = None
        self.negotiated_timeout_ms: int | None = None
        self.read_only: bool | None = None
        self.pings_outstanding = 0
        self._frames = FrameDecoder(max_frame_bytes)
        self._pending: collections.deque[tuple[int, int]] = collections.deque()  # (xid, opcode)
        self._last_xid = first_xid - 1  # the C client starts from a clock-derived xid
        self._close_requested = False

    @property
    def pending(self) -> tuple[tuple[int, int], ...]:
        """Requests sent and not yet answered, oldest first, as ``(xid, opcode)``."""
        return tuple(self._pending)

    # -- sending ----------------------------------------------------------------------------------

    def connect(
        self,
        last_zxid_seen: int,
        timeout_ms: int,
        session_id: int = 0,
        passwd: bytes = b"\0" * 16,
        read_only: bool | None = False,
    ) -> bytes:
        """The framed ConnectRequest.  ``read_only=None`` omits the byte, like a pre-3.4 client."""
        if self.state is not ClientConnectionState.IDLE:
            raise LocalProtocolError(f"connect() in state {self.state.name}")
        request = ConnectRequest(0, last_zxid_seen, timeout_ms, session_id, passwd, read_only)
        out = bytearray(4)
        try:
            request.serialize(out)
        except _ENCODING_ERRORS as exc:
            raise LocalProtocolError(f"cannot encode {request!r}: {exc}") from None
        _INT.pack_into(out, 0, len(out) - 4)
        self.last_zxid_seen = max(self.last_zxid_seen, last_zxid_seen)
        self.state = ClientConnectionState.CONNECTING
        return bytes(out)

    def send(self, opcode: int, record=None) -> tuple[int, bytes]:
        """Encode one request; return ``(xid, framed_bytes)``."""
        if opcode not in REQUEST_RECORDS:
            raise LocalProtocolError(f"{opcode!r} is not a request a client can send on its own")
        expected = REQUEST_RECORDS[opcode]
        if expected is None:
            if record is not None:
                raise LocalProtocolError(f"{OpCode(opcode).name} has no body, got {record!r}")
        elif type(record) is not expected:
            raise LocalProtocolError(
                f"{OpCode(opcode).name} takes a {expected.__name__}, got {type(record).__name__}"
            )
        if expected is MultiRequest:
            allowed = MULTI_READ_OPS if opcode == OpCode.MULTI_READ else MULTI_WRITE_OPS
            for op in record.ops:
                if not (isinstance(op, tuple) and len(op) == 2 and op[0] in allowed):
                    raise LocalProtocolError(f"op {op!r} is not allowed in {OpCode(opcode).name}")
        return self._send(opcode, record)

    def send_raw(self, opcode: int, body: bytes = b"") -> tuple[int, bytes]:
        """Send any opcode with any body, unchecked (for tests of a server's error handling).

        The reply is matched like any other and its body decoded by ``opcode`` if known.
        """
        return self._send(opcode, None, body)

    def close(self) -> tuple[int, bytes]:
        """Send CLOSE_SESSION; return ``(xid, framed_bytes)``."""
        return self.send(OpCode.CLOSE_SESSION)

    def ping(self) -> bytes:
        """Send a PING (xid -2); its reply comes back as ``PingReply``."""
        return self.send(OpCode.PING)[1]

    def _send(self, opcode: int, record, body: bytes = b"") -> tuple[int, bytes]:
        if self.state not in (ClientConnectionState.CONNECTING, ClientConnectionState.CONNECTED):
            raise LocalProtocolError(f"cannot send in state {self.state.name}")
        if self._close_requested:
            raise LocalProtocolError("cannot send after close()")
        out = bytearray(_FRAMED_REQUEST_HEADER.size)
        try:
            if record is not None:
                record.serialize(out)
            else:
                out += body
        except _ENCODING_ERRORS as exc:
            raise LocalProtocolError(f"cannot encode {record!r}: {exc}") from None
        xid = _SPECIAL_XIDS.get(opcode)
        if xid is None:
            xid = self._last_xid = self._last_xid % _MAX_XID + 1
        _FRAMED_REQUEST_HEADER.pack_into(out, 0, len(out) - 4, xid, opcode)
        if opcode == OpCode.PING:
            self.pings_outstanding += 1
        else:
            self._pending.append((xid, _OPCODE_NAMES.get(opcode, opcode)))
        if opcode == OpCode.CLOSE_SESSION:
            self._close_requested = True
        return xid, bytes(out)

    # -- receiving --------------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> list:
        """Feed bytes read from the socket; return the events they complete, in order."""
        state = self.state
        if state is ClientConnectionState.FAILED:
            raise LocalProtocolError("receive_data() after the connection failed")
        if state is ClientConnectionState.IDLE:
            raise LocalProtocolError("receive_data() before connect()")
        try:
            if state is ClientConnectionState.CLOSED and data:
                raise RemoteProtocolError("data after the reply to CLOSE_SESSION")
            events = []
            for payload in self._frames.feed(data):
                if self.state is ClientConnectionState.CONNECTING:
                    events.append(self._decode_connect_response(payload))
                elif self.state is ClientConnectionState.CLOSED:
                    raise RemoteProtocolError("data after the reply to CLOSE_SESSION")
                else:
                    events.append(self._decode_reply(payload))
            return events
        except RemoteProtocolError:
            self.state = ClientConnectionState.FAILED
            raise

    def _decode_connect_response(self, payload: bytes) -> Connected:
        reader = Reader(payload)
        try:
            response = ConnectResponse.deserialize(reader)
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(f"undecodable ConnectResponse: {exc}") from None
        self.session_id = response.session_id
        self.passwd = response.passwd
        self.negotiated_timeout_ms = response.timeout_ms
        self.read_only = response.read_only
        self.state = ClientConnectionState.CONNECTED
        return Connected(response)

    def _decode_reply(self, payload: bytes):
        if len(payload) < _REPLY_HEADER.size:
            raise RemoteProtocolError(f"reply of {len(payload)} bytes is shorter than its header")
        xid, zxid, err = _REPLY_HEADER.unpack_from(payload)
        reader = Reader(payload, _REPLY_HEADER.size)
        if xid == XID_NOTIFICATION:
            return WatchNotification(zxid, WatcherEvent.deserialize(reader))
        if zxid > self.last_zxid_seen:
            self.last_zxid_seen = zxid
        if xid == XID_PING:
            if not self.pings_outstanding:
                raise RemoteProtocolError("ping reply without an outstanding ping")
            self.pings_outstanding -= 1
            return PingReply(zxid)
        pending = self._pending
        if xid == XID_AUTH:
            opcode = self._take_oldest_auth()
        elif pending and pending[0][0] == xid:
            opcode = pending.popleft()[1]
        else:
            expected = pending[0][0] if pending else None
            raise RemoteProtocolError(f"xid out of order: got {xid}, expected {expected}")
        response = None
        if err == 0:
            response_class = RESPONSE_RECORDS.get(opcode)
            if response_class is not None:
                response = response_class.deserialize(reader)
        if opcode == OpCode.CLOSE_SESSION:
            self.state = ClientConnectionState.CLOSED
        return ReplyReceived(xid, zxid, err, opcode, response)

    def _take_oldest_auth(self) -> int:
        for index, (xid, opcode) in enumerate(self._pending):
            if xid == XID_AUTH:
                del self._pending[index]
                return opcode
        raise RemoteProtocolError("auth reply (xid -4) without an outstanding auth request")
