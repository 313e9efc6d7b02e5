"""Every zookeeper.jute record the client protocol uses, as immutable NamedTuples.

Theory of operation.  Each record is a ``typing.NamedTuple`` whose fields are the jute fields in
wire order (snake_case), with two methods:

* ``record.serialize(out: bytearray)`` appends the record's bytes to ``out``;
* ``Record.deserialize(reader: Reader)`` reads exactly one record at the reader's cursor.

Nested records are inlined (no length, no tag), as jute does.  Decoding keeps raw ints (no enum
conversion) and decodes vectors to ``list`` (``None`` for a null vector); the two exceptions are
the multi records, whose op/result lists are tuples of ``(OpCode, record)`` pairs.  Decoding never
raises anything but ``RemoteProtocolError``; serializing assumes valid Python values (see jute.py).

Optional trailing fields.  ``ConnectRequest.read_only`` / ``ConnectResponse.read_only`` are
``None`` when the byte is absent (pre-3.4 clients); serializing ``None`` omits the byte.

Multi (docs §7).  ``MultiRequest.ops`` is a tuple of ``(opcode, request_record)``; on the wire
each op is ``MultiHeader(opcode, done=False, err=-1)`` + record, then a terminator
``MultiHeader(-1, True, -1)``.  Decoding refuses, with ``RemoteProtocolError(MARSHALLING_ERROR)``,
an op type that cannot appear in a multi and a mix of read ops (getData, getChildren: multiRead)
and write ops (everything else: multi), as ``MultiOperationRecord.deserialize`` does.  Create
flags are *not* checked here: ZooKeeper 3.8.0 (our reference) answers a bad flag inside a multi
with a per-op BadArguments result, while 3.8.6+ refuses the whole request with MarshallingError;
that choice belongs to the server.  Which kind a decoded request is: ``is_read``
(an empty request is neither; ``is_read`` is then False).  Whether the kind matches the outer
opcode (MULTI vs MULTI_READ) is checked by ``ServerConnection``, which knows that opcode.
``MultiResponse.results`` is a tuple of ``(opcode, record_or_None)`` for successes and
``(OpCode.ERROR, ErrorResponse(err))`` for failed or rolled-back ops.

Tables at the bottom: ``REQUEST_RECORDS`` (client opcode -> request record class, None for
bodiless ops) and ``RESPONSE_RECORDS`` (client opcode -> success reply record class, None for an
empty body).
"""

import struct
from typing import NamedTuple

from .codes import Err, OpCode
from .errors import RemoteProtocolError
from .jute import (
    INT_STRUCT,
    Reader,
    write_bool,
    write_buffer,
    write_int,
    write_long,
    write_record,
    write_ustring,
    write_vector,
)

__all__ = [
    "STAT_STRUCT", "Id", "ACL", "Stat", "ClientInfo", "ConnectRequest", "ConnectResponse",
    "RequestHeader", "ReplyHeader", "MultiHeader", "AuthPacket", "SetWatches", "SetWatches2",
    "WatcherEvent", "ErrorResponse", "GetSASLRequest", "SetSASLResponse", "CreateRequest",
    "CreateTTLRequest", "CreateResponse", "Create2Response", "DeleteRequest", "ExistsRequest",
    "ExistsResponse", "GetDataRequest", "GetDataResponse", "SetDataRequest", "SetDataResponse",
    "GetACLRequest", "GetACLResponse", "SetACLRequest", "SetACLResponse", "GetChildrenRequest",
    "GetChildrenResponse", "GetChildren2Request", "GetChildren2Response", "SyncRequest",
    "SyncResponse", "CheckVersionRequest", "ReconfigRequest", "CheckWatchesRequest",
    "RemoveWatchesRequest", "AddWatchRequest", "GetEphemeralsRequest", "GetEphemeralsResponse",
    "GetAllChildrenNumberRequest", "GetAllChildrenNumberResponse", "WhoAmIResponse",
    "DeleteContainerRequest", "MultiRequest", "MultiResponse", "REQUEST_RECORDS",
    "RESPONSE_RECORDS", "MULTI_OP_REQUEST_RECORDS", "MULTI_READ_OPS", "MULTI_WRITE_OPS",
    "MULTI_RESULT_RECORDS", "decode_record", "encode_record",
]

