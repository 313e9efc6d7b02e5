"""One validated configuration object, from an operator's zoo.cfg and command-line flags.

coord reads an existing ZooKeeper ``zoo.cfg`` so it can stand in for ZooKeeper without rewriting
configuration: the keys that apply to a single coord server are honoured, ZooKeeper keys that do
not apply are named in a warning, and flags given on the command line override the file. Units
are in the attribute names; every timer is configurable.
"""

import dataclasses
import os

from coord import planted_bugs

DEFAULT_MAX_FRAME_BYTES = 1048575   # jute.maxbuffer

# Read-only, session-id-free words are allowed by default; cons/dump/wchc/wchp expose session ids
# and crst/srst reset counters, so an operator opts into them (ZooKeeper's own default is srvr only).
DEFAULT_FOUR_LETTER_WORDS = ("srvr", "ruok", "isro", "stat", "mntr", "conf", "envi", "wchs", "dirs")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


@dataclasses.dataclass
class Config:
    host: str = "0.0.0.0"
    port: int = 2181
    data_dir: str = "coord-data"
    data_log_dir: str | None = None
    tick_ms: int = 2000
    min_session_timeout_ms: int | None = None     # default 2 x tick
    max_session_timeout_ms: int | None = None     # default 20 x tick
    four_letter_words: tuple = DEFAULT_FOUR_LETTER_WORDS
    max_client_connections: int = 60             # per client address; 0 = unlimited
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    reaper_interval_ms: int = 60000                # container / TTL reaper (znode.container.checkIntervalMs)
    snapshot_every_txns: int = 100000              # snapCount: roughly how many txns between snapshots
    snapshot_retain_count: int = 3                 # autopurge.snapRetainCount
    extended_types: bool = True                    # TTL nodes (zookeeper.extendedTypesEnabled)
    super_digest: str | None = None                # "super:<base64 sha1>" (zookeeper.DigestAuthenticationProvider.superDigest)
    server_id: int = 0
    # Ensemble: member id -> Member, from zoo.cfg's server.N lines; empty for a standalone server.
    members: dict = dataclasses.field(default_factory=dict)
    election_timeout_ms: int = 500                 # coord.electionTimeoutMs: base; jittered up to 2x
    heartbeat_ms: int = 50                         # coord.heartbeatMs: leader heartbeats and the tick
    init_limit: int = 10                           # initLimit (reported by conf; see docs/operations.md)
    sync_limit: int = 5                            # syncLimit (reported by conf)
    linearizable_reads: bool = False               # coord.linearizableReads: reads behind a read index
    read_only_mode: bool = False                   # readonlymode.enabled: serve reads without a quorum
    planted_bugs: tuple = ()                       # coord.plantedBug: TEST ONLY, see coord/planted_bugs.py
    warnings: list = dataclasses.field(default_factory=list)

    @property
    def ensemble(self):
        return bool(self.members)

    @property
    def voters(self):
        return tuple(sorted(i for i, m in self.members.items() if not m.observer))

    @property
    def learners(self):
        return tuple(sorted(i for i, m in self.members.items() if m.observer))

    def dynamic_config_text(self):
        """What ZooKeeper serves at /zookeeper/config for this membership (b"" standalone)."""
        if not self.members:
            return b""
        lines = []
        for member_id in sorted(self.members):
            m = self.members[member_id]
            line = "server.%d=%s:%d:%d:%s" % (member_id, m.host, m.peer_port, m.election_port,
                                              "observer" if m.observer else "participant")
            if m.client_port is not None:
                line += ";%s:%d" % (m.client_host or "0.0.0.0", m.client_port)
            lines.append(line)
        lines.append("version=0")
        return "\n".join(lines).encode("utf-8")

    def membership_lines(self):
        """The server.N lines as every member must have them (for the cluster id)."""
        return ["server.%d=%s" % (i, self.members[i].spec()) for i in sorted(self.members)]

    def finish(self):
        """Fill derived defaults and validate; returns self."""
        if self.min_session_timeout_ms is None:
            self.min_session_timeout_ms = 2 * self.tick_ms
        if self.max_session_timeout_ms is None:
            self.max_session_timeout_ms = 20 * self.tick_ms
        if self.data_log_dir is None:
            self.data_log_dir = self.data_dir
        for name in ("tick_ms", "reaper_interval_ms", "snapshot_every_txns", "snapshot_retain_count",
                     "max_frame_bytes", "min_session_timeout_ms", "max_session_timeout_ms"):
            if getattr(self, name) <= 0:
                raise ConfigError("%s must be positive, got %r" % (name, getattr(self, name)))
        if self.min_session_timeout_ms > self.max_session_timeout_ms:
            raise ConfigError("minSessionTimeout (%d) is above maxSessionTimeout (%d)"
                              % (self.min_session_timeout_ms, self.max_session_timeout_ms))
        if not 0 <= self.port <= 65535:
            raise ConfigError("clientPort %d is not a TCP port" % self.port)
        if self.members:
            if self.server_id not in self.members:
                raise ConfigError("this server's id %d (dataDir/myid) has no server.%d line"
                                  % (self.server_id, self.server_id))
            if not self.voters:
                raise ConfigError("the ensemble has no voting member (every server.N is an observer)")
            if self.server_id > 255:
                raise ConfigError("server ids must be in 1..255")
        elif not 0 <= self.server_id <= 127:
            raise ConfigError("server id must be in 0..127")
        try:
            planted_bugs.check(self.planted_bugs)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if self.heartbeat_ms <= 0 or self.election_timeout_ms < 2 * self.heartbeat_ms:
            raise ConfigError("coord.electionTimeoutMs (%d) must be at least twice "
                              "coord.heartbeatMs (%d)" % (self.election_timeout_ms, self.heartbeat_ms))
        return self


