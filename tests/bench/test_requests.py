"""The pure parts of coord bench: pre-encoded requests and the plans that choose them."""

import pytest

from coord.bench import requests as Q
from coord.protocol import records as R
from coord.protocol.client_conn import ClientConnection
from coord.protocol.codes import CreateMode, Err, OpCode
from coord.protocol.framing import FrameDecoder
from coord.protocol.jute import Reader
from coord.protocol.server_conn import RequestReceived, ServerConnection


def _client_bytes(opcode, record, xid):
    client = ClientConnection(first_xid=xid)
    client.connect(0, 30000)
    return client.send(opcode, record)[1]


@pytest.mark.parametrize("opcode, record", [
    (OpCode.GET_DATA, R.GetDataRequest("/a/b", False)),
    (OpCode.SET_DATA, R.SetDataRequest("/a", b"x" * 100, -1)),
    (OpCode.CREATE, R.CreateRequest("/a/c-", b"", Q.OPEN_ACL, CreateMode.EPHEMERAL_SEQUENTIAL)),
    (OpCode.DELETE, R.DeleteRequest("/a", -1)),
    (OpCode.MULTI, R.MultiRequest(((OpCode.SET_DATA, R.SetDataRequest("/m", b"1", -1)),) * 5)),
])
@pytest.mark.parametrize("xid", [1, 77, 2**31 - 1])
def test_a_patched_template_is_the_frame_the_codec_sends(opcode, record, xid):
    t = Q.template("x", opcode, record)
    assert Q.frame(xid, t.tail) == _client_bytes(opcode, record, xid)


def test_the_server_codec_decodes_pre_encoded_requests():
    server = ServerConnection()
    server.receive_data(Q.connect_frame(30000))
    t = Q.create_template("/n", b"data", CreateMode.PERSISTENT)
    events = server.receive_data(Q.frame(5, t.tail) + Q.frame(6, Q.delete_template("/n").tail))
    requests = [e for e in events if isinstance(e, RequestReceived)]
    assert [(r.xid, r.opcode) for r in requests] == [(5, OpCode.CREATE), (6, OpCode.DELETE)]
    assert requests[0].request == R.CreateRequest("/n", b"data", Q.OPEN_ACL, 0)


def _create_reply(xid, path, err=0):
    out = bytearray(Q.REPLY_HEADER.pack(xid, 9, err))
    if not err:
        R.CreateResponse(path).serialize(out)
    return bytes(out)


def test_created_path_reads_the_reply_body():
    assert Q.created_path(_create_reply(3, "/r/c-0000000042")) == "/r/c-0000000042"


def test_interleave_spreads_the_minority_evenly():
    order = Q.interleave({"get": 9, "set": 1})
    assert len(order) == 10 and order.count("set") == 1
    assert order.index("set") not in (0, 9)
    order = Q.interleave({"get": 1, "set": 1})
    assert order.count("get") == order.count("set") == 1
    with pytest.raises(ValueError):
        Q.interleave({"get": 0})


def test_mixed_plan_follows_the_read_ratio():
    plan = Q.build_plan(Q.PlanSpec("mixed", "/r", "t", read_ratio=0.75))
    labels = [plan.next_template().label for _ in range(200)]
    assert labels.count("get") == 150 and labels.count("set") == 50
    with pytest.raises(ValueError):
        Q.build_plan(Q.PlanSpec("mixed", "/r", "t", read_ratio=1.5))


def test_cyclic_plan_repeats_and_stops():
    plan = Q.build_plan(Q.PlanSpec("get", "/r", "t"))
    first = plan.next_template()
    assert plan.next_template() is first and first.opcode == OpCode.GET_DATA
    plan.stop()
    assert plan.next_template() is None and plan.idle


def test_sequential_churn_deletes_what_the_server_named():
    plan = Q.build_plan(Q.PlanSpec("churn", "/r", "0-1", mode=CreateMode.PERSISTENT_SEQUENTIAL))
    create = plan.next_template()
    assert create.opcode == OpCode.CREATE
    plan.on_reply(create, 0, _create_reply(1, "/r/c-0-1-0000000007"))
    follow = plan.next_template()
    assert follow.opcode == OpCode.DELETE
    assert follow.tail == Q.delete_template("/r/c-0-1-0000000007").tail
    # A failed create queues nothing; after stop only follow-ups drain.
    second = plan.next_template()
    plan.on_reply(second, Err.NODE_EXISTS, _create_reply(2, None, Err.NODE_EXISTS))
    assert plan.next_template().opcode == OpCode.CREATE
    third = plan.next_template()
    plan.stop()
    assert plan.idle  # nothing queued yet; the create in flight will queue its delete
    plan.on_reply(third, 0, _create_reply(3, "/r/c-0-1-0000000009"))
    assert not plan.idle
    assert plan.next_template().opcode == OpCode.DELETE
    assert plan.next_template() is None and plan.idle


def test_ephemeral_churn_reuses_a_ring_of_names():
    plan = Q.ChurnPlan("/r/e-", b"", CreateMode.EPHEMERAL, ring=3)
    creates = [plan.next_template() for _ in range(3)]
    assert len({c.tail for c in creates}) == 3
    assert plan.next_template().tail == creates[0].tail  # the ring wraps
    plan.on_reply(creates[1], 0, b"")
    assert plan.next_template().tail == Q.delete_template("/r/e-1").tail


def test_sequence_plan_creates_sets_gets_deletes_each_once():
    plan = Q.build_plan(Q.PlanSpec("sequence", "/r", "t", count=3))
    labels = []
    while (t := plan.next_template()) is not None:
        labels.append(t.label)
    assert labels == ["create"] * 3 + ["set"] * 3 + ["get"] * 3 + ["delete"] * 3
    assert plan.idle


def test_populate_plan_makes_each_parent_before_its_children():
    plan = Q.PopulatePlan("/r/p", b"d", 2500)
    paths = []
    while (t := plan.next_template()) is not None:
        paths.append(R.CreateRequest.deserialize(Reader(t.tail, 4)).path)
    assert len(paths) == 2503
    assert paths[0] == "/r/p-0" and paths[1] == "/r/p-0/0"
    assert paths.index("/r/p-2") < paths.index("/r/p-2/0") and paths[-1] == "/r/p-2/499"


def test_unknown_plan_kind_is_refused():
    with pytest.raises(ValueError):
        Q.build_plan(Q.PlanSpec("teleport", "/r", "t"))


def test_multi_plan_sets_up_its_own_five_nodes():
    spec = Q.PlanSpec("multi", "/r", "0-3")
    setup = Q.setup_templates(spec)
    assert len(setup) == 5 and all(t.opcode == OpCode.CREATE for t in setup)
    multi = Q.build_plan(spec).next_template()
    decoded = FrameDecoder().feed(Q.frame(1, multi.tail))[0]
    assert len(decoded) == len(multi.tail) + 4
