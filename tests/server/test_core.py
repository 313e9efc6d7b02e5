"""ServerCore without sockets: the output gate, ordering, expiry and the reaper, deterministically.

Clients here are the shared sans-I/O ``ClientConnection``; the disk is a list of log records that
the test declares durable when it chooses, which is how the gate is observed.
"""

import random

from coord.config import Config
from coord.protocol import records as R
from coord.protocol.client_conn import ClientConnection, Connected, ReplyReceived, WatchNotification
from coord.protocol.codes import CreateMode, Err, EventType, OpCode
from coord.runtime.process_facts import ProcessFacts
from coord.server import ServerCore
from coord.tree import acl as acls

OPEN = list(acls.OPEN_ACL_UNSAFE)


class Clock:
    def __init__(self):
        self.now_ms = 1_000_000

    def monotonic_ms(self):
        return self.now_ms

    def wall_ms(self):
        return 1_700_000_000_000 + self.now_ms


class Client:
    def __init__(self, world, conn_id, codec):
        self.world = world
        self.conn_id = conn_id
        self.codec = codec
        self.events = []
        self.closed = False

    def send(self, opcode, record=None):
        xid, data = self.codec.send(opcode, record)
        self.world.core.data_received(self.conn_id, data)
        self.world.pump()
        return xid

    def replies(self):
        return [e for e in self.events if isinstance(e, ReplyReceived)]


class World:
    def __init__(self, **config):
        self.clock = Clock()
        rng = random.Random(1)
        self.core = ServerCore(Config(reaper_interval_ms=1000, **config).finish(), self.clock,
                               lambda n: bytes(rng.randrange(256) for _ in range(n)),
                               process_facts=ProcessFacts())
        self.clients = {}
        self.log = []
        self.next_id = 0

    def pump(self):
        ready = self.core.take_ready()
        self.log.extend(ready.log)
        for conn_id, data in ready.sends:
            client = self.clients[conn_id]
            client.events.extend(client.codec.receive_data(data))
        for conn_id in ready.closes:
            self.clients[conn_id].closed = True
            self.core.connection_lost(conn_id)

    def sync_disk(self):
        if self.log:
            self.core.durable(self.log[-1][0])
        self.pump()

    def connect(self, timeout_ms=10000, session_id=0, passwd=b"\0" * 16, last_zxid=0):
        self.next_id += 1
        codec = ClientConnection()
        client = Client(self, self.next_id, codec)
        self.clients[self.next_id] = client
        self.core.connection_made(self.next_id, "127.0.0.1", 40000 + self.next_id)
        self.core.data_received(self.next_id, codec.connect(last_zxid, timeout_ms, session_id, passwd))
        self.pump()
        return client

    def tick(self, advance_ms):
        self.clock.now_ms += advance_ms
        self.core.tick()
        self.pump()


def test_replies_wait_for_the_log_and_notifications_come_first():
    world = World()
    writer = world.connect()
    assert writer.events == []            # even the session's creation waits for the disk
    world.sync_disk()
    assert isinstance(writer.events[0], Connected)
    reader = world.connect()
    world.sync_disk()
    reader.send(OpCode.EXISTS, R.ExistsRequest("/a", True))
    writer.send(OpCode.EXISTS, R.ExistsRequest("/a", True))
    writer.events.clear()
    reader.events.clear()
    writer.send(OpCode.CREATE, R.CreateRequest("/a", b"x", OPEN, 0))
    reader.send(OpCode.GET_DATA, R.GetDataRequest("/a", False))
    assert writer.events == [] and reader.events == []     # not durable yet: nothing observed
    world.sync_disk()
    assert [type(e) for e in writer.events] == [WatchNotification, ReplyReceived]
    assert writer.events[0].event.type == EventType.NODE_CREATED
    assert [type(e) for e in reader.events] == [WatchNotification, ReplyReceived]
    assert reader.events[1].response.data == b"x"


def test_reads_leave_at_once_when_nothing_is_in_flight():
    world = World()
    client = world.connect()
    world.sync_disk()
    client.events.clear()
    client.send(OpCode.GET_CHILDREN, R.GetChildrenRequest("/", False))
    assert client.replies()[0].response.children == ["zookeeper"]


def test_session_expiry_deletes_ephemerals_and_notifies():
    world = World(tick_ms=100)
    owner = world.connect(timeout_ms=1000)
    watcher = world.connect(timeout_ms=60000)
    world.sync_disk()
    owner.send(OpCode.CREATE, R.CreateRequest("/e", b"", OPEN, CreateMode.EPHEMERAL))
    world.sync_disk()
    watcher.send(OpCode.EXISTS, R.ExistsRequest("/e", True))
    watcher.events.clear()
    world.tick(500)
    assert not owner.closed
    world.tick(700)        # past the 1000 ms timeout (rounded up to the tick)
    world.sync_disk()
    assert owner.closed
    assert [e.event.type for e in watcher.events if isinstance(e, WatchNotification)] == [EventType.NODE_DELETED]
    assert world.core.tree.get("/e") is None


def test_reconnect_with_wrong_password_is_expired():
    world = World()
    client = world.connect()
    world.sync_disk()
    session_id = client.codec.session_id
    again = world.connect(session_id=session_id, passwd=b"\1" * 16)
    world.sync_disk()
    assert again.events[0].response.timeout_ms == 0 and again.events[0].response.session_id == 0
    assert again.closed
    ok = world.connect(session_id=session_id, passwd=client.codec.passwd)
    world.sync_disk()
    assert ok.events[0].response.session_id == session_id
    assert client.closed      # the session moved: the old connection is dropped


def test_client_ahead_of_us_is_refused_without_an_answer():
    world = World()
    client = world.connect(last_zxid=1 << 40)
    world.sync_disk()
    assert client.closed and client.events == []


def test_unknown_opcode_is_unimplemented_then_closed():
    world = World()
    client = world.connect()
    world.sync_disk()
    xid, data = client.codec.send_raw(99)
    world.core.data_received(client.conn_id, data)
    world.pump()
    assert client.replies()[-1].err == Err.UNIMPLEMENTED
    assert client.closed


def test_reaper_deletes_used_empty_containers_and_expired_ttl_nodes():
    world = World()
    client = world.connect()
    world.sync_disk()
    client.send(OpCode.CREATE_CONTAINER, R.CreateRequest("/c", b"", OPEN, CreateMode.CONTAINER))
    client.send(OpCode.CREATE_CONTAINER, R.CreateRequest("/never-used", b"", OPEN, CreateMode.CONTAINER))
    client.send(OpCode.CREATE, R.CreateRequest("/c/child", b"", OPEN, 0))
    client.send(OpCode.DELETE, R.DeleteRequest("/c/child", -1))
    client.send(OpCode.CREATE_TTL, R.CreateTTLRequest("/ttl", b"", OPEN, CreateMode.PERSISTENT_WITH_TTL, 500))
    world.sync_disk()
    world.tick(10)
    world.tick(1100)
    world.sync_disk()
    tree = world.core.tree
    assert tree.get("/c") is None and tree.get("/ttl") is None
    assert tree.get("/never-used") is not None
