"""jepsen_like/client_adapters.py: kazoo and coord's client behind the one interface the workloads
use, each against a real standalone coord server over real sockets. Every test runs for both
libraries with the same expectations; where they differ (when watches are dropped) the test says so.
"""

from __future__ import annotations

import queue
import threading

import pytest

from jepsen_like.client_adapters import (
    CLIENTS, LOST, SUSPENDED, BadVersion, LockTimeout, NodeExists, NoNode, StateChange, WatchEvent, connect,
)
from tests.clients.helpers import expire_session, wait_until
from tests.conftest import start_server, stop_server

KINDS = sorted(CLIENTS)


@pytest.fixture(scope="module")
def coord_server(tmp_path_factory):
    server = start_server("coord", tmp_path_factory.mktemp("adapters-coord"))
    try:
        yield server
    finally:
        stop_server(server)


class Recorder:
    """Records state changes and watch events in the order the client delivered them."""

    def __init__(self) -> None:
        self.items: list = []
        self.changed = threading.Condition()

    def __call__(self, item) -> None:
        with self.changed:
            self.items.append(item)
            self.changed.notify_all()

    def wait_for(self, predicate, timeout_s: float = 15.0) -> list:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.items), timeout_s), self.items
            return list(self.items)


def open_client(kind, server, on_state=lambda change: None):
    return connect(kind, server.hosts, session_timeout_s=6.0, op_timeout_s=5.0, on_state=on_state, timeout_s=15.0)


@pytest.mark.parametrize("kind", KINDS)
def test_operations_and_classified_errors(kind, coord_server):
    client = open_client(kind, coord_server)
    root = f"/adapters-{kind}"
    try:
        client.ensure_path(root)
        assert client.create(f"{root}/n", b"1") == f"{root}/n"
        with pytest.raises(NodeExists) as exists:
            client.create(f"{root}/n")
        assert exists.value.name == "NodeExistsError"  # the library's own name, for the history
        with pytest.raises(NoNode):
            client.get(f"{root}/missing")
        with pytest.raises(NoNode):
            client.create(f"{root}/missing/child")
        data, stat = client.get(f"{root}/n")
        assert data == b"1" and stat.version == 0 and stat.mzxid > 0
        with pytest.raises(BadVersion):
            client.set(f"{root}/n", b"2", version=stat.version + 1)
        assert client.set(f"{root}/n", b"2", version=stat.version).version == 1
        assert client.create(f"{root}/id-", sequence=True) == f"{root}/id-0000000001"
        client.create(f"{root}/e", ephemeral=True)
        client.sync(root)
        assert sorted(client.get_children(root)) == ["e", "id-0000000001", "n"]
        assert client.session_id and client.member == f"{coord_server.host}:{coord_server.port}"
    finally:
        assert client.close() is True  # the server acknowledged the closeSession
    observer = open_client(kind, coord_server)
    try:
        assert "e" not in observer.get_children(root)  # closed: its ephemeral went with it
    finally:
        observer.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_change_is_one_changed_event_however_often_the_watch_is_set(kind, coord_server):
    client, writer = open_client(kind, coord_server), open_client(kind, coord_server)
    path = f"/watched-{kind}"
    events: queue.Queue = queue.Queue()
    try:
        writer.create(path, b"0")
        client.get(path, watch=events.put)
        client.get(path, watch=events.put)  # the same callback: still one registration
        writer.set(path, b"1")
        assert events.get(timeout=10) == WatchEvent(True, path)
        with pytest.raises(queue.Empty):
            events.get(timeout=0.5)
    finally:
        client.close()
        writer.close()


@pytest.mark.parametrize("kind", KINDS)
def test_state_change_comes_before_the_dropped_watch_events(kind, coord_server):
    """The session is closed behind the client's back (another connection takes it over and
    closes it), so the client loses its connection and then learns its session expired. Both libraries
    must report the state change before the events of the watches it dropped; kazoo drops them
    already at the disconnection, coord's client only at the expiry (it sets them again itself
    on reconnecting)."""
    recorder = Recorder()
    client = open_client(kind, coord_server, on_state=recorder)
    path = f"/expiring-{kind}"
    try:
        client.ensure_path(path)
        client.get(path, watch=recorder)
        session_id = client.session_id
        expire_session(coord_server.host, coord_server.port, session_id, _password(client))
        items = recorder.wait_for(lambda items: StateChange(LOST, True) in items and WatchEvent(False) in items)
        dropped = items.index(WatchEvent(False))
        assert any(isinstance(item, StateChange) and item.watches_dropped for item in items[:dropped]), items
        if kind == "coord":
            assert items[:3] == [StateChange(SUSPENDED, False), StateChange(LOST, True), WatchEvent(False)]
        else:
            assert items[:2] == [StateChange(SUSPENDED, True), WatchEvent(False)]
        wait_until(lambda: client.session_id not in (None, session_id))
        client.sync(path)  # a new session serves again
    finally:
        client.close()


@pytest.mark.parametrize("kind", KINDS)
def test_lock_is_exclusive_and_times_out(kind, coord_server):
    holder, other = open_client(kind, coord_server), open_client(kind, coord_server)
    try:
        first = holder.lock("/adapter-lock", "holder")
        assert first.acquire(timeout_s=5.0) is True
        second = other.lock("/adapter-lock", "other")
        with pytest.raises(LockTimeout):
            second.acquire(timeout_s=0.5)
        assert not any(child.startswith(second.prefix) for child in other.get_children(second.path))
        assert first.release() is True
        assert second.acquire(timeout_s=5.0) is True
        second.release()
    finally:
        holder.close()
        other.close()


def _password(client) -> bytes:
    """The session's password, to resume it from another connection (test only)."""
    library = getattr(client, "_kazoo", None) or getattr(client, "_client")
    return library.client_id[1]
