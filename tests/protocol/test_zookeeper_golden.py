"""Golden bytes captured from Apache ZooKeeper 3.8.0 (scripts/capture_golden.py).

Each capture is one TCP connection, recorded by a proxy: the client's frames (from kazoo, the Java
zkCli, the C client, or coord's own encoder for ops kazoo lacks) and ZooKeeper's answers.  For
every capture we check that

1. ServerConnection decodes every client frame into exactly one event (whole stream, frame by
   frame, and byte by byte all agree);
2. ClientConnection, replaying those events, re-encodes every client frame byte for byte;
3. ClientConnection decodes every server frame (matching replies to requests by xid order);
4. ServerConnection re-encodes every server frame byte for byte from the decoded values (so
   run-dependent zxids, times, session ids and passwords need no masking);

and then pin down what ZooKeeper said, so the server can be held to it.
"""

import json
import pathlib
import re

import pytest

from coord.protocol import records as R
from coord.protocol.client_conn import (
    ClientConnection,
    Connected,
    PingReply,
    ReplyReceived,
    WatchNotification,
)
from coord.protocol.codes import CreateMode, Err, EventType, KeeperState, OpCode
from coord.protocol.server_conn import (
    ConnectRequested,
    FourLetterWord,
    MalformedRequest,
    RequestReceived,
    ServerConnection,
    UnknownRequest,
)

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"
CAPTURES = sorted(path.stem for path in GOLDEN_DIR.glob("*.json"))
FRAMED_CAPTURES = [
    name for name in CAPTURES if not json.loads((GOLDEN_DIR / f"{name}.json").read_text())["four_letter_word"]
]
SEQUENCE_SUFFIX = re.compile(r"\d{10}$")


def load(name: str) -> dict:
    return json.loads((GOLDEN_DIR / f"{name}.json").read_text())


class Replay:
    """Both directions of one capture, decoded and re-encoded."""

    def __init__(self, name: str) -> None:
        document = load(name)
        self.zookeeper_version = document["zookeeper_version"]
        self.client_frames = [bytes.fromhex(h) for h in document["client_to_server"]]
        self.server_frames = [bytes.fromhex(h) for h in document["server_to_client"]]

        server = ServerConnection()
        self.requests = []
        for frame in self.client_frames:
            events = server.receive_data(frame)
            assert len(events) == 1, (frame.hex(), events)
            self.requests.extend(events)

        ordinary_xids = [e.xid for e in self.requests[1:] if e.xid > 0]
        self.client = ClientConnection(first_xid=ordinary_xids[0] if ordinary_xids else 1)
        self.reencoded_client_frames = [self._reencode_request(e, f) for e, f in zip(self.requests, self.client_frames)]

        self.replies = []
        for frame in self.server_frames:
            events = self.client.receive_data(frame)
            assert len(events) == 1, (frame.hex(), events)
            self.replies.extend(events)
        encoder = ServerConnection()
        self.reencoded_server_frames = [self._reencode_reply(encoder, e) for e in self.replies]

    def _reencode_request(self, event, frame: bytes) -> bytes:
        client = self.client
        if isinstance(event, ConnectRequested):
            r = event.request
            return client.connect(r.last_zxid_seen, r.timeout_ms, r.session_id, r.passwd, r.read_only)
        if isinstance(event, RequestReceived):
            xid, encoded = client.send(event.opcode, event.request)
        else:  # MalformedRequest / UnknownRequest: resend the body as it was
            xid, encoded = client.send_raw(event.opcode, frame[12:])
        assert xid == event.xid
        return encoded

    @staticmethod
    def _reencode_reply(encoder: ServerConnection, event) -> bytes:
        if isinstance(event, Connected):
            return encoder.connect_response(event.response)
        if isinstance(event, WatchNotification):
            e = event.event
            return encoder.notification(event.zxid, e.type, e.state, e.path)
        if isinstance(event, PingReply):
            return encoder.reply(-2, event.zxid, 0)
        return encoder.reply(event.xid, event.zxid, event.err, event.response)

    # Helpers for the semantic assertions.
    def request_opcodes(self, include_pings: bool = False) -> list:
        return [
            e.opcode for e in self.requests[1:]
            if include_pings or e.opcode != OpCode.PING
        ]

    def replies_to(self, opcode) -> list[ReplyReceived]:
        return [e for e in self.replies if isinstance(e, ReplyReceived) and e.opcode == opcode]

    def reply_for_xid(self, xid: int) -> ReplyReceived:
        [reply] = [e for e in self.replies if isinstance(e, ReplyReceived) and e.xid == xid]
        return reply

    def reply_for_request(self, predicate) -> ReplyReceived:
        [request] = [e for e in self.requests[1:] if predicate(e)]
        return self.reply_for_xid(request.xid)

    def notifications(self) -> list[tuple[int, str]]:
        return [(e.event.type, e.event.path) for e in self.replies if isinstance(e, WatchNotification)]


