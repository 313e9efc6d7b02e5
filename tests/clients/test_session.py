"""ClientSession, the sans-I/O client core, driven in one thread with time passed in.

The server side of each connection is coord's own ``ServerConnection`` codec, so what the session
writes is decoded exactly as a server would, and the replies are real wire bytes.
"""

import random

import pytest

from clients.session import (
    ERR_CLOSED,
    ClientSession,
    Completed,
    ConnectTo,
    Disconnect,
    State,
    StateChanged,
    WatchedEvent,
    WatchFired,
    WatchKind,
    WatchRegistration,
    Write,
    parse_hosts,
)
from coord.protocol.codes import Err, EventType, KeeperState, OpCode
from coord.protocol.records import (
    ConnectResponse,
    CreateRequest,
    CreateResponse,
    ExistsRequest,
    GetDataRequest,
    GetDataResponse,
    SetWatches,
    SetWatches2,
    Stat,
    AddWatchRequest,
    ErrorResponse,
)
from coord.protocol.server_conn import ConnectRequested, ServerConnection

TIMEOUT_S = 9.0
PASSWD = bytes(range(16))
STAT = Stat(1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1)


class FakeServerEnd:
    """The server half of one connection: decodes what the session wrote, encodes answers."""

    def __init__(self, session: ClientSession, conn_id: int) -> None:
        self.session = session
        self.conn_id = conn_id
        self.codec = ServerConnection()
        self.received = []

    def take_writes(self, outputs) -> list:
        events = []
        for output in outputs:
            if isinstance(output, Write) and output.conn_id == self.conn_id:
                events += self.codec.receive_data(output.data)
        self.received += events
        return events

    def answer(self, now, data: bytes) -> list:
        self.session.data_received(now, self.conn_id, data)
        return self.session.pop_outputs()


def new_session(hosts="a:1,b:2,c:3", seed=7, **kwargs) -> ClientSession:
    return ClientSession(hosts, rng=random.Random(seed), session_timeout_s=TIMEOUT_S, **kwargs)


def connect(session: ClientSession, now: float, session_id=0x1234, zxid=5, read_only=False,
            timeout_ms=int(TIMEOUT_S * 1000)):
    """Run the next ConnectTo through a handshake; returns (server end, ConnectRequest, outputs)."""
    if not session._started:
        session.start(now)
    outputs = session.pop_outputs()
    connect_to = [o for o in outputs if isinstance(o, ConnectTo)]
    if not connect_to:
        session.tick(session.next_deadline())
        connect_to = [o for o in session.pop_outputs() if isinstance(o, ConnectTo)]
    (target,) = connect_to
    server = FakeServerEnd(session, target.conn_id)
    session.connection_made(now, target.conn_id)
    (requested,) = server.take_writes(session.pop_outputs())
    assert isinstance(requested, ConnectRequested)
    response = ConnectResponse(0, timeout_ms, session_id, PASSWD, read_only)
    outputs = server.answer(now, server.codec.connect_response(response))
    events = server.take_writes(outputs)
    return server, requested.request, outputs, events, target


def test_parse_hosts_and_chroot():
    assert parse_hosts("h1:2181,h2:2182/app/x") == ([("h1", 2181), ("h2", 2182)], "/app/x")
    assert parse_hosts("h1") == ([("h1", 2181)], "")
    assert parse_hosts("[::1]:3000") == ([("::1", 3000)], "")
    for bad in ("", ",", "h:notaport", "h:0", "h:70000"):
        with pytest.raises(ValueError):
            parse_hosts(bad)


