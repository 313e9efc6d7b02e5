"""The open-loop send schedule (pure): a fixed offered rate, whatever the server does.

Request k is *intended* to leave at ``start_ns + k * interval_ns``. The worker asks ``due(now)``
for every request whose time has come and records each one's latency from its intended time, not
from when it actually went out, so a stalled server shows as queueing delay instead of being
hidden by a generator that politely waits (coordinated omission).
"""

from __future__ import annotations

__all__ = ["OpenLoopSchedule"]


class OpenLoopSchedule:
    __slots__ = ("start_ns", "interval_ns", "sent")

    def __init__(self, rate_per_s: float, start_ns: int):
        if not rate_per_s > 0:
            raise ValueError(f"an open-loop rate must be > 0 requests/s, not {rate_per_s}")
        self.start_ns = start_ns
        self.interval_ns = 1e9 / rate_per_s
        self.sent = 0

    def intended_ns(self, k: int) -> int:
        return self.start_ns + int(k * self.interval_ns)

    def due(self, now_ns: int, limit: int | None = None) -> list:
        """Intended send times of every request due by ``now_ns`` and not yet taken (at most
        ``limit``, when the connections' in-flight caps leave no more room)."""
        elapsed_ns = now_ns - self.start_ns
        if elapsed_ns < 0:
            return []  # (int() of a small negative would round up to request 0)
        due_count = int(elapsed_ns / self.interval_ns) + 1 - self.sent
        if due_count <= 0:
            return []
        if limit is not None:
            due_count = min(due_count, limit)
        first = self.sent
        self.sent += due_count
        return [self.intended_ns(k) for k in range(first, first + due_count)]

    def next_due_ns(self) -> int:
        return self.intended_ns(self.sent)
