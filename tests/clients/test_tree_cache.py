"""TreeCache mirrors a subtree and reports each change, on ZooKeeper and coord."""

import threading

from tests.clients.helpers import expire_session, wait_until


def _mirror_matches(cache, kazoo, root):
    expected = {}
    stack = [root]
    while stack:
        path = stack.pop()
        data, _stat = kazoo.get(path)
        expected[path] = data
        stack.extend(f"{path}/{c}" for c in kazoo.get_children(path))
    return {p: d for p, (d, _s) in dict(cache.nodes).items()} == expected


def test_tree_cache_mirrors_changes_and_survives_an_expiry(server, make_coord_client, client,
                                                           prefix):
    root = f"{prefix}/tree"
    client.create(f"{root}/a/b", b"ab", makepath=True)
    client.create(f"{root}/c", b"c")
    cc = make_coord_client()
    events = []
    cache = cc.TreeCache(root, events.append)
    runner = threading.Thread(target=cache.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: cache.initialized, 20, what="INITIALIZED")
        assert events[-1].type == "INITIALIZED"
        assert sorted(e.path for e in events if e.type == "NODE_ADDED") == [
            root, f"{root}/a", f"{root}/a/b", f"{root}/c"]
        assert cache.get_data(f"{root}/a/b")[0] == b"ab"
        assert cache.get_children(root) == ["a", "c"]
        events.clear()

        client.set(f"{root}/c", b"c2")
        client.create(f"{root}/a/d", b"new")
        client.delete(f"{root}/a", recursive=True)
        wait_until(lambda: _mirror_matches(cache, client, root), 20, what="mirror after changes")
        kinds = [(e.type, e.path) for e in events]
        assert ("NODE_UPDATED", f"{root}/c") in kinds
        assert ("NODE_REMOVED", f"{root}/a") in kinds and ("NODE_REMOVED", f"{root}/a/b") in kinds
        assert cache.get_children(root) == ["c"]

        # A new session drops every watch: the cache adds its watch again and resyncs.
        expire_session(server.host, server.port, *cc.client_id)
        client.create(f"{root}/after-expiry", b"x")
        wait_until(lambda: _mirror_matches(cache, client, root), 30, what="mirror after expiry")
        client.set(f"{root}/after-expiry", b"y")
        wait_until(lambda: cache.get_data(f"{root}/after-expiry")[0] == b"y", 20)
    finally:
        cache.stop()
        runner.join(20)
    assert not runner.is_alive()
