"""ACLs: world/digest/ip/auth schemes, addauth, which permission each operation needs, InvalidACL.

Digest ids are ``user:BASE64(SHA1("user:password"))`` (``kazoo.security.make_digest_acl``).
"""

import pytest
from kazoo.exceptions import AuthFailedError, InvalidACLError, NoAuthError
from kazoo.security import ACL, OPEN_ACL_UNSAFE, Id, Permissions, make_digest_acl, make_digest_acl_credential

from tests.semantics import raw

WORLD = Id("world", "anyone")
ALICE_ID = make_digest_acl_credential("alice", "secret")  # "alice:<sha1 base64>"


def alice_acl(**perms):
    return make_digest_acl("alice", "secret", **perms)


@pytest.fixture
def alice(make_client):
    c = make_client()
    c.add_auth("digest", "alice:secret")
    return c


def test_digest_id_format():
    assert ALICE_ID == "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="
    assert make_digest_acl_credential("user", "password") == "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="


def test_default_world_acl(client, prefix):
    client.create(f"{prefix}/a")
    assert client.get_acls(f"{prefix}/a")[0] == [ACL(Permissions.ALL, WORLD)]


def test_digest_protected_node_denies_everything_but_exists(alice, client, prefix):
    node = f"{prefix}/d"
    alice.create(node, b"secret data", acl=[alice_acl(all=True)])
    alice.create(f"{node}/child", b"")
    with pytest.raises(NoAuthError):
        client.get(node)
    with pytest.raises(NoAuthError):
        client.get_children(node)
    with pytest.raises(NoAuthError):
        client.set(node, b"x")
    with pytest.raises(NoAuthError):
        client.delete(f"{node}/child")  # DELETE on the parent
    with pytest.raises(NoAuthError):
        client.create(f"{node}/new")  # CREATE on the parent
    with pytest.raises(NoAuthError):
        client.get_acls(node)  # needs READ or ADMIN
    with pytest.raises(NoAuthError):
        client.set_acls(node, OPEN_ACL_UNSAFE)  # needs ADMIN
    stat = client.exists(node)  # exists needs no permission
    assert (stat.dataLength, stat.numChildren) == (11, 1)
    # the owner can do all of it
    assert alice.get(node)[0] == b"secret data"
    assert alice.get_children(node) == ["child"]
    alice.create(f"{node}/new")
    alice.delete(f"{node}/new")
    assert alice.get_acls(node)[0] == [ACL(Permissions.ALL, Id("digest", ALICE_ID))]


def test_wrong_digest_password_is_just_another_identity(make_client, alice, prefix):
    alice.create(f"{prefix}/d", b"x", acl=[alice_acl(all=True)])
    mallory = make_client()
    mallory.add_auth("digest", "alice:wrong")  # addauth digest never fails
    with pytest.raises(NoAuthError):
        mallory.get(f"{prefix}/d")


def test_each_permission_bit(alice, client, prefix):
    def node_with(name, perms):
        alice.create(f"{prefix}/{name}", b"", acl=[alice_acl(all=True), ACL(perms, WORLD)])
        return f"{prefix}/{name}"

    read = node_with("read", Permissions.READ)
    assert client.get(read)[0] == b""
    assert client.get_children(read) == []
    with pytest.raises(NoAuthError):
        client.set(read, b"x")

    write = node_with("write", Permissions.WRITE)
    assert client.set(write, b"x").version == 1
    with pytest.raises(NoAuthError):
        client.get(write)
    with pytest.raises(NoAuthError):
        client.get_acls(write)
    with pytest.raises(NoAuthError):
        client.set_acls(write, OPEN_ACL_UNSAFE)

    create = node_with("create", Permissions.CREATE)
    client.create(f"{create}/c")
    with pytest.raises(NoAuthError):
        client.delete(f"{create}/c")

    delete = node_with("delete", Permissions.DELETE)
    alice.create(f"{delete}/c")
    client.delete(f"{delete}/c")
    with pytest.raises(NoAuthError):
        client.create(f"{delete}/c")

    admin = node_with("admin", Permissions.ADMIN)
    with pytest.raises(NoAuthError):
        client.get(admin)
    assert client.get_acls(admin)[0] == [alice_acl(all=True), ACL(Permissions.ADMIN, WORLD)]  # unmasked
    assert client.set_acls(admin, OPEN_ACL_UNSAFE).aversion == 1
    assert client.get(admin)[0] == b""


def test_get_acl_with_read_but_not_admin_masks_digests(alice, client, prefix):
    acl = [alice_acl(read=True, admin=True), ACL(Permissions.READ, WORLD)]
    alice.create(f"{prefix}/r", b"", acl=acl)
    assert client.get_acls(f"{prefix}/r")[0] == [
        ACL(Permissions.READ | Permissions.ADMIN, Id("digest", "alice:x")),
        ACL(Permissions.READ, WORLD),
    ]
    assert alice.get_acls(f"{prefix}/r")[0] == acl  # with ADMIN the hash is shown


