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
leader, found through ``srvr``; network faults (needs the ensemble in namespaces): isolate one
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

from jepsen_like.cluster import Ensemble
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
                f"nemesis {self.name} needs every member in its own network namespace, which needs root "
                f"(members on 127.0.0.1 cannot be partitioned)"
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
        return description

    def heal(self, ctx: NemesisContext, injected: Any) -> None:
        assert ctx.ensemble.network is not None
        ctx.ensemble.network.heal()


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
    if name == "disk":
        raise NemesisUnavailable("the disk nemesis (coord only) is not built yet")
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
