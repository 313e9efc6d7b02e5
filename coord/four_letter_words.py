"""Four-letter words: the plain-text status answers ZooKeeper gives on a fresh connection.

Each word is a function of the server core (counters, sessions, watches) and ``facts``, the
runtime's view of the process and its disk (``ProcessFacts`` in ``coord/runtime/process_facts.py``), so the
core itself reads nothing from the operating system. Layouts follow ZooKeeper's, since tools such
as ``zkServer.sh status`` parse them (the ``Mode:`` line of srvr).
"""

from coord import monitoring

VERSION = monitoring.VERSION


def render(core, word, facts):
    """The text answering ``word``."""
    answer = _WORDS.get(word)
    if answer is None:
        return "%s is not supported by coord.\n" % word
    return answer(core, facts)


def _version_line():
    return "Zookeeper version: %s, built on coord" % VERSION


def _latency_line(core):
    avg = monitoring.average_latency(core)
    return "Latency min/avg/max: %d/%.4f/%d" % (core.latency_min_ms or 0, avg, core.latency_max_ms)


def _server_lines(core):
    return [
        _latency_line(core),
        "Received: %d" % core.packets_received,
        "Sent: %d" % core.packets_sent,
        "Connections: %d" % len(core.connections),
        "Outstanding: %d" % monitoring.outstanding_requests(core),
        "Zxid: 0x%x" % core.tree.last_zxid,
        "Mode: %s" % core.mode,
        "Node count: %d" % core.tree.node_count,
    ]


def _connection_line(core, conn, full):
    line = " /%s:%d[1](queued=%d,recved=%d,sent=%d" % (
        conn.peer_host, conn.peer_port, len(conn.held), conn.received, conn.sent)
    if full and conn.session_id:
        avg = conn.latency_total_ms / conn.latency_count if conn.latency_count else 0
        line += (",sid=0x%x,lop=%s,est=%d,to=%d,lcxid=0x%x,lzxid=0x%x,lresp=%d,llat=%d,"
                 "minlat=%d,avglat=%d,maxlat=%d" % (
                     conn.session_id, conn.last_op, conn.created_ms, conn.timeout_ms,
                     conn.last_cxid & 0xFFFFFFFF, core.tree.last_zxid, conn.last_response_ms,
                     conn.last_latency_ms, conn.latency_min_ms, avg, conn.latency_max_ms))
    return line + ")"


def _ruok(core, facts):
    return "imok"


NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"


def _isro(core, facts):
    # ZooKeeper answers "null" on a member that has no quorum behind it (without read-only mode).
    if core.read_only:
        return "ro"
    return "rw" if core.serving else "null"


READ_ONLY_BANNER = "READ-ONLY mode; serving only read-only clients"


def _srvr(core, facts):
    if not core.serving:
        return NOT_SERVING
    lines = [_version_line()] + _server_lines(core)
    if core.read_only:
        lines.insert(0, READ_ONLY_BANNER)
    return "\n".join(lines) + "\n"


def _stat(core, facts):
    if not core.serving:
        return NOT_SERVING
    lines = [_version_line(), "Clients:"]
    lines += [_connection_line(core, c, False) for c in core.connections.values()]
    lines.append("")
    return "\n".join(lines + _server_lines(core)) + "\n"


def _cons(core, facts):
    return "".join(_connection_line(core, c, True) + "\n" for c in core.connections.values()) + "\n"


def _mntr(core, facts):
    rows = []
    for key, value in monitoring.monitor_values(core, facts).items():
        if key == "avg_latency":
            value = "%.4f" % value
        rows.append("zk_%s\t%s\n" % (key, value))
    return "".join(rows)


