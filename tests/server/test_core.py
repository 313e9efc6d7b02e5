"""A standalone member without sockets: the output gate, ordering, expiry and the reaper, deterministically.

Clients here are the shared sans-I/O ``ClientConnection``; the disk is a list of log records that
the test declares durable when it chooses, which is how the gate is observed.
"""


from coord.protocol import records as R
from coord.protocol.client_conn import Connected, ReplyReceived, WatchNotification
from coord.protocol.codes import CreateMode, Err, EventType, OpCode
from coord.testing.ensemble import InMemoryEnsemble
from coord.tree import acl as acls

OPEN = list(acls.OPEN_ACL_UNSAFE)


class World:
    """One standalone member whose disk syncs only when the test says so."""

    def __init__(self, **config):
        self.ensemble = InMemoryEnsemble(size=1, auto_sync=False, **config)
        self.clients = self.ensemble.clients
        self.clock = self.ensemble.clock

    @property
    def core(self):
        return self.ensemble.members[1].core

    def pump(self):
        self.ensemble.pump()

    def sync_disk(self):
        self.ensemble.sync()

    def connect(self, **kwargs):
        return self.ensemble.connect(1, **kwargs)

    def tick(self, advance_ms):
        self.ensemble.tick(advance_ms)


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
    assert writer.events == []                    # not durable yet: no reply
    # Another session reads committed state only: the create is invisible until durable.
    assert [(type(e), e.err) for e in reader.events] == [(ReplyReceived, Err.NO_NODE)]
    reader.events.clear()
    world.sync_disk()
    assert [type(e) for e in writer.events] == [WatchNotification, ReplyReceived]
    assert writer.events[0].event.type == EventType.NODE_CREATED
    assert [type(e) for e in reader.events] == [WatchNotification]
    reader.send(OpCode.GET_DATA, R.GetDataRequest("/a", False))
    assert reader.replies()[-1].response.data == b"x"


def test_a_session_reads_its_own_writes_in_order():
    world = World()
    client = world.connect()
    world.sync_disk()
    client.events.clear()
    client.send(OpCode.CREATE, R.CreateRequest("/own", b"1", OPEN, 0))
    client.send(OpCode.GET_DATA, R.GetDataRequest("/own", False))   # waits behind the create
    assert client.events == []
    world.sync_disk()
    replies = client.replies()
    assert [r.opcode for r in replies] == [OpCode.CREATE, OpCode.GET_DATA]
    assert replies[1].err == 0 and replies[1].response.data == b"1"


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
    client.send_raw(99)
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
