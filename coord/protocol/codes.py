"""ZooKeeper wire constants: opcodes, error codes, watch/session enums, special xids.

Theory of operation: every number that appears on the wire and means something lives here,
as an ``IntEnum`` (or ``IntFlag`` for permissions) so that it compares equal to the plain ``int``
read off the wire while still printing a name.  The values come from ``ZooDefs.java``,
``KeeperException.java``, ``Watcher.java`` and ``CreateMode.java`` of Apache ZooKeeper 3.8/3.9
(see docs/zookeeper-wire-protocol.md §6, §10, §13, §15).  Decoders keep raw ints in records (no
enum conversion on the hot path); convert with e.g. ``Err(value)`` when a name is wanted.
"""

from enum import IntEnum, IntFlag

__all__ = [
    "OpCode",
    "Err",
    "EventType",
    "KeeperState",
    "CreateMode",
    "WatcherType",
    "AddWatchMode",
    "Perm",
    "XID_NOTIFICATION",
    "XID_PING",
    "XID_AUTH",
    "XID_SET_WATCHES",
    "DEFAULT_MAX_FRAME_BYTES",
    "FOUR_LETTER_WORDS",
    "FOUR_LETTER_WORD_STMK",
    "FOUR_LETTER_WORD_ARGUMENT_BYTES",
]


class OpCode(IntEnum):
    """Request types (``RequestHeader.type``, ``MultiHeader.type``)."""

    NOTIFICATION = 0
    CREATE = 1
    DELETE = 2
    EXISTS = 3
    GET_DATA = 4
    SET_DATA = 5
    GET_ACL = 6
    SET_ACL = 7
    GET_CHILDREN = 8
    SYNC = 9
    PING = 11
    GET_CHILDREN2 = 12
    CHECK = 13
    MULTI = 14
    CREATE2 = 15
    RECONFIG = 16
    CHECK_WATCHES = 17
    REMOVE_WATCHES = 18
    CREATE_CONTAINER = 19
    DELETE_CONTAINER = 20
    CREATE_TTL = 21
    MULTI_READ = 22
    AUTH = 100
    SET_WATCHES = 101
    SASL = 102
    GET_EPHEMERALS = 103
    GET_ALL_CHILDREN_NUMBER = 104
    SET_WATCHES2 = 105
    ADD_WATCH = 106
    WHO_AM_I = 107
    CREATE_SESSION = -10
    CLOSE_SESSION = -11
    ERROR = -1


class Err(IntEnum):
    """``ReplyHeader.err`` / ``ErrorResponse.err`` codes a server may put on the wire.

    Client-side-only codes of the C client (-9, -15, -116, -117) are deliberately absent: clients
    reject codes they do not know, so a server must never invent one.
    """

    OK = 0
    SYSTEM_ERROR = -1
    RUNTIME_INCONSISTENCY = -2
    DATA_INCONSISTENCY = -3
    CONNECTION_LOSS = -4
    MARSHALLING_ERROR = -5
    UNIMPLEMENTED = -6
    OPERATION_TIMEOUT = -7
    BAD_ARGUMENTS = -8
    UNKNOWN_SESSION = -12
    NEW_CONFIG_NO_QUORUM = -13
    RECONFIG_IN_PROGRESS = -14
    API_ERROR = -100
    NO_NODE = -101
    NO_AUTH = -102
    BAD_VERSION = -103
    NO_CHILDREN_FOR_EPHEMERALS = -108
    NODE_EXISTS = -110
    NOT_EMPTY = -111
    SESSION_EXPIRED = -112
    INVALID_CALLBACK = -113
    INVALID_ACL = -114
    AUTH_FAILED = -115
    SESSION_MOVED = -118
    NOT_READ_ONLY = -119
    EPHEMERAL_ON_LOCAL_SESSION = -120
    NO_WATCHER = -121
    REQUEST_TIMEOUT = -122
    RECONFIG_DISABLED = -123
    SESSION_CLOSED_REQUIRE_SASL_AUTH = -124
    QUOTA_EXCEEDED = -125
    THROTTLED = -127


class EventType(IntEnum):
    """``WatcherEvent.type``.  Only 1-4 are ever sent by a server; the rest are client-local."""

    NONE = -1
    NODE_CREATED = 1
    NODE_DELETED = 2
    NODE_DATA_CHANGED = 3
    NODE_CHILDREN_CHANGED = 4
    DATA_WATCH_REMOVED = 5
    CHILD_WATCH_REMOVED = 6
    PERSISTENT_WATCH_REMOVED = 7


class KeeperState(IntEnum):
    """``WatcherEvent.state``.  A server only ever sends SYNC_CONNECTED."""

    UNKNOWN = -1
    DISCONNECTED = 0
    NO_SYNC_CONNECTED = 1
    SYNC_CONNECTED = 3
    AUTH_FAILED = 4
    CONNECTED_READ_ONLY = 5
    SASL_AUTHENTICATED = 6
    CLOSED = 7
    EXPIRED = -112


class CreateMode(IntEnum):
    """``CreateRequest.flags``.  Any other value is BadArguments (or MarshallingError in a multi)."""

    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3
    CONTAINER = 4
    PERSISTENT_WITH_TTL = 5
    PERSISTENT_SEQUENTIAL_WITH_TTL = 6


class WatcherType(IntEnum):
    """``CheckWatchesRequest.type`` / ``RemoveWatchesRequest.type`` (4 and 5 are 3.9+)."""

    CHILDREN = 1
    DATA = 2
    ANY = 3
    PERSISTENT = 4
    PERSISTENT_RECURSIVE = 5


class AddWatchMode(IntEnum):
    """``AddWatchRequest.mode``."""

    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


class Perm(IntFlag):
    """``ACL.perms`` bits.  Servers store unknown bits as given, so decoders keep raw ints."""

    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


# Reserved xids (docs §5.1).  Every other xid is chosen by the client and echoed by the server.
XID_NOTIFICATION = -1  # server -> client only: watch notification
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8  # SetWatches and SetWatches2

# jute.maxbuffer default: the largest frame payload either side accepts (0xFFFFF).
DEFAULT_MAX_FRAME_BYTES = 1048575


def _word_int(word: str) -> int:
    return int.from_bytes(word.encode("ascii"), "big")


# Four-letter words, keyed by their first 4 bytes read as a big-endian int (docs §15).  Every value
# is far above DEFAULT_MAX_FRAME_BYTES, which is why they cannot be confused with a frame length.
# The telnet "close" sequence 0xfff4fffd is not listed: read as a length it is negative, so the
# connection is closed anyway, which is all ZooKeeper does with it.
FOUR_LETTER_WORDS: dict[int, str] = {
    _word_int(word): word
    for word in (
        "ruok", "isro", "srvr", "stat", "mntr", "conf", "cons", "envi", "wchs",
        "wchc", "wchp", "dump", "crst", "srst", "dirs", "gtmk", "stmk", "hash",
    )
}

# stmk is the only word followed by an argument: an 8-byte big-endian long (the new trace mask).
FOUR_LETTER_WORD_STMK = _word_int("stmk")
FOUR_LETTER_WORD_ARGUMENT_BYTES = {FOUR_LETTER_WORD_STMK: 8}
