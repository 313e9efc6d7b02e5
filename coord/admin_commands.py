"""ZooKeeper's AdminServer commands (``/commands/<name>``) as JSON-ready dicts, from the core.

Names, aliases and field names are ZooKeeper 3.8's (``org.apache.zookeeper.server.admin.Commands``,
checked against Debian's ZooKeeper 3.8 serving them), so tools reading ZooKeeper's AdminServer read
coord's. Pure: the runtime (``coord/runtime/http.py``) serves the dicts; OS facts come in ``facts``.
Commands about Java (system_properties, trace masks), ZooKeeper's tree digest (hash), the
Zab-specific views (zabstate, voting_view) and observer-master ones (observers,
observer_connection_stat_reset) have no coord counterpart and answer as unknown.
"""

from coord import monitoring

NOT_INITIALIZED = "server is not initialized"
NOT_SERVING = "This ZooKeeper instance is not currently serving requests"
# Commands ZooKeeper runs without a serving server (``isServerRequired`` false).
_SERVERLESS = frozenset({"environment"})

# ZooKeeper's names for counters coord keeps under other names, and buffer statistics coord does
# not keep (-1, as ZooKeeper reports a statistic with no sample).
_NO_SAMPLE = -1


def _client_response_stats():
    return {"last_buffer_size": _NO_SAMPLE, "min_buffer_size": _NO_SAMPLE,
            "max_buffer_size": _NO_SAMPLE}


def _server_stats(core, facts):
    data_size, log_size = facts.data_dir_sizes()
    return {
        "packets_sent": core.packets_sent,
        "packets_received": core.packets_received,
        "fsync_threshold_exceed_count": 0,
        "client_response_stats": _client_response_stats(),
        "data_dir_size": data_size,
        "log_dir_size": log_size,
        "server_state": core.mode,
        "last_processed_zxid": core.tree.last_zxid,
        "outstanding_requests": monitoring.outstanding_requests(core),
        "avg_latency": round(monitoring.average_latency(core), 4),
        "max_latency": core.latency_max_ms,
        "min_latency": core.latency_min_ms or 0,
        "num_alive_client_connections": len(core.connections),
        "uptime": core.clock.monotonic_ms() - core.started_ms,
        "auth_failed_count": core.auth_failed_count,
        "non_mtlsremote_conn_count": 0,
        "non_mtlslocal_conn_count": 0,
        "provider_null": False,
    }


def _server_stats_command(core, facts):
    return {
        "version": monitoring.VERSION,
        "read_only": core.read_only,
        "server_stats": _server_stats(core, facts),
        "client_response": _client_response_stats(),
        "node_count": core.tree.node_count,
    }


def _connection_info(core, conn, brief):
    info = {
        "remote_socket_address": "%s:%d" % (conn.peer_host, conn.peer_port),
        "interest_ops": 1,   # OP_READ: coord always reads (Java NIO's interest set)
        "outstanding_requests": len(conn.held) + len(conn.slots),
        "packets_received": conn.received,
        "packets_sent": conn.sent,
    }
    if not brief and conn.session_id:
        info.update({
            "session_id": conn.session_id,
            "last_operation": conn.last_op,
            "established": conn.created_ms,
            "session_timeout": conn.timeout_ms,
            "last_cxid": conn.last_cxid & 0xFFFFFFFF,
            "last_zxid": core.tree.last_zxid,
            "last_response_time": conn.last_response_ms,
            "last_latency": conn.last_latency_ms,
            "min_latency": conn.latency_min_ms,
            "avg_latency": conn.latency_total_ms // conn.latency_count if conn.latency_count else 0,
            "max_latency": conn.latency_max_ms,
        })
    return info


def _stats(core, facts):
    result = _server_stats_command(core, facts)
    result["connections"] = [_connection_info(core, c, True) for c in core.connections.values()]
    result["secure_connections"] = []
    return result


def _connections(core, facts):
    return {"connections": [_connection_info(core, c, False) for c in core.connections.values()],
            "secure_connections": []}


def _ruok(core, facts):
    return {}


def _monitor(core, facts):
    values = dict(monitoring.monitor_values(core, facts))
    values["avg_latency"] = round(values["avg_latency"], 4)
    # ZooKeeper's summaries: BASIC ones without percentiles, ADVANCED ones with them.
    values.update(core.fsync_time.monitor_values("fsynctime", False))
    values.update(core.election_time.monitor_values("election_time", False))
    values.update(core.read_latency.monitor_values("readlatency", True))
    values.update(core.update_latency.monitor_values("updatelatency", True))
    return values


