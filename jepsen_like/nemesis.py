"""Nemeses: faults injected into a running ensemble, each an inject/heal pair, on a schedule.

Theory of operation
-------------------
A :class:`Nemesis` has ``inject(ctx) -> description`` and ``heal(ctx, description)``. ``inject``
picks its targets with the context's seeded random generator (so ``--seed`` reproduces the
choices) and returns a JSON-able description of what it did, which ``heal`` undoes. The
:class:`Schedule` thread alternates a quiet interval and a fault interval until the run's time is
up, and writes each fault into the history as a pair of nemesis events (``fault: begin`` with the
description, ``fault: end``) so checkers and reports see exactly when the fault was active. Heals
are idempotent and the runner heals everything again at the end, whatever happened.

Kinds: process faults (kill -9 then restart; SIGSTOP then SIGCONT) on a random member or on the
leader, found through ``srvr``; network faults (need the ensemble in namespaces, or linked
through the TCP fault proxy of ``proxy.py``, which has the same interface): isolate one
member or the leader, a majority/minority split, a bridge (two halves that cannot talk, one member
talking to both), a ring (each member hears only its neighbours), flaky links (random loss, and
delay with jitter where the kernel has netem); and ``mixed``, a random one of the others each time.
Clock skew is deliberately absent: neither ZooKeeper's nor coord's safety may depend on clocks.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from pathlib import Path

from jepsen_like.cluster import Ensemble, ServerStartError
from jepsen_like.history import HistoryWriter

__all__ = ["NEMESES", "Nemesis", "NemesisContext", "NemesisUnavailable", "Schedule", "make_nemesis"]


class NemesisUnavailable(RuntimeError):
    """This nemesis cannot run against this ensemble (too few members, no namespaces...)."""


@dataclass
class NemesisContext:
    ensemble: Ensemble
    rng: random.Random
    log: Callable[[str], None] = lambda message: None


class Nemesis:
    name = "none"
    needs_network = False
    min_nodes = 1

    def check(self, ensemble: Ensemble) -> None:
        """Raise :class:`NemesisUnavailable` if this nemesis cannot act on ``ensemble``."""
        if len(ensemble.members) < self.min_nodes:
            raise NemesisUnavailable(f"nemesis {self.name} needs at least {self.min_nodes} members")
        if self.needs_network and not ensemble.partitionable:
            raise NemesisUnavailable(
                f"nemesis {self.name} needs a network between the members: namespaces (root) or the TCP "
                f"fault proxy (--network proxy); members talking directly on 127.0.0.1 cannot be partitioned"
            )

    def inject(self, ctx: NemesisContext) -> Any:
        raise NotImplementedError

    def heal(self, ctx: NemesisContext, injected: Any) -> None:
        raise NotImplementedError


def _pick_target(ctx: NemesisContext, leader: bool) -> str:
    if leader:
        found = ctx.ensemble.leader()
        if found is not None:
            return found
        ctx.log("no leader reported; picking a random member")
    return ctx.rng.choice(ctx.ensemble.names)


class Kill(Nemesis):
    """kill -9 a member (random or the leader); heal restarts it on the same data."""

    def __init__(self, leader: bool = False):
        self.leader = leader
        self.name = "kill-leader" if leader else "kill"

    def inject(self, ctx: NemesisContext) -> Any:
        target = _pick_target(ctx, self.leader)
        ctx.ensemble.kill(target)
        return {"killed": [target]}

    def heal(self, ctx: NemesisContext, injected: Any) -> None:
        for name in injected["killed"]:
            ctx.ensemble.start(name)


class Pause(Nemesis):
    """SIGSTOP a member (random or the leader); heal sends SIGCONT."""

    def __init__(self, leader: bool = False):
        self.leader = leader
        self.name = "pause-leader" if leader else "pause"

    def inject(self, ctx: NemesisContext) -> Any:
        target = _pick_target(ctx, self.leader)
        ctx.ensemble.pause(target)
        return {"paused": [target]}

    def heal(self, ctx: NemesisContext, injected: Any) -> None:
        for name in injected["paused"]:
            ctx.ensemble.resume(name)


class Partition(Nemesis):
    """Cut links between members; heal flushes every rule. ``shape`` picks the grudge."""

    needs_network = True

    def __init__(self, shape: str):
        self.shape = shape
        self.name = f"partition-{shape}"
        self.min_nodes = 3 if shape in ("one", "leader", "majority", "bridge", "ring") else 2

    def inject(self, ctx: NemesisContext) -> Any:
        names = list(ctx.ensemble.names)
        network = ctx.ensemble.network
        assert network is not None
        if self.shape in ("one", "leader"):
            alone = _pick_target(ctx, self.shape == "leader")
            components = [[alone], [n for n in names if n != alone]]
            network.partition(components)
            return {"components": components}
        ctx.rng.shuffle(names)
        if self.shape == "majority":
            cut = len(names) // 2 + 1
            components = [sorted(names[:cut]), sorted(names[cut:])]
            network.partition(components)
            return {"components": components}
        if self.shape == "bridge":
            # Two halves that cannot talk to each other; the bridge member talks to both.
            bridge, rest = names[0], names[1:]
            left, right = rest[: len(rest) // 2], rest[len(rest) // 2:]
            links = [(a, b) for group in (left, right) for a in group for b in group if a < b]
            links += [(bridge, other) for other in rest]
            network.connectivity(links)
            return {"bridge": bridge, "halves": [sorted(left), sorted(right)]}
        # ring: each member hears only its two neighbours in a random cyclic order.
        links = [(names[i], names[(i + 1) % len(names)]) for i in range(len(names))]
        network.connectivity(links)
        return {"ring": names}

    def heal(self, ctx: NemesisContext, injected: Any) -> None:
        assert ctx.ensemble.network is not None
        ctx.ensemble.network.heal()


class Flaky(Nemesis):
    """Random packet loss between members (and delay with jitter where netem exists)."""

    name = "flaky"
    needs_network = True
    min_nodes = 2

    def __init__(self, loss_percent: int = 20, delay_ms: int = 50, jitter_ms: int = 40):
        self.loss_percent = loss_percent
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms

    def inject(self, ctx: NemesisContext) -> Any:
        network = ctx.ensemble.network
        assert network is not None
        targets = sorted(ctx.rng.sample(ctx.ensemble.names, k=max(1, len(ctx.ensemble.names) // 2)))
        for name in targets:
            network.lose(name, self.loss_percent)
            if network.delay_available:
                network.delay(name, self.delay_ms, self.jitter_ms)
        description: dict[str, Any] = {"lossy": targets, "loss_percent": self.loss_percent}
        if network.delay_available:
            description["delay_ms"] = [self.delay_ms, self.jitter_ms]
        else:
            description["delay"] = "unavailable: this kernel has no netem"
        if getattr(network, "kind", "") == "proxy":
            description["network"] = "proxy: loss and delay at the stream level (a lost chunk waits a retransmission timeout)"
        return description

    def heal(self, ctx: NemesisContext, injected: Any) -> None:
        assert ctx.ensemble.network is not None
        ctx.ensemble.network.heal()


class Disk(Nemesis):
    """coord only: kill -9 a follower and damage its write-ahead log before it restarts.

    ``kind`` (random per fault unless fixed): ``lose-tail`` drops the newest segment's last 1-3
    records at a record boundary (what a power loss does to writes not yet fsynced); ``torn-tail``
    cuts the last record in two (a crash in the middle of a write); ``corrupt`` flips one byte in
    the payload of a record that has later records after it (bit rot in acknowledged data). The
    member must repair what is repairable (a torn or short tail: the leader sends the entries
    again) and refuse to start on corruption, never serve wrong data. Heal restarts it; if it
    refuses, heal records why, wipes its data directory (the documented operator action) and
    starts it empty, to be caught up by the leader. What the member did is added to the fault's
    description, so the history's heal event and the results say it.

    Only followers are damaged, one at a time, so the leader still holds everything a damaged
    member loses: a lost fsynced record on a majority is beyond what any consensus protocol
    survives, and on a single server every one of these faults loses acknowledged data by
    construction, so the nemesis needs three members."""

    needs_network = False
    min_nodes = 3
    KINDS = ("lose-tail", "torn-tail", "corrupt")

    def __init__(self, kind: str | None = None):
        if kind is not None and kind not in self.KINDS:
            raise ValueError(f"unknown disk fault {kind!r}; known: {', '.join(self.KINDS)}")
        self.kind = kind
        self.name = "disk" if kind is None else f"disk-{kind}"

    def check(self, ensemble: Ensemble) -> None:
        if ensemble.system != "coord":
            raise NemesisUnavailable("the disk nemesis damages coord's write-ahead log; it is for coord only")
        super().check(ensemble)

    def inject(self, ctx: NemesisContext) -> Any:
        leader = ctx.ensemble.leader()
        followers = [name for name in ctx.ensemble.names if name != leader and ctx.ensemble.running(name)]
        if leader is None or not followers:
            raise RuntimeError("no leader and follower to pick from right now")
        target = ctx.rng.choice(sorted(followers))
        kind = self.kind or ctx.rng.choice(self.KINDS)
        ctx.ensemble.kill(target)
        damage = damage_log(ctx.ensemble.log_dir(target), kind, ctx.rng)
        return {"member": target, "kind": kind, "damage": damage}

    def heal(self, ctx: NemesisContext, injected: Any) -> None:
        name = injected["member"]
        if ctx.ensemble.running(name):
            return
        log_path = ctx.ensemble.log_path(name)
        start = log_path.stat().st_size if log_path.exists() else 0
        try:
            ctx.ensemble.start(name)
        except ServerStartError:
            said = _storage_lines(log_path, start) or ["(no storage message in its log)"]
            ctx.ensemble.wipe(name)
            ctx.ensemble.start(name)
            injected["member_did"] = f"refused to start: {said[-1]}; wiped by the nemesis and started empty"
            return
        repairs = _storage_lines(log_path, start)
        injected["member_did"] = ("repaired: " + " | ".join(repairs)) if repairs else "started; nothing to repair"


_STORAGE_WORDS = ("torn tail", "removing log segment", "corrupt", "Corrupt", "cannot start", "RecoveryError")


def _storage_lines(log_path, start: int) -> list[str]:
    """What the member's log says about its storage since byte ``start`` (this start)."""
    try:
        with open(log_path, "rb") as stream:
            stream.seek(start)
            text = stream.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line.strip()[:300] for line in text.splitlines() if any(word in line for word in _STORAGE_WORDS)]


