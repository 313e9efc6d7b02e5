"""ServerConnection: handshake, pipelining, four-letter words, bad frames, request events, encoders."""

import pytest

from coord.protocol import records as R
from coord.protocol.codes import EventType, KeeperState, OpCode
from coord.protocol.errors import LocalProtocolError, RemoteProtocolError
from coord.protocol.framing import encode_frame
from coord.protocol.server_conn import (
    ConnectRequested,
    FourLetterWord,
    MalformedRequest,
    RequestReceived,
    ServerConnection,
    ServerConnectionState,
    UnknownRequest,
)

from .samples import SAMPLE_REQUESTS, SAMPLE_RESPONSES, STAT

CONNECT = R.ConnectRequest(0, 0, 30000, 0, b"\0" * 16, False)


def connect_frame(request=CONNECT) -> bytes:
    return encode_frame(R.encode_record(request))


def request_frame(xid: int, opcode: int, record=None, body: bytes = b"") -> bytes:
    payload = R.encode_record(R.RequestHeader(xid, opcode))
    payload += R.encode_record(record) if record is not None else body
    return encode_frame(payload)


def connected() -> ServerConnection:
    server = ServerConnection()
    assert server.receive_data(connect_frame()) == [ConnectRequested(CONNECT)]
    assert server.state is ServerConnectionState.CONNECTED
    return server


def test_connect_then_requests():
    server = ServerConnection()
    assert server.state is ServerConnectionState.AWAITING_CONNECT
    assert server.receive_data(connect_frame()) == [ConnectRequested(CONNECT)]
    event = server.receive_data(request_frame(1, OpCode.GET_DATA, R.GetDataRequest("/a", True)))
    assert event == [RequestReceived(1, OpCode.GET_DATA, R.GetDataRequest("/a", True))]
    assert event[0].opcode is OpCode.GET_DATA


def test_pipelined_connect_and_requests_in_one_chunk():
    chunk = (
        connect_frame()
        + request_frame(-4, OpCode.AUTH, R.AuthPacket(0, "digest", b"u:p"))
        + request_frame(-8, OpCode.SET_WATCHES, R.SetWatches(0, ["/a"], [], []))
        + request_frame(1, OpCode.EXISTS, R.ExistsRequest("/a", False))
        + request_frame(-2, OpCode.PING)
    )
    assert ServerConnection().receive_data(chunk) == [
        ConnectRequested(CONNECT),
        RequestReceived(-4, OpCode.AUTH, R.AuthPacket(0, "digest", b"u:p")),
        RequestReceived(-8, OpCode.SET_WATCHES, R.SetWatches(0, ["/a"], [], [])),
        RequestReceived(1, OpCode.EXISTS, R.ExistsRequest("/a", False)),
        RequestReceived(-2, OpCode.PING, None),
    ]


def test_byte_at_a_time_gives_the_same_events():
    chunk = (
        connect_frame()
        + request_frame(1, OpCode.CREATE, SAMPLE_REQUESTS[OpCode.CREATE][1])
        + request_frame(2, OpCode.MULTI, SAMPLE_REQUESTS[OpCode.MULTI][0])
        + request_frame(3, OpCode.WHO_AM_I)
    )
    whole = ServerConnection().receive_data(chunk)
    server = ServerConnection()
    events = []
    for index in range(len(chunk)):
        events.extend(server.receive_data(chunk[index : index + 1]))
    assert events == whole and len(events) == 4


@pytest.mark.parametrize("opcode", sorted(SAMPLE_REQUESTS))
def test_every_client_opcode_decodes_to_its_record(opcode):
    server = connected()
    for xid, record in enumerate(SAMPLE_REQUESTS[opcode], start=1):
        assert server.receive_data(request_frame(xid, opcode, record)) == [
            RequestReceived(xid, opcode, record)
        ]


def test_bodiless_requests_ignore_trailing_bytes_like_zookeeper():
    server = connected()
    assert server.receive_data(request_frame(-2, OpCode.PING, body=b"junk")) == [
        RequestReceived(-2, OpCode.PING, None)
    ]
    assert server.receive_data(request_frame(1, OpCode.SYNC, body=R.encode_record(R.SyncRequest("/")) + b"x")) == [
        RequestReceived(1, OpCode.SYNC, R.SyncRequest("/"))
    ]


# -- the old client --------------------------------------------------------------------------------


