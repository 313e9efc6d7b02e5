"""Small helpers shared by the semantic tests (kazoo watch recording with a deterministic barrier)."""

from __future__ import annotations

import threading

from kazoo.protocol.states import Callback

WAIT_S = 20.0  # bound on waiting for something the server is expected to send


class WatchRecorder:
    """A kazoo watcher that records events, plus a barrier that makes "no more events" checkable.

    ``settle()`` does a ``sync`` on the watching client — its server then has applied every write
    acknowledged before, wherever in an ensemble that write was made, and sends the notifications
    those writes caused before the sync's reply — and then waits until kazoo's single callback
    thread has run everything queued before a marker. After it returns, ``events`` holds every
    notification the server sent for earlier writes; no sleeping involved.
    """

    def __init__(self, client):
        self.client = client
        self.events = []
        self._cond = threading.Condition()

    def __call__(self, event):
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, count: int = 1, timeout_s: float = WAIT_S) -> list:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.events) >= count, timeout=timeout_s):
                raise AssertionError(f"expected {count} watch events within {timeout_s} s, got {self.events}")
            return list(self.events)

    def settle(self) -> list:
        self.client.sync("/")
        done = threading.Event()
        self.client.handler.dispatch_callback(Callback("watch", done.set, ()))
        assert done.wait(WAIT_S), "kazoo's callback thread did not drain"
        with self._cond:
            return list(self.events)

    def summary(self) -> list:
        """Events as (type, path) pairs, e.g. [("CHANGED", "/t/a")]."""
        return [(e.type, e.path) for e in self.settle()]
