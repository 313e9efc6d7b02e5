"""Cluster control: start, stop, kill -9, pause, restart and wipe the members of a real ensemble.

Theory of operation
-------------------
An :class:`Ensemble` is N real server processes configured the way ZooKeeper's operators do it: a
``zoo.cfg`` per member with ``server.N=host:peerPort:electionPort`` lines, ``dataDir``,
``clientPort``, and ``dataDir/myid`` holding N. Two systems share this one interface and differ
only in the process they run:

* ``zookeeper``: Apache ZooKeeper 3.8 from Debian (``QuorumPeerMain`` for an ensemble,
  ``ZooKeeperServerMain`` alone), with the JVM options of ``coord.testing.servers``;
* ``coord``: ``python -m coord server --config zoo.cfg``.

The process handling (own process group, bounded start, SIGTERM then SIGKILL, SIGSTOP/SIGCONT,
logs appended across restarts) is the test kit's (``coord.testing.servers``); the member classes
here only add the ensemble's configuration, the ``myid`` file, and, when the ensemble has a
:class:`~jepsen_like.netns.Network`, the ``ip netns exec`` prefix that puts the process in its own
namespace at its own address. With a :class:`~jepsen_like.proxy.ProxyNetwork` (no root), members
share 127.0.0.1 on distinct ports and dial each other through the proxy's links, one per ordered
pair and port: coord member i gets ``coord.dial.j=127.0.0.1:<link i->j>`` (its ``server.N`` lines
stay identical to everyone's, as coord's cluster digest requires); ZooKeeper member i lists
``server.j=127.0.0.1:<quorum link i->j>:<election link i->j>`` (its own line is its real ports;
ZooKeeper does not require identical lines). Without any network, members share 127.0.0.1 and
talk directly (kill and pause work; partitions cannot).

A member is *started* when its process answers ``ruok``; the ensemble is *healthy* when every
running member's ``srvr`` reports a serving mode (``leader``/``follower``/``observer``, or
``standalone`` for one member) and exactly one reports ``leader``. The leader is found the same
way (``Mode: leader``), as ``zkServer.sh status`` does.

coord's ensemble is being built alongside; whether a coord build serves as an ensemble is
*detected*: if a member configured with ``server.N`` lines says ``Mode: standalone``, the ensemble
is refused with :class:`EnsembleUnavailable` rather than tested as if it were replicated.

Everything a member writes (config, data, log) lives under ``<run dir>/nodes/<name>/``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from coord.testing.servers import (
    LOCALHOST,
    ZOOKEEPER_MAIN,
    CoordProcess,
    ServerStartError,
    ZooKeeperProcess,
    _ServerProcess,
    four_letter_word,
    free_port,
    zookeeper_unavailable_reason,
)
from jepsen_like.netns import Network
from jepsen_like.proxy import ProxyNetwork, zookeeper_election_rewriter

__all__ = [
    "Ensemble",
    "EnsembleUnavailable",
    "Member",
    "SYSTEMS",
    "ServerStartError",
    "server_mode",
]

SYSTEMS = ("coord", "zookeeper")
QUORUM_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
SERVING_MODES = ("leader", "follower", "observer", "standalone")
# Fixed ports when every member has an address of its own (a namespace): the operator's defaults.
CLIENT_PORT, PEER_PORT, ELECTION_PORT = 2181, 2888, 3888


class EnsembleUnavailable(RuntimeError):
    """This system cannot run an ensemble of this size here (said in a sentence for the user)."""


def server_mode(host: str, port: int, timeout_s: float = 2.0) -> str | None:
    """The ``Mode:`` a server reports on ``srvr`` (``leader``, ``follower``, ``standalone``...), or
    None if it does not answer or is not serving."""
    try:
        text = four_letter_word(host, port, "srvr", timeout_s=timeout_s)
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


@dataclass(frozen=True)
class Member:
    """Where one member lives: its id (myid), name (``n1``), address and ports."""

    id: int
    name: str
    host: str
    client_port: int
    peer_port: int
    election_port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.client_port}"


class _EnsembleMember:
    """Mixed into the kit's process classes: ensemble config, myid, and the namespace prefix."""

    member: Member
    peers: Sequence[Member]
    exec_prefix: Sequence[str]
    solo: bool
    link_settings: dict

    def _setup_member(self, member: Member, peers: Sequence[Member], exec_prefix: Sequence[str]) -> None:
        self.member = member
        self.peers = tuple(peers)
        self.exec_prefix = tuple(exec_prefix)
        self.link_settings = {}  # set by the Ensemble when a proxy stands between members
        self.solo = len(self.peers) == 1
        self.host = member.host  # the kit's class attribute is 127.0.0.1

    def ensemble_settings(self) -> dict:
        if self.solo:
            return {}
        settings: dict = {"initLimit": 10, "syncLimit": 5}
        for peer in self.peers:
            settings[f"server.{peer.id}"] = f"{peer.host}:{peer.peer_port}:{peer.election_port}"
        settings.update(self.link_settings)
        return settings

    def zoo_cfg_settings(self) -> dict:
        return {**super().zoo_cfg_settings(), **self.ensemble_settings()}  # type: ignore[misc]

    def write_config(self) -> None:
        super().write_config()  # type: ignore[misc]
        (self.data_dir / "myid").write_text(f"{self.member.id}\n")

    def wipe(self) -> None:
        """Delete the member's data (it must be stopped): it comes back empty, with its myid."""
        if self.running:
            raise RuntimeError(f"{self.member.name} is running; stop it before wiping its data")
        shutil.rmtree(self.data_dir, ignore_errors=True)


