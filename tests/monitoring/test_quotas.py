"""Quotas under /zookeeper/quota, differentially: zkCli's own setquota and delquota against
Apache ZooKeeper 3.8 and coord, the subtree changed with kazoo, zookeeper_stats compared step by
step; then hard limits with enforcement on (zookeeper.enforceQuota), and stats across a restart."""

import subprocess

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import QuotaExceededError

from coord.testing.servers import ZKCLI, CoordProcess, ZooKeeperProcess, zkcli_unavailable_reason
from coord.tree.quotas import format_stats, parse_stats
from tests.conftest import require_zookeeper

ZKCLI_TIMEOUT_S = 60


def zkcli(process, *args):
    result = subprocess.run([ZKCLI, "-server", process.hosts, *args], capture_output=True,
                            text=True, timeout=ZKCLI_TIMEOUT_S, stdin=subprocess.DEVNULL)
    return result.stdout


def connect(process):
    client = KazooClient(hosts=process.hosts, timeout=10)
    client.start(timeout=15)
    return client


def stats(client, path):
    return client.get("/zookeeper/quota%s/zookeeper_stats" % path)[0].decode()


def set_quota(client, path, limits):
    client.create("/zookeeper/quota%s/zookeeper_limits" % path, format_stats(limits),
                  makepath=True)
    client.create("/zookeeper/quota%s/zookeeper_stats" % path, b"count=0,bytes=0")


def multi(client):
    transaction = client.transaction()
    transaction.create("/app/m", b"mm")
    transaction.set_data("/app/b", b"")
    transaction.delete("/app/b/c/d")
    results = transaction.commit()
    assert not any(isinstance(r, Exception) for r in results), results


def quota_story(process):
    """setquota as zkCli does it, then a subtree's life; the stats after every step."""
    seen = []
    client = connect(process)
    other = connect(process)
    try:
        client.create("/app/a", b"12345", makepath=True)
        zkcli(process, "setquota", "-n", "3", "/app")
        zkcli(process, "setquota", "-B", "100", "/app")   # updates the limits node in place
        limits, limits_stat = client.get("/zookeeper/quota/app/zookeeper_limits")
        seen.append(("limits", limits.decode(), limits_stat.version))
        seen.append(("set", stats(client, "/app")))
        steps = [
            ("create", lambda: client.create("/app/b", b"xx")),
            ("nested", lambda: client.create("/app/b/c/d", b"abc", makepath=True)),
            ("set", lambda: client.set("/app/a", b"1")),
            ("sequential", lambda: client.create("/app/s-", b"q", sequence=True)),
            ("ephemeral", lambda: other.create("/app/e", b"eph", ephemeral=True)),
            ("multi", lambda: multi(client)),
            ("session closed", lambda: other.stop()),
            ("delete", lambda: client.delete("/app/b/c")),
            ("outside", lambda: client.create("/elsewhere", b"zzzz")),
        ]
        for name, step in steps:
            step()
            client.sync("/app")
            seen.append((name, stats(client, "/app")))
        stat_node = client.exists("/zookeeper/quota/app/zookeeper_stats")
        seen.append(("stats node stat", stat_node.version, stat_node.mzxid == stat_node.czxid))
        zkcli(process, "delquota", "/app")
        seen.append(("delquota", client.get_children("/zookeeper/quota")))
        client.create("/app/after", b"")
        seen.append(("after delquota", client.exists("/zookeeper/quota/app") is None))
    finally:
        other.stop()
        client.stop()
        client.close()
        other.close()
    return seen


@pytest.fixture
def need_zkcli():
    require_zookeeper()
    reason = zkcli_unavailable_reason()
    if reason:
        pytest.skip(reason)


