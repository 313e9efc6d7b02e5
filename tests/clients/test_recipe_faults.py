"""Recipes across real faults: session expiry (helpers.expire_session on the shared server of each
kind) and connection loss (a server of each kind restarted within the session timeout, and a
proxy that cuts a client off after its request reached the server).  What each recipe promises
across each fault is written down in docs/recipes.md ("Faults"); these tests hold it to that."""

import threading
import time

import pytest

from clients import errors
from clients.blocking import Client, State
from tests.clients.helpers import CuttingProxy, expire_session, wait_until
from tests.conftest import start_server, stop_server

WAIT_S = 30.0


@pytest.fixture
def make_coord_client(server):
    """Started blocking clients, each behind its own CuttingProxy, so ``_expire`` can keep the
    owner from winning its session back while it is closed from outside (under load it otherwise
    reconnects first, again and again).  Stopped at teardown."""
    started = []

    def factory():
        proxy = CuttingProxy(server.host, server.port)
        client = Client(proxy.hosts, timeout=10.0)
        client.start(timeout=15)
        client.test_proxy = proxy
        started.append(client)
        return client

    yield factory
    for client in reversed(started):
        client.stop()
        client.test_proxy.close()


def _expire(server, client):
    """Expire ``client``'s session from outside and wait until it has a new one."""
    old_session = client.client_id[0]
    states = []
    client.add_listener(states.append)
    client.test_proxy.block()
    try:
        expire_session(server.host, server.port, *client.client_id)
    finally:
        client.test_proxy.unblock()
    wait_until(lambda: State.LOST in states, WAIT_S, what="LOST")
    wait_until(lambda: client.state is State.CONNECTED and client.client_id[0] != old_session,
               WAIT_S, what="a new session")
    client.remove_listener(states.append)


def _in_thread(func, *args, **kwargs):
    """Run ``func`` in a thread; returns (thread, outcome list: [value] or [exception])."""
    outcome = []

    def body():
        try:
            outcome.append(func(*args, **kwargs))
        except Exception as exc:  # reported to the test through ``outcome``
            outcome.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, outcome


def _children(client, path):
    return client.get_children(path) if client.exists(path) else []


# -- session expiry ---------------------------------------------------------------------------


def test_semaphore_lease_of_an_expired_session_goes_to_a_waiter(server, make_coord_client,
                                                                prefix):
    holder, waiter = make_coord_client(), make_coord_client()
    path = f"{prefix}/sem"
    held = holder.Semaphore(path, "holder", max_leases=1)
    assert held.acquire()
    waiting = waiter.Semaphore(path, "waiter", max_leases=1)
    thread, got = _in_thread(waiting.acquire, timeout=WAIT_S)
    wait_until(lambda: len(_children(holder, path + "-__lock__")) == 1, what="waiter queued")
    _expire(server, holder)
    thread.join(WAIT_S)
    assert got == [True] and waiting.is_acquired
    wait_until(lambda: held.lost, WAIT_S, what="the holder told it lost its lease")
    assert not held.is_acquired and held.release() is False
    assert waiting.lease_holders() == ["waiter"]
    waiting.release()


def test_semaphore_waiter_whose_session_expires_keeps_waiting_without_overbooking(
        server, make_coord_client, prefix):
    """A waiter holds the inner lock that serializes lease decisions; if its session expires it
    must take that lock again before it may create a lease, or two leases of one go out."""
    holder, first, second = (make_coord_client() for _ in range(3))
    path = f"{prefix}/sem"
    held = holder.Semaphore(path, "holder", max_leases=1)
    assert held.acquire()
    waiters = [first.Semaphore(path, "first", max_leases=1),
               second.Semaphore(path, "second", max_leases=1)]
    first_thread, first_got = _in_thread(waiters[0].acquire, timeout=2 * WAIT_S)
    wait_until(lambda: len(_children(holder, path + "-__lock__")) == 1, what="first waits")
    _expire(server, first)
    second_thread, second_got = _in_thread(waiters[1].acquire, timeout=2 * WAIT_S)
    wait_until(lambda: len(_children(holder, path + "-__lock__")) >= 1, what="second waits")
    time.sleep(0.5)  # both waiting, one of them under the inner lock
    assert first_got == [] and second_got == []
    held.release()
    wait_until(lambda: first_got or second_got, WAIT_S, what="a waiter gets the lease")
    time.sleep(1.0)  # room for a wrongly granted second lease to show
    assert len(holder.get_children(path)) == 1
    assert len(first_got) + len(second_got) == 1
    winner = waiters[0] if first_got else waiters[1]
    winner.release()
    first_thread.join(WAIT_S)
    second_thread.join(WAIT_S)
    assert first_got == [True] and second_got == [True]
    (waiters[1] if first_got and winner is waiters[0] else waiters[0]).release()
    assert holder.get_children(path) == []


