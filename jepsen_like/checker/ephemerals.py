"""Ephemeral checker: an ephemeral znode never outlives its session's close, and an acknowledged
ephemeral create of a live session is never missing from an up-to-date read.

Operations (the ``ephemeral`` workload writes them):

* ``create`` with the node name as value and a ``session`` field: an ephemeral create;
* ``close`` with the session id as value: ``ok`` only when the server acknowledged closeSession;
* ``expire`` with the session id as value: a crashed client's session (no closeSession sent);
  ``ok`` when the server, asked to resume it, answered that it had expired;
* ``session-lost`` with the session id as value: the client learned its session expired;
* ``read`` whose ok result is the collection of node names seen (after a ``sync``).

*Outlived*: a read invoked after a ``close`` or ``expire`` of session S completed ok shows a node S
created (the server said the session is gone, so its ephemerals must be too).
*Lost*: a read invoked after S's ``create`` of a node completed ok, and completed before any
``close`` of S was invoked, does not show it; sessions that ever report ``session-lost`` are left
out of this half (their nodes may rightly be gone at any time).
With no successful read the verdict is ``unknown``.
"""

from __future__ import annotations

from typing import Any, Iterable

from jepsen_like.checker.result import NOT_VALID, UNKNOWN, VALID, CheckResult
from jepsen_like.history import Operation

__all__ = ["check_ephemerals"]


def check_ephemerals(operations: Iterable[Operation]) -> CheckResult:
    ops = list(operations)
    reads = [op for op in ops if op.f == "read" and op.outcome == "ok"]
    creates = [op for op in ops if op.f == "create" and op.outcome == "ok"]
    if not reads:
        return CheckResult("ephemerals", UNKNOWN, "no successful read, so nothing to check",
                           counts={"creates": len(creates)})
    owner: dict[Any, Any] = {op.value: op.get("session") for op in ops if op.f == "create"}
    closed_at: dict[Any, int] = {}  # session -> return index of its acknowledged close
    close_invoked: dict[Any, int] = {}  # session -> first call index of a close
    lost_sessions = {op.value for op in ops if op.f == "session-lost"}
    expired = {op.value for op in ops if op.f == "expire" and op.outcome == "ok"}
    for op in ops:
        if op.f in ("close", "expire"):
            close_invoked[op.value] = min(close_invoked.get(op.value, op.call_index), op.call_index)
            if op.outcome == "ok":
                closed_at[op.value] = min(closed_at.get(op.value, op.return_index), op.return_index)
    problems: list[str] = []
    outlived = lost = 0
    # One sweep over reads in call order. ``expected`` holds, per session, the nodes whose create
    # was acknowledged before the current read was invoked; a session whose close was invoked
    # before the current read's *call* can never be expected again and is dropped.
    pending = sorted(creates, key=lambda op: op.return_index)
    next_create = 0
    expected: dict[Any, dict[Any, Operation]] = {}
    for read in sorted(reads, key=lambda op: op.call_index):
        seen = frozenset(read.output)
        for node in seen:
            session = owner.get(node)
            if session in closed_at and closed_at[session] < read.call_index:
                outlived += 1
                how = "seen to expire" if session in expired else "closed"
                problems.append(f"outlived: read op {read.id} (events {read.call_index}..{read.return_index}) shows "
                                f"{node!r}, though its session {session} was {how} at event {closed_at[session]}")
        while next_create < len(pending) and pending[next_create].return_index < read.call_index:
            create = pending[next_create]
            next_create += 1
            if create.get("session") not in lost_sessions:
                expected.setdefault(create.get("session"), {})[create.value] = create
        for session in list(expected):
            closing = close_invoked.get(session)
            if closing is not None and closing < read.call_index:
                del expected[session]
                continue
            if closing is not None and closing < read.return_index:
                continue
            for node, create in expected[session].items():
                if node not in seen:
                    lost += 1
                    problems.append(f"lost: {node!r} was created (op {create.id}, acknowledged at event "
                                    f"{create.return_index}) by live session {session}, but read op {read.id} "
                                    f"(events {read.call_index}..{read.return_index}) does not show it")
    counts = {"creates": len(creates), "reads": len(reads), "sessions closed": len(closed_at) - len(expired),
              "sessions expired": len(expired),
              "sessions lost": len(lost_sessions), "outlived": outlived, "lost": lost}
    bad = outlived or lost
    summary = (f"{outlived} ephemerals outlived their session, {lost} acknowledged creates missing" if bad
               else f"{len(reads)} reads: no ephemeral outlived its session, no acknowledged create missing")
    return CheckResult("ephemerals", NOT_VALID if bad else VALID, summary, counts, problems)
