"""Real server processes on 127.0.0.1, for the semantic, interop, benchmark and fault suites.

Theory of operation. A server under test is an operating-system process, never an in-process
object, so tests see exactly what a client would: bytes on a socket. Two kinds share one API:

* ``ZooKeeperProcess`` runs Apache ZooKeeper 3.8 from Debian's ``zookeeper`` package with ``java``
  directly (``ZooKeeperServerMain``, the standalone entry point ``zkServer.sh`` would reach), in the
  foreground, so the process we hold *is* the JVM and signals reach it.
* ``CoordProcess`` runs ``python -m coord server`` with the same style of zoo.cfg, because coord
  accepts an operator's zoo.cfg.

Each process gets its own session (process group) so ``stop``/``kill`` can signal the whole group,
writes its configuration, data and log under ``work_dir``, and is ready when the ``ruok``
four-letter word answers ``imok``. Every wait is bounded: ``start`` by ``timeout_s``, ``stop`` by a
SIGTERM grace period followed by SIGKILL. ``start`` after ``stop``/``kill`` restarts on the same
port and data directory (the log file is appended to), which is what fault runs need.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

__all__ = [
    "CLI_MT",
    "CoordProcess",
    "Ensemble",
    "ServerStartError",
    "ZKCLI",
    "ZooKeeperProcess",
    "cli_mt_unavailable_reason",
    "four_letter_word",
    "free_port",
    "zkcli_unavailable_reason",
    "zookeeper_available",
    "zookeeper_unavailable_reason",
]

LOCALHOST = "127.0.0.1"

# Debian's layout (packages `zookeeper`, `zookeeper-bin`). zookeeper.jar's manifest Class-Path
# names its dependencies (jute, netty, slf4j-api, ...), so it alone is enough to run the server;
# the slf4j->log4j 1.2 binding is added so the server's log is not silently discarded.
JAVA_SHARE = Path("/usr/share/java")
ZOOKEEPER_JAR = JAVA_SHARE / "zookeeper.jar"
ZOOKEEPER_REQUIRED_JARS = (ZOOKEEPER_JAR, JAVA_SHARE / "zookeeper-jute.jar", JAVA_SHARE / "slf4j-api.jar")
ZOOKEEPER_LOG_JARS = (JAVA_SHARE / "slf4j-log4j12.jar", JAVA_SHARE / "log4j-1.2.jar")
# The servlet API Jetty needs for the AdminServer; Debian's zookeeper.jar manifest does not name
# it (libservlet-api-java comes in with libjetty9-java), so without it the AdminServer won't start.
ZOOKEEPER_ADMIN_JARS = (JAVA_SHARE / "servlet-api.jar",)
ZOOKEEPER_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
ZOOKEEPER_QUORUM_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"

DEFAULT_JVM_FLAGS = (
    "-Xms32m",
    "-Xmx256m",
    "-XX:+UseSerialGC",  # two shared cores: no parallel GC threads fighting the tests
    "-Djava.net.preferIPv4Stack=true",
    "-Dzookeeper.extendedTypesEnabled=true",  # TTL nodes
    "-Dznode.container.checkIntervalMs=1000",  # reap containers/TTL nodes every second, not 60 s
    "-Dzookeeper.admin.enableServer=false",
    "-Dzookeeper.jmx.log4j.disable=true",
)

_LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.Target=System.out
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n
"""


class ServerStartError(RuntimeError):
    """The server process exited or did not answer ``ruok`` in time. The message ends with its log."""


def _ephemeral_port_range() -> tuple:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999   # Linux's default