def test_read_write_lock_holders_whose_sessions_expire_stop_blocking(server, make_coord_client,
                                                                      prefix):
    reader_client, writer_client = make_coord_client(), make_coord_client()
    path = f"{prefix}/rw"
    reader = reader_client.ReadLock(path, "reader")
    assert reader.acquire()
    writer = writer_client.WriteLock(path, "writer")
    thread, got = _in_thread(writer.acquire, timeout=WAIT_S)
    wait_until(lambda: len(_children(reader_client, path)) == 2, what="writer queued")
    _expire(server, reader_client)
    thread.join(WAIT_S)
    assert got == [True] and writer.is_acquired
    wait_until(lambda: reader.lost, WAIT_S, what="the reader told it lost its lock")
    assert not reader.is_acquired
    # Now the writer holds it and a reader waits: the writer's session expires.
    reader = reader_client.ReadLock(path, "reader-2")
    thread, got = _in_thread(reader.acquire, timeout=WAIT_S)
    wait_until(lambda: len(_children(reader_client, path)) == 2, what="reader queued")
    _expire(server, writer_client)
    thread.join(WAIT_S)
    assert got == [True] and reader.is_acquired
    wait_until(lambda: writer.lost, WAIT_S, what="the writer told it lost its lock")
    reader.release()


def test_read_write_lock_waiter_whose_session_expires_queues_again(server, make_coord_client,
                                                                   prefix):
    holder_client, waiter_client = make_coord_client(), make_coord_client()
    path = f"{prefix}/rw"
    writer = holder_client.WriteLock(path, "holder")
    assert writer.acquire()
    reader = waiter_client.ReadLock(path, "waiter")
    thread, got = _in_thread(reader.acquire, timeout=WAIT_S)
    wait_until(lambda: len(_children(holder_client, path)) == 2, what="reader queued")
    _expire(server, waiter_client)
    # The waiter's node went with its session; it queues again with the new one.
    wait_until(lambda: len(_children(holder_client, path)) == 2, WAIT_S, what="queued again")
    assert got == []
    writer.release()
    thread.join(WAIT_S)
    assert got == [True] and reader.is_acquired
    reader.release()


def test_locking_queue_item_of_an_expired_consumer_returns_to_the_queue(
        server, make_coord_client, prefix):
    taker, other = make_coord_client(), make_coord_client()
    path = f"{prefix}/lq"
    mine = taker.LockingQueue(path)
    mine.put(b"job")
    assert mine.get(timeout=5) == b"job" and mine.holds_lock()
    theirs = other.LockingQueue(path)
    assert theirs.get(timeout=0.2) is None  # taken
    _expire(server, taker)
    assert theirs.get(timeout=WAIT_S) == b"job"  # the lock went with the session
    assert mine.holds_lock() is False
    assert mine.consume() is False  # not ours any more: not consumed
    mine.put(b"next")
    assert mine.get(timeout=5) == b"next"  # not the stale "job"
    assert theirs.consume() is True and mine.consume() is True
    assert len(mine) == 0