def test_handshake_then_connected_and_hosts_shuffled_by_the_injected_rng():
    orders = {tuple(new_session("a:1,b:2,c:3,d:4,e:5", seed=s).hosts) for s in range(20)}
    assert len(orders) > 1  # shuffled...
    assert new_session(seed=3).hosts == new_session(seed=3).hosts  # ...deterministically
    session = new_session()
    server, request, outputs, _, target = connect(session, 100.0)
    assert (target.host, target.port) == session.hosts[0]
    assert (request.session_id, request.last_zxid_seen, request.timeout_ms) == (0, 0, 9000)
    assert StateChanged(State.LOST, State.CONNECTED) in outputs
    assert session.session_id == 0x1234 and session.passwd == PASSWD
    assert session.connected_host == session.hosts[0]


def test_hosts_in_the_given_order_without_randomize_hosts():
    for seed in range(5):
        session = new_session("a:1,b:2,c:3,d:4,e:5", seed=seed, randomize_hosts=False)
        assert session.hosts == [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)]
        session.start(0.0)
        assert session.pop_outputs()[0][:2] == ("a", 1)  # the first host is tried first


def test_ping_at_a_third_and_loss_detected_at_two_thirds_of_the_negotiated_timeout():
    session = new_session()
    server, *_ = connect(session, 0.0, timeout_ms=6000)  # negotiated 6 s, requested 9 s
    assert session.next_deadline() == pytest.approx(2.0)
    session.tick(1.9)
    assert server.take_writes(session.pop_outputs()) == []
    session.tick(2.0)
    (ping,) = server.take_writes(session.pop_outputs())
    assert ping.opcode == OpCode.PING
    # Nothing received since t=0: at 2/3 * 6 s = 4 s the connection is given up.
    session.tick(3.9)
    assert not any(isinstance(o, Disconnect) for o in session.pop_outputs())
    session.tick(4.0)
    outputs = session.pop_outputs()
    assert Disconnect(server.conn_id) in outputs
    assert StateChanged(State.CONNECTED, State.SUSPENDED) in outputs


def test_a_ping_reply_keeps_the_connection_alive():
    session = new_session()
    server, *_ = connect(session, 0.0, timeout_ms=6000)
    for step in range(1, 20):
        now = step * 2.0
        session.tick(now)
        for event in server.take_writes(session.pop_outputs()):
            assert event.opcode == OpCode.PING
            server.answer(now, server.codec.reply(-2, 0, 0))
    assert session.state is State.CONNECTED


def test_in_flight_requests_fail_with_connection_loss_and_are_never_resent():
    session = new_session()
    server, *_ = connect(session, 0.0)
    created = session.submit(1.0, OpCode.CREATE, CreateRequest("/x", b"", [], 0))
    assert [e.opcode for e in server.take_writes(session.pop_outputs())] == [OpCode.CREATE]
    session.connection_lost(1.5, server.conn_id)
    outputs = session.pop_outputs()
    assert Completed(created, Err.CONNECTION_LOSS, None) in outputs
    assert StateChanged(State.CONNECTED, State.SUSPENDED) in outputs
    # Submitted while disconnected: waits for the next connection, then goes out (once).
    queued = session.submit(1.6, OpCode.GET_DATA, GetDataRequest("/x", False))
    server2, request, _, events, target = connect(session, 2.0, zxid=0)
    assert (target.host, target.port) == session.hosts[1]  # the next host in the list
    assert request.session_id == 0x1234 and request.passwd == PASSWD
    assert [e.opcode for e in events] == [OpCode.GET_DATA]
    reply = server2.answer(2.1, server2.codec.reply(events[0].xid, 9, 0, GetDataResponse(b"v", STAT)))
    assert reply == [Completed(queued, 0, GetDataResponse(b"v", STAT))]


def test_last_zxid_seen_is_carried_to_the_next_connection():
    session = new_session()
    server, *_ = connect(session, 0.0)
    request_id = session.submit(0.0, OpCode.CREATE, CreateRequest("/x", b"", [], 0))
    (create,) = server.take_writes(session.pop_outputs())
    server.answer(0.1, server.codec.reply(create.xid, 77, 0, CreateResponse("/x")))
    session.connection_lost(0.2, server.conn_id)
    _, request, *_ = connect(session, 0.3)
    assert request.last_zxid_seen == 77
    assert request_id == 1