@pytest.fixture(scope="module")
def replays():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = Replay(name)
        return cache[name]

    return get


def test_captures_are_present():
    assert {"kazoo_session", "raw_session", "zkcli_session", "c_client_session", "old_client",
            "kazoo_ruok"} <= set(CAPTURES)


@pytest.mark.parametrize("name", FRAMED_CAPTURES)
def test_client_frames_decode_and_reencode_byte_for_byte(name, replays):
    replay = replays(name)
    assert isinstance(replay.requests[0], ConnectRequested)
    assert replay.reencoded_client_frames == replay.client_frames


@pytest.mark.parametrize("name", FRAMED_CAPTURES)
def test_server_frames_decode_and_reencode_byte_for_byte(name, replays):
    replay = replays(name)
    assert isinstance(replay.replies[0], Connected)
    assert replay.reencoded_server_frames == replay.server_frames


@pytest.mark.parametrize("name", FRAMED_CAPTURES)
def test_streams_decode_the_same_whole_and_byte_by_byte(name, replays):
    replay = replays(name)
    stream = b"".join(replay.client_frames)
    assert ServerConnection().receive_data(stream) == replay.requests
    server = ServerConnection()
    one_by_one = []
    for index in range(len(stream)):
        one_by_one.extend(server.receive_data(stream[index : index + 1]))
    assert one_by_one == replay.requests


def test_every_frame_is_nonempty_and_zookeeper_is_3_8(replays):
    for name in FRAMED_CAPTURES:
        replay = replays(name)
        assert replay.zookeeper_version.startswith("3.8")
        assert all(len(f) >= 4 for f in replay.client_frames + replay.server_frames)


# -- what ZooKeeper 3.8.0 said ----------------------------------------------------------------------


