"""ServerConnection: the server's side of one client connection, without any I/O.

Theory of operation.  The adapter hands every chunk it reads to ``receive_data(data)`` and gets
back a list of events, in wire order; to answer, it calls an encoder (``connect_response``,
``reply``, ``reply_raw``, ``notification``) and writes the returned, already framed, bytes.
Nothing here knows about sessions, the tree or time: those decisions belong to the server.

States::

    AWAITING_CONNECT --ConnectRequest--> CONNECTED            (requests, for the rest of the life)
    AWAITING_CONNECT --4lw as first 4 bytes--> FOUR_LETTER_WORD (accepts nothing more)
    any --fatal garbage--> FAILED                               (RemoteProtocolError was raised)

* Four-letter words (docs §15) are recognised only in the first 4 bytes of a fresh connection, and
  only the known words of ``FOUR_LETTER_WORDS``; any other int is a frame length.  ``stmk`` waits
  for its 8-byte argument.  Bytes that arrive in the same chunk after the word are ignored, as
  ZooKeeper never reads them (``echo ruok | nc`` sends a newline too); data in any later
  ``receive_data`` call raises ``RemoteProtocolError``.  The allow-list is the server's business:
  every known word is reported.
* The first frame is a ``ConnectRequest`` (no RequestHeader).  A frame that does not decode as one
  is fatal.  ``request.read_only is None`` marks a pre-3.4 client: answer it with
  ``ConnectResponse(read_only=None)`` so that the byte is omitted as well (docs §4.1).
* Every later frame is ``RequestHeader`` + body, reported as:
    - ``RequestReceived(xid, opcode, request)`` for a valid client opcode whose body decodes
      (``request`` is None for the bodiless PING, CLOSE_SESSION and WHO_AM_I);
    - ``MalformedRequest(xid, opcode, reason)`` when the body of a known opcode does not decode, or
      a multi's ops are of the wrong kind (reads in MULTI, writes in MULTI_READ): answer
      MARSHALLING_ERROR and keep going, as ZooKeeper does;
    - ``UnknownRequest(xid, opcode)`` for opcodes a client may not send (0, 10, CHECK outside a
      multi, CREATE_SESSION, ERROR, unknown numbers): ZooKeeper answers UNIMPLEMENTED and closes.
  A frame shorter than a RequestHeader is fatal.  Bytes after a complete body are ignored, as the
  Java server ignores them.
* Pipelining: frames that follow the ConnectRequest in the same chunk are decoded and returned
  after ``ConnectRequested``, in order.  Holding them until the session exists is the server's job.

Fatal conditions (bad length, frame above ``max_frame_bytes``, undecodable ConnectRequest, bytes
after a 4lw, a too-short request) raise ``RemoteProtocolError``: the adapter logs it and drops the
connection; further ``receive_data`` calls raise ``LocalProtocolError``.

Encoders never check sizes: ZooKeeper does not either, and a reply above the client's
``jute.maxbuffer`` makes the client drop the connection; keep replies below ``max_frame_bytes``.
Invalid values (ints out of range, non-str paths) raise ``LocalProtocolError``.
"""

import enum
import struct
from typing import NamedTuple

from .codes import (
    DEFAULT_MAX_FRAME_BYTES,
    FOUR_LETTER_WORD_ARGUMENT_BYTES,
    FOUR_LETTER_WORDS,
    XID_NOTIFICATION,
    OpCode,
)
from .errors import LocalProtocolError, RemoteProtocolError
from .framing import FrameDecoder
from .jute import Reader, write_ustring
from .records import (
    MULTI_READ_OPS,
    REQUEST_RECORDS,
    ConnectRequest,
    ConnectResponse,
    MultiRequest,
)

__all__ = [
    "ServerConnection",
    "ServerConnectionState",
    "FourLetterWord",
    "ConnectRequested",
    "RequestReceived",
    "MalformedRequest",
    "UnknownRequest",
]


class FourLetterWord(NamedTuple):
    word: str  # e.g. "ruok"
    argument: bytes | None  # the 8 bytes following "stmk"; None for every other word


