"""Prometheus metrics: the core's numbers, collected at scrape time (nothing is copied between
scrapes), in ZooKeeper's PrometheusMetricsProvider names where ZooKeeper has the metric.

``prometheus_client`` does the exposition format; ``coord/runtime/http.py`` serves it.
"""

from prometheus_client import ProcessCollector
from prometheus_client.core import (
    CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric,
)

from coord import monitoring

# mntr values ZooKeeper's Prometheus provider exports as gauges under the same name.
ZOOKEEPER_GAUGES = (
    "avg_latency", "max_latency", "min_latency", "packets_received", "packets_sent",
    "num_alive_connections", "outstanding_requests", "znode_count", "watch_count",
    "ephemerals_count", "approximate_data_size", "open_file_descriptor_count",
    "max_file_descriptor_count", "uptime", "global_sessions", "local_sessions",
    "auth_failed_count", "data_dir_size", "log_dir_size", "learners", "synced_followers",
    "synced_non_voting_followers", "synced_observers", "pending_syncs",
)
# coord's own gauges (no ZooKeeper counterpart): prefixed so they cannot collide with one.
COORD_GAUGES = {
    "watch_paths": "coord_watch_paths",
    "connections_watching": "coord_connections_watching",
    "current_term": "coord_current_term",
    "commit_index": "coord_commit_index",
    "last_election_detection_ms": "coord_last_election_detection_ms",
    "last_election_election_ms": "coord_last_election_election_ms",
    "last_election_first_commit_ms": "coord_last_election_first_commit_ms",
}

# (core attribute, metric name, help). ZooKeeper's summaries are in milliseconds.
SUMMARIES = (
    ("fsync_time", "fsynctime", "Time to write and fsync a batch of the write-ahead log (ms)"),
    ("read_latency", "readlatency", "Read request latency (ms)"),
    ("update_latency", "updatelatency", "Write request latency, arrival to answer (ms)"),
    ("election_time", "election_time", "Time without a leader, leader lost to leader known (ms)"),
    ("election_detection", "coord_election_detection_ms",
     "Time from last hearing the leader to deciding it is gone (ms)"),
    ("election_first_commit", "coord_election_first_commit_ms",
     "Time from a new leader being known to its first entry applied here (ms)"),
)

_HELP = {
    "znode_count": "Number of znodes", "watch_count": "Number of watches",
    "num_alive_connections": "Number of client connections",
    "outstanding_requests": "Requests accepted and not yet answered",
    "global_sessions": "Number of sessions", "ephemerals_count": "Number of ephemeral znodes",
    "approximate_data_size": "Approximate bytes of paths and data in the tree",
}


def _summary(name, documentation, summary):
    metric = Metric(name, documentation, "summary")
    for q in monitoring.QUANTILES:
        value = summary.quantile(q)
        metric.add_sample(name, {"quantile": str(q)}, float("nan") if value is None else value)
    metric.add_sample(name + "_count", {}, summary.count)
    metric.add_sample(name + "_sum", {}, summary.total)
    return metric


class CoreCollector:
    """A prometheus_client collector reading ``node.core`` when scraped."""

    def __init__(self, node):
        self.node = node

    def collect(self):
        core = self.node.core
        if core is None:
            return
        values = monitoring.monitor_values(core, core.process_facts)
        for key in ZOOKEEPER_GAUGES:
            if key in values:
                yield GaugeMetricFamily(key, _HELP.get(key, key.replace("_", " ")),
                                        value=values[key])
        for key, name in COORD_GAUGES.items():
            if key in values:
                yield GaugeMetricFamily(name, key.replace("_", " "), value=values[key])
        state = GaugeMetricFamily("coord_server_state", "1 for this member's current mode",
                                  labels=["state"])
        state.add_metric([core.mode], 1)
        yield state
        lags = GaugeMetricFamily("coord_follower_lag",
                                 "Log entries a member has not acknowledged (on the leader)",
                                 labels=["follower"])
        for member_id, lag in monitoring.follower_lags(core).items():
            lags.add_metric([str(member_id)], lag)
        yield lags
        limits = CounterMetricFamily("coord_limit_hits",
                                     "Times a protective limit bit (docs/operations.md, Limits)",
                                     labels=["limit"])
        for limit, count in sorted(core.limit_counts.items()):
            limits.add_metric([limit], count)
        yield limits
        for attribute, name, documentation in SUMMARIES:
            yield _summary(name, documentation, getattr(core, attribute))


def registry_for(node):
    """A registry holding only this member's metrics (no process-global default collectors, so
    two members in one test process do not share anything)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CoreCollector(node))
    ProcessCollector(registry=registry)   # process_resident_memory_bytes, process_cpu_seconds_total, ...
    return registry