def test_ip_scheme(client, prefix):
    client.create(f"{prefix}/mine", b"ok", acl=[ACL(Permissions.ALL, Id("ip", "127.0.0.1"))])
    assert client.get(f"{prefix}/mine")[0] == b"ok"
    client.create(f"{prefix}/net", b"ok", acl=[ACL(Permissions.ALL, Id("ip", "127.0.0.0/8"))])
    assert client.get(f"{prefix}/net")[0] == b"ok"
    client.create(f"{prefix}/other", b"no", acl=[ACL(Permissions.ALL, Id("ip", "10.0.0.0/8"))])
    with pytest.raises(NoAuthError):
        client.get(f"{prefix}/other")
    assert client.get_acls(f"{prefix}/net")[0] == [ACL(Permissions.ALL, Id("ip", "127.0.0.0/8"))]


def test_auth_scheme_expands_to_the_callers_identities(make_raw, prefix):
    s = make_raw()
    s.add_auth("digest", b"alice:secret")
    s.add_auth("digest", b"bob:pw")
    s.create(f"{prefix}/a", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    s.create(f"{prefix}/b", acl=[ACL(Permissions.READ, Id("auth", None))])  # kazoo sends "" as null
    assert s.get_acl(f"{prefix}/a")[0] == [
        ACL(Permissions.ALL, Id("digest", ALICE_ID)),
        ACL(Permissions.ALL, Id("digest", make_digest_acl_credential("bob", "pw"))),
    ]
    assert [a.perms for a in s.get_acl(f"{prefix}/b")[0]] == [Permissions.READ, Permissions.READ]


def test_auth_scheme_without_identity_is_invalid_acl(client, prefix):
    with pytest.raises(InvalidACLError):
        client.create(f"{prefix}/a", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    assert client.exists(f"{prefix}/a") is None


@pytest.mark.parametrize(
    "acl",
    [
        ACL(Permissions.ALL, Id("nosuchscheme", "x")),
        ACL(Permissions.ALL, Id("world", "someone")),
        ACL(Permissions.ALL, Id("digest", "no-colon")),
        ACL(Permissions.ALL, Id("ip", "not-an-address")),
    ],
    ids=["unknown-scheme", "world-not-anyone", "digest-no-colon", "ip-garbage"],
)
def test_invalid_acls(client, prefix, acl):
    with pytest.raises(InvalidACLError):
        client.create(f"{prefix}/a", acl=[acl])
    client.create(f"{prefix}/b")
    with pytest.raises(InvalidACLError):
        client.set_acls(f"{prefix}/b", [acl])


def test_empty_acl_list_is_invalid_acl(client, prefix):
    with pytest.raises(InvalidACLError):
        client.create_async(f"{prefix}/a", acl=[]).get(timeout=10)
    # kazoo's blocking create() replaces [] with its default (open) ACL before sending
    client.create(f"{prefix}/b", acl=[])
    assert client.get_acls(f"{prefix}/b")[0] == OPEN_ACL_UNSAFE
    with pytest.raises(InvalidACLError):
        client.set_acls(f"{prefix}/b", [])


def test_duplicate_acl_entries_are_removed(make_raw, prefix):
    s = make_raw()
    s.create(f"{prefix}/a", acl=[ACL(Permissions.ALL, WORLD), ACL(Permissions.ALL, WORLD)])
    assert s.get_acl(f"{prefix}/a")[0] == [ACL(Permissions.ALL, WORLD)]


def test_add_auth_with_a_non_provider_scheme_fails_and_closes(make_raw):
    s = make_raw()
    with pytest.raises(AuthFailedError):
        s.add_auth("world", b"anyone")
    with pytest.raises(raw.ConnectionClosed):
        s.ping()


def test_who_am_i(make_raw):
    s = make_raw()
    assert s.who_am_i() == [("ip", "127.0.0.1")]
    s.add_auth("digest", b"alice:secret")
    assert sorted(s.who_am_i()) == [("digest", "alice"), ("ip", "127.0.0.1")]


def test_watch_events_need_read_permission(make_raw, prefix):
    """An exists-watch needs no permission to set, but the server drops events for a node the
    watcher cannot READ (NodeDataChanged, NodeDeleted); the parent's NodeChildrenChanged, on a
    readable parent, is delivered."""
    owner, watcher = make_raw(), make_raw()
    owner.add_auth("digest", b"alice:secret")
    node = f"{prefix}/d"
    owner.create(node, b"x", acl=[alice_acl(all=True), ACL(Permissions.ADMIN, WORLD)])
    assert watcher.exists(node, watch=True) is not None
    watcher.get_children(prefix, watch=True)
    owner.set_data(node, b"y")
    assert watcher.drain_events() == []
    owner.delete(node)
    assert [(e.type, e.path) for e in watcher.drain_events()] == [(raw.NODE_CHILDREN_CHANGED, prefix)]