def damage_log(log_dir, kind: str, rng: random.Random) -> str:
    """Damage a stopped member's log (``<dataDir>/log``) as ``kind`` says; returns what was done."""
    from coord.storage.format import RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, scan_records

    segments = sorted(Path(log_dir).glob("log.*"))
    if not segments:
        return "no log segment: nothing to damage"
    scanned = []
    for path in segments:
        data = path.read_bytes()
        try:
            scan = scan_records(data, file_name=path.name)
        except Exception as problem:  # noqa: BLE001 - already damaged: leave it to the member
            return f"{path.name} is already unreadable ({problem}); left as it is"
        offsets = []
        offset = SEGMENT_HEADER_BYTES
        for _zxid, payload in scan.records:
            offsets.append((offset, offset + RECORD_HEADER_BYTES + len(payload)))
            offset += RECORD_HEADER_BYTES + len(payload)
        scanned.append((path, scan, offsets))
    path, scan, offsets = scanned[-1]
    if kind == "corrupt":
        # A record with a later record after it, in any segment (the newest first).
        candidates = [(p, s, o, i) for p, s, o in reversed(scanned) for i in range(len(o) - 1)]
        if not candidates:
            kind = "torn-tail"
        else:
            path, scan, offsets, index = candidates[rng.randrange(min(len(candidates), 50))]
            begin, end = offsets[index]
            position = rng.randrange(begin + RECORD_HEADER_BYTES, end) if end > begin + RECORD_HEADER_BYTES \
                else rng.randrange(begin, end)
            with open(path, "r+b") as stream:
                stream.seek(position)
                byte = stream.read(1)
                stream.seek(position)
                stream.write(bytes([byte[0] ^ 0xFF]))
            zxid = scan.records[index][0]
            return (f"flipped byte {position} of {path.name} (record zxid {zxid:#x}, "
                    f"{len(offsets) - index - 1} later records in the segment)")
    if not offsets:
        return f"{path.name} holds no record: nothing to cut"
    if kind == "lose-tail":
        drop = min(len(offsets), rng.randint(1, 3))
        cut = offsets[-drop][0]
        what = f"dropped the last {drop} records (from zxid {scan.records[-drop][0]:#x})"
    else:
        begin, end = offsets[-1]
        cut = rng.randrange(begin + 1, end)
        what = f"cut the last record (zxid {scan.records[-1][0]:#x}) after {cut - begin} of its {end - begin} bytes"
    with open(path, "r+b") as stream:
        stream.truncate(cut)
    return f"{path.name}: {what}"


