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


DEFAULT_METRICS_PORT = 7000       # ZooKeeper's metricsProvider.httpPort default
DEFAULT_ADMIN_PORT = 8080         # ZooKeeper's admin.serverPort default
PROMETHEUS_PROVIDERS = ("org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider",)
LOG_FORMATS = ("text", "json")


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
    # coord.dial.N=HOST:PORT: member id -> (host, port) this member dials for member N's peer port
    # instead of server.N's address (a proxy or NAT between members); server.N lines stay identical.
    dial_addresses: dict = dataclasses.field(default_factory=dict)
    election_timeout_ms: int = 500                 # coord.electionTimeoutMs: base; jittered up to 2x
    heartbeat_ms: int = 50                         # coord.heartbeatMs: leader heartbeats and the tick
    init_limit: int = 10                           # initLimit (reported by conf; see docs/operations.md)
    sync_limit: int = 5                            # syncLimit (reported by conf)
    linearizable_reads: bool = False               # coord.linearizableReads: reads behind a read index
    read_only_mode: bool = False                   # readonlymode.enabled: serve reads without a quorum
    # Limits that protect the service (docs/operations.md, "Limits"); 0 = unlimited.
    global_outstanding_limit: int = 1000           # globalOutstandingLimit: stop reading above this
    max_outstanding_per_connection: int = 500      # coord.maxOutstandingPerConnection
    max_client_output_bytes: int = 32 * 1024 * 1024   # coord.maxClientOutputBytes: unread replies
    max_sessions: int = 0                          # coord.maxSessions: new sessions refused above
    # Monitoring (docs/operations.md). /metrics is served when a port is set (or ZooKeeper's
    # Prometheus provider class is named, then on its default 7000); the AdminServer only when
    # admin.serverPort or admin.enableServer=true is set: ZooKeeper enables it by default on 8080,
    # but several coord members on one machine (coord ensemble, the tests) would fight over it.
    metrics_port: int | None = None                # metricsProvider.httpPort
    metrics_host: str = "0.0.0.0"                  # metricsProvider.httpHost
    metrics_provider: str | None = None            # metricsProvider.className
    admin_enabled: bool | None = None              # admin.enableServer
    admin_port: int | None = None                  # admin.serverPort
    admin_host: str = "0.0.0.0"                    # admin.serverAddress
    admin_command_url: str = "/commands"           # admin.commandURL
    log_format: str = "text"                       # coord.logFormat: text or json
    initial_config: str = ""                       # the zoo.cfg text as read (AdminServer icfg)
    enforce_quota: bool = False                    # enforceQuota (zookeeper.enforceQuota): hard quota limits
    # Security (docs/security.md): TLS on a second client port and between members, SASL users.
    secure_port: int | None = None                 # secureClientPort
    secure_host: str | None = None                 # secureClientPortAddress (default: clientPortAddress)
    ssl_options: dict = dataclasses.field(default_factory=dict)         # ssl.* keys
    ssl_quorum_options: dict = dataclasses.field(default_factory=dict)  # ssl.quorum.* keys
    ssl_quorum: bool = False                       # sslQuorum
    client_tls: "TlsSettings | None" = None        # built from ssl_options by finish()
    quorum_tls: "TlsSettings | None" = None        # built from ssl_quorum_options by finish()
    jaas_config: str | None = None                 # coord.jaasConfig: JAAS file with a Server section
    sasl_users: dict = dataclasses.field(default_factory=dict)  # user -> password (coord.sasl.user.NAME)
    sasl_super_user: str | None = None             # superUser (ZooKeeper's zookeeper.superUser)
    x509_super_user: str | None = None             # X509AuthenticationProvider.superUser
    planted_bugs: tuple = ()                       # coord.plantedBug: TEST ONLY, see coord/planted_bugs.py
    warnings: list = dataclasses.field(default_factory=list)
    # For `coord config check`: every zoo.cfg key read -> (line number, value as written), and
    # the keys the parser did not use.
    keys_read: dict = dataclasses.field(default_factory=dict)
    ignored_keys: list = dataclasses.field(default_factory=list)

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
                raise ConfigError("%s must be positive, got %r" % (zoo_cfg_key(name), getattr(self, name)))
        for name in ("global_outstanding_limit", "max_outstanding_per_connection",
                     "max_client_output_bytes", "max_sessions", "max_client_connections"):
            if getattr(self, name) < 0:
                raise ConfigError("%s must be 0 (unlimited) or positive, got %r"
                                  % (zoo_cfg_key(name), getattr(self, name)))
        if 0 < self.max_client_output_bytes < self.max_frame_bytes:
            raise ConfigError("coord.maxClientOutputBytes (%d) must be at least jute.maxbuffer (%d):"
                              " one reply may be that large"
                              % (self.max_client_output_bytes, self.max_frame_bytes))
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
            for member_id in sorted(self.dial_addresses):
                if member_id not in self.members:
                    raise ConfigError("coord.dial.%d: the ensemble has no member %d (no server.%d line)"
                                      % (member_id, member_id, member_id))
                if member_id == self.server_id:
                    self.warnings.append("coord.dial.%d names this member itself, which it never "
                                         "dials: unused here" % member_id)
        elif self.dial_addresses:
            raise ConfigError("coord.dial.%d: a standalone server (no server.N lines) dials no member"
                              % min(self.dial_addresses))
        elif not 0 <= self.server_id <= 127:
            raise ConfigError("server id must be in 0..127")
        self._finish_monitoring()
        self._finish_security()
        try:
            planted_bugs.check(self.planted_bugs)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if self.heartbeat_ms <= 0 or self.election_timeout_ms < 2 * self.heartbeat_ms:
            raise ConfigError("coord.electionTimeoutMs (%d) must be at least twice "
                              "coord.heartbeatMs (%d)" % (self.election_timeout_ms, self.heartbeat_ms))
        return self


    def _finish_monitoring(self):
        if self.metrics_provider is not None:
            if self.metrics_provider not in PROMETHEUS_PROVIDERS:
                raise ConfigError("metricsProvider.className=%s: coord serves Prometheus metrics "
                                  "only (%s)" % (self.metrics_provider, PROMETHEUS_PROVIDERS[0]))
            if self.metrics_port is None:
                self.metrics_port = DEFAULT_METRICS_PORT
        if self.admin_enabled is None:
            self.admin_enabled = self.admin_port is not None
        if self.admin_enabled and self.admin_port is None:
            self.admin_port = DEFAULT_ADMIN_PORT
        for key, port in (("metricsProvider.httpPort", self.metrics_port),
                          ("admin.serverPort", self.admin_port)):
            if port is not None and not 0 <= port <= 65535:
                raise ConfigError("%s %d is not a TCP port" % (key, port))
        if not self.admin_command_url.startswith("/") or self.admin_command_url == "/":
            raise ConfigError("admin.commandURL must be a path below / (like /commands), got %r"
                              % self.admin_command_url)
        if self.log_format not in LOG_FORMATS:
            raise ConfigError("coord.logFormat must be one of %s, got %r"
                              % (", ".join(LOG_FORMATS), self.log_format))

    def _finish_security(self):
        if self.secure_port is not None:
            if not 0 < self.secure_port <= 65535:
                raise ConfigError("secureClientPort %d is not a TCP port" % self.secure_port)
            if self.secure_port == self.port:
                raise ConfigError("secureClientPort and clientPort are both %d" % self.port)
            self.client_tls = TlsSettings.from_options(self.ssl_options, "ssl.")
        elif self.ssl_options:
            self.warnings.append("ssl.* keys are set but secureClientPort is not: the client "
                                 "port stays plain TCP")
        if self.ssl_quorum:
            if not self.members:
                self.warnings.append("sslQuorum=true has no effect on a standalone server")
            self.quorum_tls = TlsSettings.from_options(self.ssl_quorum_options, "ssl.quorum.",
                                                       quorum=True)
        if self.jaas_config is not None:
            from coord.auth import jaas   # pure; imported here to keep config loading light

            try:
                with open(self.jaas_config, encoding="utf-8") as f:
                    users = jaas.digest_users(f.read())
            except OSError as e:
                raise ConfigError("coord.jaasConfig: cannot read %s: %s"
                                  % (self.jaas_config, e.strerror)) from None
            except jaas.JaasError as e:
                raise ConfigError("coord.jaasConfig %s: %s" % (self.jaas_config, e)) from None
            self.sasl_users = {**users, **self.sasl_users}


_TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
_TLS_KEYS = ("keyStore.location", "keyStore.type", "keyStore.password", "keyStore.passwordPath",
             "trustStore.location", "trustStore.type", "trustStore.password",
             "trustStore.passwordPath", "clientAuth", "protocol", "enabledProtocols",
             "ciphersuites", "hostnameVerification")


@dataclasses.dataclass(frozen=True)
class TlsSettings:
    """One side's TLS keys (``ssl.*`` for the client port, ``ssl.quorum.*`` between members),
    checked; the files themselves are read when the server starts (coord/runtime/tls.py)."""
    key_store: str
    key_store_password: str | None
    trust_store: str | None
    client_auth: str                      # none / want / need
    min_version: str                      # TLSv1.2 / TLSv1.3
    max_version: str
    ciphersuites: tuple                   # Java / IANA names; () = OpenSSL's defaults
    hostname_verification: bool

    @classmethod
    def from_options(cls, options, prefix, quorum=False):
        def key(name):
            return prefix + name

        unknown = sorted(k for k in options if k not in _TLS_KEYS)
        if unknown:
            raise ConfigError("%s: not a TLS setting coord knows (%s)"
                              % (", ".join(prefix + k for k in unknown), ", ".join(_TLS_KEYS)))
        location = options.get("keyStore.location")
        if not location:
            raise ConfigError("%s is required for TLS (a PEM file: private key + certificate chain)"
                              % key("keyStore.location"))
        for store in ("keyStore", "trustStore"):
            kind = options.get(store + ".type", "PEM").strip()
            if kind.upper() != "PEM":
                raise ConfigError("%s=%s: coord reads PEM files only" % (key(store + ".type"), kind))
        client_auth = options.get("clientAuth", "need").strip().lower()
        if client_auth not in ("none", "want", "need"):
            raise ConfigError("%s=%s: expected none, want or need" % (key("clientAuth"), client_auth))
        if quorum:
            client_auth = "need"   # members always prove who they are to each other
        trust = options.get("trustStore.location") or None
        if trust is None and (client_auth != "none" or quorum):
            raise ConfigError("%s is required to verify %s certificates (a PEM file of CA "
                              "certificates)" % (key("trustStore.location"),
                                                 "member" if quorum else "client"))
        versions = options.get("enabledProtocols")
        if versions:
            versions = [v.strip() for v in versions.split(",") if v.strip()]
        else:
            protocol = options.get("protocol", "TLSv1.3").strip()
            if protocol == "TLS":
                protocol = "TLSv1.3"
            # Java's SSLContext for TLSv1.3 also speaks 1.2; one for TLSv1.2 speaks only 1.2 here.
            versions = ["TLSv1.2", "TLSv1.3"] if protocol == "TLSv1.3" else [protocol]
        for version in versions:
            if version not in _TLS_VERSIONS:
                raise ConfigError("%s: %s is not offered (coord speaks %s)"
                                  % (key("enabledProtocols") if options.get("enabledProtocols")
                                     else key("protocol"), version, ", ".join(_TLS_VERSIONS)))
        password = options.get("keyStore.password")
        password_path = options.get("keyStore.passwordPath")
        if password is None and password_path:
            try:
                with open(password_path.strip(), encoding="utf-8") as f:
                    password = f.read().strip()
            except OSError as e:
                raise ConfigError("%s: cannot read %s: %s" % (key("keyStore.passwordPath"),
                                                              password_path, e.strerror)) from None
        ciphers = tuple(c.strip() for c in options.get("ciphersuites", "").split(",") if c.strip())
        hostname_verification = options.get("hostnameVerification", "true").strip().lower()
        if hostname_verification not in ("true", "false"):
            raise ConfigError("%s=%s: expected true or false"
                              % (key("hostnameVerification"), hostname_verification))
        ordered = sorted(set(versions), key=_TLS_VERSIONS.index)
        return cls(location.strip(), password or None, trust.strip() if trust else None,
                   client_auth, ordered[0], ordered[-1], ciphers, hostname_verification == "true")


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


