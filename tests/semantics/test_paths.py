"""Invalid paths: which error wins, per operation.

All requests here are raw (tests/semantics/raw.py): kazoo normalises paths before sending
(``//`` collapsed, trailing ``/`` dropped, ``.``/``..`` rejected with ValueError), so it cannot send
most of these. Observed on ZooKeeper 3.8.0:

* create checks NUL first, then the parent (NoNode), then CREATE permission, then the full name;
* setData and setACL validate the whole path (BadArguments);
* delete validates only "has a slash, no NUL" — other bad paths are simply NoNode;
* getData, getChildren, getACL do not validate at all; exists only rejects NUL.
"""

import pytest
from kazoo.exceptions import BadArgumentsError, NoAuthError, NodeExistsError, NoNodeError
from kazoo.security import ACL, OPEN_ACL_UNSAFE, Id, Permissions

from tests.semantics import raw

WORLD = Id("world", "anyone")


@pytest.fixture
def s(make_raw, prefix):
    session = make_raw()
    session.create(f"{prefix}/m")
    return session


# -- create ------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["/m//a", "/nx/a/", "/nx//a", "/m/a/", "/nx/."], ids=repr)
def test_create_missing_parent_wins(s, prefix, suffix):
    with pytest.raises(NoNodeError):
        s.create(prefix + suffix)


@pytest.mark.parametrize("suffix", ["/m/", "/m/.", "/m/..", "/m/\x01", "/m/\x7f", "/m/\U0001F600"], ids=repr)
def test_create_bad_name_under_existing_parent_is_bad_arguments(s, prefix, suffix):
    with pytest.raises(BadArgumentsError):
        s.create(prefix + suffix)


@pytest.mark.parametrize("path", ["", "relative"], ids=repr)
def test_create_path_without_a_slash_is_bad_arguments(s, path):
    with pytest.raises(BadArgumentsError):
        s.create(path)


def test_create_relative_path_with_a_slash_is_no_node(s):
    # the early check is only "contains a slash"; the parent "relative" is then not found
    with pytest.raises(NoNodeError):
        s.create("relative/a")


@pytest.mark.parametrize("suffix", ["/m/a\x00b", "/nx/a\x00", "/m\x00/a"], ids=repr)
def test_create_nul_is_bad_arguments_before_the_parent_check(s, prefix, suffix):
    with pytest.raises(BadArgumentsError):
        s.create(prefix + suffix)


def test_create_names_that_look_odd_but_are_valid(s, prefix):
    for name in (".a", "a.", "...", "a b", "\u00e9t\u00e9", "-", "zookeeper"):
        assert s.create(f"{prefix}/m/{name}") == f"{prefix}/m/{name}"


def test_create_sequential_trailing_slash_is_valid(s, prefix):
    assert s.create(f"{prefix}/m/", flags=raw.PERSISTENT_SEQUENTIAL) == f"{prefix}/m/0000000000"


def test_create_root_is_node_exists(s):
    with pytest.raises(NodeExistsError):
        s.create("/")


def test_create_under_parent_without_create_permission(s, prefix):
    locked = f"{prefix}/locked"
    s.create(locked, acl=[ACL(Permissions.READ, WORLD)])
    with pytest.raises(BadArgumentsError):
        s.create(f"{locked}/a\x00")  # NUL is checked before the parent's ACL
    for suffix in ("/.", "/", "/a"):
        with pytest.raises(NoAuthError):
            s.create(locked + suffix)  # other bad names after it
    with pytest.raises(NoNodeError):
        s.create(f"{locked}//a")  # the parent "<locked>/" does not exist
    with pytest.raises(NoNodeError):
        s.create(f"{locked}/x/")


# -- setData / setACL validate the whole path ----------------------------------------------------
@pytest.mark.parametrize("suffix", ["/m//a", "/m/", "/m/.", "/m/a\x00b", "/m\x00"], ids=repr)
def test_set_data_and_set_acl_invalid_path_is_bad_arguments(s, prefix, suffix):
    with pytest.raises(BadArgumentsError):
        s.set_data(prefix + suffix, b"x")
    with pytest.raises(BadArgumentsError):
        s.set_acl(prefix + suffix, OPEN_ACL_UNSAFE)


@pytest.mark.parametrize("path", ["", "relative"], ids=repr)
def test_set_data_and_set_acl_relative_path_is_bad_arguments(s, path):
    with pytest.raises(BadArgumentsError):
        s.set_data(path, b"x")
    with pytest.raises(BadArgumentsError):
        s.set_acl(path, OPEN_ACL_UNSAFE)


# -- delete ------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["/m//a", "/m/", "/m/.", "/m/..", "/nx/a/"], ids=repr)
def test_delete_does_not_validate_names(s, prefix, suffix):
    with pytest.raises(NoNodeError):
        s.delete(prefix + suffix)
    assert s.exists(f"{prefix}/m") is not None


@pytest.mark.parametrize("path", ["", "relative"], ids=repr)
def test_delete_path_without_a_slash_is_bad_arguments(s, path):
    with pytest.raises(BadArgumentsError):
        s.delete(path)


@pytest.mark.parametrize("suffix", ["/m/a\x00b", "/m\x00"], ids=repr)
def test_delete_nul_is_bad_arguments(s, prefix, suffix):
    with pytest.raises(BadArgumentsError):
        s.delete(prefix + suffix)


def test_delete_under_parent_without_delete_permission(s, prefix):
    parent = f"{prefix}/nodelete"
    # everything but DELETE (ADMIN lets the prefix clean-up open it up again)
    s.create(parent, acl=[ACL(Permissions.ALL & ~Permissions.DELETE, WORLD)])
    s.create(f"{parent}/k")
    with pytest.raises(BadArgumentsError):
        s.delete(f"{parent}/k\x00")
    with pytest.raises(NoAuthError):
        s.delete(f"{parent}/k")
    with pytest.raises(NoAuthError):
        s.delete(f"{parent}/missing")  # DELETE on the parent is checked before the node exists


# -- reads -------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["/m//a", "/m/", "/m/.", "/m/a\x00b", "/m\x00"], ids=repr)
def test_reads_do_not_validate(s, prefix, suffix):
    path = prefix + suffix
    with pytest.raises(NoNodeError):
        s.get_data(path)
    with pytest.raises(NoNodeError):
        s.get_children(path)
    with pytest.raises(NoNodeError):
        s.get_acl(path)
    with pytest.raises(NoNodeError):
        s.get_all_children_number(path)


@pytest.mark.parametrize("suffix", ["/m//a", "/m/", "/m/.", "/m/.."], ids=repr)
def test_exists_does_not_validate_names(s, prefix, suffix):
    assert s.exists(prefix + suffix) is None


@pytest.mark.parametrize("suffix", ["/m/a\x00b", "/m\x00"], ids=repr)
def test_exists_nul_is_bad_arguments(s, prefix, suffix):
    with pytest.raises(BadArgumentsError):
        s.exists(prefix + suffix)


def test_relative_path_reads_are_no_node(s):
    assert s.exists("relative") is None
    with pytest.raises(NoNodeError):
        s.get_data("relative")
    with pytest.raises(NoNodeError):
        s.get_children("relative")


def test_empty_path_reads_answer_for_the_root(s):
    """3.8.0 looks the empty path up as is, and the root is stored under the empty key."""
    root = s.exists("/")
    assert s.exists("") == root
    assert s.get_data("") == s.get_data("/")
    assert sorted(s.get_children("")) == sorted(s.get_children("/"))
    assert s.get_acl("") == s.get_acl("/")