def test_kazoo_session(replays):
    replay = replays("kazoo_session")
    assert replay.request_opcodes() == [
        OpCode.CREATE, OpCode.CREATE, OpCode.CREATE, OpCode.CREATE, OpCode.CREATE, OpCode.CREATE,
        OpCode.CREATE2, OpCode.GET_DATA, OpCode.SET_DATA, OpCode.GET_DATA, OpCode.EXISTS,
        OpCode.EXISTS, OpCode.CREATE, OpCode.GET_CHILDREN, OpCode.GET_CHILDREN2, OpCode.MULTI,
        OpCode.MULTI, OpCode.GET_ACL, OpCode.AUTH, OpCode.SET_ACL, OpCode.GET_ACL, OpCode.SYNC,
        OpCode.GET_DATA, OpCode.DELETE, OpCode.RECONFIG, OpCode.CLOSE_SESSION,
    ]
    assert OpCode.PING in replay.request_opcodes(include_pings=True)
    assert any(isinstance(e, PingReply) for e in replay.replies)

    connect = replay.replies[0].response
    assert len(connect.passwd) == 16 and connect.read_only is False and connect.timeout_ms == 4000
    assert len(replay.server_frames[0]) == 41

    creates = [r.response.path for r in replay.replies_to(OpCode.CREATE)]
    assert creates[:3] == ["/golden", "/golden/p", "/golden/e"]
    assert creates[3].startswith("/golden/s-") and SEQUENCE_SUFFIX.search(creates[3])
    assert creates[4].startswith("/golden/es-") and SEQUENCE_SUFFIX.search(creates[4])

    null_read = replay.reply_for_request(lambda e: e.opcode == OpCode.GET_DATA and e.request.path == "/golden/null")
    assert null_read.response.data is None and null_read.response.stat.data_length == 0
    missing = replay.reply_for_request(lambda e: e.opcode == OpCode.EXISTS and e.request.path == "/golden/missing")
    assert (missing.err, missing.response) == (Err.NO_NODE, None)

    # ZooKeeper 3.8 notifications carry zxid -1 and come before the reply to the write.
    assert [e.zxid for e in replay.replies if isinstance(e, WatchNotification)] == [-1, -1, -1]
    assert replay.notifications() == [
        (EventType.NODE_DATA_CHANGED, "/golden/p"),
        (EventType.NODE_CREATED, "/golden/missing"),
        (EventType.NODE_CHILDREN_CHANGED, "/golden"),
    ]
    assert all(e.event.state == KeeperState.SYNC_CONNECTED for e in replay.replies if isinstance(e, WatchNotification))
    set_data_reply = replay.replies_to(OpCode.SET_DATA)[0]
    assert isinstance(replay.replies[replay.replies.index(set_data_reply) - 1], WatchNotification)

    success, failure = replay.replies_to(OpCode.MULTI)
    assert success.err == 0
    assert [(op, type(r)) for op, r in success.response.results] == [
        (OpCode.CREATE, R.CreateResponse), (OpCode.SET_DATA, R.SetDataResponse),
        (OpCode.CHECK, type(None)), (OpCode.DELETE, type(None)),
    ]
    # A failed multi: header err 0; rolled back 0, the culprit, then RuntimeInconsistency.
    assert failure.err == 0
    assert failure.response.results == (
        (OpCode.ERROR, R.ErrorResponse(Err.OK)),
        (OpCode.ERROR, R.ErrorResponse(Err.NO_NODE)),
        (OpCode.ERROR, R.ErrorResponse(Err.RUNTIME_INCONSISTENCY)),
    )
    # All ops of the successful multi share one zxid.
    stat = success.response.results[1][1].stat
    assert stat.czxid == stat.mzxid == success.zxid

    [auth] = replay.replies_to(OpCode.AUTH)
    assert (auth.xid, auth.zxid, auth.err) == (-4, 0, 0)
    acl_after = replay.replies_to(OpCode.GET_ACL)[1].response.acl
    assert R.ACL(31, R.Id("digest", "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=")) in acl_after
    assert replay.replies_to(OpCode.SET_ACL)[0].response.stat.aversion == 1
    assert replay.replies_to(OpCode.SYNC)[0].response == R.SyncResponse("/golden")
    assert replay.replies_to(OpCode.RECONFIG)[0].err == Err.RECONFIG_DISABLED
    close = replay.replies_to(OpCode.CLOSE_SESSION)[0]
    assert close.err == 0 and replay.server_frames[-1] == replay.reencoded_server_frames[-1]


