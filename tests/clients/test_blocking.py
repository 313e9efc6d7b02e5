"""The blocking client against a real Apache ZooKeeper 3.8 and a real coord (both, every test)."""

import random
import socket
import threading

import pytest

from clients import errors
from clients.blocking import Client, State
from clients.ops import ZnodeStat, make_digest_acl
from tests.clients.helpers import wait_until


def test_create_get_set_exists_delete_have_kazoo_shapes(cc, prefix, client):
    path = f"{prefix}/node"
    assert cc.create(path, b"v1") == path
    data, stat = cc.get(path)
    assert data == b"v1" and isinstance(stat, ZnodeStat) and stat.version == 0
    assert stat.dataLength == 2 and stat.data_length == 2
    assert cc.set(path, b"v2").version == 1
    assert client.get(path)[0] == b"v2"  # kazoo sees the write
    assert cc.exists(path).version == 1
    assert cc.exists(f"{prefix}/missing") is None
    assert cc.get_children(prefix) == ["node"]
    children, parent_stat = cc.get_children(prefix, include_data=True)
    assert children == ["node"] and parent_stat.numChildren == 1
    assert cc.delete(path) is True
    assert cc.exists(path) is None


def test_sequence_ephemeral_and_include_data(cc, prefix, make_coord_client):
    first = cc.create(f"{prefix}/s-", sequence=True)
    second = cc.create(f"{prefix}/s-", sequence=True)
    assert first == f"{prefix}/s-0000000000" and second == f"{prefix}/s-0000000001"
    other = make_coord_client()
    path, stat = other.create(f"{prefix}/e", b"x", ephemeral=True, include_data=True)
    assert path == f"{prefix}/e" and stat.ephemeralOwner == other.client_id[0]
    other.stop()
    assert cc.exists(f"{prefix}/e") is None  # the session closed: its ephemeral is gone


def test_errors_are_typed_one_class_per_code(cc, prefix):
    cases = [
        (lambda: cc.get(f"{prefix}/none"), errors.NoNodeError, -101),
        (lambda: cc.create(prefix), errors.NodeExistsError, -110),
        (lambda: cc.set(prefix, b"", version=42), errors.BadVersionError, -103),
        (lambda: cc.create(f"{prefix}/a/b"), errors.NoNodeError, -101),
    ]
    cc.create(f"{prefix}/full")
    cc.create(f"{prefix}/full/child")
    cases.append((lambda: cc.delete(f"{prefix}/full"), errors.NotEmptyError, -111))
    for call, error_class, code in cases:
        with pytest.raises(error_class) as caught:
            call()
        assert caught.value.code == code
        assert isinstance(caught.value, errors.ZookeeperError)
        assert isinstance(caught.value, errors.CoordClientError)
    with pytest.raises(ValueError):
        cc.get("relative")


def test_makepath_ensure_path_and_recursive_delete(cc, prefix):
    assert cc.create(f"{prefix}/a/b/c", b"leaf", makepath=True) == f"{prefix}/a/b/c"
    assert cc.get(f"{prefix}/a/b/c")[0] == b"leaf"
    assert cc.ensure_path(f"{prefix}/a/b/d/e") is True
    assert cc.ensure_path(f"{prefix}/a/b/d/e") is True  # idempotent
    assert sorted(cc.get_children(f"{prefix}/a/b")) == ["c", "d"]
    assert cc.delete(f"{prefix}/a", recursive=True) is True
    assert cc.exists(f"{prefix}/a") is None
    assert cc.delete(f"{prefix}/a", recursive=True) is True  # already gone is fine


def test_transaction_commits_atomically_or_reports_each_op(cc, prefix):
    t = cc.transaction()
    t.create(f"{prefix}/t1", b"1")
    t.create(f"{prefix}/t2")
    t.set_data(f"{prefix}/t1", b"2")
    t.check(f"{prefix}/t1", 1)
    results = t.commit()
    assert results[0] == f"{prefix}/t1" and results[1] == f"{prefix}/t2"
    assert results[2].version == 1 and results[3] is True
    t = cc.transaction()
    t.delete(f"{prefix}/t2")
    t.delete(f"{prefix}/missing")
    results = t.commit()
    assert isinstance(results[0], errors.RolledBackError)
    assert isinstance(results[1], errors.NoNodeError)
    assert cc.exists(f"{prefix}/t2") is not None  # rolled back


def test_chroot_paths_are_relative(make_coord_client, server, prefix, client):
    rooted = make_coord_client(hosts=server.hosts + prefix)
    assert rooted.create("/inside", b"x") == "/inside"
    assert client.get(f"{prefix}/inside")[0] == b"x"
    assert rooted.get_children("/") == ["inside"]
    events = []
    rooted.get("/inside", watch=events.append)
    client.set(f"{prefix}/inside", b"y")
    wait_until(lambda: events)
    assert events[0].path == "/inside" and events[0].type == "CHANGED"
    assert rooted.create("/seq-", sequence=True) == "/seq-0000000001"