STAT_STRUCT = struct.Struct(">qqqqiiiqiiq")
_REQUEST_HEADER_STRUCT = struct.Struct(">ii")
_REPLY_HEADER_STRUCT = struct.Struct(">iqi")
_MULTI_HEADER_STRUCT = struct.Struct(">i?i")
_CONNECT_REQUEST_HEAD = struct.Struct(">iqiq")  # protocolVersion lastZxidSeen timeOut sessionId
_CONNECT_RESPONSE_HEAD = struct.Struct(">iiq")  # protocolVersion timeOut sessionId
_INT_BOOL = struct.Struct(">i?")
_INT_INT = struct.Struct(">ii")
_MULTI_TERMINATOR = _MULTI_HEADER_STRUCT.pack(-1, True, -1)


# -- data records ---------------------------------------------------------------------------------


class Id(NamedTuple):
    scheme: str | None
    id: str | None

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.scheme)
        write_ustring(out, self.id)

    @classmethod
    def deserialize(cls, reader: Reader) -> "Id":
        return cls(reader.read_ustring(), reader.read_ustring())


class ACL(NamedTuple):
    perms: int
    id: Id

    def serialize(self, out: bytearray) -> None:
        write_int(out, self.perms)
        self.id.serialize(out)

    @classmethod
    def deserialize(cls, reader: Reader) -> "ACL":
        return cls(reader.read_int(), Id(reader.read_ustring(), reader.read_ustring()))


OPEN_ACL_ENTRY = ACL(31, Id("world", "anyone"))
OPEN_ACL_BYTES = b"\x00\x00\x00\x01" + b"\x00\x00\x00\x1f" + b"\x00\x00\x00\x05world" \
    + b"\x00\x00\x00\x06anyone"      # a vector of one ACL: count, perms, scheme, id

def _read_acl_vector(reader: Reader) -> list[ACL] | None:
    # Most requests carry [world:anyone, all perms]: recognised by its bytes, one shared record.
    if reader.skip_if_next(OPEN_ACL_BYTES):
        return [OPEN_ACL_ENTRY]
    # An ACL is at least 12 bytes (perms + two string lengths).
    return reader.read_vector(ACL.deserialize, 12)


class Stat(NamedTuple):
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    data_length: int
    num_children: int
    pzxid: int

    def serialize(self, out: bytearray) -> None:
        out += STAT_STRUCT.pack(*self)

    @classmethod
    def deserialize(cls, reader: Reader) -> "Stat":
        return cls._make(reader.read_struct(STAT_STRUCT))


class ClientInfo(NamedTuple):
    auth_scheme: str | None
    user: str | None

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.auth_scheme)
        write_ustring(out, self.user)

    @classmethod
    def deserialize(cls, reader: Reader) -> "ClientInfo":
        return cls(reader.read_ustring(), reader.read_ustring())


# -- session and control records ------------------------------------------------------------------


class ConnectRequest(NamedTuple):
    protocol_version: int
    last_zxid_seen: int
    timeout_ms: int
    session_id: int
    passwd: bytes | None
    read_only: bool | None  # None: the byte was absent (pre-3.4 client, 44-byte body)

    def serialize(self, out: bytearray) -> None:
        out += _CONNECT_REQUEST_HEAD.pack(
            self.protocol_version, self.last_zxid_seen, self.timeout_ms, self.session_id
        )
        write_buffer(out, self.passwd)
        if self.read_only is not None:
            write_bool(out, self.read_only)

    @classmethod
    def deserialize(cls, reader: Reader) -> "ConnectRequest":
        head = reader.read_struct(_CONNECT_REQUEST_HEAD)
        passwd = reader.read_buffer()
        read_only = reader.read_bool() if reader.remaining() > 0 else None
        return cls(head[0], head[1], head[2], head[3], passwd, read_only)