class Mixed(Nemesis):
    """Each time, one of the other nemeses that can act on this ensemble, at random."""

    name = "mixed"

    def __init__(self) -> None:
        self.choices: list[Nemesis] = []

    def check(self, ensemble: Ensemble) -> None:
        self.choices = []
        for name in MIXED_FROM:
            candidate = make_nemesis(name)
            try:
                candidate.check(ensemble)
            except NemesisUnavailable:
                continue
            self.choices.append(candidate)
        if not self.choices:
            raise NemesisUnavailable("no nemesis can act on this ensemble")

    def inject(self, ctx: NemesisContext) -> Any:
        chosen = ctx.rng.choice(self.choices)
        return {"nemesis": chosen.name, "injected": chosen.inject(ctx)}

    def heal(self, ctx: NemesisContext, injected: Any) -> None:
        chosen = next(n for n in self.choices if n.name == injected["nemesis"])
        chosen.heal(ctx, injected["injected"])


_FACTORIES: dict[str, Callable[[], Nemesis]] = {
    "kill": lambda: Kill(),
    "kill-leader": lambda: Kill(leader=True),
    "pause": lambda: Pause(),
    "pause-leader": lambda: Pause(leader=True),
    "partition-one": lambda: Partition("one"),
    "partition-leader": lambda: Partition("leader"),
    "partition-majority": lambda: Partition("majority"),
    "partition-bridge": lambda: Partition("bridge"),
    "partition-ring": lambda: Partition("ring"),
    "flaky": lambda: Flaky(),
    "disk": lambda: Disk(),
    "mixed": lambda: Mixed(),
}
MIXED_FROM = [name for name in _FACTORIES if name != "mixed"]
NEMESES = ("none", *_FACTORIES)