def test_old_44_byte_connect_request_has_read_only_none():
    old = R.ConnectRequest(0, 0, 10000, 0, b"\0" * 16, None)
    payload = R.encode_record(old)
    assert len(payload) == 44
    server = ServerConnection()
    assert server.receive_data(encode_frame(payload)) == [ConnectRequested(old)]
    # ... and is answered without the readOnly byte: a 36-byte body.
    answer = server.connect_response(R.ConnectResponse(0, 10000, 5, b"p" * 16, None))
    assert answer[:4] == (36).to_bytes(4, "big") and len(answer) == 40
    modern = server.connect_response(R.ConnectResponse(0, 10000, 5, b"p" * 16, False))
    assert modern[:4] == (37).to_bytes(4, "big") and modern[-1:] == b"\0"


# -- four-letter words -------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["ruok", "srvr", "stat", "mntr", "conf", "cons", "isro", "wchs", "dump"])
def test_four_letter_word(word):
    server = ServerConnection()
    assert server.receive_data(word.encode()) == [FourLetterWord(word, None)]
    assert server.state is ServerConnectionState.FOUR_LETTER_WORD


def test_four_letter_word_byte_at_a_time():
    server = ServerConnection()
    assert server.receive_data(b"r") == []
    assert server.receive_data(b"uo") == []
    assert server.receive_data(b"k") == [FourLetterWord("ruok", None)]


def test_stmk_waits_for_its_eight_byte_argument():
    server = ServerConnection()
    argument = (0x1F2).to_bytes(8, "big")
    assert server.receive_data(b"stmk" + argument[:3]) == []
    for byte in argument[3:-1]:
        assert server.receive_data(bytes([byte])) == []
    assert server.receive_data(argument[-1:]) == [FourLetterWord("stmk", argument)]


def test_bytes_after_a_four_letter_word():
    server = ServerConnection()
    # `echo ruok | nc` sends a newline in the same chunk: ignored, as ZooKeeper never reads it.
    assert server.receive_data(b"ruok\n") == [FourLetterWord("ruok", None)]
    assert server.receive_data(b"") == []
    with pytest.raises(RemoteProtocolError):
        server.receive_data(b"more")
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"")


def test_four_letter_word_only_at_the_start_of_a_connection():
    server = connected()
    with pytest.raises(RemoteProtocolError):
        server.receive_data(b"ruok")  # now a frame length of 0x72756f6b: too big


def test_unknown_word_is_a_frame_length_and_too_big():
    with pytest.raises(RemoteProtocolError):
        ServerConnection().receive_data(b"abcd")


# -- fatal garbage ---------------------------------------------------------------------------------


def test_oversize_frame():
    server = ServerConnection(max_frame_bytes=100)
    with pytest.raises(RemoteProtocolError):
        server.receive_data((101).to_bytes(4, "big"))
    assert server.state is ServerConnectionState.FAILED
    with pytest.raises(LocalProtocolError):
        server.receive_data(connect_frame())


def test_oversize_frame_after_connect():
    server = ServerConnection(max_frame_bytes=100)
    server.receive_data(connect_frame())
    with pytest.raises(RemoteProtocolError):
        server.receive_data(request_frame(1, OpCode.SET_DATA, R.SetDataRequest("/a", b"x" * 100, -1)))


def test_negative_length():
    with pytest.raises(RemoteProtocolError):
        ServerConnection().receive_data(b"\xff\xff\xff\xf0")
    with pytest.raises(RemoteProtocolError):
        connected().receive_data(b"\xff\xff\xff\xff")


@pytest.mark.parametrize("payload", [b"", b"\0" * 20, R.encode_record(CONNECT)[:-18]])
def test_undecodable_connect_request_is_fatal(payload):
    with pytest.raises(RemoteProtocolError):
        ServerConnection().receive_data(encode_frame(payload))


def test_request_shorter_than_its_header_is_fatal():
    with pytest.raises(RemoteProtocolError):
        connected().receive_data(encode_frame(b"\0\0\0\x01\0\0"))


# -- requests the server must refuse -------------------------------------------------------------


@pytest.mark.parametrize("opcode", [0, 10, 23, 99, 108, -10, -1, -12, 2**31 - 1])
def test_unknown_opcodes(opcode):
    assert connected().receive_data(request_frame(7, opcode, body=b"\0" * 8)) == [
        UnknownRequest(7, opcode)
    ]


