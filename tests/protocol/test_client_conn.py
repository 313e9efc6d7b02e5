"""ClientConnection: xids, FIFO matching, special replies, and a full exchange with ServerConnection."""

import pytest

from coord.protocol import records as R
from coord.protocol.client_conn import (
    ClientConnection,
    ClientConnectionState,
    Connected,
    PingReply,
    ReplyReceived,
    WatchNotification,
)
from coord.protocol.codes import Err, OpCode
from coord.protocol.errors import LocalProtocolError, RemoteProtocolError
from coord.protocol.framing import encode_frame
from coord.protocol.server_conn import (
    ConnectRequested,
    RequestReceived,
    ServerConnection,
    UnknownRequest,
)

from .samples import SAMPLE_REQUESTS, SAMPLE_RESPONSES, STAT

RESPONSE = R.ConnectResponse(0, 10000, 0x1234, b"\x07" * 16, False)


def pair():
    """A client and a server past the handshake."""
    client, server = ClientConnection(), ServerConnection()
    assert server.receive_data(client.connect(0, 10000)) == [
        ConnectRequested(R.ConnectRequest(0, 0, 10000, 0, b"\0" * 16, False))
    ]
    assert client.receive_data(server.connect_response(RESPONSE)) == [Connected(RESPONSE)]
    return client, server


def test_handshake_records_the_session():
    client, _ = pair()
    assert client.state is ClientConnectionState.CONNECTED
    assert (client.session_id, client.passwd, client.negotiated_timeout_ms, client.read_only) == (
        0x1234, b"\x07" * 16, 10000, False,
    )


def test_old_client_connect_omits_read_only_and_accepts_a_short_response():
    client, server = ClientConnection(), ServerConnection()
    frame = client.connect(5, 4000, session_id=9, passwd=b"p" * 16, read_only=None)
    assert len(frame) == 4 + 44
    [event] = server.receive_data(frame)
    assert event.request.read_only is None
    response = R.ConnectResponse(0, 4000, 9, b"p" * 16, None)
    assert client.receive_data(server.connect_response(response)) == [Connected(response)]


def expected_reply(xid, zxid, opcode, response):
    if opcode == OpCode.PING:
        return PingReply(zxid)
    return ReplyReceived(xid, zxid, 0, opcode, response)


@pytest.mark.parametrize("opcode", sorted(SAMPLE_REQUESTS))
def test_every_opcode_round_trips_through_both_ends(opcode):
    client, server = pair()
    for request, response in zip(SAMPLE_REQUESTS[opcode], SAMPLE_RESPONSES[opcode] * 4):
        xid, frame = client.send(opcode, request)
        assert server.receive_data(frame) == [RequestReceived(xid, opcode, request)]
        events = client.receive_data(server.reply(xid, 77, 0, response))
        assert events == [expected_reply(xid, 77, opcode, response)]
        if opcode == OpCode.CLOSE_SESSION:
            break


@pytest.mark.parametrize("opcode", sorted(SAMPLE_RESPONSES))
def test_every_response_decodes(opcode):
    for response in SAMPLE_RESPONSES[opcode]:
        client, server = pair()
        xid, _ = client.send(opcode, SAMPLE_REQUESTS[opcode][0])
        assert client.receive_data(server.reply(xid, 1, 0, response)) == [
            expected_reply(xid, 1, opcode, response)
        ]


def test_error_replies_have_no_response():
    client, server = pair()
    xid, _ = client.send(OpCode.EXISTS, R.ExistsRequest("/missing", True))
    assert client.receive_data(server.reply(xid, 3, Err.NO_NODE)) == [
        ReplyReceived(xid, 3, Err.NO_NODE, OpCode.EXISTS, None)
    ]


def test_xids_count_up_and_special_opcodes_use_reserved_xids():
    client, _ = pair()
    assert client.send(OpCode.SYNC, R.SyncRequest("/"))[0] == 1
    assert client.send(OpCode.PING)[0] == -2
    assert client.send(OpCode.AUTH, R.AuthPacket(0, "digest", b"a:b"))[0] == -4
    assert client.send(OpCode.SET_WATCHES, R.SetWatches(0, [], [], []))[0] == -8
    assert client.send(OpCode.SET_WATCHES2, R.SetWatches2(0, [], [], [], [], []))[0] == -8
    assert client.send(OpCode.WHO_AM_I)[0] == 2
    assert client.pending == ((1, OpCode.SYNC), (-4, OpCode.AUTH), (-8, OpCode.SET_WATCHES),
                              (-8, OpCode.SET_WATCHES2), (2, OpCode.WHO_AM_I))
    assert client.pings_outstanding == 1


