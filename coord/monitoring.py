"""What a member reports about itself, computed from the core: one source for mntr, the
AdminServer's ``monitor`` and the Prometheus ``/metrics`` page.

Pure: values come from ``ServerCore`` and ``facts`` (the runtime's view of the process and its
disk, ``coord/runtime/process_facts.py``); latencies are observed with times the caller measured.
"""

import collections

import coord

VERSION = "3.8.0-coord-%s" % coord.__version__

# Summaries keep this many recent observations for their quantiles (count and sum are exact).
SUMMARY_WINDOW = 1024
QUANTILES = (0.5, 0.9, 0.99)


class Summary:
    """Count, sum and recent observations of one duration (milliseconds), as ZooKeeper's
    summaries (``fsynctime``, ``updatelatency``, ...) report them."""

    __slots__ = ("count", "total", "minimum", "maximum", "recent")

    def __init__(self):
        self.count = 0
        self.total = 0
        self.minimum = 0
        self.maximum = 0
        self.recent = collections.deque(maxlen=SUMMARY_WINDOW)

    def observe(self, value, count=1):
        """``count`` observations of ``value`` (a batch measured once)."""
        if not self.count or value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        self.count += count
        self.total += value * count
        self.recent.append(value)

    def monitor_values(self, name, percentiles):
        """mntr/monitor's avg_, min_, max_, cnt_, sum_ (and p50_ ... p999_) fields for ``name``."""
        values = {"avg_" + name: round(self.total / self.count, 4) if self.count else 0.0,
                  "min_" + name: self.minimum, "max_" + name: self.maximum,
                  "cnt_" + name: self.count, "sum_" + name: self.total}
        if percentiles:
            for label, q in (("p50_", 0.5), ("p95_", 0.95), ("p99_", 0.99), ("p999_", 0.999)):
                values[label + name] = self.quantile(q) or 0
        return values

    def quantile(self, q):
        """The ``q`` quantile of the recent observations, or None before the first."""
        if not self.recent:
            return None
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def outstanding_requests(core):
    """Requests accepted and not yet answered, and answers waiting to leave, on every connection."""
    return sum(len(c.held) + len(c.slots) for c in core.connections.values())


def average_latency(core):
    return core.latency_total_ms / core.latency_count if core.latency_count else 0.0


def follower_lags(core):
    """Member id -> log entries the leader has that the member has not acknowledged (leader only;
    empty elsewhere)."""
    if core.standalone or core.mode != "leader":
        return {}
    raft = core.raft
    last = raft.log.last_index
    return {peer: last - raft.progress[peer].match for peer in sorted(raft.progress)}


def monitor_values(core, facts):
    """mntr's keys (without the ``zk_`` prefix) and values, in mntr's order."""
    data_size, log_size = facts.data_dir_sizes()
    connections_watching, paths, _total = core.watches.summary()
    open_fds, max_fds = facts.file_descriptors()
    values = collections.OrderedDict([
        ("version", VERSION),
        ("server_state", core.mode),
        ("avg_latency", average_latency(core)),
        ("max_latency", core.latency_max_ms),
        ("min_latency", core.latency_min_ms or 0),
        ("packets_received", core.packets_received),
        ("packets_sent", core.packets_sent),
        ("num_alive_connections", len(core.connections)),
        ("outstanding_requests", outstanding_requests(core)),
        ("znode_count", core.tree.node_count),
        ("watch_count", core.watches.total_count()),
        ("ephemerals_count", sum(len(p) for p in core.tree.ephemerals.values())),
        ("approximate_data_size", core.tree.approximate_data_size()),
        ("open_file_descriptor_count", open_fds),
        ("max_file_descriptor_count", max_fds),
        ("uptime", core.clock.monotonic_ms() - core.started_ms),
        ("global_sessions", len(core.tree.sessions)),
        ("local_sessions", 0),
        ("auth_failed_count", core.auth_failed_count),
        ("data_dir_size", data_size),
        ("log_dir_size", log_size),
        ("last_proposal_size", -1),
        ("watch_paths", paths),
        ("connections_watching", connections_watching),
    ])
    if not core.standalone:
        raft = core.raft
        values["current_term"] = raft.term
        values["commit_index"] = raft.log.committed
        last = core.elections[-1] if core.elections else {}
        values["elections"] = len(core.elections)
        for key in ("detection_ms", "election_ms", "first_commit_ms"):
            values["last_election_" + key] = last.get(key, -1)
        if core.mode == "leader":
            lags = follower_lags(core)
            voters = [p for p in raft.progress if p in raft.voters]
            values["learners"] = len(raft.progress)
            values["followers"] = len(raft.progress)
            values["synced_followers"] = sum(1 for p in voters if lags[p] <= 1)
            values["synced_non_voting_followers"] = 0
            values["synced_observers"] = sum(
                1 for p in raft.progress if p in raft.learners and lags[p] <= 1)
            values["pending_syncs"] = len(raft.pending_reads)
            for peer, lag in lags.items():
                values["follower_%d_lag" % peer] = lag
    return values