def test_stale_connection_events_are_ignored():
    session = new_session()
    server, *_ = connect(session, 0.0)
    session.connection_lost(1.0, server.conn_id)
    session.pop_outputs()
    session.connection_lost(1.1, server.conn_id)  # a late duplicate
    session.data_received(1.1, server.conn_id, b"\0\0\0\0")
    assert session.pop_outputs() == []
    assert session.state is State.SUSPENDED


def test_watches_are_registered_by_reply_and_re_registered_with_set_watches():
    session = new_session()
    server, *_ = connect(session, 0.0)
    on_data, on_exist, on_persistent = object(), object(), object()
    session.submit(0.0, OpCode.GET_DATA, GetDataRequest("/d", True),
                   WatchRegistration(WatchKind.DATA, on_data))
    session.submit(0.0, OpCode.EXISTS, ExistsRequest("/e", True),
                   WatchRegistration(WatchKind.DATA, on_exist))
    get, exists = server.take_writes(session.pop_outputs())
    server.answer(0.1, server.codec.reply(get.xid, 3, 0, GetDataResponse(b"", STAT)))
    server.answer(0.1, server.codec.reply(exists.xid, 3, Err.NO_NODE))
    assert session.watchers(WatchKind.DATA) == {"/d": [on_data]}
    assert session.watchers(WatchKind.EXIST) == {"/e": [on_exist]}
    session.connection_lost(1.0, server.conn_id)
    server2, _, _, events, _ = connect(session, 1.0)
    (set_watches,) = events
    assert set_watches.opcode == OpCode.SET_WATCHES
    assert set_watches.request == SetWatches(3, ["/d"], ["/e"], [])
    # With a persistent watch the Java client's SetWatches2 is used.
    session.submit(1.1, OpCode.ADD_WATCH, AddWatchRequest("/p", 1),
                   WatchRegistration(WatchKind.PERSISTENT_RECURSIVE, on_persistent))
    server2.take_writes(session.pop_outputs())
    server2.answer(1.2, server2.codec.reply(set_watches.xid, 3, 0))
    add = server2.received[-1]
    server2.answer(1.2, server2.codec.reply(add.xid, 3, 0, ErrorResponse(0)))
    session.connection_lost(2.0, server2.conn_id)
    _, _, _, events, _ = connect(session, 2.0)
    assert events[0].request == SetWatches2(3, ["/d"], ["/e"], [], [], ["/p"])


def test_notifications_fire_one_shot_watchers_once_and_persistent_ones_every_time():
    session = new_session(hosts="a:1/app")
    server, *_ = connect(session, 0.0)
    one_shot, recursive = object(), object()
    session.submit(0.0, OpCode.GET_DATA, GetDataRequest("/app/n", True),
                   WatchRegistration(WatchKind.DATA, one_shot))
    session.submit(0.0, OpCode.ADD_WATCH, AddWatchRequest("/app", 1),
                   WatchRegistration(WatchKind.PERSISTENT_RECURSIVE, recursive))
    get, add = server.take_writes(session.pop_outputs())
    server.answer(0.1, server.codec.reply(get.xid, 3, 0, GetDataResponse(b"", STAT)))
    server.answer(0.1, server.codec.reply(add.xid, 3, 0, ErrorResponse(0)))
    changed = server.codec.notification(-1, EventType.NODE_DATA_CHANGED, KeeperState.SYNC_CONNECTED,
                                        "/app/n")
    (first,) = server.answer(0.2, changed)
    assert isinstance(first, WatchFired)
    assert first.watchers == (one_shot, recursive)
    assert (first.event.type, first.event.path) == ("CHANGED", "/n")  # chroot stripped
    (second,) = server.answer(0.3, changed)
    assert second.watchers == (recursive,)
    children = server.codec.notification(-1, EventType.NODE_CHILDREN_CHANGED,
                                         KeeperState.SYNC_CONNECTED, "/app")
    assert server.answer(0.4, children) == []  # recursive watches get no child events


