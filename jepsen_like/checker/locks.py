"""Lock checker: no two processes were ever both observed holding the lock at the same time.

A process is *observed* holding the lock from the completion of its successful ``acquire`` (it has
been told so) until it invokes its next operation (normally the ``release``: from then on it may
have let go). A holder that never invokes again is taken to hold the lock to the end of the history.
An acquire with unknown outcome is never observed as held. Two observed holds by different
processes that overlap are a violation: mutual exclusion broke, or a lost lock (an expired session)
was not noticed by its holder before it acted.

This is weaker and cheaper than checking the history against the ``mutex`` model for
linearizability, and it needs no assumption about ownerless releases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from jepsen_like.checker.result import NOT_VALID, UNKNOWN, VALID, CheckResult
from jepsen_like.history import Operation

__all__ = ["Hold", "check_lock", "observed_holds"]


@dataclass(frozen=True)
class Hold:
    process: Any
    acquire: Operation
    start_index: int
    end_index: float  # inf: held to the end of the history


def observed_holds(operations: Iterable[Operation], acquire_f: str = "acquire") -> list[Hold]:
    by_process: dict[Any, list[Operation]] = {}
    for op in operations:
        by_process.setdefault(op.process, []).append(op)
    holds = []
    for process, ops in by_process.items():
        ops.sort(key=lambda op: op.call_index)
        for position, op in enumerate(ops):
            if op.f != acquire_f or op.outcome != "ok":
                continue
            following = ops[position + 1] if position + 1 < len(ops) else None
            end = following.call_index if following is not None else float("inf")
            holds.append(Hold(process, op, op.return_index, end))
    holds.sort(key=lambda hold: hold.start_index)
    return holds


def check_lock(operations: Iterable[Operation], acquire_f: str = "acquire", release_f: str = "release") -> CheckResult:
    ops = [op for op in operations if op.f in (acquire_f, release_f)]
    holds = observed_holds(ops, acquire_f)
    if not holds:
        return CheckResult("lock", UNKNOWN, "no successful acquire, so nothing to check",
                           counts={"operations": len(ops)})
    problems = []
    overlaps = 0
    # Sweep by start; ``open_holds`` are those whose end is after the current start.
    open_holds: list[Hold] = []
    for hold in holds:
        open_holds = [other for other in open_holds if other.end_index > hold.start_index]
        for other in open_holds:
            if other.process != hold.process:
                overlaps += 1
                end = "the end" if other.end_index == float("inf") else f"event {other.end_index}"
                problems.append(f"two holders: process {other.process} held it from event {other.start_index} to "
                                f"{end}, and process {hold.process} was told it acquired it at event "
                                f"{hold.start_index} (ops {other.acquire.id} and {hold.acquire.id})")
        open_holds.append(hold)
    counts = {"acquired": len(holds), "overlapping holds": overlaps}
    summary = f"{overlaps} overlapping holds" if overlaps else f"{len(holds)} holds, never two at once"
    return CheckResult("lock", NOT_VALID if overlaps else VALID, summary, counts, problems)