def test_raw_session(replays):
    replay = replays("raw_session")

    def reply(opcode, path=None, index=0):
        matches = [
            replay.reply_for_xid(e.xid) for e in replay.requests[1:]
            if e.opcode == opcode and (path is None or getattr(e.request, "path", None) == path)
        ]
        return matches[index]

    ttl = reply(OpCode.CREATE_TTL, "/golden/ttl")
    assert isinstance(ttl.response, R.Create2Response)
    assert ttl.response.stat.ephemeral_owner == 0  # clients see 0 for TTL nodes
    assert SEQUENCE_SUFFIX.search(reply(OpCode.CREATE_TTL, "/golden/ttls-").response.path)
    assert reply(OpCode.CREATE_TTL, "/golden/badttl").err == Err.BAD_ARGUMENTS
    container = reply(OpCode.CREATE_CONTAINER)
    assert isinstance(container.response, R.Create2Response)
    assert container.response.stat.ephemeral_owner == 0  # ... and for containers
    ephemeral = reply(OpCode.CREATE2, "/golden/container/es-")
    assert ephemeral.response.stat.ephemeral_owner == replay.replies[0].response.session_id
    assert reply(OpCode.CREATE, "/golden/container/bad").err == Err.BAD_ARGUMENTS  # flags 7
    assert reply(OpCode.CREATE, "/golden/noacl").err == Err.INVALID_ACL  # empty ACL list

    assert reply(OpCode.WHO_AM_I).response == R.WhoAmIResponse([R.ClientInfo("ip", "127.0.0.1")])
    for add_watch in replay.replies_to(OpCode.ADD_WATCH):
        assert add_watch.response == R.ErrorResponse(0)
    check_data, check_children = replay.replies_to(OpCode.CHECK_WATCHES)
    assert (check_data.err, check_children.err) == (0, 0)  # the recursive watch counts for both
    remove_any, remove_data = replay.replies_to(OpCode.REMOVE_WATCHES)
    assert (remove_any.err, remove_data.err) == (0, Err.NO_WATCHER)
    ephemerals = replay.replies_to(OpCode.GET_EPHEMERALS)
    assert ephemerals[0].response == ephemerals[1].response == R.GetEphemeralsResponse([ephemeral.response.path])
    assert isinstance(reply(OpCode.GET_ALL_CHILDREN_NUMBER).response, R.GetAllChildrenNumberResponse)

    multi_read = reply(OpCode.MULTI_READ)
    assert [op for op, _ in multi_read.response.results] == [OpCode.GET_DATA, OpCode.GET_CHILDREN, OpCode.ERROR]
    assert multi_read.response.results[2][1] == R.ErrorResponse(Err.NO_NODE)
    # ZooKeeper 3.8.0 reports create2 inside a multi as a plain create result (path only), and
    # createTTL / createContainer as create2 results (path + Stat).
    multi = reply(OpCode.MULTI)
    assert [op for op, _ in multi.response.results] == [
        OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE2, OpCode.CREATE, OpCode.SET_DATA, OpCode.CHECK,
        OpCode.DELETE,
    ]
    assert {r.stat.czxid for _, r in multi.response.results if isinstance(r, R.Create2Response)} == {multi.zxid}
    assert reply(OpCode.MULTI, index=1).response == R.MultiResponse(())
    assert reply(OpCode.MULTI_READ, index=1).response == R.MultiResponse(())

    # SetWatches: events (zxid -1) first, then the -8 reply.
    set_watches = replay.replies_to(OpCode.SET_WATCHES)[0]
    position = replay.replies.index(set_watches)
    events_before = replay.replies[position - 5 : position]
    assert [(e.zxid, e.event.type, e.event.path) for e in events_before] == [
        (-1, EventType.NODE_DATA_CHANGED, "/golden/ttl"),
        (-1, EventType.NODE_DELETED, "/golden/absent"),
        (-1, EventType.NODE_CREATED, "/golden/m1"),
        (-1, EventType.NODE_CHILDREN_CHANGED, "/golden/container"),
        (-1, EventType.NODE_DELETED, "/golden/absent3"),
    ]
    assert (set_watches.xid, set_watches.err) == (-8, 0)
    # SetWatches2 with a null vector: MarshallingError (ZooKeeper iterates the list); empty: fine.
    null_vector, empty_vector = replay.replies_to(OpCode.SET_WATCHES2)
    assert (null_vector.err, empty_vector.err) == (Err.MARSHALLING_ERROR, 0)

    assert reply(OpCode.RECONFIG).err == Err.RECONFIG_DISABLED
    assert reply(OpCode.DELETE).err == Err.BAD_VERSION
    assert reply(OpCode.AUTH).zxid == 0


