"""multi (14) and multiRead (22): atomicity, result shapes, one zxid, errors per op.

kazoo's ``transaction()`` covers create/delete/setData/check; createContainer inside a multi,
create2 inside a multi, an empty multi and multiRead use raw requests.
"""

from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import ZnodeStat

from tests.semantics import raw


def test_successful_multi_results_and_one_zxid(client, prefix):
    tx = client.transaction()
    tx.create(f"{prefix}/a", b"1")
    tx.create(f"{prefix}/a/b")  # sees the create before it
    tx.set_data(f"{prefix}/a", b"2")  # and can modify it
    tx.create(f"{prefix}/s-", sequence=True)
    tx.create(f"{prefix}/s-", sequence=True)
    tx.check(f"{prefix}/a", 1)  # the set_data above made it version 1
    results = tx.commit()
    assert results[:2] == [f"{prefix}/a", f"{prefix}/a/b"]
    assert isinstance(results[2], ZnodeStat) and results[2].version == 1
    # consecutive sequence numbers; /a was this parent's child number 0
    assert results[3:5] == [f"{prefix}/s-0000000001", f"{prefix}/s-0000000002"]
    assert results[5] is True
    zxids = {client.exists(p).czxid for p in (f"{prefix}/a", f"{prefix}/a/b", f"{prefix}/s-0000000001")}
    assert len(zxids) == 1
    a = client.exists(f"{prefix}/a")
    assert a.mzxid == a.czxid == results[2].mzxid
    assert client.get(f"{prefix}/a")[0] == b"2"


def test_failed_multi_reports_rolled_back_failing_and_inconsistent(client, prefix):
    client.create(f"{prefix}/a")
    tx = client.transaction()
    tx.create(f"{prefix}/x")
    tx.delete(f"{prefix}/missing")
    tx.create(f"{prefix}/y")
    tx.set_data(f"{prefix}/a", b"changed")
    results = tx.commit()
    assert [type(r) for r in results] == [RolledBackError, NoNodeError, RuntimeInconsistency, RuntimeInconsistency]
    assert client.exists(f"{prefix}/x") is None
    assert client.exists(f"{prefix}/y") is None
    assert client.get(f"{prefix}/a") == (b"", client.exists(f"{prefix}/a"))
    assert client.exists(f"{prefix}/a").version == 0


def test_failing_first_op(client, prefix):
    tx = client.transaction()
    tx.check(f"{prefix}", 7)
    tx.create(f"{prefix}/z")
    assert [type(r) for r in tx.commit()] == [BadVersionError, RuntimeInconsistency]
    assert client.exists(f"{prefix}/z") is None


def test_ops_see_earlier_ops_even_when_failing(client, prefix):
    tx = client.transaction()
    tx.create(f"{prefix}/dup")
    tx.create(f"{prefix}/dup")
    assert [type(r) for r in tx.commit()] == [RolledBackError, NodeExistsError]
    assert client.exists(f"{prefix}/dup") is None


def test_failed_multi_does_not_consume_sequence_numbers(client, prefix):
    tx = client.transaction()
    tx.create(f"{prefix}/s-", sequence=True)
    tx.delete(f"{prefix}/missing")
    assert [type(r) for r in tx.commit()] == [RolledBackError, NoNodeError]
    assert client.create(f"{prefix}/s-", sequence=True) == f"{prefix}/s-0000000000"
    assert client.exists(prefix).cversion == 1


def test_check_with_version_minus_one_passes(client, prefix):
    client.create(f"{prefix}/a")
    client.set(f"{prefix}/a", b"x")
    tx = client.transaction()
    tx.check(f"{prefix}/a", -1)
    tx.create(f"{prefix}/b")
    assert tx.commit() == [True, f"{prefix}/b"]


def test_check_on_missing_node_fails(client, prefix):
    tx = client.transaction()
    tx.check(f"{prefix}/missing", -1)
    assert [type(r) for r in tx.commit()] == [NoNodeError]


def test_delete_then_recreate_in_one_multi(client, prefix):
    client.create(f"{prefix}/a", b"old")
    tx = client.transaction()
    tx.delete(f"{prefix}/a")
    tx.create(f"{prefix}/a", b"new")
    assert tx.commit() == [True, f"{prefix}/a"]
    assert client.get(f"{prefix}/a")[0] == b"new"


def test_empty_multi_returns_empty_list(client, make_raw):
    assert client.transaction().commit() == []
    assert make_raw().multi([]) == []


def test_raw_multi_result_types(make_raw, prefix):
    """create2 inside a multi answers with a plain create result (path only) on 3.8.0;
    createContainer inside a multi answers with path + Stat."""
    r = make_raw()
    results = r.multi(
        [
            raw.op_create(f"{prefix}/c1"),
            raw.op_create(f"{prefix}/c2", opcode=raw.CREATE2),
            raw.op_create(f"{prefix}/c3", flags=raw.CONTAINER, opcode=raw.CREATE_CONTAINER),
            raw.op_set_data(f"{prefix}/c1", b"x"),
            raw.op_check(f"{prefix}/c1", 1),
            raw.op_delete(f"{prefix}/c2"),
        ]
    )
    assert results[:2] == [f"{prefix}/c1", f"{prefix}/c2"]
    path, stat = results[2]
    assert path == f"{prefix}/c3"
    assert stat.ephemeralOwner == 0 and stat.czxid == results[3].czxid
    assert results[3].version == 1
    assert results[4:] == [True, True]


def test_multi_read_is_not_atomic(make_raw, prefix):
    r = make_raw()
    r.create(f"{prefix}/a", b"data")
    results = r.multi_read([raw.op_get_data(f"{prefix}/a"), raw.op_get_children(prefix), raw.op_get_data(f"{prefix}/missing")])
    data, stat = results[0]
    assert data == b"data" and stat.dataLength == 4
    assert results[1] == ["a"]
    assert type(results[2]) is NoNodeError