def test_one_shot_watches_fire_once_in_order_on_one_thread(cc, prefix, client):
    seen = []

    def record(event):
        seen.append((event.type, event.path, threading.current_thread().name))

    cc.get(prefix, watch=record)
    cc.get_children(prefix, watch=record)
    cc.exists(f"{prefix}/new", watch=record)
    client.create(f"{prefix}/new")
    client.set(prefix, b"changed")
    client.set(prefix, b"again")  # the data watch was one-shot: no second event
    wait_until(lambda: len(seen) >= 3)
    cc.sync(prefix)
    assert sorted(seen[:3]) == sorted([
        ("CREATED", f"{prefix}/new", "coord-client-callbacks"),
        ("CHILD", prefix, "coord-client-callbacks"),
        ("CHANGED", prefix, "coord-client-callbacks"),
    ])
    assert len(seen) == 3


def test_persistent_recursive_watch_sees_the_subtree_every_time(cc, prefix, client):
    events = []
    cc.add_watch(prefix, events.append, recursive=True)
    client.create(f"{prefix}/a")
    client.create(f"{prefix}/a/b")
    client.set(f"{prefix}/a/b", b"1")
    client.set(f"{prefix}/a/b", b"2")
    client.delete(f"{prefix}/a/b")
    wait_until(lambda: len(events) >= 5)
    assert [(e.type, e.path) for e in events] == [
        ("CREATED", f"{prefix}/a"), ("CREATED", f"{prefix}/a/b"), ("CHANGED", f"{prefix}/a/b"),
        ("CHANGED", f"{prefix}/a/b"), ("DELETED", f"{prefix}/a/b"),
    ]


def test_data_watch_and_children_watch(cc, prefix, client):
    data_seen, children_seen = [], []

    @cc.DataWatch(f"{prefix}/d")
    def on_data(data, stat):
        data_seen.append(data)
        return data != b"stop"

    @cc.ChildrenWatch(prefix)
    def on_children(children):
        children_seen.append(children)

    client.create(f"{prefix}/d", b"1")
    wait_until(lambda: data_seen[-1:] == [b"1"])
    client.set(f"{prefix}/d", b"stop")
    wait_until(lambda: data_seen[-1:] == [b"stop"])
    client.set(f"{prefix}/d", b"after")  # the function returned False: no more calls
    client.create(f"{prefix}/e")
    wait_until(lambda: children_seen[-1:] == [["d", "e"]])
    cc.sync(prefix)
    assert data_seen == [None, b"1", b"stop"]
    assert children_seen[0] == []


def test_acls_and_auth(make_coord_client, prefix):
    writer = make_coord_client(auth_data=[("digest", "alice:secret")])
    acl = make_digest_acl("alice", "secret", all=True)
    writer.create(f"{prefix}/private", b"s", acl=[acl])
    assert writer.get(f"{prefix}/private")[0] == b"s"
    stranger = make_coord_client()
    with pytest.raises(errors.NoAuthError):
        stranger.get(f"{prefix}/private")
    stranger.add_auth("digest", "alice:secret")
    assert stranger.get(f"{prefix}/private")[0] == b"s"
    assert writer.get_acls(f"{prefix}/private")[0] == [acl]


def test_calls_from_many_threads(cc, prefix):
    failures = []

    def work(n):
        try:
            for i in range(10):
                cc.create(f"{prefix}/t{n}-{i}")
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert len(cc.get_children(prefix)) == 60


def test_listeners_and_stop(server, prefix):
    states = []
    c = Client(server.hosts, timeout=10.0)
    c.add_listener(states.append)
    c.start()
    assert c.connected_host == (server.host, server.port)
    assert c.stop() is True  # the server answered the closeSession
    assert c.connected_host is None
    assert c.stop() is True  # a second stop only repeats the answer
    wait_until(lambda: State.CLOSED in states)
    assert states == [State.CONNECTED, State.CLOSED]
    with pytest.raises(errors.ConnectionClosedError):
        c.get(prefix)


def test_start_times_out_against_a_server_that_never_answers():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        c = Client(f"127.0.0.1:{silent.getsockname()[1]}", timeout=4.0)
        with pytest.raises(errors.ClientTimeoutError):
            c.start(timeout=1.0)
        assert c.state is State.CLOSED


def test_every_call_has_a_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        c = Client(f"127.0.0.1:{silent.getsockname()[1]}", timeout=4.0, command_timeout=0.3)
        c.start_async()  # no session will come: requests stay queued
        try:
            with pytest.raises(errors.ClientTimeoutError, match="never sent"):
                c.get("/")
            with pytest.raises(errors.ClientTimeoutError):
                c.ensure_path("/a/b")
        finally:
            assert c.stop(timeout=1.0) is False  # no session, so no close was acknowledged


def test_a_dead_host_in_the_list_is_skipped(make_coord_client, server):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{closed.getsockname()[1]}"  # bound, not listening: refused
        hosts = [dead, server.hosts]
        seed = next(s for s in range(100) if _shuffled(hosts, s)[0] == dead)  # dead one first
        c = make_coord_client(hosts=",".join(hosts), rng=random.Random(seed))
        assert c.connected_host == (server.host, server.port)
        assert c.exists("/") is not None


def _shuffled(items, seed):
    items = list(items)
    random.Random(seed).shuffle(items)
    return items