def _conf(core, facts):
    cfg = core.config
    data_size, log_size = facts.data_dir_sizes()
    rows = [
        ("clientPort", cfg.port),
        ("secureClientPort", cfg.secure_port if cfg.secure_port is not None else -1),
        ("dataDir", cfg.data_dir),
        ("dataDirSize", data_size),
        ("dataLogDir", cfg.data_log_dir),
        ("dataLogSize", log_size),
        ("tickTime", cfg.tick_ms),
        ("maxClientCnxns", cfg.max_client_connections),
        ("minSessionTimeout", cfg.min_session_timeout_ms),
        ("maxSessionTimeout", cfg.max_session_timeout_ms),
        ("clientPortListenBacklog", -1),
        ("serverId", core.server_id),
    ]
    text = "".join("%s=%s\n" % row for row in rows)
    if cfg.ensemble:
        rows = [("initLimit", cfg.init_limit), ("syncLimit", cfg.sync_limit), ("electionAlg", 3),
                ("electionPort", cfg.members[core.member_id].election_port),
                ("quorumPort", cfg.members[core.member_id].peer_port),
                ("peerType", 1 if core.member_id in cfg.learners else 0)]
        text += "".join("%s=%s\n" % row for row in rows)
        text += "membership: \n"
        for member_id in sorted(cfg.members):
            member = cfg.members[member_id]
            text += "server.%d=%s:%d:%d:%s\n" % (
                member_id, member.host, member.peer_port, member.election_port,
                "observer" if member.observer else "participant")
        text += "version=0\n"
    return text


def _envi(core, facts):
    rows = [
        ("zookeeper.version", VERSION),
        *facts.environment(),
    ]
    return "Environment:\n" + "".join("%s=%s\n" % row for row in rows)


def _wchs(core, facts):
    connections, paths, total = core.watches.summary()
    return "%d connections watching %d paths\nTotal watches:%d\n" % (connections, paths, total)


def _wchc(core, facts):
    lines = []
    for conn in core.connections.values():
        paths = core.watches.paths_of(conn)
        if paths:
            lines.append("0x%x" % conn.session_id)
            lines.extend("\t" + p for p in paths)
    return "\n".join(lines) + "\n"


def _wchp(core, facts):
    lines = []
    for path in sorted(core.watches.data):
        lines.append(path)
        lines.extend("\t0x%x" % w.session_id for w in core.watches.data[path])
    return "\n".join(lines) + "\n"


def _dump(core, facts):
    lines = ["SessionTracker dump:", "Session Sets (%d):" % len(core.tracker)]
    lines.append("ephemeral nodes dump:")
    lines.append("Sessions with Ephemerals (%d):" % len(core.tree.ephemerals))
    for session_id in sorted(core.tree.ephemerals):
        lines.append("0x%x:" % session_id)
        lines.extend("\t" + p for p in sorted(core.tree.ephemerals[session_id]))
    lines.append("Connections dump:")
    lines.append("Connections Sets (%d):" % len(core.connections))
    return "\n".join(lines) + "\n"


def _dirs(core, facts):
    data_size, log_size = facts.data_dir_sizes()
    return "datadir_size: %d\nlogdir_size: %d\n" % (data_size, log_size)


def _crst(core, facts):
    for conn in core.connections.values():
        conn.received = conn.sent = 0
        conn.latency_total_ms = conn.latency_count = conn.latency_max_ms = conn.latency_min_ms = 0
    return "Connection stats reset.\n"


def _srst(core, facts):
    core.packets_received = core.packets_sent = 0
    core.latency_min_ms = None
    core.latency_max_ms = core.latency_total_ms = core.latency_count = 0
    return "Server stats reset.\n"


_WORDS = {
    "ruok": _ruok,
    "isro": _isro,
    "srvr": _srvr,
    "stat": _stat,
    "cons": _cons,
    "mntr": _mntr,
    "conf": _conf,
    "envi": _envi,
    "wchs": _wchs,
    "wchc": _wchc,
    "wchp": _wchp,
    "dump": _dump,
    "dirs": _dirs,
    "crst": _crst,
    "srst": _srst,
}
