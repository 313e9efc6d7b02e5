"""Jepsen-style testing for coord: histories, a linearizability checker, other checkers, reports.

See docs/jepsen.md. The pieces, each usable alone:

* ``jepsen_like.history``      events, operations, the JSON-lines writer and reader
* ``jepsen_like.formats``      readers for Jepsen/Knossos EDN and Porcupine logs
* ``jepsen_like.checker``      linearizability (models.py, linearizability.py) and the set, ids,
                               lock and session-guarantee checkers
* ``jepsen_like.report``       timeline, latency and throughput plots, summary
* ``python -m jepsen_like``    ``check`` and ``report`` on the command line
"""
