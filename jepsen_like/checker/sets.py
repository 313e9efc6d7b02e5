"""Set checker: every acknowledged add is read back, and nothing is read that nobody added.

Operations: ``add`` with the element as its value, and ``read`` whose ok result is the collection
seen. The *final read* is the successful read that completed last. An add acknowledged (``ok``)
before the final read was invoked must be in it ("lost" otherwise). Every element of every read must
come from an add that was at least attempted ("unexpected" otherwise), and not only from adds that
failed, since a failed add never happened ("failed but present"). Adds with unknown outcome may or
may not appear; they are counted as "recovered" or "not recovered". With no successful read there is
nothing to compare against, so the verdict is ``unknown``.

This asks only what a final read must show, which is what a sequentially consistent store like
ZooKeeper promises for ``getChildren`` after the writes are done; it does not ask that every
intermediate read is up to date.
"""

from __future__ import annotations

from typing import Any, Iterable

from jepsen_like.checker.result import NOT_VALID, UNKNOWN, VALID, CheckResult
from jepsen_like.history import Operation

__all__ = ["check_set"]


def check_set(operations: Iterable[Operation], add_f: str = "add", read_f: str = "read") -> CheckResult:
    ops = list(operations)
    adds = [op for op in ops if op.f == add_f]
    reads = [op for op in ops if op.f == read_f and op.outcome == "ok"]
    acknowledged = {}
    attempted: dict[Any, list[Operation]] = {}
    for op in adds:
        attempted.setdefault(op.value, []).append(op)
        if op.outcome == "ok":
            acknowledged[op.value] = op
    if not reads:
        return CheckResult("set", UNKNOWN, "no successful read, so nothing to compare the adds against",
                           counts={"adds": len(adds), "acknowledged": len(acknowledged)})
    final = max(reads, key=lambda op: op.return_index)
    final_elements = _elements(final)
    problems: list[str] = []

    lost = sorted(
        (op for op in acknowledged.values() if op.return_index < final.call_index and op.value not in final_elements),
        key=lambda op: op.call_index,
    )
    for op in lost:
        problems.append(f"lost: add {op.value!r} (op {op.id}, process {op.process}) was acknowledged at event "
                        f"{op.return_index} but the final read (op {final.id}, events {final.call_index}.."
                        f"{final.return_index}) does not contain it")

    unexpected: set[Any] = set()
    failed_but_present: set[Any] = set()
    for read in reads:
        for element in _elements(read):
            tries = attempted.get(element)
            if not tries:
                if element not in unexpected:
                    problems.append(f"unexpected: {element!r} read by op {read.id} (process {read.process}) "
                                    f"was never added")
                unexpected.add(element)
            elif all(op.outcome == "fail" for op in tries):
                if element not in failed_but_present:
                    problems.append(f"failed but present: {element!r} read by op {read.id}; every add of it failed")
                failed_but_present.add(element)

    unknown_adds = [op for op in adds if op.outcome == "unknown"]
    recovered = sum(1 for op in unknown_adds if op.value in final_elements)
    counts = {
        "adds": len(adds),
        "acknowledged": len(acknowledged),
        "reads": len(reads),
        "final read size": len(final_elements),
        "lost": len(lost),
        "unexpected": len(unexpected),
        "failed but present": len(failed_but_present),
        "recovered": recovered,
        "not recovered": len(unknown_adds) - recovered,
    }
    bad = lost or unexpected or failed_but_present
    summary = (
        f"{len(lost)} lost, {len(unexpected)} unexpected, {len(failed_but_present)} failed but present"
        if bad else f"all {len(acknowledged)} acknowledged adds read back, nothing unexpected"
    )
    return CheckResult("set", NOT_VALID if bad else VALID, summary, counts, problems,
                       details={"final_read_op": final.id, "lost_ops": [op.id for op in lost]})


def _elements(read: Operation) -> frozenset[Any]:
    try:
        return frozenset(read.output)
    except TypeError:
        raise ValueError(f"read op {read.id} returned {read.output!r}, not a collection") from None