def test_expiry_means_lost_watches_dropped_and_told_then_a_new_session():
    session = new_session()
    server, *_ = connect(session, 0.0)
    watcher = object()
    session.submit(0.0, OpCode.GET_DATA, GetDataRequest("/d", True),
                   WatchRegistration(WatchKind.DATA, watcher))
    (get,) = server.take_writes(session.pop_outputs())
    server.answer(0.1, server.codec.reply(get.xid, 3, 0, GetDataResponse(b"", STAT)))
    session.connection_lost(1.0, server.conn_id)
    session.pop_outputs()
    queued = session.submit(1.0, OpCode.GET_DATA, GetDataRequest("/d", False))
    _, _, outputs, _, target = connect(session, 1.1, session_id=0, timeout_ms=0)   # expired
    assert Completed(queued, Err.SESSION_EXPIRED, None) in outputs
    assert StateChanged(State.SUSPENDED, State.LOST) in outputs
    assert Disconnect(target.conn_id) in outputs
    assert session.watchers(WatchKind.DATA) == {}
    # Its watcher is told, once, after the state change (kazoo's order).
    told = WatchFired(WatchedEvent("NONE", "LOST", None), (watcher,))
    assert outputs.index(told) > outputs.index(StateChanged(State.SUSPENDED, State.LOST))
    _, request, outputs, events, _ = connect(session, 1.2, session_id=0x99)
    assert request.session_id == 0 and request.passwd == b"\0" * 16
    assert events == []  # no watches to re-register
    assert StateChanged(State.LOST, State.CONNECTED) in outputs


class _Unhashable:
    __hash__ = None

    def __call__(self, event):
        pass


def test_expiry_tells_each_watcher_once_hashable_or_not():
    session = new_session()
    server, *_ = connect(session, 0.0)
    watchers = [object(), _Unhashable()]
    for path in ("/a", "/b"):            # each watcher on two nodes: told once
        for watcher in watchers:
            session.submit(0.0, OpCode.GET_DATA, GetDataRequest(path, True),
                           WatchRegistration(WatchKind.DATA, watcher))
    for get in server.take_writes(session.pop_outputs()):
        server.answer(0.1, server.codec.reply(get.xid, 3, 0, GetDataResponse(b"", STAT)))
    session.connection_lost(1.0, server.conn_id)
    _, _, outputs, _, _ = connect(session, 1.1, session_id=0, timeout_ms=0)   # expired
    (told,) = [o for o in outputs if isinstance(o, WatchFired)]
    assert told == WatchFired(WatchedEvent("NONE", "LOST", None), tuple(watchers))


def test_auth_is_replayed_on_every_connection():
    session = new_session()
    session.add_auth(0.0, "digest", b"u:p")
    server, _, _, events, _ = connect(session, 0.0)
    assert [(e.opcode, e.request.scheme) for e in events] == [(OpCode.AUTH, "digest")]
    session.connection_lost(1.0, server.conn_id)
    _, _, _, events, _ = connect(session, 1.0)
    assert [(e.opcode, e.request.auth) for e in events] == [(OpCode.AUTH, b"u:p")]


def test_failed_auth_closes_the_client():
    session = new_session()
    session.add_auth(0.0, "nope", b"x")
    server, _, _, events, _ = connect(session, 0.0)
    pending = session.submit(0.1, OpCode.GET_DATA, GetDataRequest("/", False))
    server.take_writes(session.pop_outputs())
    outputs = server.answer(0.2, server.codec.reply(-4, 0, Err.AUTH_FAILED))
    assert Completed(pending, Err.AUTH_FAILED, None) in outputs
    assert session.state is State.CLOSED


