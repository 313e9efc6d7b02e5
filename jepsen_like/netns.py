"""A private network for an ensemble: one Linux network namespace per member, on a bridge.

Theory of operation
-------------------
Members on 127.0.0.1 cannot be partitioned from each other: the kernel delivers loopback traffic
no matter what. So, when we are root, every member gets a network namespace of its own with one
veth interface whose other end sits on a bridge in the root namespace. The bridge holds the
address ``.1`` of a private /24 (picked among 10.x.y.0/24 so as not to collide with anything this
machine already routes) and the members ``.11``, ``.12``, ...; clients stay in the root namespace
and reach every member through the bridge.

Faults are nftables rules in the members' own namespaces, in one table (``inet jepsen_like``)
whose chains are flushed to heal:

* ``cut(a, b)``  drops every packet between a and b, in both directions (rules in a's namespace
  only: its output to b and its input from b). Dropped, not rejected: a partition is silence.
* ``lose(a, percent)`` drops that share of a's packets to and from the other members at random.
* ``delay(a, ms, jitter_ms)`` uses ``tc netem`` when the kernel has it (many container kernels do
  not: :attr:`Network.delay_available` says so and the nemesis reports it).

Every name the suite creates starts with ``jl`` followed by the creating process's pid and a
letter (``jl4242a``: bridge ``jl4242ab``, host-side veths ``jl4242ah1``..., namespaces
``jl4242a-n1``...). :func:`sweep_leftovers` removes whatever such names belong to processes that
are gone, so an interrupted run is cleaned up by the next one without touching a concurrent run
of another process. :meth:`Network.destroy` is idempotent and is also registered with ``atexit``.
"""

from __future__ import annotations

import atexit
import ipaddress
import itertools
import os
import random
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Iterable, Sequence

__all__ = [
    "NETWORK_PREFIX",
    "Network",
    "PartitionShapes",
    "NetworkError",
    "network_unavailable_reason",
    "sweep_leftovers",
]

NETWORK_PREFIX = "jl"
_NAME_PATTERN = re.compile(rf"^{NETWORK_PREFIX}(\d+)[a-z]")
_TABLE = "jepsen_like"
_COMMAND_TIMEOUT_S = 20.0
_letters = itertools.cycle("abcdefghijklmnopqrstuvwxyz")
_letters_lock = threading.Lock()


class NetworkError(RuntimeError):
    """A command that builds or changes the network failed; the message has its stderr."""


def network_unavailable_reason() -> str | None:
    """None when namespaces, bridges and nftables can be used here, else why not."""
    if os.geteuid() != 0:
        return "not root: network namespaces need root (run as root, as CI does)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian: apt-get install iproute2 nftables)"
    return None


def _run(argv: Sequence[str], check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise NetworkError(f"{' '.join(argv)}: no answer within {_COMMAND_TIMEOUT_S} s") from None
    if check and done.returncode != 0:
        raise NetworkError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str) -> int | None:
    match = _NAME_PATTERN.match(name)
    return int(match.group(1)) if match else None