class ConnectResponse(NamedTuple):
    protocol_version: int
    timeout_ms: int  # 0 (or less) means the session is invalid / expired
    session_id: int
    passwd: bytes | None
    read_only: bool | None  # None: omit the byte (answer to a client that omitted it)

    def serialize(self, out: bytearray) -> None:
        out += _CONNECT_RESPONSE_HEAD.pack(self.protocol_version, self.timeout_ms, self.session_id)
        write_buffer(out, self.passwd)
        if self.read_only is not None:
            write_bool(out, self.read_only)

    @classmethod
    def deserialize(cls, reader: Reader) -> "ConnectResponse":
        head = reader.read_struct(_CONNECT_RESPONSE_HEAD)
        passwd = reader.read_buffer()
        read_only = reader.read_bool() if reader.remaining() > 0 else None
        return cls(head[0], head[1], head[2], passwd, read_only)


class RequestHeader(NamedTuple):
    xid: int
    type: int

    def serialize(self, out: bytearray) -> None:
        out += _REQUEST_HEADER_STRUCT.pack(self.xid, self.type)

    @classmethod
    def deserialize(cls, reader: Reader) -> "RequestHeader":
        return cls._make(reader.read_struct(_REQUEST_HEADER_STRUCT))


class ReplyHeader(NamedTuple):
    xid: int
    zxid: int
    err: int

    def serialize(self, out: bytearray) -> None:
        out += _REPLY_HEADER_STRUCT.pack(self.xid, self.zxid, self.err)

    @classmethod
    def deserialize(cls, reader: Reader) -> "ReplyHeader":
        return cls._make(reader.read_struct(_REPLY_HEADER_STRUCT))


class MultiHeader(NamedTuple):
    type: int
    done: bool
    err: int

    def serialize(self, out: bytearray) -> None:
        out += _MULTI_HEADER_STRUCT.pack(self.type, self.done, self.err)

    @classmethod
    def deserialize(cls, reader: Reader) -> "MultiHeader":
        return cls._make(reader.read_struct(_MULTI_HEADER_STRUCT))


class AuthPacket(NamedTuple):
    type: int  # always 0
    scheme: str | None
    auth: bytes | None

    def serialize(self, out: bytearray) -> None:
        write_int(out, self.type)
        write_ustring(out, self.scheme)
        write_buffer(out, self.auth)

    @classmethod
    def deserialize(cls, reader: Reader) -> "AuthPacket":
        return cls(reader.read_int(), reader.read_ustring(), reader.read_buffer())


def _read_string_vector(reader: Reader) -> list[str | None] | None:
    # Each string takes at least its 4-byte length.
    return reader.read_vector(Reader.read_ustring, 4)


def _write_string_vector(out: bytearray, items) -> None:
    write_vector(out, items, write_ustring)


class SetWatches(NamedTuple):
    relative_zxid: int
    data_watches: list[str] | None
    exist_watches: list[str] | None
    child_watches: list[str] | None

    def serialize(self, out: bytearray) -> None:
        write_long(out, self.relative_zxid)
        _write_string_vector(out, self.data_watches)
        _write_string_vector(out, self.exist_watches)
        _write_string_vector(out, self.child_watches)

    @classmethod
    def deserialize(cls, reader: Reader) -> "SetWatches":
        return cls(
            reader.read_long(),
            _read_string_vector(reader),
            _read_string_vector(reader),
            _read_string_vector(reader),
        )


class SetWatches2(NamedTuple):
    relative_zxid: int
    data_watches: list[str] | None
    exist_watches: list[str] | None
    child_watches: list[str] | None
    persistent_watches: list[str] | None
    persistent_recursive_watches: list[str] | None

    def serialize(self, out: bytearray) -> None:
        write_long(out, self.relative_zxid)
        _write_string_vector(out, self.data_watches)
        _write_string_vector(out, self.exist_watches)
        _write_string_vector(out, self.child_watches)
        _write_string_vector(out, self.persistent_watches)
        _write_string_vector(out, self.persistent_recursive_watches)

    @classmethod
    def deserialize(cls, reader: Reader) -> "SetWatches2":
        return cls(
            reader.read_long(),
            _read_string_vector(reader),
            _read_string_vector(reader),
            _read_string_vector(reader),
            _read_string_vector(reader),
            _read_string_vector(reader),
        )


