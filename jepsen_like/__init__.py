"""Jepsen-style testing for coord: histories, a linearizability checker, other checkers, reports.

See docs/jepsen.md. The pieces, each usable alone:

* ``jepsen_like.history``      events, operations, the JSON-lines writer and reader
* ``jepsen_like.formats``      readers for Jepsen/Knossos EDN and Porcupine logs
* ``jepsen_like.checker``      linearizability (models.py, linearizability.py) and the set, ids,
                               lock and session-guarantee checkers
* ``jepsen_like.report``       timeline, latency and throughput plots, summary
* ``jepsen_like.netns``        one network namespace per member on a bridge; nftables faults
* ``jepsen_like.proxy``        without root: a TCP fault proxy between members, the same faults
* ``jepsen_like.cluster``      start/stop/kill/pause/wipe ensembles of coord or Apache ZooKeeper
* ``jepsen_like.nemesis``      faults as inject/heal pairs, on a schedule recorded in the history
* ``jepsen_like.workloads``    what the clients do (kazoo), and which checkers judge it
* ``jepsen_like.runner``       one run, start to verdict
* ``python -m jepsen_like``    ``check``, ``report`` and ``run`` on the command line
"""