def sweep_leftovers() -> list[str]:
    """Delete namespaces and links named by this suite whose creating process is gone. Returns
    what was removed. Safe with concurrent runs: a live owner's names are left alone."""
    removed = []
    if network_unavailable_reason() is not None:
        return removed
    for line in _run(["ip", "netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        pid = _owner(name)
        if pid is not None and not _pid_alive(pid):
            if _run(["ip", "netns", "delete", name], check=False).returncode == 0:
                removed.append(f"netns {name}")
    for line in _run(["ip", "-o", "link", "show"], check=False).stdout.splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        pid = _owner(name)
        if pid is not None and not _pid_alive(pid):
            if _run(["ip", "link", "delete", name], check=False).returncode == 0:
                removed.append(f"link {name}")
    return removed


def _used_networks() -> list[ipaddress.IPv4Network]:
    used = []
    text = _run(["ip", "-4", "-o", "addr", "show"], check=False).stdout
    text += _run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout
    for token in re.findall(r"\b(\d+\.\d+\.\d+\.\d+(?:/\d+)?)\b", text):
        try:
            used.append(ipaddress.ip_network(token, strict=False))
        except ValueError:
            continue
    return used


def _pick_subnet(rng: random.Random) -> ipaddress.IPv4Network:
    used = _used_networks()
    for _ in range(200):
        candidate = ipaddress.ip_network(f"10.{rng.randrange(100, 250)}.{rng.randrange(0, 256)}.0/24")
        if not any(candidate.overlaps(other) for other in used if other.prefixlen > 0):
            return candidate
    raise NetworkError("no free 10.x.y.0/24 subnet found for the test network")


class PartitionShapes:
    """Partitions in terms of ``cut(a, b)`` over ``self.members``; shared by :class:`Network` and
    the TCP proxy (``jepsen_like/proxy.py``)."""

    def partition(self, components: Iterable[Iterable[str]]) -> None:
        """Cut every link between members of different components."""
        groups = [set(group) for group in components]
        for i, left in enumerate(groups):
            for right in groups[i + 1:]:
                for a in left:
                    for b in right:
                        self.cut(a, b)

    def connectivity(self, links: Iterable[tuple[str, str]]) -> None:
        """Cut every member pair that is not in ``links`` (for bridges and rings)."""
        allowed = {frozenset(link) for link in links}
        for i, a in enumerate(self.members):
            for b in self.members[i + 1:]:
                if frozenset((a, b)) not in allowed:
                    self.cut(a, b)


@dataclass
class Network(PartitionShapes):
    """Namespaces for ``members`` (names such as ``"n1"``) on a bridge. Call :meth:`create` first,
    :meth:`destroy` always (it is idempotent, and also runs at interpreter exit)."""

    kind = "netns"  # (a class attribute: ProxyNetwork's is "proxy")

    members: Sequence[str]
    tag: str = ""
    subnet: ipaddress.IPv4Network | None = None
    addresses: dict[str, str] = field(default_factory=dict)
    delay_available: bool = False
    created: bool = False
    _cuts: set[frozenset[str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.tag:
            with _letters_lock:
                self.tag = f"{NETWORK_PREFIX}{os.getpid()}{next(_letters)}"

    # -- names ----------------------------------------------------------------------------------
    @property
    def bridge(self) -> str:
        return f"{self.tag}b"

    def namespace(self, member: str) -> str:
        return f"{self.tag}-{member}"

    def _host_veth(self, position: int) -> str:
        return f"{self.tag}h{position}"

    def exec_prefix(self, member: str) -> list[str]:
        """Prefix for a command that must run inside ``member``'s namespace."""
        return ["ip", "netns", "exec", self.namespace(member)]

    @property
    def gateway(self) -> str:
        assert self.subnet is not None
        return str(self.subnet.network_address + 1)

    # -- life cycle -----------------------------------------------------------------------------
    def create(self) -> "Network":
        reason = network_unavailable_reason()
        if reason is not None:
            raise NetworkError(reason)
        sweep_leftovers()
        atexit.register(self.destroy)
        self.created = True  # from here on, destroy() has something to do even if we fail half-way
        self.subnet = self.subnet or _pick_subnet(random.Random(os.getpid() ^ hash(self.tag)))
        prefix = self.subnet.prefixlen
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        _run(["ip", "addr", "add", f"{self.gateway}/{prefix}", "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])
        for position, member in enumerate(self.members, start=1):
            namespace = self.namespace(member)
            host_side, inner = self._host_veth(position), f"{self.tag}p{position}"
            address = str(self.subnet.network_address + 10 + position)
            _run(["ip", "netns", "add", namespace])
            _run(["ip", "link", "add", host_side, "type", "veth", "peer", "name", inner])
            _run(["ip", "link", "set", inner, "netns", namespace])
            _run(["ip", "-n", namespace, "link", "set", inner, "name", "eth0"])
            _run(["ip", "-n", namespace, "addr", "add", f"{address}/{prefix}", "dev", "eth0"])
            _run(["ip", "-n", namespace, "link", "set", "eth0", "up"])
            _run(["ip", "-n", namespace, "link", "set", "lo", "up"])
            _run(["ip", "link", "set", host_side, "master", self.bridge])
            _run(["ip", "link", "set", host_side, "up"])
            self._nft(member, f"add table inet {_TABLE}\n"
                              f"add chain inet {_TABLE} output {{ type filter hook output priority 0; policy accept; }}\n"
                              f"add chain inet {_TABLE} input {{ type filter hook input priority 0; policy accept; }}\n")
            self.addresses[member] = address
        self.delay_available = self._probe_netem()
        return self

    def destroy(self) -> None:
        """Remove namespaces (their veths go with them) and the bridge. Idempotent."""
        if not self.created:
            return
        self.created = False
        for member in self.members:
            _run(["ip", "netns", "delete", self.namespace(member)], check=False)
        for position in range(1, len(self.members) + 1):
            _run(["ip", "link", "delete", self._host_veth(position)], check=False)
        _run(["ip", "link", "delete", self.bridge], check=False)
        try:
            atexit.unregister(self.destroy)
        except Exception:  # noqa: BLE001 - interpreter shutting down
            pass

    def __enter__(self) -> "Network":
        return self.create()

    def __exit__(self, *exc_info: object) -> None:
        self.destroy()

    # -- faults ---------------------------------------------------------------------------------
    def _nft(self, member: str, script: str) -> None:
        _run([*self.exec_prefix(member), "nft", "-f", "-"], stdin=script)

    def cut(self, a: str, b: str) -> None:
        """Drop all traffic between members ``a`` and ``b`` (both directions)."""
        if a == b or frozenset((a, b)) in self._cuts:
            return
        peer = self.addresses[b]
        self._nft(a, f"add rule inet {_TABLE} output ip daddr {peer} drop\n"
                     f"add rule inet {_TABLE} input ip saddr {peer} drop\n")
        self._cuts.add(frozenset((a, b)))

    def lose(self, member: str, percent: int) -> None:
        """Drop ``percent`` of ``member``'s packets to and from the other members, at random."""
        others = ", ".join(self.addresses[m] for m in self.members if m != member)
        if not others:
            return
        self._nft(member, f"add rule inet {_TABLE} output ip daddr {{ {others} }} numgen random mod 100 < {percent} drop\n"
                          f"add rule inet {_TABLE} input ip saddr {{ {others} }} numgen random mod 100 < {percent} drop\n")

    def delay(self, member: str, delay_ms: int, jitter_ms: int) -> None:
        if not self.delay_available:
            raise NetworkError("this kernel has no netem qdisc, so delays cannot be injected")
        _run(["ip", "netns", "exec", self.namespace(member), "tc", "qdisc", "replace", "dev", "eth0", "root",
              "netem", "delay", f"{delay_ms}ms", f"{jitter_ms}ms"])

    def heal(self) -> None:
        """Remove every fault: flush the rule chains, drop any netem qdisc."""
        for member in self.members:
            self._nft(member, f"flush chain inet {_TABLE} output\nflush chain inet {_TABLE} input\n")
            if self.delay_available:
                _run([*self.exec_prefix(member), "tc", "qdisc", "del", "dev", "eth0", "root"], check=False)
        self._cuts.clear()

    def rules(self, member: str) -> str:
        """The member's current fault rules, for logs and tests."""
        return _run([*self.exec_prefix(member), "nft", "list", "table", "inet", _TABLE]).stdout

    def _probe_netem(self) -> bool:
        if shutil.which("tc") is None or not self.members:
            return False
        member = self.members[0]
        added = _run([*self.exec_prefix(member), "tc", "qdisc", "add", "dev", "eth0", "root", "netem",
                      "delay", "1ms"], check=False)
        if added.returncode != 0:
            return False
        _run([*self.exec_prefix(member), "tc", "qdisc", "del", "dev", "eth0", "root"], check=False)
        return True
