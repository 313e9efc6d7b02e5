"""create in every mode, create2's Stat, the errors create can give, sequential names, null data.

Expected values were observed on Apache ZooKeeper 3.8.0. kazoo sends create (1) / create2 (15)
with flags 0-3; containers (19) and TTL nodes (21) go through tests/semantics/raw.py because
kazoo 2.11 has no API for them.
"""

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
)

from tests.semantics import raw
from tests.semantics.helpers import WAIT_S


def test_persistent_create2_stat(client, prefix):
    path, stat = client.create(f"{prefix}/a", b"hello", include_data=True)
    assert path == f"{prefix}/a"
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.ctime == stat.mtime
    assert (stat.version, stat.cversion, stat.aversion) == (0, 0, 0)
    assert stat.ephemeralOwner == 0
    assert (stat.dataLength, stat.numChildren) == (5, 0)
    assert client.get(f"{prefix}/a") == (b"hello", stat)


def test_ephemeral_owner_is_the_session_id(client, prefix):
    path, stat = client.create(f"{prefix}/e", b"", ephemeral=True, include_data=True)
    assert path == f"{prefix}/e"
    assert stat.ephemeralOwner == client.client_id[0]
    assert stat.ephemeralOwner != 0


def test_sequential_names_use_ten_digits(client, prefix):
    assert client.create(f"{prefix}/s-", sequence=True) == f"{prefix}/s-0000000000"
    assert client.create(f"{prefix}/s-", sequence=True) == f"{prefix}/s-0000000001"
    # the counter belongs to the parent, not to the name
    assert client.create(f"{prefix}/other-", sequence=True) == f"{prefix}/other-0000000002"
    path, stat = client.create(f"{prefix}/es-", ephemeral=True, sequence=True, include_data=True)
    assert path == f"{prefix}/es-0000000003"
    assert stat.ephemeralOwner == client.client_id[0]


def test_sequential_path_ending_in_slash_is_digits_only(client, prefix):
    client.create(f"{prefix}/q")
    assert client.create(f"{prefix}/q/", sequence=True) == f"{prefix}/q/0000000000"
    assert client.get_children(f"{prefix}/q") == ["0000000000"]


def test_node_exists(client, prefix):
    client.create(f"{prefix}/a", b"1")
    with pytest.raises(NodeExistsError):
        client.create(f"{prefix}/a", b"2")
    assert client.get(f"{prefix}/a")[0] == b"1"


def test_create_root_is_node_exists(make_raw):
    with pytest.raises(NodeExistsError):
        make_raw().create("/")


def test_missing_parent_is_no_node(client, prefix):
    with pytest.raises(NoNodeError):
        client.create(f"{prefix}/missing/child")


