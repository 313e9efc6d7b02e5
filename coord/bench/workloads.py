"""The named workloads of ``coord bench`` (pure): what each connection does, described once.

``WORKLOADS`` maps a name to a ``Workload``: the loop that runs it (``requests``: pipelined
request/reply, closed or open loop; ``sequence``: a finite list per connection; ``fanout``;
``session-churn``), the per-connection plan kind, the fixed parameters that distinguish it from
its siblings (get vs get-1k) and the one-line description the CLI and docs/benchmarks.md show.
"""

from __future__ import annotations

from typing import NamedTuple

from coord.protocol.codes import CreateMode

from .requests import PlanSpec

__all__ = ["Workload", "WORKLOADS", "plan_spec", "needs_shared_node"]


class Workload(NamedTuple):
    name: str
    loop: str  # requests | sequence | fanout | session-churn
    plan: str | None  # PlanSpec.kind
    description: str
    size: int | None = None  # fixed data size (None: --size)
    mode: int = 0  # create mode for churn
    keep: bool = False  # leave the run's znodes in place (populate: memory is measured after)


WORKLOADS = {w.name: w for w in (
    Workload("get", "requests", "get", "getData of one 100-byte znode (--size to change)"),
    Workload("get-1k", "requests", "get", "getData of one 1 KiB znode", size=1024),
    Workload("set", "requests", "set", "setData of 100 bytes on one znode, every connection"),
    Workload("churn-sequential", "requests", "churn",
             "create a persistent sequential znode, delete it when the create is answered",
             mode=CreateMode.PERSISTENT_SEQUENTIAL),
    Workload("churn-ephemeral", "requests", "churn",
             "create an ephemeral znode (a ring of names per connection), delete it when answered",
             mode=CreateMode.EPHEMERAL),
    Workload("mixed", "requests", "mixed",
             "getData and setData of one znode, --read-ratio reads (default 0.9), interleaved"),
    Workload("multi", "requests", "multi",
             "one multi transaction of 5 setData on the connection's own 5 znodes"),
    Workload("watch-fanout", "fanout", None,
             "--watchers sessions (default 1000) watch one znode; setData; time until all notified"),
    Workload("session-churn", "session-churn", None,
             "connect, handshake, CloseSession, disconnect, repeat (sessions per second)"),
    Workload("populate", "sequence", "populate",
             "create --count small persistent znodes (1,000 per parent) and keep them", size=32,
             keep=True),
    Workload("zk-latencies", "sequence", "sequence",
             "zk-latencies style: create, then set, get and delete --count znodes (default 10,000)"),
)}


def needs_shared_node(workload: Workload) -> bool:
    """Whether the runner creates ``<root>/node`` (the znode get/set/mixed/fan-out use)."""
    return workload.plan in ("get", "set", "mixed") or workload.loop == "fanout"


def plan_spec(workload: Workload, root: str, tag: str, *, size: int, read_ratio: float,
              count: int) -> PlanSpec:
    return PlanSpec(kind=workload.plan, root=root, tag=tag,
                    size=workload.size if workload.size is not None else size,
                    read_ratio=read_ratio, mode=int(workload.mode), count=count)