def test_failed_attempts_back_off_randomly_within_the_bound():
    session = new_session(max_reconnect_delay_s=1.0)
    session.start(0.0)
    delays = []
    now = 0.0
    for _ in range(8):
        (target,) = [o for o in session.pop_outputs() if isinstance(o, ConnectTo)]
        session.connection_lost(now, target.conn_id)  # refused
        deadline = session.next_deadline()
        delays.append(deadline - now)
        now = deadline
        session.tick(now)
    assert all(0 <= d <= 1.0 for d in delays)
    assert len(set(delays)) == len(delays)  # randomized
    assert max(delays[-3:]) > max(delays[:1])  # the ceiling grows with consecutive failures


def test_connect_attempt_times_out_and_moves_on():
    session = new_session()
    session.start(0.0)
    (first,) = session.pop_outputs()
    session.tick(TIMEOUT_S / 3)  # 3 hosts: T/3 per attempt
    outputs = session.pop_outputs()
    assert Disconnect(first.conn_id) in outputs


def test_close_sends_close_session_and_fails_later_requests():
    session = new_session()
    server, *_ = connect(session, 0.0)
    session.close(1.0)
    (close,) = server.take_writes(session.pop_outputs())
    assert close.opcode == OpCode.CLOSE_SESSION
    late = session.submit(1.1, OpCode.GET_DATA, GetDataRequest("/", False))
    assert session.pop_outputs() == [Completed(late, ERR_CLOSED, None)]
    assert not session.close_acknowledged
    outputs = server.answer(1.2, server.codec.reply(close.xid, 5, 0))
    assert Disconnect(server.conn_id) in outputs
    assert StateChanged(State.CONNECTED, State.CLOSED) in outputs
    assert session.next_deadline() is None
    assert session.close_acknowledged  # the server answered: the session is certainly gone


def test_close_is_bounded_when_the_server_never_answers():
    session = new_session()
    server, *_ = connect(session, 0.0)
    session.close(1.0, timeout_s=2.0)
    session.pop_outputs()
    session.tick(3.0)
    assert StateChanged(State.CONNECTED, State.CLOSED) in session.pop_outputs()
    assert not session.close_acknowledged  # it may live on until it expires


def test_a_close_cut_off_or_made_while_disconnected_is_not_acknowledged():
    session = new_session()
    server, *_ = connect(session, 0.0)
    session.close(1.0)
    server.take_writes(session.pop_outputs())
    session.connection_lost(1.1, server.conn_id)  # the answer never came
    assert StateChanged(State.CONNECTED, State.CLOSED) in session.pop_outputs()
    assert not session.close_acknowledged
    never_connected = new_session()
    never_connected.start(0.0)
    never_connected.close(0.5)
    assert never_connected.state is State.CLOSED and not never_connected.close_acknowledged


def test_read_only_connection_state():
    session = new_session(read_only=True)
    _, request, outputs, *_ = connect(session, 0.0, read_only=True)
    assert request.read_only is True
    assert StateChanged(State.LOST, State.CONNECTED_READ_ONLY) in outputs


def test_requests_queued_while_disconnected_can_be_cancelled():
    session = new_session()
    session.start(0.0)
    queued = session.submit(0.0, OpCode.GET_DATA, GetDataRequest("/", False))
    assert session.cancel(queued) is True
    _, _, _, events, _ = connect(session, 0.1)
    assert events == []


def test_after_a_drop_the_next_server_is_tried_after_a_random_pause_below_the_ceiling():
    pauses = set()
    for seed in range(5):
        session = new_session(seed=seed, max_reconnect_delay_s=1.0)
        server, *_ = connect(session, 0.0)
        session.connection_lost(1.0, server.conn_id)
        session.pop_outputs()
        pause = session.next_deadline() - 1.0
        assert 0 <= pause < 1.0
        pauses.add(pause)
    assert len(pauses) == 5