@dataclasses.dataclass(frozen=True)
class Member:
    """One ``server.N=host:peerPort:electionPort[:observer|:participant][;[clientHost:]clientPort]``."""
    host: str
    peer_port: int
    election_port: int
    observer: bool = False
    client_host: str | None = None
    client_port: int | None = None

    def spec(self):
        text = "%s:%d:%d" % (self.host, self.peer_port, self.election_port)
        if self.observer:
            text += ":observer"
        return text


def parse_member(key, value):
    """Parse one server.N line's value; raises ConfigError naming the key."""
    spec, _, client = value.strip().partition(";")
    parts = spec.strip().split(":")
    if len(parts) not in (3, 4) or not parts[0]:
        raise ConfigError("%s=%s: expected host:peerPort:electionPort[:observer][;clientPort]"
                          % (key, value.strip()))
    role = parts[3].strip().lower() if len(parts) == 4 else "participant"
    if role not in ("participant", "observer"):
        raise ConfigError("%s: unknown role %r (participant or observer)" % (key, role))
    try:
        peer_port, election_port = int(parts[1]), int(parts[2])
        client_host = client_port = None
        if client.strip():
            host_part, sep, port_part = client.strip().rpartition(":")
            client_port = int(port_part)
            client_host = host_part if sep else None
    except ValueError:
        raise ConfigError("%s=%s: ports must be numbers" % (key, value.strip())) from None
    for port in (peer_port, election_port) + ((client_port,) if client_port is not None else ()):
        if not 0 < port <= 65535:
            raise ConfigError("%s: %d is not a TCP port" % (key, port))
    return Member(parts[0].strip(), peer_port, election_port, role == "observer", client_host,
                  client_port)


# zoo.cfg key -> (Config attribute, parser)
def _int(value):
    return int(value.strip())


def _bool(value):
    text = value.strip().lower()
    if text not in ("true", "false"):
        raise ValueError(value)
    return text == "true"


def _words(value):
    return tuple(w.strip() for w in value.split(",") if w.strip())


_HONOURED = {
    "tickTime": ("tick_ms", _int),
    "dataDir": ("data_dir", str.strip),
    "dataLogDir": ("data_log_dir", str.strip),
    "clientPort": ("port", _int),
    "clientPortAddress": ("host", str.strip),
    "minSessionTimeout": ("min_session_timeout_ms", _int),
    "maxSessionTimeout": ("max_session_timeout_ms", _int),
    "4lw.commands.whitelist": ("four_letter_words", _words),
    "maxClientCnxns": ("max_client_connections", _int),
    "snapCount": ("snapshot_every_txns", _int),
    "autopurge.snapRetainCount": ("snapshot_retain_count", _int),
    "initLimit": ("init_limit", _int),
    "syncLimit": ("sync_limit", _int),
    "coord.electionTimeoutMs": ("election_timeout_ms", _int),
    "coord.heartbeatMs": ("heartbeat_ms", _int),
    "coord.linearizableReads": ("linearizable_reads", _bool),
    "readonlymode.enabled": ("read_only_mode", _bool),
    "coord.plantedBug": ("planted_bugs", _words),
}


def parse_zoo_cfg(text, config=None, source="zoo.cfg"):
    """Apply a zoo.cfg's keys to ``config`` (a new Config if None); unknown keys become warnings."""
    config = config if config is not None else Config()
    ignored = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError("%s line %d: expected key=value, got %r" % (source, number, raw))
        if key.startswith("server.") and key[7:].isdigit():
            member_id = int(key[7:])
            if not 1 <= member_id <= 255:
                raise ConfigError("%s line %d: %s: server ids must be in 1..255" % (source, number, key))
            config.members[member_id] = parse_member(key, value)
            continue
        target = _HONOURED.get(key)
        if target is None:
            ignored.append(key)
            continue
        attribute, parse = target
        try:
            setattr(config, attribute, parse(value))
        except ValueError:
            raise ConfigError("%s line %d: %s=%r is not valid" % (source, number, key, value)) from None
    if ignored:
        config.warnings.append("%s: these keys do not apply to coord and are ignored: %s"
                               % (source, ", ".join(ignored)))
    return config


def read_myid(data_dir):
    """The member id in ``dataDir/myid``, as ZooKeeper keeps it."""
    path = os.path.join(data_dir, "myid")
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except FileNotFoundError:
        raise ConfigError("the config has server.N lines but %s does not exist: write this "
                          "member's id N into it" % path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("cannot read %s: %s" % (path, e)) from None
    if not text.isdigit() or not 1 <= int(text) <= 255:
        raise ConfigError("%s should hold this member's id (1..255), not %r" % (path, text))
    return int(text)


def load(config_path=None, **overrides):
    """Config from an optional zoo.cfg, then overrides (None values are ignored)."""
    config = Config()
    if config_path is not None:
        try:
            with open(config_path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ConfigError("cannot read config %s: %s" % (config_path, e.strerror)) from None
        parse_zoo_cfg(text, config, source=config_path)
        # Relative dataDir in a zoo.cfg is relative to where the server runs, as with ZooKeeper.
    if config.members and overrides.get("server_id") is None:
        config.server_id = read_myid(overrides.get("data_dir") or config.data_dir)
    for name, value in overrides.items():
        if value is not None:
            setattr(config, name, value)
    config.data_dir = os.path.abspath(config.data_dir)
    if config.data_log_dir is not None:
        config.data_log_dir = os.path.abspath(config.data_log_dir)
    return config.finish()
