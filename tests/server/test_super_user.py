"""The configured super user bypasses every ACL, on coord and on ZooKeeper alike."""

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_digest_acl

from coord.testing.servers import CoordProcess, ZooKeeperProcess
from coord.tree.acl import digest
from tests.conftest import require_zookeeper

SUPER_DIGEST = digest("super:letmein")


@pytest.fixture(params=["zookeeper", "coord"])
def super_server(request, tmp_path):
    if request.param == "zookeeper":
        require_zookeeper()
        process = ZooKeeperProcess(tmp_path, extra_jvm_flags=[
            "-Dzookeeper.DigestAuthenticationProvider.superDigest=" + SUPER_DIGEST])
    else:
        process = CoordProcess(tmp_path, extra_args=["--super-digest", SUPER_DIGEST])
    process.start()
    try:
        yield process
    finally:
        process.stop()


def client_for(server, auth=None):
    client = KazooClient(hosts=server.hosts, timeout=10, auth_data=auth)
    client.start(timeout=15)
    return client


def test_super_digest_bypasses_acls(super_server):
    alice = client_for(super_server, [("digest", "alice:pw")])
    stranger = client_for(super_server)
    boss = client_for(super_server, [("digest", "super:letmein")])
    try:
        alice.create("/private", b"secret", acl=[make_digest_acl("alice", "pw", all=True)])
        with pytest.raises(NoAuthError):
            stranger.get("/private")
        assert boss.get("/private")[0] == b"secret"
        boss.set("/private", b"changed")
        boss.delete("/private")
        assert alice.exists("/private") is None
    finally:
        for client in (alice, stranger, boss):
            client.stop()
            client.close()
