"""Conditional writes: delete/setData/setACL with expected versions; exists on a missing node."""

import pytest
from kazoo.exceptions import BadVersionError, NoNodeError, NotEmptyError
from kazoo.security import OPEN_ACL_UNSAFE


def test_delete_with_wrong_version_is_bad_version(client, prefix):
    client.create(f"{prefix}/a")
    client.set(f"{prefix}/a", b"1")
    with pytest.raises(BadVersionError):
        client.delete(f"{prefix}/a", version=0)
    assert client.exists(f"{prefix}/a") is not None
    client.delete(f"{prefix}/a", version=1)
    assert client.exists(f"{prefix}/a") is None


def test_delete_version_minus_one_matches_any(client, prefix):
    client.create(f"{prefix}/a")
    for i in range(3):
        client.set(f"{prefix}/a", b"%d" % i)
    client.delete(f"{prefix}/a", version=-1)
    assert client.exists(f"{prefix}/a") is None


def test_delete_non_empty_is_not_empty(client, prefix):
    client.create(f"{prefix}/a")
    client.create(f"{prefix}/a/b")
    with pytest.raises(NotEmptyError):
        client.delete(f"{prefix}/a")
    with pytest.raises(NotEmptyError):
        client.delete(f"{prefix}/a", version=0)


def test_delete_checks_version_before_emptiness(client, prefix):
    client.create(f"{prefix}/a")
    client.create(f"{prefix}/a/b")
    with pytest.raises(BadVersionError):
        client.delete(f"{prefix}/a", version=5)


def test_delete_missing_is_no_node(client, prefix):
    with pytest.raises(NoNodeError):
        client.delete(f"{prefix}/missing")
    with pytest.raises(NoNodeError):
        client.delete(f"{prefix}/missing", version=3)


def test_set_data_versions(client, prefix):
    client.create(f"{prefix}/a", b"0")
    assert client.set(f"{prefix}/a", b"1", version=0).version == 1
    with pytest.raises(BadVersionError):
        client.set(f"{prefix}/a", b"x", version=0)
    with pytest.raises(BadVersionError):
        client.set(f"{prefix}/a", b"x", version=2)
    assert client.get(f"{prefix}/a")[0] == b"1"
    assert client.set(f"{prefix}/a", b"2", version=-1).version == 2
    stat = client.set(f"{prefix}/a", b"three", version=2)
    assert (stat.version, stat.dataLength) == (3, 5)


def test_set_data_missing_is_no_node(client, prefix):
    with pytest.raises(NoNodeError):
        client.set(f"{prefix}/missing", b"x")


def test_set_acl_checks_aversion(client, prefix):
    client.create(f"{prefix}/a")
    with pytest.raises(BadVersionError):
        client.set_acls(f"{prefix}/a", OPEN_ACL_UNSAFE, version=1)
    assert client.set_acls(f"{prefix}/a", OPEN_ACL_UNSAFE, version=0).aversion == 1
    assert client.set_acls(f"{prefix}/a", OPEN_ACL_UNSAFE, version=-1).aversion == 2


def test_exists_on_missing_node_is_none(client, prefix, make_raw):
    assert client.exists(f"{prefix}/missing") is None
    assert make_raw().exists(f"{prefix}/missing") is None  # NoNode on the wire


def test_get_on_missing_node_is_no_node(client, prefix):
    with pytest.raises(NoNodeError):
        client.get(f"{prefix}/missing")
    with pytest.raises(NoNodeError):
        client.get_children(f"{prefix}/missing")
    with pytest.raises(NoNodeError):
        client.get_acls(f"{prefix}/missing")