class WatcherEvent(NamedTuple):
    type: int  # EventType
    state: int  # KeeperState; servers always send SYNC_CONNECTED
    path: str | None

    def serialize(self, out: bytearray) -> None:
        out += _INT_INT.pack(self.type, self.state)
        write_ustring(out, self.path)

    @classmethod
    def deserialize(cls, reader: Reader) -> "WatcherEvent":
        event_type, state = reader.read_struct(_INT_INT)
        return cls(event_type, state, reader.read_ustring())


class ErrorResponse(NamedTuple):
    err: int

    def serialize(self, out: bytearray) -> None:
        write_int(out, self.err)

    @classmethod
    def deserialize(cls, reader: Reader) -> "ErrorResponse":
        return cls(reader.read_int())


class GetSASLRequest(NamedTuple):
    token: bytes | None

    def serialize(self, out: bytearray) -> None:
        write_buffer(out, self.token)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetSASLRequest":
        return cls(reader.read_buffer())


class SetSASLResponse(NamedTuple):
    token: bytes | None

    def serialize(self, out: bytearray) -> None:
        write_buffer(out, self.token)

    @classmethod
    def deserialize(cls, reader: Reader) -> "SetSASLResponse":
        return cls(reader.read_buffer())


# -- operation records ----------------------------------------------------------------------------


class CreateRequest(NamedTuple):
    """Body of create (1), create2 (15) and createContainer (19)."""

    path: str | None
    data: bytes | None
    acl: list[ACL] | None
    flags: int  # CreateMode

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        write_vector(out, self.acl, write_record)
        write_int(out, self.flags)

    @classmethod
    def deserialize(cls, reader: Reader) -> "CreateRequest":
        return cls(
            reader.read_ustring(), reader.read_buffer(), _read_acl_vector(reader), reader.read_int()
        )


class CreateTTLRequest(NamedTuple):
    path: str | None
    data: bytes | None
    acl: list[ACL] | None
    flags: int
    ttl: int  # milliseconds

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        write_vector(out, self.acl, write_record)
        write_int(out, self.flags)
        write_long(out, self.ttl)

    @classmethod
    def deserialize(cls, reader: Reader) -> "CreateTTLRequest":
        return cls(
            reader.read_ustring(),
            reader.read_buffer(),
            _read_acl_vector(reader),
            reader.read_int(),
            reader.read_long(),
        )


class CreateResponse(NamedTuple):
    path: str | None

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)

    @classmethod
    def deserialize(cls, reader: Reader) -> "CreateResponse":
        return cls(reader.read_ustring())


class Create2Response(NamedTuple):
    path: str | None
    stat: Stat

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        out += STAT_STRUCT.pack(*self.stat)

    @classmethod
    def deserialize(cls, reader: Reader) -> "Create2Response":
        return cls(reader.read_ustring(), Stat._make(reader.read_struct(STAT_STRUCT)))


class DeleteRequest(NamedTuple):
    """delete (2); version -1 matches any version."""

    path: str | None
    version: int

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_int(out, self.version)

    @classmethod
    def deserialize(cls, reader: Reader) -> "DeleteRequest":
        return cls(reader.read_ustring(), reader.read_int())


class ExistsRequest(NamedTuple):
    """exists (3)."""

    path: str | None
    watch: bool

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_bool(out, self.watch)

    @classmethod
    def deserialize(cls, reader: Reader) -> "ExistsRequest":
        return cls(reader.read_ustring(), reader.read_bool())


class ExistsResponse(NamedTuple):
    """Reply to exists."""

    stat: Stat

    def serialize(self, out: bytearray) -> None:
        out += STAT_STRUCT.pack(*self.stat)

    @classmethod
    def deserialize(cls, reader: Reader) -> "ExistsResponse":
        return cls(Stat._make(reader.read_struct(STAT_STRUCT)))


class GetDataRequest(NamedTuple):
    """getData (4)."""

    path: str | None
    watch: bool

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_bool(out, self.watch)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetDataRequest":
        return cls(reader.read_ustring(), reader.read_bool())