_handed_out_ports: set = set()
_port_choice = random.Random()   # its own generator: a test seeding `random` must not make two
                                  # processes pick the same ports


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, for a server started soon after.

    Taken from below the kernel's ephemeral range, not by binding to port 0: the kernel hands
    ephemeral ports to every outgoing connection too (our clients, ZooKeeper's peers), and one of
    those took a port between this probe and the server's bind often enough to fail CI ("Address
    already in use"). Below that range only explicit binds compete, and each port is handed out
    once per process, chosen at random so concurrent test processes rarely pick the same one.
    """
    low, _ = _ephemeral_port_range()
    first = max(1024, low - 12000)
    if low - first < 1000:            # an unusual range leaves no room below it: fall back
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOCALHOST, 0))
            return s.getsockname()[1]
    if len(_handed_out_ports) > (low - first) // 2:
        _handed_out_ports.clear()     # long sessions: old servers are long gone
    for _ in range(1000):
        port = _port_choice.randrange(first, low)
        if port in _handed_out_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((LOCALHOST, port))
            except OSError:
                continue
        _handed_out_ports.add(port)
        return port
    raise RuntimeError(f"no free port found in {first}-{low - 1} after 1000 tries")


def four_letter_word(host: str, port: int, word: str, timeout_s: float = 5.0, payload: bytes = b"") -> str:
    """Send a four-letter word on a fresh connection and return everything the server writes back.

    The server answers and closes, so the reply is read to EOF; the whole exchange is bounded by
    ``timeout_s``. ``payload`` is for ``stmk``, whose word is followed by an 8-byte long.
    """
    if len(word) != 4:
        raise ValueError(f"four-letter words have four letters, not {word!r}")
    deadline = time.monotonic() + timeout_s
    chunks = []
    with socket.create_connection((host, port), timeout=timeout_s) as s:
        s.sendall(word.encode("ascii") + payload)
        while True:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise TimeoutError(f"{word} on {host}:{port}: no EOF within {timeout_s} s")
            s.settimeout(remaining_s)
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _java() -> Optional[str]:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(os.path.join(java_home, "bin", "java"), os.X_OK):
        return os.path.join(java_home, "bin", "java")
    return shutil.which("java")


def zookeeper_unavailable_reason() -> Optional[str]:
    """None when a ZooKeeper server can be run here, else a sentence saying what is missing."""
    if _java() is None:
        return "no `java` on PATH (Apache ZooKeeper needs a JRE; Debian: apt-get install zookeeper)"
    missing = [str(p) for p in ZOOKEEPER_REQUIRED_JARS if not p.is_file()]
    if missing:
        return (
            "Apache ZooKeeper (Debian package `zookeeper`) is not installed: missing "
            + ", ".join(missing)
        )
    return None


def zookeeper_available() -> bool:
    return zookeeper_unavailable_reason() is None


def zkcli_unavailable_reason() -> Optional[str]:
    if not os.access(ZKCLI, os.X_OK):
        return f"zkCli.sh not found at {ZKCLI} (Debian package `zookeeper`)"
    return zookeeper_unavailable_reason()


def cli_mt_unavailable_reason() -> Optional[str]:
    if not os.access(CLI_MT, os.X_OK):
        return f"the C client CLI is not at {CLI_MT} (Debian package `zookeeper-bin`)"
    return None


def _zoo_cfg_text(settings: Mapping[str, object]) -> str:
    return "".join(f"{key}={value}\n" for key, value in settings.items())


class _ServerProcess:
    """Shared process handling: config, start (bounded), stop/kill of the process group, logs."""

    kind = "abstract"
    host = LOCALHOST

    def __init__(
        self,
        work_dir,
        *,
        port: Optional[int] = None,
        tick_ms: int = 2000,
        config: Optional[Mapping[str, object]] = None,
        member_id: Optional[int] = None,
        membership: Optional[Mapping[int, str]] = None,
    ):
        # member_id/membership: this process is one member of an ensemble; membership maps each
        # member id to its server.N value ("host:peerPort:electionPort[:observer]").
        self.member_id = member_id
        self.membership = dict(membership or {})
        self.work_dir = Path(work_dir).resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.port = port if port is not None else free_port()
        self.tick_ms = tick_ms
        self.data_dir = self.work_dir / "data"
        self.config_path = self.work_dir / "zoo.cfg"
        self.log_path = self.work_dir / f"{self.kind}.log"
        self.extra_config = dict(config or {})
        self._proc: Optional[subprocess.Popen] = None
        self._log_file = None

    # -- addresses ------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def hosts(self) -> str:
        """The connect string clients take (kazoo ``hosts=``, zkCli ``-server``, cli_mt argv[1])."""
        return self.address

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- configuration -------------------------------------------------------------------------
    def zoo_cfg_settings(self) -> dict:
        settings = {
            "tickTime": self.tick_ms,
            "dataDir": self.data_dir,
            "clientPort": self.port,
            "clientPortAddress": self.host,
            "4lw.commands.whitelist": "*",
            "admin.enableServer": "false",
            "maxClientCnxns": 0,
        }
        if self.membership:
            settings["initLimit"] = 10
            settings["syncLimit"] = 5
            for member_id in sorted(self.membership):
                settings[f"server.{member_id}"] = self.membership[member_id]
        settings.update(self.extra_config)
        return settings

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(_zoo_cfg_text(self.zoo_cfg_settings()))
        if self.member_id is not None:
            (self.data_dir / "myid").write_text(f"{self.member_id}\n")

    def mode(self, timeout_s: float = 2.0) -> Optional[str]:
        """``leader``, ``follower``, ``observer``, ``standalone`` (srvr's Mode line), or None when
        the server does not answer or is not serving."""
        try:
            text = four_letter_word(self.host, self.port, "srvr", timeout_s=timeout_s)
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("Mode: "):
                return line[6:].strip()
        return None

    def command(self) -> list:
        raise NotImplementedError

    def environment(self) -> dict:
        return dict(os.environ)

    # -- life cycle ----------------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> "_ServerProcess":
        """Start the process and return once it serves (``ruok`` answers ``imok``, and for a
        member of an ensemble once it has a leader); bounded by ``timeout_s``."""
        if self.running:
            raise RuntimeError(f"{self.kind} on {self.address} is already running")
        self.write_config()
        self._launch()
        return self._wait_ready(timeout_s)

    def _launch(self) -> None:
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"\n=== start {time.strftime('%Y-%m-%d %H:%M:%S')}: {self.command()}\n".encode())
        self._log_file.flush()
        self._proc = subprocess.Popen(
            self.command(),
            cwd=self.work_dir,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_ready(self, timeout_s: float) -> "_ServerProcess":
        deadline = time.monotonic() + timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                self._close_log()
                raise ServerStartError(
                    f"{self.kind} exited with status {code} before serving on {self.address}\n"
                    + self.log_tail()
                )
            if self._is_ready():
                return self
            if time.monotonic() >= deadline:
                self.kill()
                raise ServerStartError(
                    f"{self.kind} did not serve on {self.address} within {timeout_s} s\n" + self.log_tail()
                )
            time.sleep(0.1)

    def _is_ready(self) -> bool:
        try:
            return four_letter_word(self.host, self.port, "ruok", timeout_s=2.0) == "imok"
        except OSError:
            return False

    def stop(self, timeout_s: float = 10.0) -> Optional[int]:
        """SIGTERM the process group, SIGKILL it if still alive after ``timeout_s``; return the status."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._proc.wait(timeout=timeout_s)
        self._signal_group(signal.SIGKILL)  # anything the server left behind in its group
        self._close_log()
        return self._proc.returncode

    def kill(self, timeout_s: float = 10.0) -> Optional[int]:
        """SIGKILL the process group (a crash: nothing is flushed or closed)."""
        if self._proc is None:
            return None
        self._signal_group(signal.SIGKILL)
        self._proc.wait(timeout=timeout_s)
        self._close_log()
        return self._proc.returncode

    def pause(self) -> None:
        """SIGSTOP the process group (the server stops answering but keeps its sockets)."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)

    def _signal_group(self, signum: int) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, signum)  # start_new_session: pgid == pid
        except (ProcessLookupError, PermissionError):
            pass

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, max_bytes: int = 8000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - max_bytes))
                text = f.read().decode("utf-8", errors="replace")
        except OSError as e:
            return f"(no log at {self.log_path}: {e})"
        return f"--- last {min(size, max_bytes)} bytes of {self.log_path} ---\n{text}"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.address} {state} work_dir={self.work_dir}>"


class ZooKeeperProcess(_ServerProcess):
    """Apache ZooKeeper 3.8 (Debian package), standalone, in the foreground of its own process group."""

    kind = "zookeeper"

    def __init__(
        self,
        work_dir,
        *,
        port: Optional[int] = None,
        tick_ms: int = 2000,
        extra_jvm_flags: Sequence[str] = (),
        config: Optional[Mapping[str, object]] = None,
        member_id: Optional[int] = None,
        membership: Optional[Mapping[int, str]] = None,
    ):
        super().__init__(work_dir, port=port, tick_ms=tick_ms, config=config, member_id=member_id,
                         membership=membership)
        self.extra_jvm_flags = tuple(extra_jvm_flags)

    def write_config(self) -> None:
        super().write_config()
        (self.work_dir / "log4j.properties").write_text(_LOG4J_PROPERTIES)

    def classpath(self) -> str:
        entries = [str(self.work_dir), str(ZOOKEEPER_JAR)]
        entries += [str(jar) for jar in ZOOKEEPER_LOG_JARS + ZOOKEEPER_ADMIN_JARS if jar.is_file()]
        return os.pathsep.join(entries)

    def command(self) -> list:
        reason = zookeeper_unavailable_reason()
        if reason is not None:
            raise ServerStartError(reason)
        return [
            _java(),
            *DEFAULT_JVM_FLAGS,
            f"-Dzookeeper.log.dir={self.work_dir}",
            f"-Dlog4j.configuration=file:{self.work_dir / 'log4j.properties'}",
            *self.extra_jvm_flags,
            "-cp",
            self.classpath(),
            ZOOKEEPER_QUORUM_MAIN if self.membership else ZOOKEEPER_MAIN,
            str(self.config_path),
        ]

    def _is_ready(self) -> bool:
        # ruok answers as soon as the listener is up; srvr also says whether requests are served.
        if not super()._is_ready():
            return False
        return self.mode() in ("standalone", "leader", "follower", "observer")


def _coord_source_root() -> str:
    import coord

    return str(Path(coord.__file__).resolve().parent.parent)


class CoordProcess(_ServerProcess):
    """coord's server: ``python -m coord server --config zoo.cfg --reaper-interval-ms N ...``."""

    kind = "coord"

    def __init__(
        self,
        work_dir,
        *,
        port: Optional[int] = None,
        tick_ms: int = 2000,
        reaper_interval_ms: int = 1000,
        extra_args: Sequence[str] = (),
        config: Optional[Mapping[str, object]] = None,
        member_id: Optional[int] = None,
        membership: Optional[Mapping[int, str]] = None,
    ):
        super().__init__(work_dir, port=port, tick_ms=tick_ms, config=config, member_id=member_id,
                         membership=membership)
        self.reaper_interval_ms = reaper_interval_ms
        self.extra_args = tuple(extra_args)

    def command(self) -> list:
        return [
            sys.executable,
            "-m",
            "coord",
            "server",
            "--config",
            str(self.config_path),
            "--reaper-interval-ms",
            str(self.reaper_interval_ms),
            *self.extra_args,
        ]

    def _is_ready(self) -> bool:
        if not super()._is_ready():
            return False
        return not self.membership or self.mode() in ("leader", "follower", "observer")

    def environment(self) -> dict:
        env = dict(os.environ)
        # cwd is work_dir, so make this checkout importable even without `pip install -e`.
        root = _coord_source_root()
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        return env


class Ensemble:
    """N members of one kind (``"coord"`` or ``"zookeeper"``) on 127.0.0.1, each its own process.

    ``start`` launches every member at once and waits (bounded) until each serves; ``hosts`` is
    the connect string naming all of them. Members are 1-based: ``member(1)``. ``leader()`` asks
    each member's ``srvr``. Every member is stopped by ``stop`` (or on leaving a ``with`` block).
    """

    def __init__(self, kind: str, work_dir, *, size: int = 3, observers: int = 0,
                 tick_ms: int = 2000, config: Optional[Mapping[str, object]] = None, **kwargs):
        self.kind = kind
        self.work_dir = Path(work_dir).resolve()
        ids = range(1, size + observers + 1)
        membership = {}
        for member_id in ids:
            role = ":observer" if member_id > size else ""
            membership[member_id] = f"{LOCALHOST}:{free_port()}:{free_port()}{role}"
        cls = CoordProcess if kind == "coord" else ZooKeeperProcess
        self.members = {
            member_id: cls(self.work_dir / f"member{member_id}", tick_ms=tick_ms, config=config,
                           member_id=member_id, membership=membership, **kwargs)
            for member_id in ids
        }
        if kind == "zookeeper":
            for member in self.members.values():
                if membership[member.member_id].endswith(":observer"):
                    member.extra_config.setdefault("peerType", "observer")

    @property
    def hosts(self) -> str:
        return ",".join(m.address for m in self.members.values())

    def member(self, member_id: int) -> _ServerProcess:
        return self.members[member_id]

    def start(self, timeout_s: float = 60.0) -> "Ensemble":
        # Start every process first: no member can serve before a quorum is up.
        deadline = time.monotonic() + timeout_s
        for member in self.members.values():
            if not member.running:
                member.write_config()
                member._launch()
        try:
            for member in self.members.values():
                member._wait_ready(max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self

    def leader(self, timeout_s: float = 10.0) -> Optional[int]:
        """The id of the member whose srvr says ``Mode: leader`` (waiting up to ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            for member_id, member in self.members.items():
                if member.running and member.mode(timeout_s=1.0) == "leader":
                    return member_id
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def followers(self) -> list:
        leader = self.leader()
        return [i for i, m in self.members.items() if i != leader and m.running]

    def stop(self) -> None:
        for member in self.members.values():
            member.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