def test_xids_wrap_to_one():
    client = ClientConnection(first_xid=2**31 - 1)
    client.connect(0, 1000)
    assert client.send(OpCode.SYNC, R.SyncRequest("/"))[0] == 2**31 - 1
    assert client.send(OpCode.SYNC, R.SyncRequest("/"))[0] == 1


def test_replies_out_of_order_are_the_servers_fault():
    client, server = pair()
    first, _ = client.send(OpCode.SYNC, R.SyncRequest("/a"))
    second, _ = client.send(OpCode.SYNC, R.SyncRequest("/b"))
    with pytest.raises(RemoteProtocolError):
        client.receive_data(server.reply(second, 1, 0, R.SyncResponse("/b")))
    assert client.state is ClientConnectionState.FAILED
    with pytest.raises(LocalProtocolError):
        client.receive_data(b"")


def test_reply_with_nothing_pending_is_refused():
    client, server = pair()
    with pytest.raises(RemoteProtocolError):
        client.receive_data(server.reply(1, 1, 0))


def test_set_watches_reply_is_ordered_like_any_other():
    client, server = pair()
    xid, _ = client.send(OpCode.SYNC, R.SyncRequest("/"))
    client.send(OpCode.SET_WATCHES, R.SetWatches(0, [], [], []))
    with pytest.raises(RemoteProtocolError):
        client.receive_data(server.reply(-8, 1, 0))


def test_auth_reply_may_overtake_earlier_requests():
    # The Java server answers auth as soon as it reads it; its reply matches the oldest auth.
    client, server = pair()
    sync_xid, _ = client.send(OpCode.SYNC, R.SyncRequest("/"))
    client.send(OpCode.AUTH, R.AuthPacket(0, "digest", b"a:b"))
    events = client.receive_data(server.reply(-4, 0, 0) + server.reply(sync_xid, 2, 0, R.SyncResponse("/")))
    assert events == [
        ReplyReceived(-4, 0, 0, OpCode.AUTH, None),
        ReplyReceived(sync_xid, 2, 0, OpCode.SYNC, R.SyncResponse("/")),
    ]
    with pytest.raises(RemoteProtocolError):
        client.receive_data(server.reply(-4, 0, 0))


def test_pings_and_notifications_are_out_of_band():
    client, server = pair()
    xid, _ = client.send(OpCode.GET_DATA, R.GetDataRequest("/a", True))
    client.ping()
    events = client.receive_data(
        server.notification(-1, 3, 3, "/a")
        + server.reply(-2, 9, 0)
        + server.reply(xid, 9, 0, R.GetDataResponse(b"x", STAT))
    )
    assert events == [
        WatchNotification(-1, R.WatcherEvent(3, 3, "/a")),
        PingReply(9),
        ReplyReceived(xid, 9, 0, OpCode.GET_DATA, R.GetDataResponse(b"x", STAT)),
    ]
    with pytest.raises(RemoteProtocolError):
        client.receive_data(server.reply(-2, 9, 0))  # no ping outstanding


def test_last_zxid_seen_tracks_reply_headers_but_not_notifications():
    client, server = pair()
    assert client.last_zxid_seen == 0
    xid, _ = client.send(OpCode.SYNC, R.SyncRequest("/"))
    client.ping()
    client.receive_data(server.notification(0x500, 1, 3, "/n"))
    assert client.last_zxid_seen == 0
    client.receive_data(server.reply(xid, 0x400, 0, R.SyncResponse("/")))
    assert client.last_zxid_seen == 0x400
    client.receive_data(server.reply(-2, 0x300, 0))  # never goes backwards
    assert client.last_zxid_seen == 0x400
    client.send(OpCode.AUTH, R.AuthPacket(0, "digest", b"a:b"))
    client.receive_data(server.reply(-4, 0, 0))  # auth replies carry 0
    assert client.last_zxid_seen == 0x400


def test_pipelining_before_the_connect_response():
    client, server = ClientConnection(), ServerConnection()
    chunk = client.connect(0, 4000)
    xid, frame = client.send(OpCode.EXISTS, R.ExistsRequest("/", False))
    events = server.receive_data(chunk + frame)
    assert [type(e) for e in events] == [ConnectRequested, RequestReceived]
    answer = server.connect_response(RESPONSE) + server.reply(xid, 5, 0, R.ExistsResponse(STAT))
    assert client.receive_data(answer) == [
        Connected(RESPONSE),
        ReplyReceived(xid, 5, 0, OpCode.EXISTS, R.ExistsResponse(STAT)),
    ]