class SetDataResponse(NamedTuple):
    """Reply to setData."""

    stat: Stat

    def serialize(self, out: bytearray) -> None:
        out += STAT_STRUCT.pack(*self.stat)

    @classmethod
    def deserialize(cls, reader: Reader) -> "SetDataResponse":
        return cls(Stat._make(reader.read_struct(STAT_STRUCT)))


class GetACLRequest(NamedTuple):
    """getACL (6)."""

    path: str | None

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetACLRequest":
        return cls(reader.read_ustring())


class SetACLResponse(NamedTuple):
    """Reply to setACL."""

    stat: Stat

    def serialize(self, out: bytearray) -> None:
        out += STAT_STRUCT.pack(*self.stat)

    @classmethod
    def deserialize(cls, reader: Reader) -> "SetACLResponse":
        return cls(Stat._make(reader.read_struct(STAT_STRUCT)))


class GetChildrenRequest(NamedTuple):
    """getChildren (8)."""

    path: str | None
    watch: bool

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_bool(out, self.watch)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetChildrenRequest":
        return cls(reader.read_ustring(), reader.read_bool())


class GetChildren2Request(NamedTuple):
    """getChildren2 (12)."""

    path: str | None
    watch: bool

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_bool(out, self.watch)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetChildren2Request":
        return cls(reader.read_ustring(), reader.read_bool())


class SyncRequest(NamedTuple):
    """sync (9)."""

    path: str | None

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)

    @classmethod
    def deserialize(cls, reader: Reader) -> "SyncRequest":
        return cls(reader.read_ustring())


class SyncResponse(NamedTuple):
    """Reply to sync: the path, echoed."""

    path: str | None

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)

    @classmethod
    def deserialize(cls, reader: Reader) -> "SyncResponse":
        return cls(reader.read_ustring())


class CheckVersionRequest(NamedTuple):
    """check (13): only valid inside a multi."""

    path: str | None
    version: int

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_int(out, self.version)

    @classmethod
    def deserialize(cls, reader: Reader) -> "CheckVersionRequest":
        return cls(reader.read_ustring(), reader.read_int())


class CheckWatchesRequest(NamedTuple):
    """checkWatches (17); type is a WatcherType."""

    path: str | None
    type: int

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_int(out, self.type)

    @classmethod
    def deserialize(cls, reader: Reader) -> "CheckWatchesRequest":
        return cls(reader.read_ustring(), reader.read_int())


class RemoveWatchesRequest(NamedTuple):
    """removeWatches (18); type is a WatcherType."""

    path: str | None
    type: int

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_int(out, self.type)

    @classmethod
    def deserialize(cls, reader: Reader) -> "RemoveWatchesRequest":
        return cls(reader.read_ustring(), reader.read_int())


class AddWatchRequest(NamedTuple):
    """addWatch (106); mode is an AddWatchMode."""

    path: str | None
    mode: int

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_int(out, self.mode)

    @classmethod
    def deserialize(cls, reader: Reader) -> "AddWatchRequest":
        return cls(reader.read_ustring(), reader.read_int())


class GetEphemeralsRequest(NamedTuple):
    """getEphemerals (103)."""

    prefix_path: str | None

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.prefix_path)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetEphemeralsRequest":
        return cls(reader.read_ustring())


class GetAllChildrenNumberRequest(NamedTuple):
    """getAllChildrenNumber (104)."""

    path: str | None

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetAllChildrenNumberRequest":
        return cls(reader.read_ustring())


class DeleteContainerRequest(NamedTuple):
    """deleteContainer (20): server-internal, clients never send it.

    Java writes the path with writeBuffer, which puts the same bytes on the wire as a ustring.
    """

    path: str | None

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)

    @classmethod
    def deserialize(cls, reader: Reader) -> "DeleteContainerRequest":
        return cls(reader.read_ustring())


class GetDataResponse(NamedTuple):
    """Reply to getData, and to reconfig (new config text + Stat of /zookeeper/config)."""

    data: bytes | None
    stat: Stat

    def serialize(self, out: bytearray) -> None:
        write_buffer(out, self.data)
        out += STAT_STRUCT.pack(*self.stat)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetDataResponse":
        return cls(reader.read_buffer(), Stat._make(reader.read_struct(STAT_STRUCT)))