def _configuration(core, facts):
    cfg = core.config
    return {
        "client_port": cfg.port,
        "data_dir": cfg.data_dir,
        "data_log_dir": cfg.data_log_dir,
        "tick_time": cfg.tick_ms,
        "max_client_cnxns": cfg.max_client_connections,
        "min_session_timeout": cfg.min_session_timeout_ms,
        "max_session_timeout": cfg.max_session_timeout_ms,
        "server_id": core.server_id,
        "client_port_listen_backlog": -1,
    }


def _environment(core, facts):
    values = {"zookeeper.version": monitoring.VERSION}
    values.update(facts.environment())
    values.update(facts.memory())
    return values


def _dirs(core, facts):
    data_size, log_size = facts.data_dir_sizes()
    return {"datadir_size": data_size, "logdir_size": log_size}


def _dump(core, facts):
    return {
        "expiry_time_to_session_ids": {
            str(when): ids for when, ids in core.tracker.expiry_buckets().items()},
        "session_id_to_ephemeral_paths": {
            str(session_id): sorted(paths)
            for session_id, paths in sorted(core.tree.ephemerals.items())},
    }


def _initial_configuration(core, facts):
    return {"initial_configuration": core.config.initial_config}


def _last_snapshot(core, facts):
    zxid, timestamp = facts.last_snapshot()
    # ZooKeeper prints the zxid with Long.toHexString: -1 is ffffffffffffffff.
    return {"zxid": "%x" % (zxid & 0xFFFFFFFFFFFFFFFF), "timestamp": timestamp}


def _is_read_only(core, facts):
    return {"read_only": core.read_only}


def _leader(core, facts):
    if core.standalone or core.read_only:
        return {"error": NOT_INITIALIZED}
    leader = core.raft.leader
    member = core.config.members.get(leader)
    return {"is_leader": core.mode == "leader", "leader_id": leader,
            "leader_ip": member.host if member is not None else ""}


def _watch_summary(core, facts):
    connections, paths, total = core.watches.summary()
    return {"num_connections": connections, "num_paths": paths, "num_total_watches": total}


def _watches(core, facts):
    by_session = {}
    for conn in core.connections.values():
        paths = core.watches.paths_of(conn)
        if paths:
            by_session[str(conn.session_id)] = list(paths)
    return {"session_id_to_watched_paths": by_session}


def _watches_by_path(core, facts):
    return {"path_to_session_ids": {
        path: [w.session_id for w in core.watches.data[path]] for path in sorted(core.watches.data)}}


def _stat_reset(core, facts):
    core.packets_received = core.packets_sent = 0
    core.latency_min_ms = None
    core.latency_max_ms = core.latency_total_ms = core.latency_count = 0
    return {}


def _connection_stat_reset(core, facts):
    for conn in core.connections.values():
        conn.received = conn.sent = 0
        conn.latency_total_ms = conn.latency_count = conn.latency_max_ms = conn.latency_min_ms = 0
    return {}


# Primary name -> (function, aliases), as ZooKeeper 3.8 registers them.
COMMANDS = {
    "configuration": (_configuration, ("conf", "config")),
    "connection_stat_reset": (_connection_stat_reset, ("crst",)),
    "connections": (_connections, ("cons",)),
    "dirs": (_dirs, ()),
    "dump": (_dump, ()),
    "environment": (_environment, ("env", "envi")),
    "initial_configuration": (_initial_configuration, ("icfg",)),
    "is_read_only": (_is_read_only, ("isro",)),
    "last_snapshot": (_last_snapshot, ("lsnp",)),
    "leader": (_leader, ("lead",)),
    "monitor": (_monitor, ("mntr",)),
    "ruok": (_ruok, ()),
    "server_stats": (_server_stats_command, ("srvr",)),
    "stat_reset": (_stat_reset, ("srst",)),
    "stats": (_stats, ("stat",)),
    "watch_summary": (_watch_summary, ("wchs",)),
    "watches": (_watches, ("wchc",)),
    "watches_by_path": (_watches_by_path, ("wchp",)),
}

_BY_NAME = {}
for _primary, (_function, _aliases) in COMMANDS.items():
    for _name in (_primary,) + _aliases:
        _BY_NAME[_name] = (_primary, _function)


def run(core, facts, name):
    """The JSON-ready answer to command ``name``: its fields plus ``command`` (the primary name)
    and ``error`` (None, or why it could not run), as ZooKeeper answers."""
    found = _BY_NAME.get(name)
    if found is None:
        return {"command": name, "error": "Unknown command: %s" % name}
    primary, function = found
    if primary not in _SERVERLESS and not core.serving:
        return {"command": name, "error": NOT_SERVING}
    result = function(core, facts)
    result.setdefault("error", None)
    result["command"] = primary
    return result