def parse_dial_address(key, value):
    """Parse a ``coord.dial.N`` value, ``HOST:PORT`` (``[v6addr]:PORT``); ConfigError names the key."""
    text = value.strip()
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or ":" in host and not text.startswith("["):
        raise ConfigError("%s=%s: expected HOST:PORT (the address to dial for that member's peer "
                          "port)" % (key, text))
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError("%s=%s: the port must be a number" % (key, text)) from None
    if not 0 < port <= 65535:
        raise ConfigError("%s: %d is not a TCP port" % (key, port))
    return host, port


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
    "globalOutstandingLimit": ("global_outstanding_limit", _int),
    "coord.maxOutstandingPerConnection": ("max_outstanding_per_connection", _int),
    "coord.maxClientOutputBytes": ("max_client_output_bytes", _int),
    "coord.maxSessions": ("max_sessions", _int),
    "jute.maxbuffer": ("max_frame_bytes", _int),
    "metricsProvider.httpPort": ("metrics_port", _int),
    "metricsProvider.httpHost": ("metrics_host", str.strip),
    "metricsProvider.className": ("metrics_provider", str.strip),
    "admin.enableServer": ("admin_enabled", _bool),
    "admin.serverPort": ("admin_port", _int),
    "admin.serverAddress": ("admin_host", str.strip),
    "admin.commandURL": ("admin_command_url", str.strip),
    "coord.logFormat": ("log_format", str.strip),
    "enforceQuota": ("enforce_quota", _bool),
    "zookeeper.enforceQuota": ("enforce_quota", _bool),
    "secureClientPort": ("secure_port", _int),
    "secureClientPortAddress": ("secure_host", str.strip),
    "sslQuorum": ("ssl_quorum", _bool),
    "coord.jaasConfig": ("jaas_config", str.strip),
    "superUser": ("sasl_super_user", str.strip),
    "X509AuthenticationProvider.superUser": ("x509_super_user", str.strip),
    "coord.plantedBug": ("planted_bugs", _words),
}