class SetDataRequest(NamedTuple):
    path: str | None
    data: bytes | None
    version: int

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        write_int(out, self.version)

    @classmethod
    def deserialize(cls, reader: Reader) -> "SetDataRequest":
        return cls(reader.read_ustring(), reader.read_buffer(), reader.read_int())


class GetACLResponse(NamedTuple):
    acl: list[ACL] | None
    stat: Stat

    def serialize(self, out: bytearray) -> None:
        write_vector(out, self.acl, write_record)
        out += STAT_STRUCT.pack(*self.stat)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetACLResponse":
        return cls(_read_acl_vector(reader), Stat._make(reader.read_struct(STAT_STRUCT)))


class SetACLRequest(NamedTuple):
    path: str | None
    acl: list[ACL] | None
    version: int  # expected aversion

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_vector(out, self.acl, write_record)
        write_int(out, self.version)

    @classmethod
    def deserialize(cls, reader: Reader) -> "SetACLRequest":
        return cls(reader.read_ustring(), _read_acl_vector(reader), reader.read_int())


class GetChildrenResponse(NamedTuple):
    children: list[str] | None  # names, not paths

    def serialize(self, out: bytearray) -> None:
        _write_string_vector(out, self.children)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetChildrenResponse":
        return cls(_read_string_vector(reader))


class GetChildren2Response(NamedTuple):
    children: list[str] | None
    stat: Stat

    def serialize(self, out: bytearray) -> None:
        _write_string_vector(out, self.children)
        out += STAT_STRUCT.pack(*self.stat)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetChildren2Response":
        return cls(_read_string_vector(reader), Stat._make(reader.read_struct(STAT_STRUCT)))


class ReconfigRequest(NamedTuple):
    joining_servers: str | None
    leaving_servers: str | None
    new_members: str | None
    cur_config_id: int  # -1 = any

    def serialize(self, out: bytearray) -> None:
        write_ustring(out, self.joining_servers)
        write_ustring(out, self.leaving_servers)
        write_ustring(out, self.new_members)
        write_long(out, self.cur_config_id)

    @classmethod
    def deserialize(cls, reader: Reader) -> "ReconfigRequest":
        return cls(
            reader.read_ustring(), reader.read_ustring(), reader.read_ustring(), reader.read_long()
        )


class GetEphemeralsResponse(NamedTuple):
    ephemerals: list[str] | None  # full paths

    def serialize(self, out: bytearray) -> None:
        _write_string_vector(out, self.ephemerals)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetEphemeralsResponse":
        return cls(_read_string_vector(reader))


class GetAllChildrenNumberResponse(NamedTuple):
    total_number: int

    def serialize(self, out: bytearray) -> None:
        write_int(out, self.total_number)

    @classmethod
    def deserialize(cls, reader: Reader) -> "GetAllChildrenNumberResponse":
        return cls(reader.read_int())


class WhoAmIResponse(NamedTuple):
    client_info: list[ClientInfo] | None

    def serialize(self, out: bytearray) -> None:
        write_vector(out, self.client_info, write_record)

    @classmethod
    def deserialize(cls, reader: Reader) -> "WhoAmIResponse":
        # A ClientInfo is at least 8 bytes (two string lengths).
        return cls(reader.read_vector(ClientInfo.deserialize, 8))


# -- multi ----------------------------------------------------------------------------------------

# Op type -> request record inside a multi (MultiOperationRecord.deserialize).
MULTI_OP_REQUEST_RECORDS: dict[int, type] = {
    OpCode.CREATE: CreateRequest,
    OpCode.CREATE2: CreateRequest,
    OpCode.CREATE_CONTAINER: CreateRequest,
    OpCode.CREATE_TTL: CreateTTLRequest,
    OpCode.DELETE: DeleteRequest,
    OpCode.SET_DATA: SetDataRequest,
    OpCode.CHECK: CheckVersionRequest,
    OpCode.GET_CHILDREN: GetChildrenRequest,
    OpCode.GET_DATA: GetDataRequest,
}
MULTI_READ_OPS = frozenset({OpCode.GET_CHILDREN, OpCode.GET_DATA})
MULTI_WRITE_OPS = frozenset(MULTI_OP_REQUEST_RECORDS) - MULTI_READ_OPS