def test_quota_stats_as_zookeeper_keeps_them(need_zkcli, tmp_path):
    stories = {}
    for kind, cls in (("zookeeper", ZooKeeperProcess), ("coord", CoordProcess)):
        process = cls(tmp_path / kind)
        process.start()
        try:
            stories[kind] = quota_story(process)
        finally:
            process.stop()
    assert stories["coord"] == stories["zookeeper"]
    # What ZooKeeper 3.8 wrote, spelled out (so a change on either side is noticed here).
    assert stories["zookeeper"][0] == ("limits", "count=3,bytes=-1=;byteHardLimit=100;countHardLimit=-1", 1)
    assert ("create", "count=3,bytes=7") in stories["zookeeper"]


def test_hard_limits_enforced_when_enforce_quota_is_on(tmp_path):
    require_zookeeper()
    answers = {}
    for kind in ("zookeeper", "coord"):
        if kind == "zookeeper":
            process = ZooKeeperProcess(tmp_path / kind,
                                       extra_jvm_flags=["-Dzookeeper.enforceQuota=true"])
        else:
            process = CoordProcess(tmp_path / kind, config={"enforceQuota": "true"})
        process.start()
        client = connect(process)
        try:
            client.create("/hard", b"")
            client.create("/soft", b"")
            # The nodes zkCli's setquota -N 3 /hard and -n 2 /soft create (the test above shows
            # zkCli does this on both servers alike); kazoo is quicker than two JVM starts.
            set_quota(client, "/hard", {"count": -1, "bytes": -1, "countHardLimit": 3})
            set_quota(client, "/soft", {"count": 2, "bytes": -1})
            outcome = []
            for i in range(4):
                try:
                    client.create("/hard/c%d" % i, b"x")
                    outcome.append("created")
                except QuotaExceededError:
                    outcome.append("QuotaExceeded")
                client.create("/soft/c%d" % i, b"x")   # over a soft limit: only logged
            client.set("/zookeeper/quota/hard/zookeeper_limits",
                       format_stats({"count": -1, "bytes": -1, "countHardLimit": 3,
                                     "byteHardLimit": 6}))
            for data in (b"1234", b"12345"):
                try:
                    client.set("/hard", data)
                    outcome.append("set %d" % len(data))
                except QuotaExceededError:
                    outcome.append("set QuotaExceeded")
            outcome.append(stats(client, "/hard"))
            outcome.append(stats(client, "/soft"))
            answers[kind] = outcome
        finally:
            client.stop()
            client.close()
            process.stop()
        log = process.log_path.read_text()
        assert "Quota exceeded: /soft [current count=3, softCountLimit=2]" in log, kind
        assert "Quota exceeded: /hard [current count=4, hardCountLimit=3]" in log, kind
    assert answers["coord"] == answers["zookeeper"] == [
        "created", "created", "QuotaExceeded", "QuotaExceeded",   # /hard itself counts: 1 + 2
        "set 4", "set QuotaExceeded", "count=3,bytes=6", "count=5,bytes=4"]


def test_without_enforcement_hard_limits_are_only_counted(tmp_path):
    """ZooKeeper 3.8 enforces nothing unless zookeeper.enforceQuota=true (the default is off)."""
    process = CoordProcess(tmp_path)
    process.start()
    client = connect(process)
    try:
        client.create("/q", b"")
        client.create("/zookeeper/quota/q/zookeeper_limits",
                      format_stats({"count": -1, "bytes": -1, "countHardLimit": 1}), makepath=True)
        client.create("/zookeeper/quota/q/zookeeper_stats", format_stats({"count": 0, "bytes": 0}))
        assert stats(client, "/q") == "count=1,bytes=0"
        for i in range(3):
            client.create("/q/c%d" % i, b"ab")
        assert parse_stats(stats(client, "/q").encode()) == {"count": 4, "bytes": 6}
    finally:
        client.stop()
        client.close()
        process.stop()
    # A restart rebuilds the tree from the log (and snapshots): the stats come back the same.
    process.start()
    client = connect(process)
    try:
        assert stats(client, "/q") == "count=4,bytes=6"
        client.delete("/q/c0")
        assert stats(client, "/q") == "count=3,bytes=4"
    finally:
        client.stop()
        client.close()
        process.stop()