def test_barrier_waiter_whose_session_expires_keeps_waiting(server, make_coord_client,
                                                            make_client, prefix):
    waiter = make_coord_client()
    barrier = waiter.Barrier(f"{prefix}/barrier")
    barrier.create()
    thread, got = _in_thread(barrier.wait, timeout=WAIT_S)
    time.sleep(0.2)
    _expire(server, waiter)
    time.sleep(0.5)
    assert got == []  # still up: the expiry woke the waiter, which looked again
    make_client().delete(f"{prefix}/barrier")
    thread.join(WAIT_S)
    assert got == [True]


def test_double_barrier_participant_whose_session_expires_while_entering_rejoins(
        server, make_coord_client, prefix):
    first, second = make_coord_client(), make_coord_client()
    path = f"{prefix}/double"
    early = first.DoubleBarrier(path, 2, "early")
    thread, entered = _in_thread(early.enter, timeout=WAIT_S)
    wait_until(lambda: len(_children(second, path)) == 1, what="early joined")
    _expire(server, first)  # its node goes with the session: it must join again to be counted
    wait_until(lambda: len(_children(second, path)) == 1, WAIT_S, what="early joined again")
    late = second.DoubleBarrier(path, 2, "late")
    assert late.enter(timeout=WAIT_S) is True
    thread.join(WAIT_S)
    assert entered == [True]
    thread, left = _in_thread(early.leave, timeout=WAIT_S)
    assert late.leave(timeout=WAIT_S) is True
    thread.join(WAIT_S)
    assert left == [True]
    assert _children(second, path) == []


def test_party_member_whose_session_expires_is_told_and_can_join_again(
        server, make_coord_client, prefix):
    member_client, watcher_client = make_coord_client(), make_coord_client()
    path = f"{prefix}/party"
    member = member_client.Party(path, "member")
    member.join()
    assert member.participating and watcher_client.Party(path).members() == ["member"]
    _expire(server, member_client)
    wait_until(lambda: not member.participating, WAIT_S, what="the member told it left")
    assert watcher_client.Party(path).members() == []
    member.join()
    assert member.participating and watcher_client.Party(path).members() == ["member"]
    assert member.leave() is True


def test_counter_and_queue_survive_an_expiry(server, make_coord_client, prefix):
    c = make_coord_client()
    counter, queue = c.Counter(f"{prefix}/counter"), c.Queue(f"{prefix}/queue")
    counter += 5
    queue.put(b"a")
    _expire(server, c)
    counter += 1
    assert counter.value == 6  # persistent state: an expiry changes nothing
    assert queue.get() == b"a" and queue.get() is None


# -- connection loss: a request applied but its reply lost ------------------------------------


def test_counter_add_whose_reply_is_lost_is_applied_once_or_reported(server, prefix, client):
    """The set reaches the server and is applied; the connection is cut before the reply.  The
    add must then either report success (applied once) or raise (outcome unknown), never
    silently apply the increment a second time."""
    path = f"{prefix}/counter"
    with CuttingProxy(server.host, server.port) as proxy:
        c = Client(proxy.hosts, timeout=10.0)
        c.start(timeout=15)
        try:
            session_id = c.client_id[0]
            counter = c.Counter(path)
            counter += 1000000  # the value written next is unique on the wire: 1007341
            proxy.cut_after(b"1007341")
            try:
                outcome = counter.add(7341)
            except errors.ConnectionLoss as exc:
                outcome = exc
            assert proxy.cuts == 1
            assert c.client_id[0] == session_id  # a connection loss, not an expiry
        finally:
            c.stop()
    value = int(client.get(path)[0])
    if isinstance(outcome, Exception):
        assert value in (1000000, 1007341)
    else:
        assert outcome == 1007341
    assert value == 1007341  # the server applied it (the cut came after it reached the server)


# -- connection loss: the server restarted within the session timeout ------------------------


@pytest.fixture(scope="module", params=[pytest.param("zookeeper", marks=pytest.mark.zookeeper),
                                        "coord"])
