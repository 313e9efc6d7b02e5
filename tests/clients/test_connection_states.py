"""Connection states with real faults: server restarted or paused (SUSPENDED, then CONNECTED with
the same session and watches still firing) and session expired (LOST, ephemerals gone, then a new
session).  Each runs against Apache ZooKeeper and coord."""

import threading

import pytest
import pytest_twisted
from kazoo.client import KazooClient
from twisted.internet import reactor, task

from clients import errors
from clients.blocking import Client, State
from clients.session import WatchedEvent
from tests.clients.helpers import expire_session, wait_until
from tests.conftest import start_server, stop_server


@pytest.fixture(scope="module")
def own_server(server_kind, tmp_path_factory):
    """A server of this kind that these tests may stop, restart and pause."""
    sut = start_server(server_kind, tmp_path_factory.mktemp(f"{server_kind}-restartable"))
    try:
        yield sut
    finally:
        sut.process.resume()
        stop_server(sut)   # every member of an ensemble, not only the one clients talk to


def _kazoo(hosts, **kwargs):
    k = KazooClient(hosts=hosts, timeout=10.0, **kwargs)
    k.start(timeout=15)
    return k


def test_server_restart_suspends_then_reconnects_with_session_and_watches(own_server):
    states = []
    c = Client(own_server.hosts, timeout=15.0, command_timeout=60.0)  # a JVM restart is slow
    c.add_listener(states.append)
    c.start()
    try:
        session_id = c.client_id[0]
        c.ensure_path("/restart")
        c.create("/restart/eph", ephemeral=True)
        data_events, child_events = [], []
        c.get("/restart", watch=data_events.append)
        c.get_children("/restart", watch=child_events.append)
        own_server.process.stop()
        wait_until(lambda: State.SUSPENDED in states, what="SUSPENDED")
        queued = []  # a call made while SUSPENDED waits for the next connection
        caller = threading.Thread(target=lambda: queued.append(c.exists("/restart/eph")))
        caller.start()
        own_server.process.start()
        wait_until(lambda: c.state is State.CONNECTED, 30, what="CONNECTED again")
        assert c.client_id[0] == session_id
        caller.join(20)
        assert queued and queued[0] is not None  # the session, and its ephemeral, survived
        other = _kazoo(own_server.hosts)
        try:
            other.set("/restart", b"after")
            other.create("/restart/child")
        finally:
            other.stop()
            other.close()
        wait_until(lambda: data_events and child_events, what="watches fire after the restart")
        assert data_events[0].type == "CHANGED" and child_events[0].type == "CHILD"
        assert states[:3] == [State.CONNECTED, State.SUSPENDED, State.CONNECTED]
    finally:
        c.stop()


@pytest.mark.slow  # ~8 s per server; the rule itself is unit-tested in test_session.py
def test_paused_server_in_flight_request_fails_with_connection_loss(own_server):
    states = []
    c = Client(own_server.hosts, timeout=10.0)
    c.add_listener(states.append)
    c.start()
    try:
        session_id = c.client_id[0]
        c.ensure_path("/paused")
        outcome = []

        def in_flight():
            try:
                outcome.append(c.set("/paused", b"x"))
            except errors.CoordClientError as exc:
                outcome.append(exc)

        own_server.process.pause()
        try:
            caller = threading.Thread(target=in_flight)
            caller.start()
            # No reply and no ping reply: the loss is detected at 2/3 of the session timeout.
            wait_until(lambda: State.SUSPENDED in states, 20, what="SUSPENDED")
            caller.join(20)
            assert len(outcome) == 1 and isinstance(outcome[0], errors.ConnectionLoss)
        finally:
            own_server.process.resume()
        wait_until(lambda: c.state is State.CONNECTED, 30, what="CONNECTED again")
        assert c.client_id[0] == session_id
    finally:
        c.stop()


def test_session_expiry_is_lost_then_a_new_session(server, prefix, make_coord_client):
    c = make_coord_client(timeout=10.0)
    states = []
    c.add_listener(states.append)
    c.create(f"{prefix}/eph", ephemeral=True)
    heard = []   # state changes and watch events, in the order the callback thread delivered them
    c.add_listener(lambda state: heard.append(state))
    c.create(f"{prefix}/watched")
    c.get(f"{prefix}/watched", watch=heard.append)
    c.get_children(f"{prefix}/watched", watch=heard.append)   # the same watcher twice: told once
    old_session_id, password = c.client_id
    expire_session(server.host, server.port, old_session_id, password)
    wait_until(lambda: State.LOST in states, 30, what="LOST")
    wait_until(lambda: c.state is State.CONNECTED, 30, what="a new session")
    # The watches died with the session, and their watcher heard so after the state listeners
    # (kazoo's order), as a NONE event: code waiting on a watch alone does not wait forever.
    wait_until(lambda: len(heard) >= 3, 10, what="the dropped watch's event")
    assert heard[heard.index(State.LOST):] == [State.LOST, WatchedEvent("NONE", "LOST", None), State.CONNECTED]
    assert heard[:heard.index(State.LOST)] in ([], [State.SUSPENDED])
    assert c.client_id[0] != old_session_id
    assert c.exists(f"{prefix}/eph") is None  # ephemerals went with the session
    assert c.create(f"{prefix}/after") == f"{prefix}/after"  # and the client works again
    assert states[states.index(State.LOST) + 1:] == [State.CONNECTED]


@pytest_twisted.ensureDeferred
async def test_twisted_client_across_a_server_restart(own_server):
    from clients.tx import Client as TxClient

    states = []
    c = TxClient(own_server.hosts, timeout=15.0, command_timeout=60.0)
    c.add_listener(states.append)
    await c.start()
    try:
        session_id = c.client_id[0]
        await c.ensure_path("/tx-restart")
        events = []
        await c.get("/tx-restart", watch=events.append)
        own_server.process.stop()  # blocks the reactor: the loss is seen when it runs again
        for _ in range(500):
            if State.SUSPENDED in states:
                break
            await task.deferLater(reactor, 0.02, lambda: None)
        assert State.SUSPENDED in states
        own_server.process.start()
        assert await c.exists("/tx-restart") is not None  # queued until the session is back
        assert c.state is State.CONNECTED and c.client_id[0] == session_id
        other = _kazoo(own_server.hosts)
        try:
            other.set("/tx-restart", b"after")
        finally:
            other.stop()
            other.close()
        for _ in range(500):
            if events:
                break
            await task.deferLater(reactor, 0.02, lambda: None)
        assert [e.type for e in events] == ["CHANGED"]
        assert states[:3] == [State.CONNECTED, State.SUSPENDED, State.CONNECTED]
    finally:
        await c.stop()
