"""Lock, ReadLock/WriteLock and Election on the blocking client, against ZooKeeper and coord,
mixed with kazoo's own recipes on the same paths, and with contenders in separate processes."""

import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest

from clients import errors
from tests.clients.helpers import wait_until

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_lock_excludes_times_out_and_hands_over(make_coord_client, prefix):
    a, b = make_coord_client(), make_coord_client()
    lock_a, lock_b = a.Lock(f"{prefix}/lock", "a"), b.Lock(f"{prefix}/lock", "b")
    assert lock_a.acquire() is True and lock_a.is_acquired
    assert lock_b.acquire(blocking=False) is False
    with pytest.raises(errors.LockTimeout):
        lock_b.acquire(timeout=0.3)
    assert a.get_children(f"{prefix}/lock") == [lock_a.node]  # the losers cleaned up
    got = []
    waiter = threading.Thread(target=lambda: got.append(lock_b.acquire(timeout=20)))
    waiter.start()
    wait_until(lambda: len(a.get_children(f"{prefix}/lock")) == 2)
    assert lock_a.contenders() == ["a", "b"]
    assert got == []
    assert lock_a.release() is True
    waiter.join(20)
    assert got == [True] and lock_b.is_acquired
    lock_b.release()
    assert a.get_children(f"{prefix}/lock") == []


def test_lock_is_a_context_manager_and_can_be_cancelled(make_coord_client, prefix):
    a, b = make_coord_client(), make_coord_client()
    with a.Lock(f"{prefix}/lock", "a") as held:
        assert held.is_acquired
        lock_b = b.Lock(f"{prefix}/lock", "b")
        outcome = []

        def wait():
            try:
                lock_b.acquire()
            except errors.CancelledError as exc:
                outcome.append(exc)

        waiter = threading.Thread(target=wait)
        waiter.start()
        wait_until(lambda: len(a.get_children(f"{prefix}/lock")) == 2)
        lock_b.cancel()
        waiter.join(20)
        assert len(outcome) == 1
    assert a.get_children(f"{prefix}/lock") == []


def test_coord_and_kazoo_locks_exclude_each_other(make_coord_client, make_client, prefix):
    ours = make_coord_client().Lock(f"{prefix}/mixed", "coord")
    theirs = make_client().Lock(f"{prefix}/mixed", "kazoo")
    assert ours.acquire()
    assert theirs.acquire(blocking=False) is False
    kazoo_got = []
    waiter = threading.Thread(target=lambda: kazoo_got.append(theirs.acquire(timeout=20)))
    waiter.start()
    wait_until(lambda: theirs.contenders() == ["coord", "kazoo"])
    assert ours.contenders() == ["coord", "kazoo"]
    ours.release()
    waiter.join(20)
    assert kazoo_got == [True]
    assert ours.acquire(blocking=False) is False  # now kazoo holds it
    theirs.release()
    assert ours.acquire(timeout=5) is True
    ours.release()


def test_read_write_locks_follow_kazoos_protocol(make_coord_client, make_client, prefix):
    c, k = make_coord_client(), make_client()
    path = f"{prefix}/rw"
    our_read = c.ReadLock(path, "coord-reader")
    their_read = k.ReadLock(path, "kazoo-reader")
    assert our_read.acquire() and their_read.acquire(timeout=5)  # readers share
    our_write = c.WriteLock(path, "coord-writer")
    assert our_write.acquire(blocking=False) is False  # but exclude writers
    their_read.release()
    our_read.release()
    assert our_write.acquire(timeout=5)
    assert k.WriteLock(path, "kazoo-writer").acquire(blocking=False) is False
    assert k.ReadLock(path, "kazoo-reader2").acquire(blocking=False) is False
    our_write.release()