def test_old_client_gets_a_response_without_read_only(replays):
    replay = replays("old_client")
    assert replay.requests[0].request.read_only is None
    assert len(replay.client_frames[0]) == 4 + 44
    assert replay.replies[0].response.read_only is None
    assert len(replay.server_frames[0]) == 4 + 36
    assert replay.replies[1].err == 0


def test_check_alone_is_unknown_and_zookeeper_3_8_0_never_answers(replays):
    replay = replays("check_alone")
    assert replay.requests[1] == UnknownRequest(1, OpCode.CHECK)
    assert len(replay.replies) == 1  # only the ConnectResponse


def test_unknown_opcode_is_answered_unimplemented(replays):
    replay = replays("unknown_opcode")
    assert replay.requests[1] == UnknownRequest(1, 10)
    [reply] = replay.replies[1:]
    assert (reply.xid, reply.err) == (1, Err.UNIMPLEMENTED)


def test_malformed_body_is_answered_marshalling_error_and_the_session_goes_on(replays):
    replay = replays("malformed_get_data")
    assert isinstance(replay.requests[1], MalformedRequest) and replay.requests[1].opcode == OpCode.GET_DATA
    assert replay.replies[1].err == Err.MARSHALLING_ERROR and replay.replies[1].response is None
    assert replay.replies[2].err == 0 and isinstance(replay.replies[2].response, R.ExistsResponse)
    assert replay.replies[3].opcode == OpCode.CLOSE_SESSION


def test_mixed_multi_is_a_marshalling_error_but_bad_flags_are_per_op(replays):
    replay = replays("mixed_multi")
    assert isinstance(replay.requests[1], MalformedRequest)
    assert replay.replies[1].err == Err.MARSHALLING_ERROR and replay.replies[1].response is None
    assert isinstance(replay.requests[2], RequestReceived)
    assert replay.requests[2].request.ops[0][1].flags == 9
    assert replay.replies[2].err == 0
    assert replay.replies[2].response == R.MultiResponse(((OpCode.ERROR, R.ErrorResponse(Err.BAD_ARGUMENTS)),))


def test_java_client_session(replays):
    replay = replays("zkcli_session")
    opcodes = replay.request_opcodes()
    assert OpCode.CREATE_CONTAINER in opcodes and OpCode.CREATE_TTL in opcodes
    assert OpCode.WHO_AM_I in opcodes and OpCode.ADD_WATCH in opcodes
    requests = {e.opcode: e.request for e in reversed(replay.requests[1:])}
    assert requests[OpCode.CREATE_CONTAINER].flags == CreateMode.CONTAINER
    assert requests[OpCode.CREATE_TTL].ttl == 60000
    assert requests[OpCode.WHO_AM_I] is None
    # zkCli sends null data when none is given, and the auth scheme's id as "" (not null).
    ephemeral = next(e.request for e in replay.requests[1:] if e.opcode == OpCode.CREATE and e.request.flags == 1)
    assert ephemeral.data is None
    assert requests[OpCode.SET_ACL].acl == [R.ACL(31, R.Id("auth", ""))]
    whoami = replay.replies_to(OpCode.WHO_AM_I)[0].response
    assert R.ClientInfo("digest", "user") in whoami.client_info
    assert replay.replies_to(OpCode.CREATE_CONTAINER)[0].err == 0


def test_c_client_session(replays):
    replay = replays("c_client_session")
    create = replay.requests[1]
    assert create.opcode == OpCode.CREATE2 and create.xid > 1  # the C client's xids start from the clock
    assert isinstance(replay.replies[1].response, R.Create2Response)
    assert len(replay.server_frames[0]) == 41


def test_four_letter_word_capture():
    document = load("kazoo_ruok")
    assert document["four_letter_word"]
    [sent] = document["client_to_server"]
    assert ServerConnection().receive_data(bytes.fromhex(sent)) == [FourLetterWord("ruok", None)]
    assert document["server_to_client"] == [b"imok".hex()]
