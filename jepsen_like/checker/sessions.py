"""Session guarantees: what ZooKeeper promises its plain (unsynced) reads, which is not
linearizability.

ZooKeeper serves reads from whichever server a client is connected to, so a read may be stale. What
it does promise is per session: a client never sees the state go backwards, even after reconnecting
to another server, and it sees its own writes. Every reply carries the zxid it was served at, so:

* *Monotonic zxids*: within a session, in completion order, the zxids of replies never decrease.
* *Read your writes*: after a session's write to a key completed at zxid z, a later read of that key
  by the same session returns the written value, or a value some write could have put there after
  z: a write to the key with a higher zxid, or one whose zxid or outcome is unknown.

Operations carry ``zxid`` (the reply header's zxid) and ``session`` (default: the process) as extra
fields of the completion, and ``key``. With no zxids at all the verdict is ``unknown``: a check that
found nothing to check must not say "valid".
"""

from __future__ import annotations

from typing import Any, Iterable

from jepsen_like.checker.result import NOT_VALID, UNKNOWN, VALID, CheckResult
from jepsen_like.history import Operation

__all__ = ["check_session_guarantees", "written_value"]

READ_FS = ("read", "get")
WRITE_FS = ("write", "put", "set", "cas", "create")


def written_value(op: Operation) -> Any:
    """The value a write leaves behind: a cas's second argument, otherwise the value."""
    if op.f == "cas":
        return op.value[1]
    return op.value


def check_session_guarantees(
    operations: Iterable[Operation],
    zxid_field: str = "zxid",
    session_field: str = "session",
    read_fs: tuple[str, ...] = READ_FS,
    write_fs: tuple[str, ...] = WRITE_FS,
) -> CheckResult:
    ops = sorted(operations, key=lambda op: op.completion_index if op.completion_index is not None else op.call_index)
    with_zxid = [op for op in ops if op.outcome in ("ok", "fail") and op.get(zxid_field) is not None]
    if not with_zxid:
        return CheckResult("session-guarantees", UNKNOWN, f"no completed operation carries {zxid_field!r}",
                           counts={"operations": len(ops)})
    problems: list[str] = []

    def session_of(op: Operation) -> Any:
        return op.get(session_field, op.process)

    backwards = 0
    newest: dict[Any, Operation] = {}
    for op in with_zxid:
        session = session_of(op)
        previous = newest.get(session)
        if previous is not None and op.get(zxid_field) < previous.get(zxid_field):
            backwards += 1
            problems.append(f"zxid went backwards in session {session}: op {previous.id} saw "
                            f"{previous.get(zxid_field):#x}, then op {op.id} ({op.f}) saw {op.get(zxid_field):#x}")
        if previous is None or op.get(zxid_field) >= previous.get(zxid_field):
            newest[session] = op

    writes_by_key: dict[Any, list[Operation]] = {}
    for op in ops:
        if op.f in write_fs and op.outcome != "fail":
            writes_by_key.setdefault(op.key, []).append(op)
    own_write: dict[tuple[Any, Any], Operation] = {}
    missed_writes = 0
    reads_checked = 0
    for op in ops:
        if op.outcome != "ok":
            continue
        session = session_of(op)
        if op.f in write_fs:
            own_write[(session, op.key)] = op
            continue
        if op.f not in read_fs:
            continue
        mine = own_write.get((session, op.key))
        if mine is None:
            continue
        reads_checked += 1
        if op.output == written_value(mine):
            continue
        floor = mine.get(zxid_field)
        if not any(_could_follow(other, mine, op, floor, zxid_field) for other in writes_by_key.get(op.key, ())
                   if written_value(other) == op.output):
            missed_writes += 1
            problems.append(f"read missed own write in session {session}: op {mine.id} wrote "
                            f"{written_value(mine)!r} to {op.key!r} (zxid {_hex(floor)}); op {op.id} then read "
                            f"{op.output!r} (zxid {_hex(op.get(zxid_field))}), which no later write put there")
    counts = {"operations with zxid": len(with_zxid), "sessions": len(newest), "zxid went backwards": backwards,
              "reads after own write": reads_checked, "missed own write": missed_writes}
    bad = backwards or missed_writes
    summary = (f"{backwards} zxid regressions, {missed_writes} reads missed their own write" if bad
               else f"{len(newest)} sessions monotonic, {reads_checked} reads after own writes saw them")
    return CheckResult("session-guarantees", NOT_VALID if bad else VALID, summary, counts, problems)


def _could_follow(other: Operation, mine: Operation, read: Operation, floor: Any, zxid_field: str) -> bool:
    """Could ``other`` have overwritten ``mine`` before ``read`` was served?"""
    if other is mine or other.call_index > read.return_index:
        return False
    zxid = other.get(zxid_field)
    if other.outcome == "unknown" or zxid is None or floor is None:
        return True
    return zxid > floor


def _hex(zxid: Any) -> str:
    return f"{zxid:#x}" if isinstance(zxid, int) else repr(zxid)
