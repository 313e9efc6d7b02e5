"""/metrics and the AdminServer on real servers: scraped with Prometheus' own text parser, every
AdminServer command read as JSON from coord and from Apache ZooKeeper 3.8, field names compared."""

import json
import socket
import time
import urllib.error
import urllib.request

import pytest
from kazoo.client import KazooClient
from prometheus_client.parser import text_string_to_metric_families

from coord import admin_commands
from coord.testing.servers import CoordProcess, Ensemble, ZooKeeperProcess, four_letter_word, free_port
from tests.conftest import require_zookeeper

HTTP_TIMEOUT_S = 10.0


def http_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=HTTP_TIMEOUT_S) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8")


def scrape(port):
    status, content_type, text = http_get(port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(text)}


def gauge(families, name, **labels):
    """The value of the sample ``name`` with exactly ``labels`` (a summary's ``x_count`` is a
    sample of family ``x``)."""
    for family in families.values():
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise KeyError((name, labels))


def command(port, name):
    status, content_type, text = http_get(port, "/commands/" + name)
    assert status == 200 and content_type.startswith("application/json"), (name, content_type)
    return json.loads(text)


def mntr(process):
    text = four_letter_word(process.host, process.port, "mntr")
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


def workload(hosts):
    """Writes, reads, a watch and an ephemeral; returns the open client (its session and watch
    stay while the caller inspects)."""
    client = KazooClient(hosts=hosts, timeout=10)
    client.start(timeout=15)
    client.create("/app/config", b"x" * 10, makepath=True)
    client.create("/app/lock", b"", ephemeral=True)
    client.set("/app/config", b"y" * 20)
    client.get("/app/config", watch=lambda event: None)
    client.get_children("/app")
    return client


def test_metrics_standalone_match_mntr_and_log_json(tmp_path):
    metrics_port = free_port()
    # The flags this time (the zoo.cfg keys are used by the ensemble test below).
    server = CoordProcess(tmp_path, config={"metricsProvider.httpHost": "127.0.0.1",
                                            "maxClientCnxns": 2},
                          extra_args=["--metrics-port", str(metrics_port), "--log-format", "json"])
    server.start()
    try:
        client = workload(server.hosts)
        try:
            families = scrape(metrics_port)
            stats = mntr(server)   # the second connection of two allowed
            for name in ("znode_count", "watch_count", "ephemerals_count", "global_sessions",
                         "approximate_data_size"):
                assert gauge(families, name) == float(stats["zk_" + name]), name
            assert gauge(families, "num_alive_connections") == 1   # mntr's own connection: 2
            assert gauge(families, "ephemerals_count") == 1
            assert gauge(families, "watch_count") == 1
            assert gauge(families, "global_sessions") == 1
            assert gauge(families, "outstanding_requests") == 0
            assert gauge(families, "coord_server_state", state="standalone") == 1
            # Summaries as ZooKeeper's Prometheus provider exports them: quantiles, _count, _sum.
            for name, at_least in (("updatelatency", 4), ("readlatency", 2), ("fsynctime", 1)):
                assert families[name].type == "summary"
                assert gauge(families, name + "_count") >= at_least, name
                assert gauge(families, name, quantile="0.5") >= 0
            assert families["process_resident_memory_bytes"].samples[0].value > 0
            # A limit biting is counted: the kazoo client and one more, the third is refused.
            extra = [socket.create_connection((server.host, server.port), timeout=5)
                     for _ in range(2)]
            try:
                deadline = time.monotonic() + 10
                while True:
                    try:
                        hits = gauge(scrape(metrics_port), "coord_limit_hits_total",
                                     limit="connections_refused")
                    except KeyError:
                        hits = 0
                    if hits or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                assert hits == 1
            finally:
                for sock in extra:
                    sock.close()
        finally:
            client.stop()
            client.close()
        with pytest.raises(urllib.error.HTTPError) as e:
            http_get(metrics_port, "/other")
        assert e.value.code == 404
    finally:
        server.stop()
    lines = [line for line in server.log_path.read_text().splitlines()
             if line and not line.startswith("=== start")]
    records = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any("serving on" in r["message"] for r in records)


# AdminServer commands of ZooKeeper 3.8 that coord does not serve (docs/operations.md says why).
ZOOKEEPER_ONLY_COMMANDS = {
    "get_trace_mask", "set_trace_mask", "hash", "observer_connection_stat_reset", "observers",
    "system_properties", "voting_view", "zabstate",
}
# monitor fields both report; ZooKeeper has ~300 more internal counters coord has no counterpart for.
SHARED_MONITOR_FIELDS = {
    "version", "server_state", "avg_latency", "max_latency", "min_latency", "packets_received",
    "packets_sent", "num_alive_connections", "outstanding_requests", "znode_count", "watch_count",
    "ephemerals_count", "approximate_data_size", "open_file_descriptor_count",
    "max_file_descriptor_count", "uptime", "global_sessions", "local_sessions",
    "auth_failed_count", "command", "error",
} | {"%s_%s" % (stat, name) for stat in ("avg", "min", "max", "cnt", "sum")
     for name in ("fsynctime", "election_time", "readlatency", "updatelatency")} \
  | {"%s_%s" % (p, name) for p in ("p50", "p95", "p99", "p999") for name in ("readlatency", "updatelatency")}
COORD_ONLY_MONITOR_FIELDS = {"data_dir_size", "log_dir_size", "last_proposal_size", "watch_paths",
                             "connections_watching"}