def restartable(request, tmp_path_factory):
    sut = start_server(request.param, tmp_path_factory.mktemp(f"{request.param}-recipe-faults"))
    try:
        yield sut
    finally:
        sut.process.resume()
        stop_server(sut)   # every member of an ensemble, not only the one clients talk to


def test_every_recipe_holds_across_a_server_restart(restartable):
    """Leases, locks, taken items, barrier waiters and party members all outlive a restart that
    the sessions survive; waiters keep waiting and proceed once the holders let go; a call made
    while disconnected runs once the session is back."""
    clients = []

    def connect():
        c = Client(restartable.hosts, timeout=15.0, command_timeout=60.0)  # JVM restarts are slow
        c.start(timeout=30)
        clients.append(c)
        return c

    try:
        a, b, c = connect(), connect(), connect()
        base = f"/restart-{time.monotonic_ns()}"
        lease = a.Semaphore(f"{base}/sem", "a", max_leases=1)
        assert lease.acquire()
        lease_waiter = b.Semaphore(f"{base}/sem", "b", max_leases=1)
        lease_thread, lease_got = _in_thread(lease_waiter.acquire, timeout=90)
        reader = a.ReadLock(f"{base}/rw", "reader")
        assert reader.acquire()
        writer = b.WriteLock(f"{base}/rw", "writer")
        writer_thread, writer_got = _in_thread(writer.acquire, timeout=90)
        counter = c.Counter(f"{base}/counter")
        counter += 5
        queue = c.Queue(f"{base}/queue")
        queue.put(b"one")
        queue.put(b"two")
        taken = a.LockingQueue(f"{base}/lq")
        taken.put(b"job")
        assert taken.get(timeout=5) == b"job"
        barrier = c.Barrier(f"{base}/barrier")
        barrier.create()
        barrier_thread, barrier_got = _in_thread(barrier.wait, timeout=90)
        early = a.DoubleBarrier(f"{base}/double", 2, "early")
        enter_thread, entered = _in_thread(early.enter, timeout=90)
        member = b.Party(f"{base}/party", "member")
        member.join()
        wait_until(lambda: len(c.get_children(f"{base}/rw")) == 2
                   and len(c.get_children(f"{base}/sem-__lock__")) == 1
                   and len(_children(c, f"{base}/double")) == 1, what="everyone waiting")
        sessions = [x.client_id[0] for x in clients]

        restartable.process.stop()
        wait_until(lambda: all(x.state is State.SUSPENDED for x in clients), WAIT_S,
                   what="SUSPENDED")
        add_thread, added = _in_thread(counter.add, 10)  # queued until the session is back
        restartable.process.start(timeout_s=60)
        wait_until(lambda: all(x.state is State.CONNECTED for x in clients), 60,
                   what="CONNECTED again")
        assert [x.client_id[0] for x in clients] == sessions  # the sessions survived

        add_thread.join(WAIT_S)
        assert added == [15] and counter.value == 15  # applied once
        assert lease.is_acquired and not lease.lost and lease_got == []
        assert reader.is_acquired and not reader.lost and writer_got == []
        assert taken.holds_lock() and a.LockingQueue(f"{base}/lq").get(timeout=0.2) is None
        assert barrier_got == [] and entered == []
        assert member.participating and c.Party(f"{base}/party").members() == ["member"]

        lease.release()  # and the waiters proceed as before the restart
        lease_thread.join(WAIT_S)
        assert lease_got == [True]
        reader.release()
        writer_thread.join(WAIT_S)
        assert writer_got == [True]
        assert [queue.get(), queue.get(), queue.get()] == [b"one", b"two", None]
        assert taken.consume() is True
        barrier.remove()
        barrier_thread.join(WAIT_S)
        assert barrier_got == [True]
        assert c.DoubleBarrier(f"{base}/double", 2, "late").enter(timeout=WAIT_S) is True
        enter_thread.join(WAIT_S)
        assert entered == [True]
        lease_waiter.release()
        writer.release()
        c.delete(base, recursive=True)
    finally:
        for x in reversed(clients):
            x.stop()
