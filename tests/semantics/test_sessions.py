"""Sessions: timeout negotiation, resuming a session, bad passwords, closing.

The handshake is read raw (kazoo keeps the negotiated timeout in a local variable only).
Timeouts are clamped to [2 x tickTime, 20 x tickTime]; the shared server runs with tick 2000 ms.
"""

import pytest
from kazoo.client import KazooState

from tests.semantics import raw
from tests.semantics.raw import RawSession


@pytest.mark.parametrize(
    "requested_ticks, negotiated_ticks",
    [(0, 2), (0.5, 2), (1.9995, 2), (2, 2), (5, 5), (7.5, 7.5), (20, 20), (20.0005, 20), (50, 20), (-1, 2)],
)
def test_session_timeout_is_clamped(server, requested_ticks, negotiated_ticks):
    requested_ms = int(requested_ticks * server.tick_ms)
    s = RawSession(server.host, server.port, timeout_ms=requested_ms)
    try:
        assert s.timeout_ms == int(negotiated_ticks * server.tick_ms)
    finally:
        s.close_session()


def test_connect_response_shape(make_raw):
    s = make_raw()
    r = s.connect_response
    assert r.protocol_version == 0
    assert r.session_id != 0
    assert len(r.passwd) == 16
    assert r.read_only is False


def test_sessions_get_distinct_ids(make_raw, make_client):
    ids = {make_raw().session_id for _ in range(3)} | {make_client().client_id[0]}
    assert len(ids) == 4


def test_resume_with_id_and_password_keeps_ephemerals_and_closes_old_connection(server, make_raw, prefix):
    first = make_raw()
    first.create(f"{prefix}/e", flags=raw.EPHEMERAL)
    second = make_raw(session_id=first.session_id, passwd=first.passwd)
    assert second.session_id == first.session_id
    assert second.passwd == first.passwd
    assert second.timeout_ms == first.timeout_ms
    assert second.exists(f"{prefix}/e").ephemeralOwner == first.session_id
    with pytest.raises(raw.ConnectionClosed):  # the server closed the session's old connection
        first.ping()
    second.ping()


def test_resume_renegotiates_the_timeout(server, make_raw):
    first = make_raw(timeout_ms=10 * server.tick_ms)
    second = make_raw(session_id=first.session_id, passwd=first.passwd, timeout_ms=3 * server.tick_ms)
    assert second.timeout_ms == 3 * server.tick_ms


def _assert_expired(response):
    assert (response.timeout_ms, response.session_id, response.passwd) == (0, 0, bytes(16))


def test_wrong_password_is_answered_as_expired_and_closed(make_raw, prefix):
    owner = make_raw()
    owner.create(f"{prefix}/e", flags=raw.EPHEMERAL)
    wrong = bytes(b ^ 0xFF for b in owner.passwd)
    intruder = make_raw(session_id=owner.session_id, passwd=wrong)
    _assert_expired(intruder.connect_response)
    with pytest.raises(raw.ConnectionClosed):
        intruder.ping()
    # the session itself survives (3.8.0 does drop its current connection, though)
    again = make_raw(session_id=owner.session_id, passwd=owner.passwd)
    assert again.session_id == owner.session_id
    assert again.exists(f"{prefix}/e") is not None


def test_closed_session_cannot_be_resumed(make_raw):
    s = make_raw()
    session_id, passwd = s.session_id, s.passwd
    reply = s.close_session()
    assert reply.err == 0
    _assert_expired(make_raw(session_id=session_id, passwd=passwd).connect_response)


def test_unknown_session_id_is_answered_as_expired(make_raw):
    s = make_raw()
    _assert_expired(make_raw(session_id=s.session_id ^ 0x5A5A5A, passwd=s.passwd).connect_response)


def test_close_session_deletes_ephemerals_immediately(client, make_client, prefix):
    owner = make_client()
    owner.create(f"{prefix}/e1", ephemeral=True)
    owner.create(f"{prefix}/e2", ephemeral=True, sequence=True)
    owner.create(f"{prefix}/p")  # persistent nodes stay
    assert len(client.get_children(prefix)) == 3
    owner.stop()
    assert client.get_children(prefix) == ["p"]


def test_dropped_connection_keeps_the_session(make_raw, prefix, client):
    s = make_raw(timeout_ms=30000)
    s.create(f"{prefix}/e", flags=raw.EPHEMERAL)
    s.close()  # TCP only, no closeSession
    assert client.exists(f"{prefix}/e").ephemeralOwner == s.session_id
    resumed = make_raw(session_id=s.session_id, passwd=s.passwd)
    assert resumed.get_ephemerals("/") == [f"{prefix}/e"]


def test_kazoo_client_reports_connected_and_closes(make_client):
    states = []
    c = make_client()
    c.add_listener(states.append)
    assert c.state == KazooState.CONNECTED
    assert c.client_id[0] != 0 and len(c.client_id[1]) == 16
    c.stop()
    assert states and states[-1] == KazooState.LOST
