"""Random requests, well-formed or not, never break the core: no exception escapes, the tree's
indexes stay consistent, and every request gets exactly one reply, in order."""

from hypothesis import HealthCheck, given, settings, strategies as st

from coord.protocol import records as R
from coord.protocol.codes import OpCode
from tests.server.test_core import World

NAMES = st.sampled_from(["a", "b", "", ".", "..", "x\u0001", "z/"])
PATHS = st.one_of(
    st.lists(NAMES, min_size=0, max_size=3).map(lambda parts: "/" + "/".join(parts)),
    st.sampled_from(["", "/", "/zookeeper", "/zookeeper/config", "a", "//", "/a/", None]),
)
IDS = st.sampled_from([R.Id("world", "anyone"), R.Id("world", "bob"), R.Id("digest", "u:h"),
                       R.Id("digest", "nocolon"), R.Id("ip", "127.0.0.1"), R.Id("ip", "1.2.3.4/40"),
                       R.Id("auth", ""), R.Id("auth", None), R.Id("x509", "cn"), R.Id(None, None)])
ACLS = st.one_of(st.none(), st.lists(st.builds(R.ACL, st.integers(0, 31), IDS), max_size=2))
DATA = st.one_of(st.none(), st.binary(max_size=8))
VERSIONS = st.integers(-2, 2)
FLAGS = st.integers(-1, 7)

CREATE = st.builds(R.CreateRequest, PATHS, DATA, ACLS, FLAGS)
WRITE_OPS = st.one_of(
    st.tuples(st.sampled_from([OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_CONTAINER]), CREATE),
    st.tuples(st.just(OpCode.CREATE_TTL),
              st.builds(R.CreateTTLRequest, PATHS, DATA, ACLS, FLAGS, st.integers(-1, 3000))),
    st.tuples(st.just(OpCode.DELETE), st.builds(R.DeleteRequest, PATHS, VERSIONS)),
    st.tuples(st.just(OpCode.SET_DATA), st.builds(R.SetDataRequest, PATHS, DATA, VERSIONS)),
    st.tuples(st.just(OpCode.CHECK), st.builds(R.CheckVersionRequest, PATHS, VERSIONS)),
)
READ_OPS = st.one_of(
    st.tuples(st.just(OpCode.GET_DATA), st.builds(R.GetDataRequest, PATHS, st.booleans())),
    st.tuples(st.just(OpCode.GET_CHILDREN), st.builds(R.GetChildrenRequest, PATHS, st.booleans())),
)
REQUESTS = st.one_of(
    WRITE_OPS.filter(lambda op: op[0] != OpCode.CHECK),
    READ_OPS,
    st.tuples(st.just(OpCode.EXISTS), st.builds(R.ExistsRequest, PATHS, st.booleans())),
    st.tuples(st.just(OpCode.GET_CHILDREN2), st.builds(R.GetChildren2Request, PATHS, st.booleans())),
    st.tuples(st.just(OpCode.SET_ACL), st.builds(R.SetACLRequest, PATHS, ACLS, VERSIONS)),
    st.tuples(st.just(OpCode.GET_ACL), st.builds(R.GetACLRequest, PATHS)),
    st.tuples(st.just(OpCode.MULTI), st.builds(R.MultiRequest, st.lists(WRITE_OPS, max_size=4).map(tuple))),
    st.tuples(st.just(OpCode.MULTI_READ), st.builds(R.MultiRequest, st.lists(READ_OPS, max_size=3).map(tuple))),
    st.tuples(st.just(OpCode.SYNC), st.builds(R.SyncRequest, PATHS)),
    st.tuples(st.just(OpCode.ADD_WATCH), st.builds(R.AddWatchRequest, PATHS, st.integers(-1, 2))),
    st.tuples(st.just(OpCode.REMOVE_WATCHES), st.builds(R.RemoveWatchesRequest, PATHS, st.integers(0, 6))),
    st.tuples(st.just(OpCode.CHECK_WATCHES), st.builds(R.CheckWatchesRequest, PATHS, st.integers(0, 6))),
    st.tuples(st.just(OpCode.GET_EPHEMERALS), st.builds(R.GetEphemeralsRequest, PATHS)),
    st.tuples(st.just(OpCode.GET_ALL_CHILDREN_NUMBER), st.builds(R.GetAllChildrenNumberRequest, PATHS)),
    st.tuples(st.just(OpCode.AUTH), st.builds(R.AuthPacket, st.just(0),
                                              st.sampled_from(["digest", "ip", "world", None]),
                                              st.sampled_from([b"u:p", b"", None]))),
    st.tuples(st.just(OpCode.WHO_AM_I), st.none()),
    st.tuples(st.just(OpCode.PING), st.none()),
)


def check_tree(tree):
    for path, node in tree.nodes.items():
        for name in node.children:
            child = (path if path != "/" else "") + "/" + name
            assert child in tree.nodes, child
        if path != "/":
            parent = path[:path.rfind("/")] or "/"
            assert path[path.rfind("/") + 1:] in tree.nodes[parent].children
    for session_id, paths in tree.ephemerals.items():
        assert paths and all(tree.nodes[p].ephemeral_owner == session_id for p in paths)
    assert all(tree.nodes[p].ephemeral_owner < 0 for p in tree.containers | tree.ttl_nodes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 1), REQUESTS), min_size=1, max_size=25),
       st.lists(st.booleans(), min_size=25, max_size=25))
def test_random_requests_keep_the_core_whole(steps, syncs):
    world = World(tick_ms=100)
    clients = [world.connect(), world.connect()]
    world.sync_disk()
    sent = [[], []]
    for index, (who, (opcode, record)) in enumerate(steps):
        client = clients[who]
        if client.closed:
            continue
        try:
            xid = client.send(opcode, record)
        except Exception as e:   # our own client refuses to encode some records: that's fine
            if type(e).__name__ != "LocalProtocolError":
                raise
            continue
        sent[who].append(xid)
        if syncs[index]:
            world.sync_disk()
        check_tree(world.core.tree)
    world.sync_disk()
    world.tick(5000)
    world.sync_disk()
    check_tree(world.core.tree)
    for who, client in enumerate(clients):
        replies = [e.xid for e in client.replies() if e.xid > 0]
        if not client.closed:
            assert replies == [x for x in sent[who] if x > 0]
