"""SetWatches (101) and SetWatches2 (105): re-registering watches after a reconnect.

A Java client that reconnects sends its watches with the last zxid it saw. For each path the
server either answers at once (the change happened while the client was away) or registers the
watch; events produced here arrive before the SetWatches reply. kazoo never sends SetWatches, so
these tests speak the protocol directly.
"""

from tests.semantics import raw

SET_WATCHES, SET_WATCHES2, SET_WATCHES_XID = 101, 105, -8


def strings(paths):
    return raw.enc_int(len(paths)) + b"".join(raw.enc_string(p) for p in paths)


def set_watches(session, relative_zxid, data=(), exist=(), child=(), persistent=None, recursive=None):
    body = raw.enc_long(relative_zxid) + strings(data) + strings(exist) + strings(child)
    opcode = SET_WATCHES
    if persistent is not None or recursive is not None:
        opcode = SET_WATCHES2
        body += strings(persistent or ()) + strings(recursive or ())
    session.send(opcode, body, xid=SET_WATCHES_XID)
    reply = session.read_reply(SET_WATCHES_XID)
    assert reply.err == 0
    events = sorted((e.type, e.path) for e in session.events)
    session.events.clear()
    return events


def reconnect(make_raw, session):
    """Drop the TCP connection and resume the same session on a new one."""
    last_zxid = session.last_zxid
    session.close()
    again = make_raw(session_id=session.session_id, passwd=session.passwd, last_zxid=last_zxid)
    assert again.session_id == session.session_id
    return again, last_zxid


def test_changes_while_away_are_reported_before_the_reply(make_raw, prefix):
    away = make_raw()
    writer = make_raw()
    for name in ("changed", "deleted", "kids", "same"):
        writer.create(f"{prefix}/{name}")
    away.ping()
    away.last_zxid = max(away.last_zxid, writer.last_zxid)
    away, seen = reconnect(make_raw, away)
    writer.set_data(f"{prefix}/changed", b"new")
    writer.delete(f"{prefix}/deleted")
    writer.create(f"{prefix}/kids/k")
    writer.create(f"{prefix}/born")
    events = set_watches(
        away, seen,
        data=[f"{prefix}/changed", f"{prefix}/deleted", f"{prefix}/same"],
        exist=[f"{prefix}/born", f"{prefix}/unborn"],
        child=[f"{prefix}/kids", f"{prefix}/same"],
    )
    assert events == sorted([
        (3, f"{prefix}/changed"),
        (2, f"{prefix}/deleted"),
        (1, f"{prefix}/born"),
        (4, f"{prefix}/kids"),
    ])
    # the watches that had nothing to report are now registered, one-shot as usual
    writer.set_data(f"{prefix}/same", b"x")
    writer.create(f"{prefix}/unborn")
    writer.create(f"{prefix}/same/child")
    assert sorted((e.type, e.path) for e in away.drain_events()) == sorted([
        (3, f"{prefix}/same"), (1, f"{prefix}/unborn"), (4, f"{prefix}/same")])
    writer.set_data(f"{prefix}/same", b"y")
    assert away.drain_events() == []


def test_nothing_changed_registers_everything(make_raw, prefix):
    session = make_raw()
    writer = make_raw()
    writer.create(f"{prefix}/a")
    session.ping()
    session.last_zxid = max(session.last_zxid, writer.last_zxid)
    session, seen = reconnect(make_raw, session)
    assert set_watches(session, seen, data=[f"{prefix}/a"], child=[f"{prefix}/a"]) == []
    writer.delete(f"{prefix}/a")
    assert [(e.type, e.path) for e in session.drain_events()] == [(2, f"{prefix}/a")]


def test_set_watches2_registers_persistent_and_recursive(make_raw, prefix):
    session = make_raw()
    writer = make_raw()
    writer.create(f"{prefix}/p")
    session.ping()
    session, seen = reconnect(make_raw, session)
    assert set_watches(session, seen, persistent=[f"{prefix}/p"], recursive=[prefix]) == []
    writer.create(f"{prefix}/p/c")
    events = [(e.type, e.path) for e in session.drain_events()]
    # persistent on /p: NodeChildrenChanged; recursive on the prefix: NodeCreated for /p/c
    assert sorted(events) == sorted([(1, f"{prefix}/p/c"), (4, f"{prefix}/p")])
    writer.set_data(f"{prefix}/p", b"1")
    writer.set_data(f"{prefix}/p", b"2")
    assert [(e.type, e.path) for e in session.drain_events()] == [(3, f"{prefix}/p"), (3, f"{prefix}/p")]
