"""Session liveness: which sessions have been silent too long.

Theory of operation
-------------------
As ZooKeeper's ExpiryQueue: a session's deadline is rounded *up* to the next multiple of the tick,
so sessions fall into one bucket per tick and expiry is one dict lookup per tick, not a scan. Every
packet from a session touches it (moves it to a later bucket); ``expired(now_ms)`` hands back the
sessions of every bucket whose time has come. Nothing here reads a clock: callers pass ``now_ms``
from a monotonic source. Expiring a session is the caller's decision to log a CloseSession
transaction, so that ephemeral deletes are replicated like any other write.
"""


class SessionTracker:
    def __init__(self, tick_ms):
        if tick_ms <= 0:
            raise ValueError("tick_ms must be positive")
        self.tick_ms = tick_ms
        self._timeout_ms = {}     # session_id -> timeout
        self._deadline_ms = {}    # session_id -> bucket time
        self._buckets = {}        # bucket time -> set of session ids
        self._next_bucket_ms = None

    def _bucket_for(self, deadline_ms):
        tick = self.tick_ms
        return (deadline_ms // tick + 1) * tick

    def __contains__(self, session_id):
        return session_id in self._timeout_ms

    def __len__(self):
        return len(self._timeout_ms)

    def timeout_of(self, session_id):
        return self._timeout_ms[session_id]

    def add(self, session_id, timeout_ms, now_ms):
        self._timeout_ms[session_id] = timeout_ms
        self.touch(session_id, now_ms)

    def set_timeout(self, session_id, timeout_ms, now_ms):
        """A reconnect negotiated a new timeout: it applies from now."""
        self.add(session_id, timeout_ms, now_ms)

    def touch(self, session_id, now_ms):
        """The session showed life; False if it is not tracked (unknown, expired or closing)."""
        timeout = self._timeout_ms.get(session_id)
        if timeout is None:
            return False
        bucket = self._bucket_for(now_ms + timeout)
        old = self._deadline_ms.get(session_id)
        if old == bucket:
            return True
        if old is not None:
            members = self._buckets[old]
            members.discard(session_id)
            if not members:
                del self._buckets[old]
        self._deadline_ms[session_id] = bucket
        self._buckets.setdefault(bucket, set()).add(session_id)
        if self._next_bucket_ms is None or bucket < self._next_bucket_ms:
            self._next_bucket_ms = bucket
        return True

    def remove(self, session_id):
        self._timeout_ms.pop(session_id, None)
        bucket = self._deadline_ms.pop(session_id, None)
        if bucket is not None:
            members = self._buckets[bucket]
            members.discard(session_id)
            if not members:
                del self._buckets[bucket]

    def expired(self, now_ms):
        """Sessions whose deadline has passed; they are removed from tracking (sorted, for replay)."""
        if self._next_bucket_ms is None or now_ms < self._next_bucket_ms:
            return []
        due = sorted(b for b in self._buckets if b <= now_ms)
        expired = []
        for bucket in due:
            expired.extend(self._buckets.pop(bucket))
        for session_id in expired:
            del self._deadline_ms[session_id]
            del self._timeout_ms[session_id]
        self._next_bucket_ms = min(self._buckets) if self._buckets else None
        return sorted(expired)

    def sessions(self):
        return list(self._timeout_ms)

    def expiry_buckets(self):
        """Bucket time (ms) -> the session ids due then, soonest first (AdminServer ``dump``)."""
        return {when: sorted(self._buckets[when]) for when in sorted(self._buckets)}