class ZooKeeperMember(_EnsembleMember, ZooKeeperProcess):
    def __init__(self, work_dir, member: Member, peers: Sequence[Member], exec_prefix: Sequence[str], tick_ms: int):
        _EnsembleMember._setup_member(self, member, peers, exec_prefix)
        ZooKeeperProcess.__init__(self, work_dir, port=member.client_port, tick_ms=tick_ms)

    def command(self) -> list:
        argv = super().command()
        if not self.solo:
            argv[argv.index(ZOOKEEPER_MAIN)] = QUORUM_MAIN
        return [*self.exec_prefix, *argv]

    def _is_ready(self) -> bool:
        if self.solo:
            return super()._is_ready()
        # A quorum member answers ruok before it has a quorum; the ensemble waits for that separately.
        return _ServerProcess._is_ready(self)


class CoordMember(_EnsembleMember, CoordProcess):
    """``settings`` are extra zoo.cfg keys (``coord.linearizableReads``, a test's
    ``coord.plantedBug``); ``env`` extra environment variables for the process."""

    def __init__(self, work_dir, member: Member, peers: Sequence[Member], exec_prefix: Sequence[str], tick_ms: int,
                 settings: Mapping[str, object] | None = None, env: Mapping[str, str] | None = None):
        _EnsembleMember._setup_member(self, member, peers, exec_prefix)
        CoordProcess.__init__(self, work_dir, port=member.client_port, tick_ms=tick_ms, config=settings)
        self.extra_env = dict(env or {})

    def command(self) -> list:
        return [*self.exec_prefix, *super().command()]

    def environment(self) -> dict:
        return {**super().environment(), **self.extra_env}


