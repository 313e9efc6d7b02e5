"""Leader election: a Lock plus a function, as kazoo's ``recipe/election.py``.

Theory of operation: contenders queue on the lock path with kazoo's lock znodes, so kazoo and
coord contenders on one path see each other.  ``run(func, *args)`` waits until this contender
holds the lock, calls ``func`` (the leader's work), and resigns by releasing the lock when
``func`` returns or raises.  ``contenders()`` lists identifiers in order: the first is the leader.
A leader whose session is LOST is no longer leader (``lock.lost``); ``func`` should watch the
client's state and return.
"""

from __future__ import annotations

from ..steps import Invoke
from .lock import Lock

__all__ = ["Election"]


class Election:
    def __init__(self, client, path: str, identifier=None) -> None:
        self.client = client
        self.lock = Lock(client, path, identifier)

    def run(self, func, *args):
        """Campaign; once elected call ``func(*args)``; resign when it returns.  Returns its value."""
        return self.client._run(self.run_steps(func, args))

    def cancel(self) -> None:
        """Stop campaigning (a waiting ``run`` raises CancelledError)."""
        self.lock.cancel()

    def contenders(self):
        return self.lock.contenders()

    def run_steps(self, func, args=()):
        yield from self.lock.acquire_steps()
        try:
            return (yield Invoke(func, tuple(args)))
        finally:
            yield from self.lock.release_steps()