def field_names(value):
    """The names in a command's JSON, nested: dicts by key, lists by their first element. Maps
    keyed by session id or path (dump, watches) are compared by their top level only."""
    if isinstance(value, dict):
        return {key: field_names(item) for key, item in value.items()}
    if isinstance(value, list):
        return [field_names(value[0])] if value and isinstance(value[0], dict) else []
    return None


@pytest.fixture
def both_admin_servers(tmp_path):
    require_zookeeper()
    servers = {}
    try:
        for kind, cls in (("zookeeper", ZooKeeperProcess), ("coord", CoordProcess)):
            port = free_port()
            process = cls(tmp_path / kind, config={"admin.enableServer": "true",
                                                   "admin.serverPort": port,
                                                   "admin.serverAddress": "127.0.0.1"})
            process.start()
            servers[kind] = (process, port)
        yield servers
    finally:
        for process, _ in servers.values():
            process.stop()


def test_admin_commands_have_zookeepers_fields(both_admin_servers):
    zk_process, zk_port = both_admin_servers["zookeeper"]
    coord_process, coord_port = both_admin_servers["coord"]
    clients = [workload(zk_process.hosts), workload(coord_process.hosts)]
    try:
        _, content_type, index = http_get(zk_port, "/commands")
        zk_commands = {line.split('">')[1].split("<")[0] for line in index.splitlines()
                       if line.startswith("<a href")}
        _, _, index = http_get(coord_port, "/commands")
        coord_commands = {line.split('">')[1].split("<")[0] for line in index.splitlines()
                          if line.startswith("<a href")}
        assert coord_commands == set(admin_commands.COMMANDS)
        assert zk_commands - coord_commands == ZOOKEEPER_ONLY_COMMANDS
        assert coord_commands <= zk_commands

        for primary, (_function, aliases) in sorted(admin_commands.COMMANDS.items()):
            if primary.endswith("reset"):
                continue   # checked last: they clear what the others report
            for name in (primary,) + aliases:
                zk, ours = command(zk_port, name), command(coord_port, name)
                assert zk["command"] == ours["command"] == primary, name
                assert zk["error"] is None or primary == "leader", (name, zk)
                assert ours["error"] == zk["error"], (name, ours)
            if primary == "monitor":
                assert SHARED_MONITOR_FIELDS <= set(zk) & set(ours)
                assert set(ours) - set(zk) == COORD_ONLY_MONITOR_FIELDS
                assert ours["znode_count"] == int(mntr(coord_process)["zk_znode_count"])
                assert ours["ephemerals_count"] == zk["ephemerals_count"] == 1
                assert ours["watch_count"] == zk["watch_count"] == 1
            elif primary == "environment":
                java = {k for k in zk if k.startswith("java.")}
                python = {k for k in ours if k.startswith("python.")}
                assert set(zk) - java == set(ours) - python
            elif primary == "initial_configuration":
                assert ours["initial_configuration"] == coord_process.config_path.read_text()
                assert zk["initial_configuration"] == zk_process.config_path.read_text()
            elif primary in ("dump", "watches", "watches_by_path"):
                assert set(zk) == set(ours)
                # Maps keyed by session or path: the same number of entries in each (dump's
                # expiry buckets are timing-dependent, so there the sessions in them are counted).
                def sizes(answer):
                    return [sum(len(ids) for ids in v.values()) if k.startswith("expiry") else len(v)
                            for k, v in sorted(answer.items()) if isinstance(v, dict)]
                assert sizes(zk) == sizes(ours), primary
            else:
                assert field_names(ours) == field_names(zk), primary
        for name in ("stat_reset", "srst", "connection_stat_reset", "crst"):
            assert command(coord_port, name) == {"command": command(zk_port, name)["command"],
                                                 "error": None}
        assert command(coord_port, "server_stats")["server_stats"]["packets_received"] == 0
        assert command(coord_port, "no_such") == command(zk_port, "no_such") == {
            "command": "no_such", "error": "Unknown command: no_such"}
    finally:
        for client in clients:
            client.stop()
            client.close()


def test_ensemble_metrics_followers_and_lag(tmp_path):
    ensemble = Ensemble("coord", tmp_path, size=3)
    ports = {}
    for member_id, member in ensemble.members.items():
        ports[member_id] = (free_port(), free_port())
        member.extra_config.update({"metricsProvider.httpPort": ports[member_id][0],
                                    "metricsProvider.httpHost": "127.0.0.1",
                                    "admin.enableServer": "true",
                                    "admin.serverPort": ports[member_id][1],
                                    "admin.serverAddress": "127.0.0.1"})
    with ensemble:
        client = workload(ensemble.hosts)
        try:
            leader = ensemble.leader()
            assert leader is not None
            client.sync("/")
            families = scrape(ports[leader][0])
            assert gauge(families, "coord_server_state", state="leader") == 1
            followers = {s.labels["follower"]: s.value for s in families["coord_follower_lag"].samples}
            assert set(followers) == {str(i) for i in ensemble.members if i != leader}
            assert all(lag >= 0 for lag in followers.values())
            assert gauge(families, "learners") == 2
            assert 0 <= gauge(families, "synced_followers") <= 2
            assert gauge(families, "coord_current_term") >= 1
            for member_id in ensemble.members:
                answer = command(ports[member_id][1], "leader")
                assert answer == {"is_leader": member_id == leader, "leader_id": leader,
                                  "leader_ip": "127.0.0.1", "command": "leader", "error": None}
                if member_id != leader:
                    member_families = scrape(ports[member_id][0])
                    assert gauge(member_families, "coord_server_state", state="follower") == 1
                    assert member_families["coord_follower_lag"].samples == []
                    assert gauge(member_families, "znode_count") == gauge(families, "znode_count")
        finally:
            client.stop()
            client.close()
