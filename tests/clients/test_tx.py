"""The Twisted client against ZooKeeper and coord: Deferreds, typed failures, watches on the
reactor, the same recipes as the blocking client, and a clean reactor after stop()."""

import threading

import pytest
import pytest_twisted
from twisted.internet import reactor, task, tcp

from clients import errors
from clients.tx import Client, State


def _no_client_sockets() -> bool:
    selectables = list(reactor.getReaders()) + list(reactor.getWriters())
    return not any(isinstance(s, (tcp.Client, tcp.Connection)) for s in selectables)


async def _started(hosts, **kwargs) -> Client:
    kwargs.setdefault("timeout", 10.0)
    client = Client(hosts, **kwargs)
    await client.start()
    return client


async def _sleep(seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


@pytest_twisted.ensureDeferred
async def test_operations_return_deferreds_with_kazoo_shapes(server, prefix, client):
    c = await _started(server.hosts)
    try:
        assert c.state is State.CONNECTED
        assert await c.create(f"{prefix}/n", b"v") == f"{prefix}/n"
        data, stat = await c.get(f"{prefix}/n")
        assert data == b"v" and stat.version == 0
        assert (await c.set(f"{prefix}/n", b"w")).version == 1
        assert await c.exists(f"{prefix}/none") is None
        assert await c.get_children(prefix) == ["n"]
        assert await c.create(f"{prefix}/a/b", makepath=True) == f"{prefix}/a/b"
        with pytest.raises(errors.NoNodeError):
            await c.get(f"{prefix}/none")
        with pytest.raises(errors.NodeExistsError):
            await c.create(f"{prefix}/n")
        t = c.transaction()
        t.create(f"{prefix}/t")
        t.check(f"{prefix}/n", 1)
        assert await t.commit() == [f"{prefix}/t", True]
        assert await c.delete(f"{prefix}/a", recursive=True) is True
        assert client.exists(f"{prefix}/a") is None
    finally:
        await c.stop()
    assert c.state is State.CLOSED


@pytest_twisted.ensureDeferred
async def test_watches_and_listeners_run_on_the_reactor(server, prefix, client):
    c = await _started(server.hosts)
    seen = []
    states = []
    c.add_listener(states.append)
    try:
        def watcher(kind):
            def record(event):
                seen.append((kind, event.type, event.path,
                             threading.current_thread() is threading.main_thread()))
            return record

        await c.get(prefix, watch=watcher("data"))
        await c.add_watch(prefix, watcher("recursive"), recursive=True)
        client.set(prefix, b"x")
        client.create(f"{prefix}/c")
        for _ in range(200):
            if len(seen) >= 3:
                break
            await _sleep(0.02)
        assert seen == [("data", "CHANGED", prefix, True), ("recursive", "CHANGED", prefix, True),
                        ("recursive", "CREATED", f"{prefix}/c", True)]
    finally:
        await c.stop()
    assert states == [State.CLOSED]


@pytest_twisted.ensureDeferred
async def test_stop_leaves_the_reactor_clean(server):
    before = set(reactor.getDelayedCalls())
    c = await _started(server.hosts)
    await c.exists("/")
    assert await c.stop() is True  # and the server acknowledged the close
    assert set(reactor.getDelayedCalls()) - before == set()
    assert _no_client_sockets()


@pytest_twisted.ensureDeferred
async def test_start_timeout_leaves_the_reactor_clean():
    import socket

    before = set(reactor.getDelayedCalls())
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        c = Client(f"127.0.0.1:{silent.getsockname()[1]}", timeout=4.0)
        with pytest.raises(errors.ClientTimeoutError):
            await c.start(timeout=0.5)
    assert c.state is State.CLOSED
    assert set(reactor.getDelayedCalls()) - before == set()
    assert _no_client_sockets()


@pytest_twisted.ensureDeferred
async def test_the_same_lock_recipe_excludes_kazoo(server, prefix, make_client):
    c = await _started(server.hosts)
    k = make_client()
    try:
        theirs = k.Lock(f"{prefix}/lock", "kazoo")
        assert theirs.acquire(timeout=5)
        ours = c.Lock(f"{prefix}/lock", "tx")
        pending = ours.acquire(timeout=20)
        await _sleep(0.3)
        assert not pending.called
        assert await c.Lock(f"{prefix}/lock", "tx2").acquire(blocking=False) is False
        assert await ours.contenders() == ["kazoo", "tx"]
        theirs.release()
        assert await pending is True
        assert theirs.acquire(blocking=False) is False
        await ours.release()
        async with c.Lock(f"{prefix}/lock", "tx3") as held:
            assert held.is_acquired
        assert await c.get_children(f"{prefix}/lock") == []
        with pytest.raises(errors.LockTimeout):
            theirs.acquire()
            try:
                await c.Lock(f"{prefix}/lock", "late").acquire(timeout=0.3)
            finally:
                theirs.release()
    finally:
        await c.stop()


@pytest_twisted.ensureDeferred
async def test_election_calls_an_async_leader_function(server, prefix):
    a = await _started(server.hosts)
    b = await _started(server.hosts)
    try:
        order = []

        async def lead(name):
            order.append(f"{name} elected")
            await _sleep(0.2)
            order.append(f"{name} resigns")
            return name

        first = a.Election(f"{prefix}/e", "a").run(lead, "a")
        second = b.Election(f"{prefix}/e", "b").run(lead, "b")
        assert await first == "a" and await second == "b"
        leader = order[0].split()[0]
        other = "b" if leader == "a" else "a"
        # One leader at a time: the second is elected only after the first resigned.
        assert order == [f"{leader} elected", f"{leader} resigns", f"{other} elected",
                         f"{other} resigns"]
    finally:
        await a.stop()
        await b.stop()


@pytest_twisted.ensureDeferred
async def test_counter_barrier_and_party_on_the_twisted_client(server, prefix, make_client):
    c = await _started(server.hosts)
    k = make_client()
    try:
        counter = c.Counter(f"{prefix}/counter")
        assert await counter.add(2) == 2
        kazoo_counter = k.Counter(f"{prefix}/counter")
        kazoo_counter += 3
        assert await counter.get() == 5
        barrier = c.Barrier(f"{prefix}/barrier")
        await barrier.create()
        waiting = barrier.wait(timeout=20)
        await _sleep(0.2)
        assert not waiting.called
        k.delete(f"{prefix}/barrier")
        assert await waiting is True
        party = c.Party(f"{prefix}/party", "tx")
        await party.join()
        k.Party(f"{prefix}/party", "kazoo").join()
        assert sorted(await party.members()) == ["kazoo", "tx"]
    finally:
        await c.stop()


@pytest_twisted.ensureDeferred
async def test_shard_allocator_on_the_twisted_client(server, prefix):
    a = await _started(server.hosts)
    b = await _started(server.hosts)
    owned = {"a": frozenset(), "b": frozenset()}

    def recorder(name):
        def on_change(shards, version):
            assert threading.current_thread() is threading.main_thread()  # on the reactor
            owned[name] = shards
        return on_change

    allocator_a = a.ShardAllocator(f"{prefix}/shards", "a", 4, recorder("a"))
    allocator_b = b.ShardAllocator(f"{prefix}/shards", "b", 4, recorder("b"))
    running = [allocator_a.run(), allocator_b.run()]
    try:
        for _ in range(1000):
            if (len(owned["a"]) == 2 and len(owned["b"]) == 2
                    and allocator_a.version == allocator_b.version):
                break
            await _sleep(0.02)
        assert sorted(owned["a"] | owned["b"]) == [0, 1, 2, 3]
        assert not owned["a"] & owned["b"]
        allocator_b.stop()
        await running[1]
        assert owned["b"] == frozenset()
        for _ in range(1000):
            if len(owned["a"]) == 4:
                break
            await _sleep(0.02)
        assert owned["a"] == frozenset({0, 1, 2, 3})
    finally:
        allocator_a.stop()
        allocator_b.stop()
        for deferred in running:
            await deferred
        await a.stop()
        await b.stop()


@pytest_twisted.ensureDeferred
async def test_tree_cache_and_semaphore_on_the_twisted_client(server, prefix, client):
    c = await _started(server.hosts)
    try:
        client.create(f"{prefix}/tree/x", b"1", makepath=True)
        events = []
        cache = c.TreeCache(f"{prefix}/tree", events.append)
        running = cache.run()
        for _ in range(500):
            if cache.initialized:
                break
            await _sleep(0.02)
        assert cache.get_data(f"{prefix}/tree/x")[0] == b"1"
        client.set(f"{prefix}/tree/x", b"2")
        for _ in range(500):
            if cache.get_data(f"{prefix}/tree/x")[0] == b"2":
                break
            await _sleep(0.02)
        assert ("NODE_UPDATED", f"{prefix}/tree/x") in [(e.type, e.path) for e in events]
        cache.stop()
        await running
        async with c.Semaphore(f"{prefix}/sem", "tx", max_leases=1) as sem:
            assert sem.is_acquired
            assert await c.Semaphore(f"{prefix}/sem", "other").acquire(blocking=False) is False
    finally:
        await c.stop()
