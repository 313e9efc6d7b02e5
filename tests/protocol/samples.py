"""Sample records for the protocol tests: at least one of every record, with the edge cases.

Edge cases on purpose: null (None) vs empty data, strings and vectors; non-ASCII paths; extreme
ints.  ``test_records.py`` checks that every record class in ``coord.protocol.records`` has a
sample here, so a new record cannot be added without being round-tripped.
"""

from coord.protocol.codes import CreateMode, Err, OpCode, Perm
from coord.protocol import records as R

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

STAT = R.Stat(
    czxid=0x100000002, mzxid=0x100000005, ctime=1_700_000_000_000, mtime=1_700_000_000_123,
    version=3, cversion=-1, aversion=INT_MAX, ephemeral_owner=LONG_MIN, data_length=5,
    num_children=0, pzxid=LONG_MAX,
)
ZERO_STAT = R.Stat(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
OPEN_ACL = [R.ACL(Perm.ALL, R.Id("world", "anyone"))]
MIXED_ACL = [
    R.ACL(Perm.READ | Perm.WRITE, R.Id("digest", "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=")),
    R.ACL(Perm.ALL, R.Id("auth", None)),  # kazoo sends the auth id as null
    R.ACL(0, R.Id("ip", "")),
]

# Request records per client opcode.  Several per opcode where null/empty matter.
SAMPLE_REQUESTS: dict[int, list] = {
    OpCode.CREATE: [
        R.CreateRequest("/a", b"data", OPEN_ACL, CreateMode.PERSISTENT),
        R.CreateRequest("/a/ü-", None, MIXED_ACL, CreateMode.EPHEMERAL_SEQUENTIAL),
        R.CreateRequest("/empty", b"", [], CreateMode.PERSISTENT),
        R.CreateRequest(None, b"\x00\xff", None, -7),
    ],
    OpCode.CREATE2: [R.CreateRequest("/b", b"x" * 300, OPEN_ACL, CreateMode.EPHEMERAL)],
    OpCode.CREATE_CONTAINER: [R.CreateRequest("/c", b"", OPEN_ACL, CreateMode.CONTAINER)],
    OpCode.CREATE_TTL: [
        R.CreateTTLRequest("/t", b"t", OPEN_ACL, CreateMode.PERSISTENT_WITH_TTL, 0xFF_FFFF_FFFF),
        R.CreateTTLRequest("/t-", None, None, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, LONG_MIN),
    ],
    OpCode.DELETE: [R.DeleteRequest("/a", -1), R.DeleteRequest("", INT_MAX)],
    OpCode.EXISTS: [R.ExistsRequest("/a", True), R.ExistsRequest("/a", False)],
    OpCode.GET_DATA: [R.GetDataRequest("/a", True), R.GetDataRequest(None, False)],
    OpCode.SET_DATA: [
        R.SetDataRequest("/a", b"new", 3),
        R.SetDataRequest("/a", None, -1),
        R.SetDataRequest("/a", b"", INT_MIN),
    ],
    OpCode.GET_ACL: [R.GetACLRequest("/a")],
    OpCode.SET_ACL: [R.SetACLRequest("/a", MIXED_ACL, 2), R.SetACLRequest("/a", [], -1)],
    OpCode.GET_CHILDREN: [R.GetChildrenRequest("/", True)],
    OpCode.GET_CHILDREN2: [R.GetChildren2Request("/zookeeper", False)],
    OpCode.SYNC: [R.SyncRequest("/a")],
    OpCode.PING: [None],
    OpCode.MULTI: [
        R.MultiRequest((
            (OpCode.CREATE, R.CreateRequest("/m", b"1", OPEN_ACL, 0)),
            (OpCode.CREATE2, R.CreateRequest("/m/2", None, OPEN_ACL, 2)),
            (OpCode.CREATE_CONTAINER, R.CreateRequest("/m/c", b"", OPEN_ACL, 4)),
            (OpCode.CREATE_TTL, R.CreateTTLRequest("/m/t", b"", OPEN_ACL, 5, 1000)),
            (OpCode.SET_DATA, R.SetDataRequest("/m", b"2", 0)),
            (OpCode.CHECK, R.CheckVersionRequest("/m", 1)),
            (OpCode.DELETE, R.DeleteRequest("/m/2", -1)),
        )),
        R.MultiRequest(()),
    ],
    OpCode.MULTI_READ: [
        R.MultiRequest((
            (OpCode.GET_DATA, R.GetDataRequest("/m", False)),
            (OpCode.GET_CHILDREN, R.GetChildrenRequest("/m", False)),
        )),
        R.MultiRequest(()),
    ],
    OpCode.RECONFIG: [
        R.ReconfigRequest("server.4=h:2888:3888;2181", "2,3", None, -1),
        R.ReconfigRequest(None, None, "server.1=h:1:2;3", 0x100000000),
    ],
    OpCode.CHECK_WATCHES: [R.CheckWatchesRequest("/a", 2)],
    OpCode.REMOVE_WATCHES: [R.RemoveWatchesRequest("/a", 3)],
    OpCode.DELETE_CONTAINER: [R.DeleteContainerRequest("/c")],
    OpCode.AUTH: [R.AuthPacket(0, "digest", b"user:password"), R.AuthPacket(0, "ip", None)],
    OpCode.SET_WATCHES: [
        R.SetWatches(0x500000001, ["/a", "/b"], [], ["/c"]),
        R.SetWatches(0, None, None, None),
    ],
    OpCode.SET_WATCHES2: [
        R.SetWatches2(7, ["/a"], ["/x"], [], ["/p"], ["/r", "/r2"]),
        R.SetWatches2(0, [], None, [], None, []),
    ],
    OpCode.SASL: [R.GetSASLRequest(b"\x00token"), R.GetSASLRequest(b""), R.GetSASLRequest(None)],
    OpCode.GET_EPHEMERALS: [R.GetEphemeralsRequest("/"), R.GetEphemeralsRequest("")],
    OpCode.GET_ALL_CHILDREN_NUMBER: [R.GetAllChildrenNumberRequest("/a")],
    OpCode.ADD_WATCH: [R.AddWatchRequest("/a", 0), R.AddWatchRequest("/b", 1)],
    OpCode.WHO_AM_I: [None],
    OpCode.CLOSE_SESSION: [None],
}

# Success reply bodies per client opcode (None: no body).
SAMPLE_RESPONSES: dict[int, list] = {
    OpCode.CREATE: [R.CreateResponse("/a/ü-0000000007")],
    OpCode.CREATE2: [R.Create2Response("/b", STAT)],
    OpCode.CREATE_CONTAINER: [R.Create2Response("/c", ZERO_STAT)],
    OpCode.CREATE_TTL: [R.Create2Response("/t-0000000001", STAT)],
    OpCode.DELETE: [None],
    OpCode.EXISTS: [R.ExistsResponse(STAT)],
    OpCode.GET_DATA: [R.GetDataResponse(b"data", STAT), R.GetDataResponse(None, ZERO_STAT),
                      R.GetDataResponse(b"", STAT)],
    OpCode.SET_DATA: [R.SetDataResponse(STAT)],
    OpCode.GET_ACL: [R.GetACLResponse(MIXED_ACL, STAT), R.GetACLResponse([], ZERO_STAT)],
    OpCode.SET_ACL: [R.SetACLResponse(STAT)],
    OpCode.GET_CHILDREN: [R.GetChildrenResponse(["a", "b", "ü"]), R.GetChildrenResponse([]),
                          R.GetChildrenResponse(None)],
    OpCode.GET_CHILDREN2: [R.GetChildren2Response(["zookeeper"], STAT)],
    OpCode.SYNC: [R.SyncResponse("/a")],
    OpCode.PING: [None],
    OpCode.MULTI: [
        R.MultiResponse((
            (OpCode.CREATE, R.CreateResponse("/m")),
            (OpCode.CREATE2, R.Create2Response("/m/2", STAT)),
            (OpCode.SET_DATA, R.SetDataResponse(STAT)),
            (OpCode.CHECK, None),
            (OpCode.DELETE, None),
        )),
        R.MultiResponse((
            (OpCode.ERROR, R.ErrorResponse(Err.OK)),
            (OpCode.ERROR, R.ErrorResponse(Err.NO_NODE)),
            (OpCode.ERROR, R.ErrorResponse(Err.RUNTIME_INCONSISTENCY)),
        )),
        R.MultiResponse(()),
    ],
    OpCode.MULTI_READ: [
        R.MultiResponse((
            (OpCode.GET_DATA, R.GetDataResponse(None, STAT)),
            (OpCode.GET_CHILDREN, R.GetChildrenResponse(["x"])),
            (OpCode.ERROR, R.ErrorResponse(Err.NO_AUTH)),
        )),
    ],
    OpCode.RECONFIG: [R.GetDataResponse(b"server.1=h:1:2:participant;0.0.0.0:2181\nversion=1", STAT)],
    OpCode.CHECK_WATCHES: [None],
    OpCode.REMOVE_WATCHES: [None],
    OpCode.DELETE_CONTAINER: [None],
    OpCode.AUTH: [None],
    OpCode.SET_WATCHES: [None],
    OpCode.SET_WATCHES2: [None],
    OpCode.SASL: [R.SetSASLResponse(b"challenge"), R.SetSASLResponse(None)],
    OpCode.GET_EPHEMERALS: [R.GetEphemeralsResponse(["/e1", "/a/e2"]), R.GetEphemeralsResponse([])],
    OpCode.GET_ALL_CHILDREN_NUMBER: [R.GetAllChildrenNumberResponse(12345)],
    OpCode.ADD_WATCH: [R.ErrorResponse(0)],
    OpCode.WHO_AM_I: [
        R.WhoAmIResponse([R.ClientInfo("ip", "127.0.0.1"), R.ClientInfo("digest", "user")]),
        R.WhoAmIResponse([]),
    ],
    OpCode.CLOSE_SESSION: [None],
}

# Records that are not a request or reply body of their own.
OTHER_RECORDS = [
    R.Id("world", "anyone"),
    R.Id(None, ""),
    R.ACL(Perm.ADMIN, R.Id("x509", "CN=client")),
    STAT,
    R.ClientInfo(None, None),
    R.ConnectRequest(0, 0, 30000, 0, b"\0" * 16, False),
    R.ConnectRequest(0, 0x100000007, 4000, 0x100000000ABCDEF, b"p" * 16, True),
    R.ConnectRequest(0, 5, 10000, 0, b"\0" * 16, None),
    R.ConnectRequest(0, 0, 0, 0, None, None),
    R.ConnectResponse(0, 30000, 0x1234, b"s" * 16, False),
    R.ConnectResponse(0, 0, 0, b"\0" * 16, True),
    R.ConnectResponse(0, 4000, 7, b"\0" * 16, None),
    R.RequestHeader(1, OpCode.GET_DATA),
    R.RequestHeader(-2, OpCode.PING),
    R.ReplyHeader(-1, -1, 0),
    R.ReplyHeader(INT_MAX, LONG_MAX, Err.THROTTLED),
    R.MultiHeader(-1, True, -1),
    R.MultiHeader(OpCode.CREATE, False, 0),
    R.WatcherEvent(3, 3, "/a"),
    R.WatcherEvent(-1, -112, None),
    R.ErrorResponse(Err.MARSHALLING_ERROR),
    R.CheckVersionRequest("/m", -1),
]


def all_samples() -> list:
    """Every sample record (no Nones)."""
    samples = list(OTHER_RECORDS)
    for table in (SAMPLE_REQUESTS, SAMPLE_RESPONSES):
        for records in table.values():
            samples.extend(record for record in records if record is not None)
    return samples