# Result type -> success record inside a MultiResponse (None: no body).  ERROR is handled apart.
MULTI_RESULT_RECORDS: dict[int, type | None] = {
    OpCode.CREATE: CreateResponse,
    OpCode.CREATE2: Create2Response,
    OpCode.DELETE: None,
    OpCode.SET_DATA: SetDataResponse,
    OpCode.CHECK: None,
    OpCode.GET_CHILDREN: GetChildrenResponse,
    OpCode.GET_DATA: GetDataResponse,
}

_OPCODES_BY_VALUE: dict[int, OpCode] = {op.value: op for op in OpCode}


class MultiRequest(NamedTuple):
    """Body of multi (14) and multiRead (22): a tuple of ``(opcode, request_record)``."""

    ops: tuple

    @property
    def is_read(self) -> bool:
        """True for a multiRead-kind request (its ops are getData/getChildren); False if empty."""
        return bool(self.ops) and self.ops[0][0] in MULTI_READ_OPS

    def serialize(self, out: bytearray) -> None:
        header = _MULTI_HEADER_STRUCT.pack
        for opcode, record in self.ops:
            out += header(opcode, False, -1)
            record.serialize(out)
        out += _MULTI_TERMINATOR

    @classmethod
    def deserialize(cls, reader: Reader) -> "MultiRequest":
        ops = []
        seen_read = seen_write = False
        while True:
            op_type, done, _err = reader.read_struct(_MULTI_HEADER_STRUCT)
            if done:
                break
            record_class = MULTI_OP_REQUEST_RECORDS.get(op_type)
            if record_class is None:
                raise RemoteProtocolError(f"invalid op type {op_type} in multi", Err.MARSHALLING_ERROR)
            record = record_class.deserialize(reader)
            if op_type in MULTI_READ_OPS:
                seen_read = True
            else:
                seen_write = True
            if seen_read and seen_write:
                raise RemoteProtocolError(
                    "multi mixes read and write operations", Err.MARSHALLING_ERROR
                )
            ops.append((_OPCODES_BY_VALUE[op_type], record))
        return cls(tuple(ops))


class MultiResponse(NamedTuple):
    """Reply body of multi / multiRead: a tuple of ``(opcode, record_or_None)``.

    A failed or rolled-back op is ``(OpCode.ERROR, ErrorResponse(err))``; its MultiHeader carries
    the same err (the C client reads the body, Java the body too; we write both).
    """

    results: tuple

    def serialize(self, out: bytearray) -> None:
        header = _MULTI_HEADER_STRUCT.pack
        for opcode, record in self.results:
            if opcode == OpCode.ERROR:
                out += header(-1, False, record.err)
                out += INT_STRUCT.pack(record.err)
            else:
                out += header(opcode, False, 0)
                if record is not None:
                    record.serialize(out)
        out += _MULTI_TERMINATOR

    @classmethod
    def deserialize(cls, reader: Reader) -> "MultiResponse":
        results = []
        while True:
            result_type, done, _err = reader.read_struct(_MULTI_HEADER_STRUCT)
            # The terminator's type is -1 too, so `done` must be tested first.
            if done:
                break
            if result_type == OpCode.ERROR:
                results.append((OpCode.ERROR, ErrorResponse(reader.read_int())))
                continue
            if result_type not in MULTI_RESULT_RECORDS:
                raise RemoteProtocolError(f"invalid result type {result_type} in multi response")
            record_class = MULTI_RESULT_RECORDS[result_type]
            record = None if record_class is None else record_class.deserialize(reader)
            results.append((_OPCODES_BY_VALUE[result_type], record))
        return cls(tuple(results))


# -- tables ---------------------------------------------------------------------------------------

