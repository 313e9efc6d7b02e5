"""Golden bytes from someone else's encoder: kazoo 2.11's serializers against ours, both ways.

Requests: kazoo serializes, we must produce the same bytes and decode kazoo's bytes to the same
values.  Responses: we serialize, kazoo's ``deserialize`` must read back what we meant.  kazoo
writes the empty string as null (python-zk/kazoo#792), so the strings used here are non-empty,
and one test pins that quirk down.
"""

import pytest
from kazoo import security as KS
from kazoo.exceptions import NoNodeError, RolledBackError, RuntimeInconsistency
from kazoo.protocol import serialization as K
from kazoo.protocol.states import ZnodeStat

from coord.protocol import records as R
from coord.protocol.codes import Err, OpCode
from coord.protocol.jute import Reader

from .samples import STAT

KAZOO_ACLS = [
    KS.ACL(31, KS.Id("world", "anyone")),
    KS.ACL(1, KS.Id("digest", "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=")),
]
OUR_ACLS = [R.ACL(acl.perms, R.Id(acl.id.scheme, acl.id.id)) for acl in KAZOO_ACLS]


def ours(record) -> bytes:
    return R.encode_record(record)


# (kazoo request, our equivalent record, our opcode)
REQUEST_PAIRS = [
    (K.Create("/a/b", b"data", KAZOO_ACLS, 3), R.CreateRequest("/a/b", b"data", OUR_ACLS, 3), OpCode.CREATE),
    (K.Create("/n", None, KAZOO_ACLS, 0), R.CreateRequest("/n", None, OUR_ACLS, 0), OpCode.CREATE),
    (K.Create2("/c2", b"", KAZOO_ACLS, 1), R.CreateRequest("/c2", b"", OUR_ACLS, 1), OpCode.CREATE2),
    (K.Delete("/a", 7), R.DeleteRequest("/a", 7), OpCode.DELETE),
    (K.Exists("/a", True), R.ExistsRequest("/a", True), OpCode.EXISTS),
    (K.Exists("/a", None), R.ExistsRequest("/a", False), OpCode.EXISTS),
    (K.GetData("/ü", True), R.GetDataRequest("/ü", True), OpCode.GET_DATA),
    (K.SetData("/a", b"x", -1), R.SetDataRequest("/a", b"x", -1), OpCode.SET_DATA),
    (K.GetACL("/a"), R.GetACLRequest("/a"), OpCode.GET_ACL),
    (K.SetACL("/a", KAZOO_ACLS, 4), R.SetACLRequest("/a", OUR_ACLS, 4), OpCode.SET_ACL),
    (K.GetChildren("/", False), R.GetChildrenRequest("/", False), OpCode.GET_CHILDREN),
    (K.GetChildren2("/", True), R.GetChildren2Request("/", True), OpCode.GET_CHILDREN2),
    (K.Sync("/a"), R.SyncRequest("/a"), OpCode.SYNC),
    (K.Reconfig("server.5=h:1:2;3", "1", "server.1=h:1:2;3", -1),
     R.ReconfigRequest("server.5=h:1:2;3", "1", "server.1=h:1:2;3", -1), OpCode.RECONFIG),
    (K.Auth(0, "digest", "user:password"), R.AuthPacket(0, "digest", b"user:password"), OpCode.AUTH),
    (K.SASL(b"\x00token"), R.GetSASLRequest(b"\x00token"), OpCode.SASL),
    (K.SASL(None), R.GetSASLRequest(None), OpCode.SASL),
    (
        K.Transaction([
            K.Create("/t", b"1", KAZOO_ACLS, 0),
            K.SetData("/t", b"2", 0),
            K.CheckVersion("/t", 1),
            K.Delete("/t", -1),
        ]),
        R.MultiRequest((
            (OpCode.CREATE, R.CreateRequest("/t", b"1", OUR_ACLS, 0)),
            (OpCode.SET_DATA, R.SetDataRequest("/t", b"2", 0)),
            (OpCode.CHECK, R.CheckVersionRequest("/t", 1)),
            (OpCode.DELETE, R.DeleteRequest("/t", -1)),
        )),
        OpCode.MULTI,
    ),
    (K.Transaction([]), R.MultiRequest(()), OpCode.MULTI),
]


@pytest.mark.parametrize("kazoo_request, record, opcode", REQUEST_PAIRS, ids=lambda v: type(v).__name__)
def test_request_bytes_match_kazoo(kazoo_request, record, opcode):
    kazoo_bytes = bytes(kazoo_request.serialize())
    assert ours(record) == kazoo_bytes
    assert R.decode_record(type(record), kazoo_bytes) == record
    assert kazoo_request.type == opcode


def test_check_version_inside_multi_matches_kazoo():
    kazoo_bytes = bytes(K.CheckVersion("/x", 3).serialize())
    assert ours(R.CheckVersionRequest("/x", 3)) == kazoo_bytes


def test_connect_request_matches_kazoo():
    for read_only in (False, True):
        kazoo_bytes = bytes(K.Connect(0, 0x100000005, 30000, 0x77, b"\x01" * 16, read_only).serialize())
        record = R.ConnectRequest(0, 0x100000005, 30000, 0x77, b"\x01" * 16, read_only)
        assert ours(record) == kazoo_bytes
        assert R.decode_record(R.ConnectRequest, kazoo_bytes) == record