class ConnectRequested(NamedTuple):
    request: ConnectRequest


class RequestReceived(NamedTuple):
    xid: int
    opcode: OpCode
    request: object  # the decoded request record; None for PING, CLOSE_SESSION, WHO_AM_I


class MalformedRequest(NamedTuple):
    xid: int
    opcode: OpCode
    reason: str


class UnknownRequest(NamedTuple):
    xid: int
    opcode: int  # an OpCode member when the number has a name (e.g. CHECK), else the raw int


class ServerConnectionState(enum.Enum):
    AWAITING_CONNECT = "awaiting_connect"
    CONNECTED = "connected"
    FOUR_LETTER_WORD = "four_letter_word"
    FAILED = "failed"


_INT = struct.Struct(">i")
_REQUEST_HEADER = struct.Struct(">ii")
# Frame length + ReplyHeader, packed in one go.
_FRAMED_REPLY_HEADER = struct.Struct(">iiqi")
_FRAMED_REPLY_HEADER_BYTES = _FRAMED_REPLY_HEADER.size
_REPLY_HEADER_BYTES = 16
# Frame length + ReplyHeader + WatcherEvent type and state.
_FRAMED_NOTIFICATION_HEAD = struct.Struct(">iiqiii")

# Opcode int -> (OpCode member, request record class or None); one dict lookup per request.
_REQUESTS: dict[int, tuple[OpCode, type | None]] = {
    int(opcode): (OpCode(opcode), record_class) for opcode, record_class in REQUEST_RECORDS.items()
}
_OPCODE_NAMES: dict[int, OpCode] = {op.value: op for op in OpCode}

# What an encoder error looks like when the caller passed bad values.
_ENCODING_ERRORS = (struct.error, UnicodeError, TypeError, AttributeError, ValueError, OverflowError)


