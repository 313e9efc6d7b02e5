"""``coord config check FILE``: what ``coord server`` would make of a zoo.cfg, without running it.

The file is read by the server's own code (``coord.config.load``: the same parser, defaults and
validation), so the check cannot disagree with the server. Which keys are ignored is the parser's
own decision (``Config.ignored_keys``), and the value shown for an honoured key is the Config
attribute ``coord.config._HONOURED`` maps it to (as written, for a key the parser handles
otherwise): a key added there shows up here with no edit. This module only adds the report (each
honoured key with the value coord will use, the defaults it falls back on, the ensemble, and every
ignored key with the reason when one is known) and the reasons below.
"""

import dataclasses
import sys

from coord import config as config_module
from coord.config import ConfigError, load

# Why coord ignores some keys an operator's zoo.cfg commonly holds. Consulted only for keys that
# are not honoured, so a key that becomes honoured simply stops appearing here. Exact keys first,
# then prefixes (longest first).
IGNORED_REASONS = {
    "autopurge.purgeInterval": "coord deletes old snapshots and logs after every snapshot "
                               "(autopurge.snapRetainCount is honoured)",
    "electionAlg": "coord elects leaders with Raft (coord.electionTimeoutMs, coord.heartbeatMs)",
    "electionPortBindRetry": "coord does not listen on the election port",
    "quorumListenOnAllIPs": "coord members dial each other on the server.N peer port",
    "cnxTimeout": "coord elects leaders with Raft (coord.electionTimeoutMs)",
    "peerType": "a member's role comes from its server.N line (:observer)",
    "standaloneEnabled": "a coord server without server.N lines is standalone",
    "reconfigEnabled": "dynamic reconfiguration is not supported; membership is the server.N lines",
    "dynamicConfigFile": "dynamic reconfiguration is not supported; membership is the server.N lines",
    "localSessionsEnabled": "coord sessions are always global",
    "localSessionsUpgradingEnabled": "coord sessions are always global",
    "forceSync": "coord always fsyncs its log before acknowledging a write",
    "syncEnabled": "observers replicate through coord's consensus log",
    "preAllocSize": "coord's log segments are not preallocated",
    "leaderServes": "every coord member, the leader included, serves clients",
}
IGNORED_PREFIXES = {
    "group.": "hierarchical quorums are not supported",
    "weight.": "hierarchical quorums are not supported",
    "zookeeper.": "a ZooKeeper system property; see coord server --help for coord's flags",
}


@dataclasses.dataclass
class Report:
    """What a config check found; ``lines()`` renders it."""
    path: str
    config: object
    honoured: list    # (key, value text, line number)
    defaults: list    # (key, value text)
    members: list     # (key, value text, line number)
    ignored: list     # (key, line number, reason or None)

    def lines(self):
        config = self.config
        if config.ensemble:
            summary = "ensemble of %d (%d voting), this is member %d" % (
                len(config.members), len(config.voters), config.server_id)
        else:
            summary = "standalone"
        out = ["%s: OK, %s" % (self.path, summary)]
        width = max([len(k) for k, *_ in self.honoured + self.defaults + self.members] + [1])
        if self.honoured:
            out.append("honoured (the value coord will use):")
            out += ["  %-*s = %s   (line %d)" % (width, k, v, n) for k, v, n in self.honoured]
        if self.members:
            out.append("ensemble members:")
            out += ["  %-*s = %s   (line %d)" % (width, k, v, n) for k, v, n in self.members]
        if self.defaults:
            out.append("honoured keys not in the file (defaults):")
            out += ["  %-*s = %s" % (width, k, v) for k, v in self.defaults]
        if self.ignored:
            out.append("ignored (coord does not use these):")
            for key, number, reason in self.ignored:
                out.append("  %s (line %d)%s" % (key, number, ": " + reason if reason else ""))
        for warning in config.warnings:
            if not warning.startswith(self.path + ": these keys do not apply"):
                out.append("warning: " + warning)   # (the ignored-keys warning is listed above)
        return out


def ignored_reason(key):
    if key in IGNORED_REASONS:
        return IGNORED_REASONS[key]
    for prefix in sorted(IGNORED_PREFIXES, key=len, reverse=True):
        if key.startswith(prefix):
            return IGNORED_PREFIXES[prefix]
    return None


def format_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def check(path, myid=None):
    """The Report for a zoo.cfg, or ConfigError (naming the key) exactly as ``coord server``."""
    config = load(path, server_id=myid)
    honoured_table = config_module._HONOURED
    honoured, members, ignored = [], [], []
    for key, (number, written) in sorted(config.keys_read.items(), key=lambda item: item[1]):
        if key.startswith("server.") and key[7:].isdigit():
            member = config.members[int(key[7:])]
            text = member.spec()
            if member.client_port is not None:
                text += ";%s%d" % (member.client_host + ":" if member.client_host else "",
                                   member.client_port)
            members.append((key, text, number))
        elif key in config.ignored_keys:
            ignored.append((key, number, ignored_reason(key)))
        elif key.startswith("coord.dial.") and key[11:].isdigit():
            host, port = config.dial_addresses[int(key[11:])]
            text = "%s:%d" % ("[%s]" % host if ":" in host else host, port)
            honoured.append((key, "%s (dialled for member %s's peer port instead of server.%s's)"
                             % (text, key[11:], key[11:]), number))
        elif key in honoured_table:
            attribute, _parse = honoured_table[key]
            honoured.append((key, format_value(getattr(config, attribute)), number))
        else:
            honoured.append((key, written, number))
    defaults = [(key, format_value(getattr(config, attribute)))
                for key, (attribute, _parse) in honoured_table.items()
                if key not in config.keys_read]
    return Report(path, config, honoured, defaults, members, ignored)


def run(path, myid=None, out=print, err=None):
    """The command: 0 and the report, or 1 and the error naming the key (on stderr)."""
    if err is None:
        def err(text):
            print(text, file=sys.stderr)
    try:
        report = check(path, myid)
    except ConfigError as e:
        hint = ""
        if myid is None and "myid" in str(e):
            hint = " (or give the member's id with --myid N)"
        err("coord config check: %s%s" % (e, hint))
        return 1
    for line in report.lines():
        out(line)
    return 0