def test_kazoo_sends_empty_strings_as_null():
    kazoo_bytes = bytes(K.Create("", b"", [KS.ACL(31, KS.Id("auth", ""))], 0).serialize())
    assert R.decode_record(R.CreateRequest, kazoo_bytes) == R.CreateRequest(
        None, b"", [R.ACL(31, R.Id("auth", None))], 0
    )


# -- responses: our bytes through kazoo's deserializers -------------------------------------------


def kazoo_stat(stat: R.Stat) -> ZnodeStat:
    return ZnodeStat(*stat)


def test_connect_response_read_by_kazoo():
    for read_only in (False, True, None):
        response = R.ConnectResponse(0, 4000, 0x100000000ABC, b"\x05" * 16, read_only)
        decoded, offset = K.Connect.deserialize(ours(response), 0)
        assert (decoded.protocol_version, decoded.time_out, decoded.session_id, decoded.passwd) == (
            0, 4000, 0x100000000ABC, b"\x05" * 16,
        )
        assert decoded.read_only is bool(read_only)


def test_reply_header_and_watch_event_read_by_kazoo():
    header, offset = K.ReplyHeader.deserialize(ours(R.ReplyHeader(-1, 0x200000003, 0)), 0)
    assert header == (-1, 0x200000003, 0) and offset == 16
    event, _ = K.Watch.deserialize(ours(R.WatcherEvent(4, 3, "/parent")), 0)
    assert event == K.Watch(4, 3, "/parent")


@pytest.mark.parametrize(
    "kazoo_class, record, expected",
    [
        (K.Create, R.CreateResponse("/s-0000000001"), "/s-0000000001"),
        (K.Create2, R.Create2Response("/c", STAT), ("/c", kazoo_stat(STAT))),
        (K.Exists, R.ExistsResponse(STAT), kazoo_stat(STAT)),
        (K.GetData, R.GetDataResponse(b"v", STAT), (b"v", kazoo_stat(STAT))),
        (K.GetData, R.GetDataResponse(None, STAT), (None, kazoo_stat(STAT))),
        (K.SetData, R.SetDataResponse(STAT), kazoo_stat(STAT)),
        (K.SetACL, R.SetACLResponse(STAT), kazoo_stat(STAT)),
        (K.GetACL, R.GetACLResponse(OUR_ACLS, STAT), (KAZOO_ACLS, kazoo_stat(STAT))),
        (K.GetChildren, R.GetChildrenResponse(["a", "ü"]), ["a", "ü"]),
        (K.GetChildren2, R.GetChildren2Response(["a"], STAT), (["a"], kazoo_stat(STAT))),
        (K.Sync, R.SyncResponse("/a"), "/a"),
        (K.Reconfig, R.GetDataResponse(b"server.1=...", STAT), (b"server.1=...", kazoo_stat(STAT))),
    ],
    ids=lambda v: getattr(v, "__name__", type(v).__name__),
)
def test_responses_read_by_kazoo(kazoo_class, record, expected):
    assert kazoo_class.deserialize(ours(record), 0) == expected


def test_sasl_response_read_by_kazoo():
    assert K.SASL.deserialize(ours(R.SetSASLResponse(b"challenge")), 0) == (b"challenge", 13)


def test_multi_responses_read_by_kazoo():
    success = R.MultiResponse((
        (OpCode.CREATE, R.CreateResponse("/t")),
        (OpCode.SET_DATA, R.SetDataResponse(STAT)),
        (OpCode.CHECK, None),
        (OpCode.DELETE, None),
    ))
    assert K.Transaction.deserialize(ours(success), 0) == ["/t", kazoo_stat(STAT), True, True]
    failure = R.MultiResponse((
        (OpCode.ERROR, R.ErrorResponse(Err.OK)),
        (OpCode.ERROR, R.ErrorResponse(Err.NO_NODE)),
        (OpCode.ERROR, R.ErrorResponse(Err.RUNTIME_INCONSISTENCY)),
    ))
    results = K.Transaction.deserialize(ours(failure), 0)
    assert [type(r) for r in results] == [RolledBackError, NoNodeError, RuntimeInconsistency]


def test_multi_header_agrees_with_kazoo():
    for header in (R.MultiHeader(OpCode.CREATE, False, -1), R.MultiHeader(-1, True, -1)):
        assert ours(header) == bytes(K.MultiHeader(*header).serialize())
        decoded, offset = K.MultiHeader.deserialize(ours(header), 0)
        assert tuple(decoded) == tuple(header) and offset == 9


def test_kazoo_frames_decode_in_our_server_connection():
    # kazoo's connection writes: int length + int xid + int type + request body.
    from coord.protocol.server_conn import RequestReceived, ServerConnection

    def kazoo_frame(xid, request):
        body = K.int_struct.pack(xid) + K.int_struct.pack(request.type) + bytes(request.serialize())
        return K.int_struct.pack(len(body)) + body

    connect = bytes(K.Connect(0, 0, 10000, 0, b"\0" * 16, False).serialize())
    stream = K.int_struct.pack(len(connect)) + connect
    stream += b"".join(kazoo_frame(xid, request) for xid, (request, _, _) in enumerate(REQUEST_PAIRS, 1))
    events = ServerConnection().receive_data(stream)[1:]
    assert events == [
        RequestReceived(xid, opcode, record)
        for xid, (_, record, opcode) in enumerate(REQUEST_PAIRS, 1)
    ]


def test_reader_reads_kazoo_stat_struct_layout():
    assert R.STAT_STRUCT.format == K.stat_struct.format.replace("!", ">")
    packed = K.stat_struct.pack(*STAT)
    assert R.Stat.deserialize(Reader(packed)) == STAT