class Ensemble:
    """N members of one system. ``network`` (created by the caller) puts each in a namespace."""

    def __init__(self, system: str, nodes: int, root: Path, *, network: Network | ProxyNetwork | None = None,
                 tick_ms: int = 500,
                 coord_settings: Mapping[str, object] | None = None, coord_env: Mapping[str, str] | None = None):
        if system not in SYSTEMS:
            raise ValueError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")
        if nodes < 1:
            raise ValueError("an ensemble has at least one member")
        if system == "zookeeper":
            reason = zookeeper_unavailable_reason()
            if reason is not None:
                raise EnsembleUnavailable(reason)
        self.system = system
        self.root = Path(root)
        self.network = network
        names = [f"n{i}" for i in range(1, nodes + 1)]
        if network is not None and network.kind == "netns":
            members = [Member(i, name, network.addresses[name], CLIENT_PORT, PEER_PORT, ELECTION_PORT)
                       for i, name in enumerate(names, start=1)]
        else:
            members = [Member(i, name, LOCALHOST, free_port(), free_port(), free_port())
                       for i, name in enumerate(names, start=1)]
        self.members = members
        if system == "zookeeper" and (coord_settings or coord_env):
            raise ValueError("coord settings given for a ZooKeeper ensemble")
        self.processes: dict[str, ZooKeeperMember | CoordMember] = {}
        for m in members:
            prefix = network.exec_prefix(m.name) if network is not None and network.kind == "netns" else ()
            work_dir = self.root / "nodes" / m.name
            if system == "zookeeper":
                self.processes[m.name] = ZooKeeperMember(work_dir, m, members, prefix, tick_ms)
            else:
                self.processes[m.name] = CoordMember(work_dir, m, members, prefix, tick_ms, coord_settings, coord_env)
        if isinstance(network, ProxyNetwork) and nodes > 1:
            self._route_through(network)

    def _route_through(self, proxy: ProxyNetwork) -> None:
        """One proxy link per ordered member pair (and per port for ZooKeeper); each member's config
        dials the others through its own links."""
        pairs = [(a, b) for a in self.members for b in self.members if a.name != b.name]
        peer = {(a.id, b.id): proxy.add_link(a.name, b.name, (b.host, b.peer_port), "peer") for a, b in pairs}
        if self.system == "coord":
            for a, b in pairs:
                self.processes[a.name].link_settings[f"coord.dial.{b.id}"] = f"{LOCALHOST}:{peer[a.id, b.id]}"
            return
        # ZooKeeper: b may answer a's election connection by dialling back at the address in a's
        # first message; the rewriter makes that the b -> a link. So the reverse links come first.
        election: dict[tuple[int, int], int] = {}
        for a, b in sorted(pairs, key=lambda pair: pair[0].id < pair[1].id):
            back = election.get((b.id, a.id))
            rewrite = zookeeper_election_rewriter(f"{LOCALHOST}:{back}") if back is not None else None
            election[a.id, b.id] = proxy.add_link(a.name, b.name, (b.host, b.election_port), "election", rewrite)
        for a, b in pairs:
            self.processes[a.name].link_settings[f"server.{b.id}"] = (
                f"{LOCALHOST}:{peer[a.id, b.id]}:{election[a.id, b.id]}")

    # -- addresses ------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    @property
    def connect_string(self) -> str:
        return ",".join(m.address for m in self.members)

    @property
    def partitionable(self) -> bool:
        return self.network is not None

    # -- life cycle of one member ---------------------------------------------------------------
    def start(self, name: str, timeout_s: float = 60.0) -> None:
        process = self.processes[name]
        if not process.running:
            process.start(timeout_s=timeout_s)

    def stop(self, name: str) -> None:
        self.processes[name].stop()

    def kill(self, name: str) -> None:
        self.processes[name].kill()

    def pause(self, name: str) -> None:
        self.processes[name].pause()

    def resume(self, name: str) -> None:
        self.processes[name].resume()

    def restart(self, name: str, timeout_s: float = 60.0) -> None:
        self.stop(name)
        self.start(name, timeout_s)

    def wipe(self, name: str) -> None:
        self.processes[name].wipe()

    def running(self, name: str) -> bool:
        return self.processes[name].running

    def mode(self, name: str) -> str | None:
        member = self.member(name)
        return server_mode(member.host, member.client_port)

    def log_path(self, name: str) -> Path:
        return self.processes[name].log_path

    def log_dir(self, name: str) -> Path:
        """Where a coord member keeps its write-ahead log segments (``<dataDir>/log``)."""
        return Path(self.processes[name].data_dir) / "log"

    # -- the whole ensemble ---------------------------------------------------------------------
    def start_all(self, timeout_s: float = 90.0) -> None:
        """Start every member, then wait until the ensemble is healthy. Raises
        :class:`EnsembleUnavailable` if the system does not form an ensemble of this size."""
        deadline = time.monotonic() + timeout_s
        for name in self.names:
            self.start(name, timeout_s=max(1.0, deadline - time.monotonic()))
        if len(self.members) > 1 and self.system == "coord":
            self._refuse_if_standalone()
        self.wait_healthy(max(1.0, deadline - time.monotonic()))

    def _refuse_if_standalone(self) -> None:
        modes = {name: self.mode(name) for name in self.names}
        if any(mode == "standalone" for mode in modes.values()):
            raise EnsembleUnavailable(
                f"coord ensembles are not available yet: coord's server was given server.N lines for "
                f"{len(self.members)} members but reports {modes} (srvr 'Mode: standalone')"
            )

    def leader(self) -> str | None:
        """The member whose ``srvr`` says ``Mode: leader`` (or the lone member), else None."""
        if len(self.members) == 1:
            return self.names[0]
        for name in self.names:
            if self.running(name) and self.mode(name) == "leader":
                return name
        return None

    def healthy(self) -> bool:
        running = [name for name in self.names if self.running(name)]
        if len(running) != len(self.members):
            return False
        modes = [self.mode(name) for name in running]
        if any(mode not in SERVING_MODES for mode in modes):
            return False
        return len(self.members) == 1 or modes.count("leader") == 1

    def wait_healthy(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.healthy():
            if time.monotonic() >= deadline:
                modes = {name: (self.mode(name) if self.running(name) else "not running") for name in self.names}
                raise ServerStartError(f"{self.system} ensemble not healthy within {timeout_s:.0f} s: {modes}")
            time.sleep(0.25)

    def stop_all(self) -> None:
        for name in self.names:
            process = self.processes[name]
            process.resume()  # a paused process cannot act on SIGTERM
            process.stop()

    def __enter__(self) -> "Ensemble":
        self.start_all()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()

    def describe(self) -> str:
        if self.network is None:
            where = "127.0.0.1 (no network faults possible)"
        elif self.network.kind == "proxy":
            where = "127.0.0.1, members linked through the jepsen_like TCP fault proxy (not namespaces)"
        else:
            where = f"network namespaces on bridge {self.network.bridge} ({self.network.subnet})"
        return f"{self.system} x{len(self.members)} at {self.connect_string}, {where}"

