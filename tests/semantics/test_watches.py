"""Watches: one-shot data/exists/child watches, delivery order, persistent and recursive watches,
removeWatches, and watches fired by the deletion of a closed or expired session's ephemerals.

kazoo de-duplicates watchers client-side and drops events no one-shot watcher asked for, so the
"one notification per event", ordering, persistent-watch and removeWatches cases read the wire
through tests/semantics/raw.py. "Nothing more arrives" is checked with a round trip, never a sleep:
notifications for an acknowledged write reach a connection before the reply to its next request.
"""

import pytest
from kazoo.exceptions import MarshallingError, NoNodeError, NoWatcherError
from kazoo.protocol.states import EventType
from kazoo.security import OPEN_ACL_UNSAFE

from tests.semantics import raw
from tests.semantics.helpers import WAIT_S, WatchRecorder


def ev(event_type, path):
    return (event_type, path)


# -- one-shot watches through kazoo ------------------------------------------------------------
def test_data_watch_fires_once(client, make_client, prefix):
    client.create(f"{prefix}/a", b"1")
    rec = WatchRecorder(client)
    client.get(f"{prefix}/a", watch=rec)
    writer = make_client()
    writer.set(f"{prefix}/a", b"2")
    writer.set(f"{prefix}/a", b"3")  # the watch was consumed by the first change
    assert rec.summary() == [ev(EventType.CHANGED, f"{prefix}/a")]


def test_exists_watch_on_missing_node_fires_on_create(client, make_client, prefix):
    rec = WatchRecorder(client)
    assert client.exists(f"{prefix}/later", watch=rec) is None
    make_client().create(f"{prefix}/later")
    assert rec.wait_for(1)[0].type == EventType.CREATED
    assert rec.summary() == [ev(EventType.CREATED, f"{prefix}/later")]


def test_exists_watch_on_existing_node_fires_on_delete(client, make_client, prefix):
    client.create(f"{prefix}/a")
    rec = WatchRecorder(client)
    assert client.exists(f"{prefix}/a", watch=rec) is not None
    make_client().delete(f"{prefix}/a")
    assert rec.summary() == [ev(EventType.DELETED, f"{prefix}/a")]


def test_child_watch_fires_on_child_create_and_delete_not_on_child_data(client, make_client, prefix):
    client.create(f"{prefix}/c")
    writer = make_client()
    rec = WatchRecorder(client)
    client.get_children(prefix, watch=rec)
    writer.set(f"{prefix}/c", b"child data")  # not a children change
    writer.set(prefix, b"parent data")  # not a children change either
    assert rec.summary() == []
    writer.create(f"{prefix}/d")
    assert rec.summary() == [ev(EventType.CHILD, prefix)]
    client.get_children(prefix, watch=rec)
    writer.delete(f"{prefix}/d")
    assert rec.summary() == [ev(EventType.CHILD, prefix), ev(EventType.CHILD, prefix)]


def test_set_data_with_identical_data_still_fires(client, make_client, prefix):
    client.create(f"{prefix}/a", b"same")
    rec = WatchRecorder(client)
    client.get(f"{prefix}/a", watch=rec)
    make_client().set(f"{prefix}/a", b"same")
    assert rec.summary() == [ev(EventType.CHANGED, f"{prefix}/a")]


def test_set_acl_fires_no_watch(client, make_client, prefix):
    client.create(f"{prefix}/a")
    rec = WatchRecorder(client)
    client.get(f"{prefix}/a", watch=rec)
    client.get_children(f"{prefix}/a", watch=rec)
    make_client().set_acls(f"{prefix}/a", OPEN_ACL_UNSAFE)
    assert rec.summary() == []