def test_close_session():
    client, server = pair()
    xid, frame = client.close()
    assert server.receive_data(frame) == [RequestReceived(xid, OpCode.CLOSE_SESSION, None)]
    with pytest.raises(LocalProtocolError):
        client.send(OpCode.SYNC, R.SyncRequest("/"))
    assert client.receive_data(server.reply(xid, 8, 0)) == [
        ReplyReceived(xid, 8, 0, OpCode.CLOSE_SESSION, None)
    ]
    assert client.state is ClientConnectionState.CLOSED
    assert client.receive_data(b"") == []
    with pytest.raises(RemoteProtocolError):
        client.receive_data(server.reply(-2, 8, 0))


def test_expired_session_is_a_connected_event_with_zero_timeout():
    client, server = ClientConnection(), ServerConnection()
    client.connect(7, 10000, session_id=0x99, passwd=b"x" * 16)
    rejection = R.ConnectResponse(0, 0, 0, b"\0" * 16, False)
    assert client.receive_data(server.connect_response(rejection)) == [Connected(rejection)]
    assert client.negotiated_timeout_ms == 0 and client.last_zxid_seen == 7


def test_send_raw_puts_anything_on_the_wire():
    client, server = pair()
    xid, frame = client.send_raw(OpCode.CHECK, R.encode_record(R.CheckVersionRequest("/a", 1)))
    assert server.receive_data(frame) == [UnknownRequest(xid, OpCode.CHECK)]
    assert client.receive_data(server.reply(xid, 1, Err.UNIMPLEMENTED)) == [
        ReplyReceived(xid, 1, Err.UNIMPLEMENTED, OpCode.CHECK, None)
    ]
    xid, frame = client.send_raw(10)
    assert client.receive_data(server.reply(xid, 1, 0, R.SyncResponse("/ignored"))) == [
        ReplyReceived(xid, 1, 0, 10, None)
    ]


@pytest.mark.parametrize(
    "opcode, record",
    [
        (OpCode.CHECK, R.CheckVersionRequest("/a", 1)),  # only inside a multi
        (OpCode.NOTIFICATION, None),
        (OpCode.CREATE_SESSION, None),
        (OpCode.GET_DATA, R.ExistsRequest("/a", True)),  # wrong record
        (OpCode.GET_DATA, None),
        (OpCode.PING, R.SyncRequest("/")),  # PING has no body
        (OpCode.CREATE_TTL, R.CreateRequest("/a", b"", [], 5)),
        (OpCode.MULTI, R.MultiRequest(((OpCode.GET_DATA, R.GetDataRequest("/a", False)),))),
        (OpCode.MULTI_READ, R.MultiRequest(((OpCode.DELETE, R.DeleteRequest("/a", 1)),))),
        (OpCode.SYNC, R.SyncRequest(b"/bytes")),  # unencodable value
    ],
)
def test_misuse_is_a_local_protocol_error(opcode, record):
    client, _ = pair()
    with pytest.raises(LocalProtocolError):
        client.send(opcode, record)
    assert client.pending == ()


def test_wrong_order_of_calls():
    client = ClientConnection()
    with pytest.raises(LocalProtocolError):
        client.send(OpCode.PING)
    with pytest.raises(LocalProtocolError):
        client.receive_data(b"\0")
    client.connect(0, 1000)
    with pytest.raises(LocalProtocolError):
        client.connect(0, 1000)
    with pytest.raises(LocalProtocolError):
        ClientConnection(first_xid=0)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\0" * 15,  # shorter than a reply header
        R.encode_record(R.ReplyHeader(1, 1, 0)) + b"\0\0",  # body too short for a SyncResponse
        R.encode_record(R.ReplyHeader(-1, -1, 0)) + b"\0\0\0\x03",  # truncated notification
    ],
)
def test_garbage_replies_are_remote_protocol_errors(payload):
    client, _ = pair()
    client.send(OpCode.SYNC, R.SyncRequest("/"))
    with pytest.raises(RemoteProtocolError):
        client.receive_data(encode_frame(payload))


def test_undecodable_connect_response():
    client = ClientConnection()
    client.connect(0, 1000)
    with pytest.raises(RemoteProtocolError):
        client.receive_data(encode_frame(b"\0" * 10))