def test_no_children_for_ephemerals(client, prefix):
    client.create(f"{prefix}/e", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        client.create(f"{prefix}/e/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        client.create(f"{prefix}/e/child-", sequence=True)


def test_no_children_for_ephemerals_inside_multi(client, prefix):
    client.create(f"{prefix}/e", ephemeral=True)
    tx = client.transaction()
    tx.create(f"{prefix}/e/child")
    results = tx.commit()
    assert [type(r) for r in results] == [NoChildrenForEphemeralsError]
    assert client.exists(f"{prefix}/e/child") is None


def test_null_data_is_not_empty_data(client, prefix, make_raw):
    client.create(f"{prefix}/null", None)
    client.create(f"{prefix}/empty", b"")
    null_data, null_stat = client.get(f"{prefix}/null")
    empty_data, empty_stat = client.get(f"{prefix}/empty")
    assert null_data is None
    assert empty_data == b""
    assert null_stat.dataLength == empty_stat.dataLength == 0
    r = make_raw()
    assert r.get_data(f"{prefix}/null")[0] is None
    assert r.get_data(f"{prefix}/empty")[0] == b""
    # setData back to null
    client.set(f"{prefix}/empty", None)
    assert client.get(f"{prefix}/empty")[0] is None


def test_container_create_and_stat(make_raw, prefix):
    r = make_raw()
    path, stat = r.create_container(f"{prefix}/c", b"x")
    assert path == f"{prefix}/c"
    assert stat.ephemeralOwner == 0  # stored as 0x8000000000000000, reported as 0
    assert (stat.dataLength, stat.version, stat.numChildren) == (1, 0, 0)
    assert stat.czxid == stat.mzxid == stat.pzxid


def test_container_is_reaped_after_its_last_child_goes(make_raw, client, prefix):
    r = make_raw()
    r.create_container(f"{prefix}/c")
    r.create(f"{prefix}/c/child")
    assert r.exists(f"{prefix}/c", watch=True) is not None
    r.delete(f"{prefix}/c/child")
    # the reaper's delete fires the exists-watch; bounded wait, no timing assertion
    event = r.next_event(timeout_s=WAIT_S)
    assert (event.type, event.path) == (raw.NODE_DELETED, f"{prefix}/c")
    assert client.exists(f"{prefix}/c") is None


def test_container_and_ttl_parents_may_have_children(make_raw, client, prefix):
    r = make_raw()
    r.create_container(f"{prefix}/c")
    r.create(f"{prefix}/c/child")
    r.create_ttl(f"{prefix}/t", ttl_ms=600_000)
    r.create(f"{prefix}/t/child")
    assert client.exists(f"{prefix}/c").numChildren == 1
    assert client.exists(f"{prefix}/t").numChildren == 1


def test_ttl_create_and_stat(make_raw, prefix):
    r = make_raw()
    path, stat = r.create_ttl(f"{prefix}/t", b"ab", ttl_ms=600_000)
    assert path == f"{prefix}/t"
    assert stat.ephemeralOwner == 0  # TTL nodes report 0 to clients
    assert stat.dataLength == 2
    path, _ = r.create_ttl(f"{prefix}/ts-", flags=raw.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl_ms=600_000)
    assert path == f"{prefix}/ts-0000000001"


@pytest.mark.parametrize("ttl_ms", [0, -1, 1 << 40])
def test_ttl_out_of_range_is_bad_arguments(make_raw, prefix, ttl_ms):
    with pytest.raises(BadArgumentsError):
        make_raw().create_ttl(f"{prefix}/t", ttl_ms=ttl_ms)


def test_ttl_upper_bound_is_accepted(make_raw, prefix):
    path, _ = make_raw().create_ttl(f"{prefix}/t", ttl_ms=(1 << 40) - 1)
    assert path == f"{prefix}/t"


def test_create_ttl_with_a_non_ttl_mode_is_bad_arguments(make_raw, prefix):
    r = make_raw()
    with pytest.raises(BadArgumentsError):
        r.create_ttl(f"{prefix}/t", flags=raw.PERSISTENT, ttl_ms=1000)
    with pytest.raises(BadArgumentsError):
        r.create_ttl(f"{prefix}/t", flags=raw.EPHEMERAL, ttl_ms=1000)


def test_ttl_mode_without_ttl_field_is_bad_arguments(make_raw, prefix):
    r = make_raw()
    with pytest.raises(BadArgumentsError):
        r.create2(f"{prefix}/t", flags=raw.PERSISTENT_WITH_TTL)
    with pytest.raises(BadArgumentsError):
        r.create(f"{prefix}/t", flags=raw.PERSISTENT_SEQUENTIAL_WITH_TTL)


def test_unknown_create_flag_is_bad_arguments(make_raw, prefix):
    with pytest.raises(BadArgumentsError):
        make_raw().create2(f"{prefix}/x", flags=7)


def test_ttl_node_is_reaped_after_its_ttl(make_raw, client, prefix):
    r = make_raw()
    r.create_ttl(f"{prefix}/t", ttl_ms=200)
    if r.exists(f"{prefix}/t", watch=True) is not None:  # None: already reaped, which is fine
        event = r.next_event(timeout_s=WAIT_S)
        assert (event.type, event.path) == (raw.NODE_DELETED, f"{prefix}/t")
    assert client.exists(f"{prefix}/t") is None
