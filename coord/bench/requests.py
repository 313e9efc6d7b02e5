"""Pre-encoded ZooKeeper requests and the per-connection plans that choose the next one (pure).

Theory of operation. A request frame is ``length | xid | opcode | body``. Everything after the xid
is fixed for a given operation, so it is encoded once through ``coord.protocol.records`` into a
``Template`` (``tail`` = opcode + body); sending costs one ``struct.pack`` of length and xid plus a
concatenation. Replies are read with ``REPLY_HEADER`` (xid, zxid, err), the layout of
``records.ReplyHeader``; ZooKeeper answers a connection's requests in order, so the generator
matches replies FIFO and checks the xid.

A *plan* belongs to one connection and decides what that connection sends:

* ``next_template()`` -> the next ``Template``, or None when there is nothing to send right now
  (a finite plan that is done, or a churn plan waiting for a reply to learn what to delete);
* ``on_reply(template, err, frame)`` -> lets reply-driven plans queue follow-ups (a delete of the
  node a create just made), which are sent before anything new;
* ``stop()`` -> no new work; follow-ups still drain, so a run leaves no persistent churn nodes.

Plans are built from picklable ``PlanSpec`` values in the worker process (``build_plan``).
"""

from __future__ import annotations

import collections
import struct
from typing import NamedTuple

from coord.protocol import records as R
from coord.protocol.codes import CreateMode, OpCode
from coord.protocol.jute import Reader

__all__ = [
    "OPEN_ACL", "REPLY_HEADER", "FRAME_HEAD", "Template", "PlanSpec", "encode_tail", "frame",
    "template", "create_template", "delete_template", "created_path", "build_plan",
    "CyclicPlan", "ChurnPlan", "SequencePlan", "PopulatePlan", "interleave", "connect_frame", "close_session_tail",
]

OPEN_ACL = [R.ACL(31, R.Id("world", "anyone"))]
REPLY_HEADER = struct.Struct(">iqi")  # records.ReplyHeader: xid, zxid, err
FRAME_HEAD = struct.Struct(">ii")  # frame length, xid


class Template(NamedTuple):
    """One pre-encoded request: ``tail`` is opcode + body, ``label`` names it in the results."""

    label: str
    opcode: int
    tail: bytes


def encode_tail(opcode: int, record=None) -> bytes:
    """Opcode + body of a request (everything a frame holds after the xid)."""
    out = bytearray(struct.pack(">i", opcode))
    if record is not None:
        record.serialize(out)
    return bytes(out)


def frame(xid: int, tail: bytes) -> bytes:
    """The whole frame for ``tail`` with ``xid`` patched in."""
    return FRAME_HEAD.pack(len(tail) + 4, xid) + tail


def template(label: str, opcode: int, record=None) -> Template:
    return Template(label, int(opcode), encode_tail(opcode, record))


def create_template(path: str, data: bytes, mode: int, label: str = "create") -> Template:
    return template(label, OpCode.CREATE, R.CreateRequest(path, data, OPEN_ACL, int(mode)))


def delete_template(path: str, label: str = "delete") -> Template:
    return template(label, OpCode.DELETE, R.DeleteRequest(path, -1))


def close_session_tail() -> bytes:
    return encode_tail(OpCode.CLOSE_SESSION)


def connect_frame(timeout_ms: int) -> bytes:
    """A fresh session's ConnectRequest frame (no xid: the handshake has none)."""
    out = bytearray()
    R.ConnectRequest(0, 0, timeout_ms, 0, b"\x00" * 16, False).serialize(out)
    return struct.pack(">i", len(out)) + bytes(out)


def created_path(frame_bytes: bytes) -> str:
    """The path in a successful create reply frame (after the 16-byte reply header)."""
    return R.CreateResponse.deserialize(Reader(frame_bytes, REPLY_HEADER.size)).path


def interleave(counts: dict) -> list:
    """Spread ``{key: count}`` evenly into one list (9 gets and 1 set: the set in the middle),
    so a short window of a cyclic plan already has the requested mix."""
    total = sum(counts.values())
    if total <= 0:
        raise ValueError("interleave needs at least one item")
    order = []
    credit = {key: 0.0 for key in counts}
    for _ in range(total):
        for key, count in counts.items():
            credit[key] += count / total
        key = max(credit, key=lambda k: (credit[k], -list(counts).index(k)))
        credit[key] -= 1.0
        order.append(key)
    return order


class CyclicPlan:
    """The same templates over and over (get, set, mixed, multi)."""

    __slots__ = ("_templates", "_index", "_stopped")

    def __init__(self, templates):
        if not templates:
            raise ValueError("a cyclic plan needs at least one template")
        self._templates = tuple(templates)
        self._index = 0
        self._stopped = False

    def next_template(self):
        if self._stopped:
            return None
        t = self._templates[self._index]
        self._index = (self._index + 1) % len(self._templates)
        return t

    def on_reply(self, template_, err, frame_bytes) -> None:
        pass

    def stop(self) -> None:
        self._stopped = True

    @property
    def idle(self) -> bool:
        return self._stopped