# Every opcode a client may send on its own, with its request body (None: header only).  CHECK is
# absent on purpose (valid only inside a multi: Unimplemented when sent alone), as are 0, 10,
# CREATE_SESSION and ERROR, which are never client requests.
REQUEST_RECORDS: dict[int, type | None] = {
    OpCode.CREATE: CreateRequest,
    OpCode.DELETE: DeleteRequest,
    OpCode.EXISTS: ExistsRequest,
    OpCode.GET_DATA: GetDataRequest,
    OpCode.SET_DATA: SetDataRequest,
    OpCode.GET_ACL: GetACLRequest,
    OpCode.SET_ACL: SetACLRequest,
    OpCode.GET_CHILDREN: GetChildrenRequest,
    OpCode.SYNC: SyncRequest,
    OpCode.PING: None,
    OpCode.GET_CHILDREN2: GetChildren2Request,
    OpCode.MULTI: MultiRequest,
    OpCode.CREATE2: CreateRequest,
    OpCode.RECONFIG: ReconfigRequest,
    OpCode.CHECK_WATCHES: CheckWatchesRequest,
    OpCode.REMOVE_WATCHES: RemoveWatchesRequest,
    OpCode.CREATE_CONTAINER: CreateRequest,
    OpCode.DELETE_CONTAINER: DeleteContainerRequest,
    OpCode.CREATE_TTL: CreateTTLRequest,
    OpCode.MULTI_READ: MultiRequest,
    OpCode.AUTH: AuthPacket,
    OpCode.SET_WATCHES: SetWatches,
    OpCode.SASL: GetSASLRequest,
    OpCode.GET_EPHEMERALS: GetEphemeralsRequest,
    OpCode.GET_ALL_CHILDREN_NUMBER: GetAllChildrenNumberRequest,
    OpCode.SET_WATCHES2: SetWatches2,
    OpCode.ADD_WATCH: AddWatchRequest,
    OpCode.WHO_AM_I: None,
    OpCode.CLOSE_SESSION: None,
}

# The body of a successful (err == 0) reply to each client opcode (None: no body).  Error replies
# never have a body.
RESPONSE_RECORDS: dict[int, type | None] = {
    OpCode.CREATE: CreateResponse,
    OpCode.DELETE: None,
    OpCode.EXISTS: ExistsResponse,
    OpCode.GET_DATA: GetDataResponse,
    OpCode.SET_DATA: SetDataResponse,
    OpCode.GET_ACL: GetACLResponse,
    OpCode.SET_ACL: SetACLResponse,
    OpCode.GET_CHILDREN: GetChildrenResponse,
    OpCode.SYNC: SyncResponse,
    OpCode.PING: None,
    OpCode.GET_CHILDREN2: GetChildren2Response,
    OpCode.MULTI: MultiResponse,
    OpCode.CREATE2: Create2Response,
    OpCode.RECONFIG: GetDataResponse,
    OpCode.CHECK_WATCHES: None,
    OpCode.REMOVE_WATCHES: None,
    OpCode.CREATE_CONTAINER: Create2Response,
    OpCode.DELETE_CONTAINER: None,
    OpCode.CREATE_TTL: Create2Response,
    OpCode.MULTI_READ: MultiResponse,
    OpCode.AUTH: None,
    OpCode.SET_WATCHES: None,
    OpCode.SASL: SetSASLResponse,
    OpCode.GET_EPHEMERALS: GetEphemeralsResponse,
    OpCode.GET_ALL_CHILDREN_NUMBER: GetAllChildrenNumberResponse,
    OpCode.SET_WATCHES2: None,
    OpCode.ADD_WATCH: ErrorResponse,  # 4 bytes, err 0: the Java client requires them
    OpCode.WHO_AM_I: WhoAmIResponse,
    OpCode.CLOSE_SESSION: None,
}


def encode_record(record) -> bytes:
    """The bytes of one record (unframed); handy in tests and for ``reply_raw`` bodies."""
    out = bytearray()
    record.serialize(out)
    return bytes(out)


def decode_record(record_class, data: bytes | bytearray | memoryview):
    """Decode one record that must fill ``data`` exactly (trailing bytes are an error here)."""
    reader = Reader(data)
    record = record_class.deserialize(reader)
    if reader.remaining():
        raise RemoteProtocolError(
            f"{reader.remaining()} unexpected bytes after {record_class.__name__}"
        )
    return record