class ServerConnection:
    """Decode what a client sends; encode what the server answers.  See the module docstring."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.state = ServerConnectionState.AWAITING_CONNECT
        self._frames = FrameDecoder(max_frame_bytes)
        # The first bytes of the connection, kept until we know whether they are a 4lw.
        self._first_bytes: bytearray | None = bytearray()

    # -- receiving --------------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> list:
        """Feed bytes read from the socket; return the events they complete, in order."""
        state = self.state
        if state is ServerConnectionState.CONNECTED:
            try:
                return [self._decode_request(payload) for payload in self._frames.feed(data)]
            except RemoteProtocolError:
                self.state = ServerConnectionState.FAILED
                raise
        if state is ServerConnectionState.FOUR_LETTER_WORD:
            if data:
                self.state = ServerConnectionState.FAILED
                raise RemoteProtocolError("data after a four-letter word")
            return []
        if state is ServerConnectionState.FAILED:
            raise LocalProtocolError("receive_data() after the connection failed")
        try:
            return self._receive_before_connect(data)
        except RemoteProtocolError:
            self.state = ServerConnectionState.FAILED
            raise

    def _receive_before_connect(self, data) -> list:
        first_bytes = self._first_bytes
        if first_bytes is not None:
            first_bytes += data
            if len(first_bytes) < 4:
                return []
            word = FOUR_LETTER_WORDS.get(_INT.unpack_from(first_bytes)[0])
            if word is not None:
                return self._four_letter_word(word, first_bytes)
            # An ordinary length prefix: from here on everything goes through the frame decoder.
            self._first_bytes = None
            data = first_bytes
        events: list = []
        for payload in self._frames.feed(data):
            if self.state is ServerConnectionState.AWAITING_CONNECT:
                events.append(ConnectRequested(self._decode_connect_request(payload)))
                self.state = ServerConnectionState.CONNECTED
            else:
                events.append(self._decode_request(payload))
        return events

    def _four_letter_word(self, word: str, first_bytes: bytearray) -> list:
        argument_bytes = FOUR_LETTER_WORD_ARGUMENT_BYTES.get(_INT.unpack_from(first_bytes)[0], 0)
        if len(first_bytes) < 4 + argument_bytes:
            return []  # stmk: wait for its argument
        argument = bytes(first_bytes[4 : 4 + argument_bytes]) if argument_bytes else None
        self._first_bytes = None
        self.state = ServerConnectionState.FOUR_LETTER_WORD
        return [FourLetterWord(word, argument)]

    @staticmethod
    def _decode_connect_request(payload: bytes) -> ConnectRequest:
        try:
            return ConnectRequest.deserialize(Reader(payload))
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(f"undecodable ConnectRequest: {exc}") from None

    @staticmethod
    def _decode_request(payload: bytes):
        if len(payload) < 8:
            raise RemoteProtocolError(f"request of {len(payload)} bytes is shorter than its header")
        xid, opcode = _REQUEST_HEADER.unpack_from(payload)
        known = _REQUESTS.get(opcode)
        if known is None:
            return UnknownRequest(xid, _OPCODE_NAMES.get(opcode, opcode))
        opcode_name, record_class = known
        if record_class is None:
            return RequestReceived(xid, opcode_name, None)
        try:
            record = record_class.deserialize(Reader(payload, 8))
        except RemoteProtocolError as exc:
            return MalformedRequest(xid, opcode_name, str(exc))
        if record_class is MultiRequest and record.ops:
            # MultiRequest.deserialize already refused mixed kinds; the first op tells the kind.
            is_read = record.ops[0][0] in MULTI_READ_OPS
            if is_read != (opcode_name is OpCode.MULTI_READ):
                kind = "read" if is_read else "write"
                return MalformedRequest(xid, opcode_name, f"{kind} operations in {opcode_name.name}")
        return RequestReceived(xid, opcode_name, record)

    # -- sending ----------------------------------------------------------------------------------

    def connect_response(self, response: ConnectResponse) -> bytes:
        """The framed ConnectResponse.  ``read_only=None`` omits the byte (for pre-3.4 clients)."""
        out = bytearray(b"\0\0\0\0")
        try:
            response.serialize(out)
        except _ENCODING_ERRORS as exc:
            raise LocalProtocolError(f"cannot encode {response!r}: {exc}") from None
        _INT.pack_into(out, 0, len(out) - 4)
        return bytes(out)

    def reply(self, xid: int, zxid: int, err: int, record=None) -> bytes:
        """A framed reply.  With ``err != 0`` only the header is sent, whatever ``record`` is."""
        try:
            if err or record is None:
                return _FRAMED_REPLY_HEADER.pack(_REPLY_HEADER_BYTES, xid, zxid, err)
            out = bytearray(_FRAMED_REPLY_HEADER_BYTES)
            record.serialize(out)
            _FRAMED_REPLY_HEADER.pack_into(out, 0, len(out) - 4, xid, zxid, err)
        except _ENCODING_ERRORS as exc:
            raise LocalProtocolError(f"cannot encode reply {xid}/{record!r}: {exc}") from None
        return bytes(out)

    def reply_raw(self, xid: int, zxid: int, err: int, body: bytes) -> bytes:
        """A framed reply with a pre-encoded body (e.g. a cached getData answer)."""
        try:
            return _FRAMED_REPLY_HEADER.pack(_REPLY_HEADER_BYTES + len(body), xid, zxid, err) + body
        except _ENCODING_ERRORS as exc:
            raise LocalProtocolError(f"cannot encode raw reply {xid}: {exc}") from None

    def notification(self, zxid: int, event_type: int, state: int, path: str) -> bytes:
        """A framed watch notification: ReplyHeader(-1, zxid, 0) + WatcherEvent.

        ZooKeeper 3.8 always sends zxid -1 here; 3.9 sends the triggering transaction's zxid.
        """
        try:
            out = bytearray(_FRAMED_NOTIFICATION_HEAD.size)
            write_ustring(out, path)
            _FRAMED_NOTIFICATION_HEAD.pack_into(
                out, 0, len(out) - 4, XID_NOTIFICATION, zxid, 0, event_type, state
            )
        except _ENCODING_ERRORS as exc:
            raise LocalProtocolError(f"cannot encode notification for {path!r}: {exc}") from None
        return bytes(out)