def test_a_request_may_ask_to_fail_at_once_instead_of_waiting_for_a_connection():
    session = new_session()
    session.start(0.0)
    session.pop_outputs()
    failing = session.submit(0.0, OpCode.GET_DATA, GetDataRequest("/", False),
                             wait_for_connection=False)
    assert session.pop_outputs() == [Completed(failing, Err.CONNECTION_LOSS, None)]


# -- read-only servers: keep looking for a read-write one -----------------------------------------

def test_a_read_only_session_probes_the_other_hosts_and_moves_to_a_read_write_one():
    from clients.session import RW_PROBE_FIRST_S, ProbeServer
    session = new_session(read_only=True)
    server, request, outputs, _, target = connect(session, 0.0, session_id=0x77, read_only=True)
    assert StateChanged(State.LOST, State.CONNECTED_READ_ONLY) in outputs
    others = [h for h in session.hosts if h != (target.host, target.port)]
    # The first probe after 0.1 s, to another host.
    assert session.next_deadline() == pytest.approx(RW_PROBE_FIRST_S)
    session.tick(RW_PROBE_FIRST_S)
    (probe,) = [o for o in session.pop_outputs() if isinstance(o, ProbeServer)]
    assert (probe.host, probe.port) == others[0]
    # "ro" (or no answer): the next host, then a longer pause once every other host was asked.
    session.probe_result(0.2, probe.probe_id, b"ro")
    session.tick(session.next_deadline())
    (probe,) = [o for o in session.pop_outputs() if isinstance(o, ProbeServer)]
    assert (probe.host, probe.port) == others[1]
    session.probe_result(0.5, probe.probe_id, None)
    assert session.next_deadline() == pytest.approx(0.5 + 2 * RW_PROBE_FIRST_S)
    session.tick(session.next_deadline())
    (probe,) = [o for o in session.pop_outputs() if isinstance(o, ProbeServer)]
    # A stale answer to an old probe is ignored; "rw" moves the session at once.
    session.probe_result(0.8, probe.probe_id - 1, b"rw")
    assert session.state is State.CONNECTED_READ_ONLY
    rw_host = (probe.host, probe.port)
    session.probe_result(0.8, probe.probe_id, b"rw")
    outputs = session.pop_outputs()
    assert Disconnect(server.conn_id) in outputs
    assert StateChanged(State.CONNECTED_READ_ONLY, State.SUSPENDED) in outputs
    session.tick(0.8)
    (connect_to,) = [o for o in session.pop_outputs() if isinstance(o, ConnectTo)]
    assert (connect_to.host, connect_to.port) == rw_host
    # Never seen a read-write server: the read-only session id means nothing there.
    rw_end = FakeServerEnd(session, connect_to.conn_id)
    session.connection_made(0.8, connect_to.conn_id)
    (requested,) = rw_end.take_writes(session.pop_outputs())
    assert requested.request.session_id == 0
    rw_end.answer(0.9, rw_end.codec.connect_response(ConnectResponse(0, 9000, 0x99, PASSWD, False)))
    assert session.state is State.CONNECTED and session.session_id == 0x99
    session.tick(100.0)
    assert not [o for o in session.pop_outputs() if isinstance(o, ProbeServer)]  # no more probes


def test_probes_stop_when_the_read_only_connection_drops_or_the_session_closes():
    from clients.session import ProbeServer
    session = new_session(read_only=True)
    server, *_ = connect(session, 0.0, read_only=True)
    session.connection_lost(0.05, server.conn_id)
    session.tick(0.1)
    assert not [o for o in session.pop_outputs() if isinstance(o, ProbeServer)]
    session2 = new_session(read_only=True)
    connect(session2, 0.0, read_only=True)
    session2.close(0.01)
    session2.pop_outputs()
    session2.tick(0.1)
    assert not [o for o in session2.pop_outputs() if isinstance(o, ProbeServer)]