# authProvider.N=<class>: ZooKeeper loads these providers; coord has them built in (sasl, x509,
# digest, ip), so naming one is accepted and changes nothing.
_BUILT_IN_PROVIDERS = frozenset(
    "org.apache.zookeeper.server.auth." + name for name in (
        "SASLAuthenticationProvider", "X509AuthenticationProvider",
        "DigestAuthenticationProvider", "IPAuthenticationProvider"))


def zoo_cfg_key(attribute):
    """The zoo.cfg key that sets a Config attribute (for messages), or the attribute's name."""
    for key, (name, _parse) in _HONOURED.items():
        if name == attribute:
            return key
    return attribute


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
        config.keys_read[key] = (number, value.strip())
        if key.startswith("server.") and key[7:].isdigit():
            member_id = int(key[7:])
            if not 1 <= member_id <= 255:
                raise ConfigError("%s line %d: %s: server ids must be in 1..255" % (source, number, key))
            config.members[member_id] = parse_member(key, value)
            continue
        if key.startswith("coord.dial."):
            suffix = key[len("coord.dial."):]
            if not suffix.isdigit() or not 1 <= int(suffix) <= 255:
                raise ConfigError("%s line %d: %s: expected coord.dial.N with N a member id (1..255)"
                                  % (source, number, key))
            config.dial_addresses[int(suffix)] = parse_dial_address(key, value)
            continue
        if key.startswith("ssl.quorum."):
            config.ssl_quorum_options[key[len("ssl.quorum."):]] = value.strip()
            continue
        if key.startswith("ssl."):
            config.ssl_options[key[len("ssl."):]] = value.strip()
            continue
        if key.startswith("coord.sasl.user.") and len(key) > len("coord.sasl.user."):
            config.sasl_users[key[len("coord.sasl.user."):]] = value.strip()
            continue
        if key.startswith("authProvider."):
            if value.strip() not in _BUILT_IN_PROVIDERS:
                raise ConfigError("%s line %d: %s=%s: coord has no such authentication provider "
                                  "(built in: sasl, x509, digest, ip)"
                                  % (source, number, key, value.strip()))
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
    config.ignored_keys.extend(ignored)
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
        config.initial_config = text
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