def test_check_alone_is_unknown():
    events = connected().receive_data(request_frame(3, OpCode.CHECK, R.CheckVersionRequest("/a", 1)))
    assert events == [UnknownRequest(3, OpCode.CHECK)]
    assert events[0].opcode is OpCode.CHECK


def test_malformed_bodies():
    server = connected()
    cases = [
        request_frame(1, OpCode.GET_DATA, body=b"\0\0\0\x40/a"),  # path length too long
        request_frame(2, OpCode.CREATE, body=b"\0\0\0\x02/a"),  # truncated after the path
        request_frame(3, OpCode.EXISTS, body=b"\0\0\0\x01\xff\x01"),  # invalid UTF-8
        request_frame(4, OpCode.SET_ACL, body=b"\0\0\0\x02/a\x7f\0\0\0"),  # lying ACL count
        request_frame(5, OpCode.AUTH, body=b""),
    ]
    events = server.receive_data(b"".join(cases))
    assert [(type(e), e.xid) for e in events] == [(MalformedRequest, xid) for xid in range(1, 6)]
    assert all(e.reason for e in events)
    # The connection goes on.
    assert server.receive_data(request_frame(6, OpCode.SYNC, R.SyncRequest("/"))) == [
        RequestReceived(6, OpCode.SYNC, R.SyncRequest("/"))
    ]


def test_multi_kinds_must_match_the_opcode():
    server = connected()
    reads = R.MultiRequest(((OpCode.GET_DATA, R.GetDataRequest("/a", False)),))
    writes = R.MultiRequest(((OpCode.DELETE, R.DeleteRequest("/a", -1)),))
    mixed = R.encode_record(R.MultiRequest(reads.ops + writes.ops))
    events = server.receive_data(
        request_frame(1, OpCode.MULTI, reads)
        + request_frame(2, OpCode.MULTI_READ, writes)
        + request_frame(3, OpCode.MULTI, body=mixed)
        + request_frame(4, OpCode.MULTI_READ, body=mixed)
        + request_frame(5, OpCode.MULTI_READ, R.MultiRequest(()))
        + request_frame(6, OpCode.MULTI, writes)
    )
    assert [type(e) for e in events] == [MalformedRequest] * 4 + [RequestReceived] * 2
    assert events[0].opcode is OpCode.MULTI and events[1].opcode is OpCode.MULTI_READ


# -- encoders --------------------------------------------------------------------------------------


@pytest.mark.parametrize("opcode", sorted(SAMPLE_RESPONSES))
def test_reply_frames_are_header_plus_record(opcode):
    server = ServerConnection()
    for record in SAMPLE_RESPONSES[opcode]:
        frame = server.reply(9, 0x100000001, 0, record)
        body = R.encode_record(record) if record is not None else b""
        assert frame == encode_frame(R.encode_record(R.ReplyHeader(9, 0x100000001, 0)) + body)
        assert server.reply_raw(9, 0x100000001, 0, body) == frame


def test_notification_and_connect_response():
    server = ServerConnection()
    frame = server.notification(-1, EventType.NODE_CREATED, KeeperState.SYNC_CONNECTED, "/ü")
    assert frame == encode_frame(
        R.encode_record(R.ReplyHeader(-1, -1, 0)) + R.encode_record(R.WatcherEvent(1, 3, "/ü"))
    )
    response = R.ConnectResponse(0, 4000, 0x100000000ABC, b"\x01" * 16, False)
    assert server.connect_response(response) == encode_frame(R.encode_record(response))
    assert len(server.connect_response(response)) == 41  # what the C client hard-codes


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s.reply(2**31, 0, 0),
        lambda s: s.reply(1, 0, 0, R.SyncResponse(b"/not-a-str")),
        lambda s: s.reply(1, 0, 0, R.ExistsResponse(STAT[:-1])),
        lambda s: s.reply(1, 0, 0, R.SyncResponse("\ud800")),
        lambda s: s.reply_raw(1, 2**63, 0, b""),
        lambda s: s.notification(-1, 1, 3, None.__class__),
        lambda s: s.connect_response(R.ConnectResponse(0, 1, 2**64, b"", None)),
    ],
)
def test_encoding_bad_values_is_a_local_protocol_error(encode):
    with pytest.raises(LocalProtocolError):
        encode(ServerConnection())
