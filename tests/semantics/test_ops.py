"""Newer and less common operations: getEphemerals, getAllChildrenNumber, sync, whoAmI.

kazoo 2.11 has only ``sync``; the others go through tests/semantics/raw.py.
"""

import pytest
from kazoo.exceptions import NoAuthError, NoNodeError
from kazoo.security import ACL, Id, Permissions

from tests.semantics import raw


def test_get_ephemerals_matches_a_plain_string_prefix(make_raw, prefix):
    s = make_raw()
    s.create(f"{prefix}/w")
    for path in (f"{prefix}/eph-a", f"{prefix}/eph-ab", f"{prefix}/w/eph-c", f"{prefix}/ephx"):
        s.create(path, flags=raw.EPHEMERAL)
    s.create(f"{prefix}/eph-persistent")  # not an ephemeral
    mine = sorted([f"{prefix}/eph-a", f"{prefix}/eph-ab", f"{prefix}/w/eph-c", f"{prefix}/ephx"])
    assert sorted(s.get_ephemerals(f"{prefix}/eph-")) == [f"{prefix}/eph-a", f"{prefix}/eph-ab"]
    assert sorted(s.get_ephemerals(f"{prefix}/eph-a")) == [f"{prefix}/eph-a", f"{prefix}/eph-ab"]
    assert sorted(s.get_ephemerals(f"{prefix}/eph")) == [f"{prefix}/eph-a", f"{prefix}/eph-ab", f"{prefix}/ephx"]
    assert sorted(s.get_ephemerals(f"{prefix}/w")) == [f"{prefix}/w/eph-c"]
    assert sorted(s.get_ephemerals(f"{prefix}/")) == mine
    assert sorted(s.get_ephemerals(prefix)) == mine
    assert s.get_ephemerals(f"{prefix}/nothing") == []


def test_get_ephemerals_root_and_blank_mean_all_of_this_session(make_raw, prefix):
    s, other = make_raw(), make_raw()
    s.create(f"{prefix}/mine", flags=raw.EPHEMERAL)
    seq = s.create(f"{prefix}/seq-", flags=raw.EPHEMERAL_SEQUENTIAL)
    other.create(f"{prefix}/theirs", flags=raw.EPHEMERAL)
    expected = sorted([f"{prefix}/mine", seq])
    assert sorted(s.get_ephemerals("/")) == expected
    assert sorted(s.get_ephemerals("")) == expected
    assert other.get_ephemerals("/") == [f"{prefix}/theirs"]
    assert make_raw().get_ephemerals("/") == []


def test_get_all_children_number_counts_descendants(make_raw, prefix):
    s = make_raw()
    for path in ("/a", "/a/b", "/a/b/c", "/a/d", "/e"):
        s.create(prefix + path)
    assert s.get_all_children_number(prefix) == 5
    assert s.get_all_children_number(f"{prefix}/a") == 3
    assert s.get_all_children_number(f"{prefix}/a/b/c") == 0
    assert s.get_all_children_number("/zookeeper") == 2
    with pytest.raises(NoNodeError):
        s.get_all_children_number(f"{prefix}/missing")


def test_get_all_children_number_of_root_counts_everything(make_raw, prefix):
    s = make_raw()
    before = s.get_all_children_number("/")
    assert before >= 4  # /zookeeper, /zookeeper/quota, /zookeeper/config and our prefix
    s.create(f"{prefix}/a")
    s.create(f"{prefix}/a/b")
    assert s.get_all_children_number("/") == before + 2


def test_get_all_children_number_needs_read(make_raw, prefix):
    owner, other = make_raw(), make_raw()
    owner.add_auth("digest", b"alice:secret")
    owner.create(f"{prefix}/d", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    owner.create(f"{prefix}/d/x")
    assert owner.get_all_children_number(f"{prefix}/d") == 1
    with pytest.raises(NoAuthError):
        other.get_all_children_number(f"{prefix}/d")


def test_sync_echoes_the_path(client, make_raw, prefix):
    assert client.sync(prefix) == prefix
    s = make_raw()
    assert s.sync(prefix) == prefix
    assert s.sync(f"{prefix}/missing") == f"{prefix}/missing"  # no existence check


def test_sync_then_read_sees_other_sessions_writes(client, make_client, prefix):
    make_client().create(f"{prefix}/a", b"written elsewhere")
    client.sync(f"{prefix}/a")
    assert client.get(f"{prefix}/a")[0] == b"written elsewhere"


def test_who_am_i_lists_every_identity(make_raw):
    s = make_raw()
    assert s.who_am_i() == [("ip", "127.0.0.1")]
    s.add_auth("digest", b"bob:pw")
    s.add_auth("digest", b"carol:pw")
    assert sorted(s.who_am_i()) == [("digest", "bob"), ("digest", "carol"), ("ip", "127.0.0.1")]