def test_election_runs_the_leader_and_sees_kazoo_contenders(make_coord_client, make_client,
                                                            prefix):
    c, k = make_coord_client(), make_client()
    path = f"{prefix}/election"
    ours = c.Election(path, "coord-1")
    theirs = k.Election(path, "kazoo-1")
    leader_running, release_leader = threading.Event(), threading.Event()
    kazoo_led = []

    def lead():
        leader_running.set()
        release_leader.wait(20)
        return "done"

    results = []
    runner = threading.Thread(target=lambda: results.append(ours.run(lead)))
    runner.start()
    assert leader_running.wait(20)
    kazoo_runner = threading.Thread(target=lambda: theirs.run(kazoo_led.append, "kazoo led"))
    kazoo_runner.start()
    wait_until(lambda: ours.contenders() == ["coord-1", "kazoo-1"])
    assert theirs.contenders() == ["coord-1", "kazoo-1"]
    assert kazoo_led == []  # only one leader at a time
    release_leader.set()  # our leader returns: it resigns, kazoo's contender is elected
    runner.join(20)
    kazoo_runner.join(20)
    assert results == ["done"] and kazoo_led == ["kazoo led"]
    wait_until(lambda: ours.contenders() == [])


def _worker(server, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.clients.lock_worker", "--hosts", server.hosts, *args],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def _contention(server, client, prefix, processes: int, iterations: int, timeout_s: float):
    counter = f"{prefix}/counter"
    client.create(counter, b"0")
    workers = [
        _worker(server, "--lock", f"{prefix}/lock", "--counter", counter,
                "--iterations", str(iterations), "--library", "kazoo" if n % 3 == 2 else "coord")
        for n in range(processes)
    ]
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=timeout_s)
            assert worker.returncode == 0 and "DONE" in out, err[-3000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
    # Unversioned read-modify-write under the lock: any overlap would lose an increment.
    assert int(client.get(counter)[0]) == processes * iterations


def test_lock_contention_between_processes(server, client, prefix):
    """Several processes (every third a kazoo Lock) increment one counter under one lock."""
    _contention(server, client, prefix, processes=3, iterations=10, timeout_s=90)


@pytest.mark.slow
def test_lock_contention_ten_processes_hundred_rounds(server, client, prefix):
    _contention(server, client, prefix, processes=10, iterations=100, timeout_s=600)


def test_killed_holder_and_leader_sessions_expire_and_the_next_in_line_proceed(
        server, make_coord_client, prefix):
    """One process holds a lock and leads an election; kill -9 it: once its session expires the
    lock waiter gets the lock and the other contender is elected."""
    holder = _worker(server, "--lock", f"{prefix}/lock", "--election", f"{prefix}/election",
                     "--session-timeout", "4", "--hold")
    try:
        assert holder.stdout.readline().strip() == "HELD"
        c = make_coord_client()
        waiter = c.Lock(f"{prefix}/lock", "waiter")
        assert waiter.acquire(blocking=False) is False
        election = c.Election(f"{prefix}/election", "next-leader")
        assert election.contenders() == ["coord-leader"]
        elected = threading.Event()
        campaign = threading.Thread(target=election.run, args=(elected.set,), daemon=True)
        campaign.start()
        holder.kill()  # SIGKILL: no close, the session must expire on the server
        holder.wait(10)
        assert waiter.acquire(timeout=30) is True
        assert elected.wait(30)
        campaign.join(10)
        waiter.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


def test_counter_never_loses_an_increment_and_shares_kazoos_encoding(make_coord_client,
                                                                    make_client, prefix):
    a, b, k = make_coord_client(), make_coord_client(), make_client()
    path = f"{prefix}/counter"
    counter_a, counter_b = a.Counter(path), b.Counter(path)
    kazoo_counter = k.Counter(path)
    assert counter_a.value == 0

    def bump(counter, times):
        for _ in range(times):
            counter += 1

    threads = [threading.Thread(target=bump, args=(c, 20)) for c in (counter_a, counter_b)]
    threads.append(threading.Thread(target=bump, args=(kazoo_counter, 20)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert counter_a.value == 60 and kazoo_counter.value == 60
    counter_a -= 5
    assert (counter_a.pre_value, counter_a.post_value) == (60, 55)
    floats = a.Counter(f"{prefix}/float", default=1.5)
    assert floats.add(2.0) == 3.5 and k.Counter(f"{prefix}/float", default=1.5).value == 3.5
    with pytest.raises(TypeError):
        floats.add(1)


def test_barrier_holds_waiters_until_removed(make_coord_client, make_client, prefix):
    a, k = make_coord_client(), make_client()
    barrier = a.Barrier(f"{prefix}/barrier")
    barrier.create()
    assert barrier.wait(timeout=0.2) is False
    released = []
    waiter = threading.Thread(target=lambda: released.append(barrier.wait(timeout=20)))
    waiter.start()
    time.sleep(0.2)
    assert released == []
    assert k.Barrier(f"{prefix}/barrier").remove() is True  # kazoo lowers our barrier
    waiter.join(20)
    assert released == [True]
    assert barrier.remove() is False


def test_party_membership_is_shared_with_kazoo_and_ends_with_the_session(make_coord_client,
                                                                        make_client, prefix):
    a, b, k = make_coord_client(), make_coord_client(), make_client()
    path = f"{prefix}/party"
    ours = a.Party(path, "coord-a")
    ours.join()
    ours.join()  # idempotent
    b.Party(path, "coord-b").join()
    k.Party(path, "kazoo-k").join()
    assert sorted(ours) == ["coord-a", "coord-b", "kazoo-k"]
    assert sorted(k.Party(path)) == ["coord-a", "coord-b", "kazoo-k"]
    b.stop()  # its session ends: its member node goes with it
    assert sorted(ours.members()) == ["coord-a", "kazoo-k"] and len(ours) == 2
    assert ours.leave() is True and ours.leave() is False
    shallow = a.ShallowParty(f"{prefix}/shallow", "s1")
    shallow.join()
    k.ShallowParty(f"{prefix}/shallow", "s2").join()
    assert sorted(shallow) == ["s1", "s2"]


def test_a_holder_whose_session_expires_is_told_it_lost_the_lock(server, make_coord_client,
                                                                 prefix):
    from tests.clients.helpers import expire_session

    holder, other = make_coord_client(), make_coord_client()
    lock = holder.Lock(f"{prefix}/lock", "holder")
    assert lock.acquire()
    states = []
    holder.add_listener(states.append)
    expire_session(server.host, server.port, *holder.client_id)
    wait_until(lambda: lock.lost, 30, what="lock.lost")
    # SUSPENDED comes first (the connection is taken over); LOST once the client hears the
    # session is gone, which on an ensemble member can take a reconnect.
    wait_until(lambda: "LOST" in states, 30, what="the LOST state")
    assert not lock.is_acquired
    assert other.Lock(f"{prefix}/lock", "other").acquire(timeout=10)  # the node went too


def test_a_recipe_of_your_own_runs_on_the_blocking_client(cc, prefix, client):
    """The docs/recipes.md example: a step generator driven by run_steps."""
    from clients.steps import Signal, Wait, retrying

    def wait_for_node(c, path, timeout):
        ops = c.ops
        signal = Signal()
        stat = yield from retrying(lambda: ops.exists(path, watch=signal))
        if stat is None:
            yield Wait(signal, timeout)
            stat = yield ops.exists(path)
        return stat

    assert cc.run_steps(wait_for_node(cc, f"{prefix}/ready", 0.1)) is None
    threading.Timer(0.3, lambda: client.create(f"{prefix}/ready")).start()
    assert cc.run_steps(wait_for_node(cc, f"{prefix}/ready", 20)) is not None


def test_semaphore_leases_are_shared_with_kazoo(make_coord_client, make_client, prefix):
    a, b, k = make_coord_client(), make_coord_client(), make_client()
    path = f"{prefix}/sem"
    ours = a.Semaphore(path, "coord-a", max_leases=2)
    theirs = k.Semaphore(path, "kazoo-k", max_leases=2)
    assert ours.acquire() and theirs.acquire(timeout=5)
    assert sorted(ours.lease_holders()) == ["coord-a", "kazoo-k"]
    third = b.Semaphore(path, "coord-b", max_leases=2)
    assert third.acquire(blocking=False) is False
    with pytest.raises(errors.LockTimeout):
        third.acquire(timeout=0.3)
    got = []
    waiter = threading.Thread(target=lambda: got.append(third.acquire(timeout=20)))
    waiter.start()
    time.sleep(0.3)
    assert got == []
    theirs.release()  # a kazoo lease ends: ours gets it
    waiter.join(20)
    assert got == [True]
    assert k.Semaphore(path, "kazoo-2", max_leases=2).acquire(blocking=False) is False
    with pytest.raises(ValueError):
        b.Semaphore(path, "wrong", max_leases=3).acquire()
    third.release()
    ours.release()
    assert ours.lease_holders() == []


def test_queue_orders_by_priority_and_shares_kazoos_layout(make_coord_client, make_client, prefix):
    c, k = make_coord_client(), make_client()
    ours, theirs = c.Queue(f"{prefix}/q"), k.Queue(f"{prefix}/q")
    ours.put(b"first")
    theirs.put(b"second")
    ours.put(b"urgent", priority=1)
    assert len(ours) == 3 and len(theirs) == 3
    assert theirs.get() == b"urgent"
    assert ours.get() == b"first"
    assert ours.get() == b"second"
    assert ours.get() is None
    with pytest.raises(ValueError):
        ours.put(b"x", priority=1000)
    with pytest.raises(TypeError):
        ours.put("text")
    taken = []  # several consumers: every item exactly once
    for i in range(30):
        ours.put(str(i).encode())

    def consume(queue):
        while (item := queue.get()) is not None:
            taken.append(item)

    consumers = [threading.Thread(target=consume, args=(q,)) for q in (ours, theirs,
                                                                       make_coord_client().Queue(f"{prefix}/q"))]
    for t in consumers:
        t.start()
    for t in consumers:
        t.join(60)
    assert sorted(taken, key=int) == [str(i).encode() for i in range(30)]


def test_double_barrier_with_kazoo_participants(make_coord_client, make_client, prefix):
    path = f"{prefix}/double"
    ours = [make_coord_client().DoubleBarrier(path, 3, f"coord-{i}") for i in range(2)]
    theirs = make_client().DoubleBarrier(path, 3, "kazoo")
    entered, left = [], []

    def participate(barrier, name):
        barrier.enter(**({} if name == "kazoo" else {"timeout": 30}))
        entered.append((name, time.monotonic()))
        barrier.leave(**({} if name == "kazoo" else {"timeout": 30}))
        left.append((name, time.monotonic()))

    threads = [threading.Thread(target=participate, args=(b, f"coord-{i}"))
               for i, b in enumerate(ours)]
    threads[0].start()
    threads[1].start()
    time.sleep(0.3)
    assert entered == []  # two of three: nobody may enter yet
    threads.append(threading.Thread(target=participate, args=(theirs, "kazoo")))
    threads[2].start()
    for t in threads:
        t.join(60)
    assert sorted(n for n, _ in entered) == ["coord-0", "coord-1", "kazoo"]
    assert sorted(n for n, _ in left) == ["coord-0", "coord-1", "kazoo"]
    assert max(t for _, t in entered) <= min(t for _, t in left)  # all entered before any left
    with pytest.raises(errors.LockTimeout):
        make_coord_client().DoubleBarrier(f"{prefix}/alone", 2, "x").enter(timeout=0.3)


def test_locking_queue_items_survive_a_consumer_that_does_not_consume(make_coord_client,
                                                                      make_client, prefix):
    a, b, k = make_coord_client(), make_coord_client(), make_client()
    path = f"{prefix}/lq"
    ours, other, theirs = a.LockingQueue(path), b.LockingQueue(path), k.LockingQueue(path)
    theirs.put(b"one")
    ours.put(b"two")
    ours.put(b"urgent", priority=1)
    assert len(ours) == 3
    assert ours.get(timeout=5) == b"urgent" and ours.holds_lock()
    assert other.get(timeout=5) == b"one"  # "urgent" is locked by us: the next free one
    assert theirs.get(timeout=5) == b"two"  # kazoo sees our locks too
    assert b.LockingQueue(path).get(timeout=0.2) is None  # everything is taken
    assert ours.release() is True  # given back: someone else can take it
    assert theirs.consume() is True
    b.stop()  # "one" was taken by b's session, never consumed: its lock goes with the session
    again = make_coord_client().LockingQueue(path)
    assert sorted([again.get(timeout=5), k.LockingQueue(path).get(timeout=5)]) == [b"one", b"urgent"]
    assert again.consume() is True
    assert len(ours) == 1