class ChurnPlan:
    """Create a node, delete it once its create is answered; repeat.

    ``sequential``: one create template under a per-connection prefix with a SEQUENTIAL mode; the
    server names the node and the reply tells which one to delete. Otherwise a ring of ``ring``
    fixed names (reused once deleted; per-connection FIFO orders the delete before the reuse),
    all pre-encoded. A failed create queues nothing (it is counted as an error).
    """

    __slots__ = ("_creates", "_delete_for", "_sequential", "_index", "_followups", "_stopped")

    def __init__(self, prefix: str, data: bytes, mode: int, ring: int = 256):
        self._sequential = bool(int(mode) & 2)
        names = [prefix] if self._sequential else [f"{prefix}{i}" for i in range(ring)]
        self._creates = [create_template(name, data, mode) for name in names]
        self._delete_for = {} if self._sequential else {
            c: delete_template(n) for c, n in zip(self._creates, names)}
        self._index = 0
        self._followups = collections.deque()
        self._stopped = False

    def next_template(self):
        if self._followups:
            return self._followups.popleft()
        if self._stopped:
            return None
        t = self._creates[self._index]
        self._index = (self._index + 1) % len(self._creates)
        return t

    def on_reply(self, template_, err, frame_bytes) -> None:
        if template_.opcode != OpCode.CREATE or err != 0:
            return
        if self._sequential:
            self._followups.append(delete_template(created_path(frame_bytes)))
        else:
            self._followups.append(self._delete_for[template_])

    def stop(self) -> None:
        self._stopped = True

    @property
    def idle(self) -> bool:
        return self._stopped and not self._followups


class SequencePlan:
    """A finite list of templates, each sent once (the zk-latencies create/set/get/delete run)."""

    __slots__ = ("_templates", "_index")

    def __init__(self, templates):
        self._templates = list(templates)
        self._index = 0

    def next_template(self):
        if self._index >= len(self._templates):
            return None
        t = self._templates[self._index]
        self._index += 1
        return t

    def on_reply(self, template_, err, frame_bytes) -> None:
        pass

    def stop(self) -> None:
        self._index = len(self._templates)

    @property
    def idle(self) -> bool:
        return self._index >= len(self._templates)


class PopulatePlan:
    """Create ``count`` small persistent znodes, 1,000 to a parent (``<prefix>-<k>/<i>``), each
    encoded when its turn comes (a million pre-encoded requests would be the generator's memory,
    not the server's). A parent is created before its children: the connection keeps order."""

    __slots__ = ("_prefix", "_data", "_count", "_index", "_next_is_parent")

    FANOUT = 1000

    def __init__(self, prefix: str, data: bytes, count: int):
        self._prefix = prefix
        self._data = data
        self._count = count
        self._index = 0
        self._next_is_parent = count > 0

    def next_template(self):
        if self._index >= self._count:
            return None
        bucket, i = divmod(self._index, self.FANOUT)
        if self._next_is_parent:
            self._next_is_parent = False
            return create_template(f"{self._prefix}-{bucket}", b"", CreateMode.PERSISTENT, "parent")
        self._index += 1
        self._next_is_parent = self._index % self.FANOUT == 0
        return create_template(f"{self._prefix}-{bucket}/{i}", self._data, CreateMode.PERSISTENT)

    def on_reply(self, template_, err, frame_bytes) -> None:
        pass

    def stop(self) -> None:
        self._index = self._count

    @property
    def idle(self) -> bool:
        return self._index >= self._count


class PlanSpec(NamedTuple):
    """What a connection does, as plain data (crosses the process boundary).

    kind: get | set | mixed | multi | churn | sequence | populate. ``root`` is the run's znode; ``tag`` is
    unique per connection (worker and connection index)."""

    kind: str
    root: str
    tag: str
    size: int = 100
    read_ratio: float = 0.9
    mode: int = 0
    count: int = 0  # sequence: znodes this connection creates, sets, reads and deletes
    ring: int = 256


def payload(size: int) -> bytes:
    return b"x" * size


def setup_templates(spec: PlanSpec) -> list:
    """Requests this connection sends, one at a time, before the run (NodeExists is fine)."""
    if spec.kind == "multi":
        return [create_template(f"{spec.root}/m-{spec.tag}-{i}", payload(spec.size), 0, "setup")
                for i in range(5)]
    return []


def build_plan(spec: PlanSpec):
    data = payload(spec.size)
    shared = f"{spec.root}/node"  # created by the runner before the workers start
    if spec.kind == "get":
        return CyclicPlan([template("get", OpCode.GET_DATA, R.GetDataRequest(shared, False))])
    if spec.kind == "set":
        return CyclicPlan([template("set", OpCode.SET_DATA, R.SetDataRequest(shared, data, -1))])
    if spec.kind == "mixed":
        if not 0.0 <= spec.read_ratio <= 1.0:
            raise ValueError(f"read ratio {spec.read_ratio} is not within 0..1")
        reads = round(spec.read_ratio * 100)
        get = template("get", OpCode.GET_DATA, R.GetDataRequest(shared, False))
        put = template("set", OpCode.SET_DATA, R.SetDataRequest(shared, data, -1))
        by_key = {"get": get, "set": put}
        return CyclicPlan([by_key[k] for k in interleave({"get": reads, "set": 100 - reads})])
    if spec.kind == "multi":
        ops = tuple((OpCode.SET_DATA, R.SetDataRequest(f"{spec.root}/m-{spec.tag}-{i}", data, -1))
                    for i in range(5))
        return CyclicPlan([template("multi", OpCode.MULTI, R.MultiRequest(ops))])
    if spec.kind == "churn":
        return ChurnPlan(f"{spec.root}/c-{spec.tag}-", data, spec.mode, spec.ring)
    if spec.kind == "sequence":
        paths = [f"{spec.root}/z-{spec.tag}-{i}" for i in range(spec.count)]
        templates = [create_template(p, data, CreateMode.PERSISTENT) for p in paths]
        templates += [template("set", OpCode.SET_DATA, R.SetDataRequest(p, data, -1)) for p in paths]
        templates += [template("get", OpCode.GET_DATA, R.GetDataRequest(p, False)) for p in paths]
        templates += [delete_template(p) for p in paths]
        return SequencePlan(templates)
    if spec.kind == "populate":
        return PopulatePlan(f"{spec.root}/p-{spec.tag}", data, spec.count)
    raise ValueError(f"unknown plan kind {spec.kind!r}")