def make_nemesis(name: "str | Nemesis") -> Nemesis | None:
    """The nemesis called ``name`` (or ``name`` itself if it is one); None for ``none``."""
    if isinstance(name, Nemesis):
        return name
    if name == "none":
        return None
    try:
        return _FACTORIES[name]()
    except KeyError:
        raise ValueError(f"unknown nemesis {name!r}; known: {', '.join(NEMESES)}") from None


@dataclass
class Schedule:
    """Quiet for ``quiet_s``, fault for ``fault_s``, repeated until stopped; each fault recorded.

    ``current`` names the active fault for the progress line. ``stop()`` ends the loop and heals
    whatever is active; ``heal_all`` is safe to call any number of times."""

    nemesis: Nemesis
    ctx: NemesisContext
    history: HistoryWriter
    quiet_s: float = 2.0
    fault_s: float = 4.0
    current: str = ""
    faults: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _active: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="nemesis", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.quiet_s):
            try:
                with self._lock:
                    if self._stop.is_set():
                        return
                    injected = self.nemesis.inject(self.ctx)
                    self._active = injected
                    self.current = f"{self.nemesis.name} {injected}"
                    self.faults += 1
                    self.history.nemesis(self.nemesis.name, injected, fault="begin")
            except Exception as problem:  # noqa: BLE001 - a failed injection is reported, the run goes on
                self.errors.append(f"inject {self.nemesis.name}: {problem}")
                self.ctx.log(f"nemesis inject failed: {problem}")
                self.heal_all()
                continue
            self._stop.wait(self.fault_s)
            self.heal_all()

    def heal_all(self) -> None:
        with self._lock:
            injected, self._active = self._active, None
            if injected is None:
                return
            try:
                self.nemesis.heal(self.ctx, injected)
            except Exception as problem:  # noqa: BLE001
                self.errors.append(f"heal {self.nemesis.name}: {problem}")
                self.ctx.log(f"nemesis heal failed: {problem}")
            self.history.nemesis("heal", injected, fault="end")
            self.current = ""

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)
        self.heal_all()