# -- the wire view ---------------------------------------------------------------------------
def test_data_and_exists_watch_on_one_node_give_one_notification(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    writer.create(f"{prefix}/a", b"1")
    watcher.get_data(f"{prefix}/a", watch=True)
    watcher.exists(f"{prefix}/a", watch=True)
    writer.set_data(f"{prefix}/a", b"2")
    events = watcher.drain_events()
    assert [(e.type, e.path) for e in events] == [(raw.NODE_DATA_CHANGED, f"{prefix}/a")]
    assert events[0].state == raw.SYNC_CONNECTED


def test_data_and_child_watch_on_deleted_node_give_one_notification(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    writer.create(f"{prefix}/a")
    watcher.get_data(f"{prefix}/a", watch=True)
    watcher.get_children(f"{prefix}/a", watch=True)
    writer.delete(f"{prefix}/a")
    assert [(e.type, e.path) for e in watcher.drain_events()] == [(raw.NODE_DELETED, f"{prefix}/a")]


def test_delete_gives_node_deleted_then_parent_children_changed(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    writer.create(f"{prefix}/a")
    watcher.get_data(f"{prefix}/a", watch=True)
    watcher.get_children(prefix, watch=True)
    writer.delete(f"{prefix}/a")
    assert [(e.type, e.path) for e in watcher.drain_events()] == [
        (raw.NODE_DELETED, f"{prefix}/a"),
        (raw.NODE_CHILDREN_CHANGED, prefix),
    ]


def test_create_gives_node_created_then_parent_children_changed(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    assert watcher.exists(f"{prefix}/a", watch=True) is None
    watcher.get_children(prefix, watch=True)
    writer.create(f"{prefix}/a")
    assert [(e.type, e.path) for e in watcher.drain_events()] == [
        (raw.NODE_CREATED, f"{prefix}/a"),
        (raw.NODE_CHILDREN_CHANGED, prefix),
    ]


def test_own_watch_event_arrives_before_the_reply_to_the_write(make_raw, prefix):
    s = make_raw()
    s.create(f"{prefix}/a", b"1")
    s.get_data(f"{prefix}/a", watch=True)
    start = len(s.log)
    xid = s.send(*raw.op_set_data(f"{prefix}/a", b"2"))
    s.read_reply(xid).raise_for_error()
    assert s.log[start:] == [
        ("event", raw.Event(raw.NODE_DATA_CHANGED, raw.SYNC_CONNECTED, f"{prefix}/a", s.log[start][1].zxid)),
        ("reply", xid, 0),
    ]


def test_own_delete_events_arrive_before_the_reply(make_raw, prefix):
    s = make_raw()
    s.create(f"{prefix}/a")
    s.exists(f"{prefix}/a", watch=True)
    s.get_children(prefix, watch=True)
    start = len(s.log)
    xid = s.send(*raw.op_delete(f"{prefix}/a"))
    s.read_reply(xid).raise_for_error()
    kinds = [(entry[0], entry[1].type if entry[0] == "event" else entry[1]) for entry in s.log[start:]]
    assert kinds == [("event", raw.NODE_DELETED), ("event", raw.NODE_CHILDREN_CHANGED), ("reply", xid)]


def test_own_multi_events_arrive_before_the_reply(make_raw, prefix):
    s = make_raw()
    s.create(f"{prefix}/a")
    s.get_data(f"{prefix}/a", watch=True)
    s.get_children(prefix, watch=True)
    start = len(s.log)
    xid = s.send(raw.MULTI, raw.encode_multi([raw.op_set_data(f"{prefix}/a", b"x"), raw.op_create(f"{prefix}/b")]))
    s.read_reply(xid).raise_for_error()
    got = [(e[1].type, e[1].path) if e[0] == "event" else ("reply", e[1]) for e in s.log[start:]]
    assert got == [(raw.NODE_DATA_CHANGED, f"{prefix}/a"), (raw.NODE_CHILDREN_CHANGED, prefix), ("reply", xid)]


def test_get_data_and_get_children_on_missing_node_set_no_watch(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    with pytest.raises(NoNodeError):
        watcher.get_data(f"{prefix}/a", watch=True)
    with pytest.raises(NoNodeError):
        watcher.get_children(f"{prefix}/a", watch=True)
    writer.create(f"{prefix}/a")
    writer.create(f"{prefix}/a/b")
    writer.delete(f"{prefix}/a/b")
    writer.delete(f"{prefix}/a")
    assert watcher.drain_events() == []


def test_exists_on_missing_node_sets_a_watch_on_the_wire(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    assert watcher.exists(f"{prefix}/a", watch=True) is None
    writer.create(f"{prefix}/a")
    writer.delete(f"{prefix}/a")  # one-shot: only the create is reported
    assert [(e.type, e.path) for e in watcher.drain_events()] == [(raw.NODE_CREATED, f"{prefix}/a")]


# -- watches fired by session end --------------------------------------------------------------
def test_closing_a_session_fires_watches_on_its_ephemerals(client, make_client, prefix):
    owner = make_client()
    owner.create(f"{prefix}/e1", ephemeral=True)
    owner.create(f"{prefix}/e2", ephemeral=True)
    rec = WatchRecorder(client)
    client.exists(f"{prefix}/e1", watch=rec)
    client.get(f"{prefix}/e2", watch=rec)
    client.get_children(prefix, watch=rec)
    owner.stop()  # closeSession
    got = rec.summary()
    assert sorted(got) == sorted(
        [ev(EventType.DELETED, f"{prefix}/e1"), ev(EventType.DELETED, f"{prefix}/e2"), ev(EventType.CHILD, prefix)]
    )
    assert client.get_children(prefix) == []


def test_session_expiry_deletes_ephemerals_and_fires_watches(server, client, prefix):
    """A real expiry: the owner's TCP connection is dropped without closeSession and the server
    expires the session after its (minimum, 2 x tick) timeout. Bounded wait, no timing assertion."""
    owner = raw.RawSession(server.host, server.port, timeout_ms=1)
    try:
        assert owner.timeout_ms == 2 * server.tick_ms
        owner.create(f"{prefix}/e", flags=raw.EPHEMERAL)
        rec = WatchRecorder(client)
        assert client.exists(f"{prefix}/e", watch=rec) is not None
    finally:
        owner.close()  # no closeSession
    event = rec.wait_for(1, timeout_s=owner.timeout_ms / 1000 * 5 + WAIT_S)[0]
    assert (event.type, event.path) == (EventType.DELETED, f"{prefix}/e")
    assert client.exists(f"{prefix}/e") is None
    again = raw.RawSession(server.host, server.port, session_id=owner.session_id, passwd=owner.passwd)
    try:
        assert (again.timeout_ms, again.session_id) == (0, 0)  # expired
    finally:
        again.close()


# -- persistent and recursive watches (addWatch, 3.6+) -----------------------------------------
def test_persistent_watch_reports_node_and_child_changes_and_stays(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    node = f"{prefix}/p"
    writer.create(node)
    assert watcher.add_watch(node, raw.ADD_WATCH_PERSISTENT) == 0
    writer.create(f"{node}/c")
    writer.set_data(node, b"1")
    writer.set_data(node, b"2")
    writer.set_data(f"{node}/c", b"child")  # a child's data is not the node's business
    writer.delete(f"{node}/c")
    writer.delete(node)
    writer.create(node)  # still watching after the node was deleted
    assert [(e.type, e.path) for e in watcher.drain_events()] == [
        (raw.NODE_CHILDREN_CHANGED, node),
        (raw.NODE_DATA_CHANGED, node),
        (raw.NODE_DATA_CHANGED, node),
        (raw.NODE_CHILDREN_CHANGED, node),
        (raw.NODE_DELETED, node),
        (raw.NODE_CREATED, node),
    ]


def test_persistent_recursive_watch_never_reports_children_changed(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    root = f"{prefix}/r"
    writer.create(root)
    watcher.add_watch(root, raw.ADD_WATCH_PERSISTENT_RECURSIVE)
    writer.create(f"{root}/c")
    writer.create(f"{root}/c/d")
    writer.set_data(f"{root}/c/d", b"x")
    writer.delete(f"{root}/c/d")
    writer.set_data(root, b"y")
    writer.create(f"{prefix}/outside")
    assert [(e.type, e.path) for e in watcher.drain_events()] == [
        (raw.NODE_CREATED, f"{root}/c"),
        (raw.NODE_CREATED, f"{root}/c/d"),
        (raw.NODE_DATA_CHANGED, f"{root}/c/d"),
        (raw.NODE_DELETED, f"{root}/c/d"),
        (raw.NODE_DATA_CHANGED, root),
    ]


def test_persistent_watch_with_one_shot_watch_gives_one_notification(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    writer.create(f"{prefix}/a")
    watcher.add_watch(prefix, raw.ADD_WATCH_PERSISTENT_RECURSIVE)
    watcher.get_data(f"{prefix}/a", watch=True)
    writer.set_data(f"{prefix}/a", b"x")
    assert [(e.type, e.path) for e in watcher.drain_events()] == [(raw.NODE_DATA_CHANGED, f"{prefix}/a")]


def test_add_watch_unknown_mode_is_marshalling_error(make_raw, prefix):
    s = make_raw()
    with pytest.raises(MarshallingError):
        s.add_watch(prefix, 2)
    with pytest.raises(MarshallingError):
        s.add_watch(prefix, 7)


# -- removeWatches / checkWatches --------------------------------------------------------------
@pytest.mark.parametrize("watcher_type", [raw.WATCHER_CHILDREN, raw.WATCHER_DATA, raw.WATCHER_ANY])
def test_remove_watches_without_a_watch_is_no_watcher(make_raw, prefix, watcher_type):
    with pytest.raises(NoWatcherError):
        make_raw().remove_watches(f"{prefix}/nothing", watcher_type)


def test_remove_watches_types_4_and_5(server, make_raw, prefix):
    """Persistent (4) and persistent-recursive (5) watcher types: 3.8.0 answers MarshallingError;
    3.9 accepts them, and so does coord, so that 3.9 clients can remove persistent watches
    (a deliberate difference, listed in docs/compatibility.md)."""
    s = make_raw()
    s.add_watch(prefix, raw.ADD_WATCH_PERSISTENT)
    s.add_watch(prefix, raw.ADD_WATCH_PERSISTENT_RECURSIVE)
    if server.implementation == "zookeeper":
        for watcher_type in (4, 5):
            with pytest.raises(MarshallingError):
                s.remove_watches(prefix, watcher_type)
        return
    s.remove_watches(prefix, 4)
    s.remove_watches(prefix, 5)
    for watcher_type in (4, 5):
        with pytest.raises(NoWatcherError):
            s.remove_watches(prefix, watcher_type)


def test_removed_watch_does_not_fire_and_removal_sends_nothing(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    writer.create(f"{prefix}/a")
    watcher.get_data(f"{prefix}/a", watch=True)
    watcher.get_children(f"{prefix}/a", watch=True)
    watcher.remove_watches(f"{prefix}/a", raw.WATCHER_DATA)
    assert watcher.drain_events() == []  # the server sends no event for a removal
    with pytest.raises(NoWatcherError):
        watcher.remove_watches(f"{prefix}/a", raw.WATCHER_DATA)
    watcher.check_watches(f"{prefix}/a", raw.WATCHER_CHILDREN)  # the child watch is still there
    writer.set_data(f"{prefix}/a", b"x")
    writer.create(f"{prefix}/a/b")
    assert [(e.type, e.path) for e in watcher.drain_events()] == [(raw.NODE_CHILDREN_CHANGED, f"{prefix}/a")]
    with pytest.raises(NoWatcherError):
        watcher.check_watches(f"{prefix}/a", raw.WATCHER_CHILDREN)  # consumed


def test_remove_watches_any_removes_persistent_watches(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    watcher.add_watch(prefix, raw.ADD_WATCH_PERSISTENT)
    watcher.remove_watches(prefix, raw.WATCHER_ANY)
    writer.create(f"{prefix}/a")
    writer.set_data(prefix, b"x")
    assert watcher.drain_events() == []
    with pytest.raises(NoWatcherError):
        watcher.remove_watches(prefix, raw.WATCHER_ANY)


def test_remove_watches_any_removes_recursive_watches(make_raw, prefix):
    watcher, writer = make_raw(), make_raw()
    watcher.add_watch(prefix, raw.ADD_WATCH_PERSISTENT_RECURSIVE)
    watcher.remove_watches(prefix, raw.WATCHER_ANY)
    writer.create(f"{prefix}/a")
    assert watcher.drain_events() == []


def test_persistent_and_recursive_watch_on_the_same_path(server, make_raw, prefix):
    """ZooKeeper 3.8 keeps one mode per session and path (the last added); 3.9 keeps both, and
    so does coord (a deliberate difference, listed in docs/compatibility.md)."""
    watcher, writer = make_raw(), make_raw()
    watcher.add_watch(prefix, raw.ADD_WATCH_PERSISTENT_RECURSIVE)
    watcher.add_watch(prefix, raw.ADD_WATCH_PERSISTENT)
    writer.create(f"{prefix}/c")
    writer.set_data(prefix, b"1")
    watcher.sync(prefix)
    got = [(e.type, e.path) for e in watcher.drain_events()]
    if server.implementation == "zookeeper":
        assert got == [(raw.NODE_CHILDREN_CHANGED, prefix), (raw.NODE_DATA_CHANGED, prefix)]
    else:
        assert got == [(raw.NODE_CREATED, f"{prefix}/c"), (raw.NODE_CHILDREN_CHANGED, prefix),
                       (raw.NODE_DATA_CHANGED, prefix)]
