"""Lock, ReadLock and WriteLock: kazoo's znode protocol, written as step generators.

Theory of operation (kazoo ``recipe/lock.py``, Curator ``InterProcessMutex``).  A contender creates
an ephemeral sequential child of the lock path named ``<32 hex>__lock__<10-digit sequence>`` (read
locks ``__rlock__``) whose data is the identifier.  Contenders are ordered by the sequence suffix,
compared as kazoo does (as 10-character strings).  A contender holds the lock when no child it
conflicts with has a smaller sequence: an exclusive or write lock conflicts with every ``__lock__``
and ``__rlock__`` node... except that kazoo's plain ``Lock`` only looks at ``__lock__`` nodes, and
a read lock only at ``__lock__`` nodes.  Otherwise it watches only its immediate conflicting
predecessor (no herd effect: one waiter wakes per release) and re-checks when it goes away.

Connection loss.  The random prefix lets a contender whose create was cut off find its node
again (kazoo's ``_find_node``) instead of leaving a second one behind; reads are retried with
back-off.  If our node disappears while waiting (the session expired), a fresh node is created
and the wait starts again at the end of the queue.  Once held, the lock is only as good as the
session: on SUSPENDED the holder must assume it may lose it, on LOST it has lost it
(``is_acquired`` turns False and ``lost`` is set).
"""

from __future__ import annotations

import re

from .. import errors
from ..steps import RETRYABLE, Now, Signal, Sleep, Wait, retrying

__all__ = ["Held", "Lock", "ReadLock", "WriteLock"]

_CREATE_RETRY_DELAY_S = 0.1


class Held:
    """What Lock and Semaphore share around their own acquire: ``release``, ``cancel``, the
    blocking and async context managers, and being told when the session that held it ends
    (``is_acquired`` False, ``lost`` True).  Subclasses define ``acquire``, ``acquire_steps``,
    ``_release_node_steps`` and set ``client``."""

    is_acquired = False
    lost = False
    _cancelled = False
    _wake: Signal | None = None

    def release(self):
        """Give it up; False if we did not hold it."""
        return self.client._run(self.release_steps())

    def cancel(self) -> None:
        """Make a waiting ``acquire`` give up with CancelledError."""
        self._cancelled = True
        if self._wake is not None:
            self._wake()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.release()

    async def __aenter__(self):
        await self.acquire()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self.release()

    def release_steps(self):
        if not self.is_acquired:
            return False
        self.client.remove_listener(self._on_state)
        self.is_acquired = False
        yield from self._release_node_steps()
        return True

    def _held(self) -> bool:
        if not self.is_acquired:
            self.client.add_listener(self._on_state)
        self.is_acquired = True
        self.lost = False
        return True

    def _on_state(self, state) -> None:
        if state == "LOST" and self.is_acquired:
            self.is_acquired = False
            self.lost = True
            self._forget_node()
            self.client.remove_listener(self._on_state)

    def _forget_node(self) -> None:
        """Drop what the ended session held (override when there is state to drop)."""


class Lock(Held):
    """An exclusive lock: ``with client.Lock("/locks/a", "me"): ...``."""

    NODE_NAME = "__lock__"
    EXCLUDE_NAMES = ("__lock__",)  # children that block us, as kazoo's Lock

    def __init__(self, client, path: str, identifier=None) -> None:
        self.client = client
        self.path = path.rstrip("/") or "/"
        self.identifier = identifier
        self.data = str(identifier or "").encode("utf-8")
        self.prefix = f"{client._rng.getrandbits(128):032x}" + self.NODE_NAME
        self.create_path = self.path.rstrip("/") + "/" + self.prefix
        self.node: str | None = None
        self.is_acquired = False
        self.lost = False
        self._cancelled = False
        self._wake: Signal | None = None
        self._blocking_re = re.compile(r"(?:%s)(-?\d{10})$" % "|".join(self.EXCLUDE_NAMES))
        self._contenders_re = re.compile(
            r"(?:%s)(-?\d{10})$" % "|".join(set(self.EXCLUDE_NAMES) | {self.NODE_NAME}))

    # -- public API: values (blocking client) or Deferreds (Twisted client) ----------------------

    def acquire(self, blocking: bool = True, timeout: float | None = None, ephemeral: bool = True):
        """True once held; False if ``blocking=False`` and taken; LockTimeout after ``timeout``."""
        return self.client._run(self.acquire_steps(blocking, timeout, ephemeral))

    def contenders(self):
        """Identifiers of all contenders, the holder(s) first."""
        return self.client._run(self.contenders_steps())

    # -- steps ------------------------------------------------------------------------------------

    def acquire_steps(self, blocking=True, timeout=None, ephemeral=True):
        if self.is_acquired:
            if not blocking:
                return False
            raise RuntimeError(f"this Lock object already holds {self.path}")
        ops = self.client._ops
        self._cancelled = False
        deadline = None if timeout is None else (yield Now()) + timeout
        try:
            yield from retrying(lambda: ops.ensure_path(self.path), deadline=deadline)
            while True:
                if self.node is None:
                    self.node = yield from self._create_node(ephemeral, deadline)
                outcome = yield from self._wait_for_turn(blocking, deadline)
                if outcome is None:  # our node vanished (session expired): queue again
                    self.node = None
                    continue
                if outcome:
                    return self._held()
                yield from self._cleanup()
                return False
        except Exception:
            yield from self._cleanup()
            raise

    def _release_node_steps(self):
        node, self.node = self.node, None
        ops = self.client._ops
        try:
            yield from retrying(lambda: ops.delete(self.path + "/" + node))
        except errors.NoNodeError:
            pass

    def contenders_steps(self):
        ops = self.client._ops
        try:
            children = yield from retrying(lambda: ops.get_children(self.path))
        except errors.NoNodeError:
            return []
        identifiers = []
        for child in self._sorted(children, self._contenders_re):
            try:
                data, _stat = yield from retrying(lambda: ops.get(self.path + "/" + child))
            except errors.NoNodeError:
                continue
            identifiers.append(data.decode("utf-8"))
        return identifiers

    # -- inside acquire ---------------------------------------------------------------------------

    def _create_node(self, ephemeral, deadline):
        ops = self.client._ops
        create_tried = False
        while True:
            if self._cancelled:
                raise errors.CancelledError(f"acquire of {self.path} cancelled")
            try:
                if create_tried:  # the last create may have happened: look for our prefix
                    children = yield from retrying(lambda: ops.get_children(self.path),
                                                   deadline=deadline)
                    for child in children:
                        if child.startswith(self.prefix):
                            return child
                create_tried = True
                created = yield ops.create(self.create_path, self.data, ephemeral=ephemeral,
                                           sequence=True)
                return created.rsplit("/", 1)[1]
            except RETRYABLE:  # cut off (or its session gone): it may have happened
                if deadline is not None and (yield Now()) >= deadline:
                    raise errors.LockTimeout(f"no lock on {self.path}: connection lost") from None
                yield Sleep(_CREATE_RETRY_DELAY_S)

    def _wait_for_turn(self, blocking, deadline):
        """True when held, False when not (non-blocking), None when our node is gone."""
        ops = self.client._ops
        while True:
            if self._cancelled:
                raise errors.CancelledError(f"acquire of {self.path} cancelled")
            children = yield from retrying(lambda: ops.get_children(self.path), deadline=deadline)
            if self.node not in children:
                return None
            predecessor = self._predecessor(children)
            if predecessor is None:
                return True
            if not blocking:
                return False
            signal = self._wake = Signal()
            try:
                yield from retrying(lambda: ops.get(self.path + "/" + predecessor, watch=signal),
                                    deadline=deadline)
            except errors.NoNodeError:
                continue  # already gone: look again
            remaining = None
            if deadline is not None:
                remaining = deadline - (yield Now())
                if remaining <= 0:
                    raise errors.LockTimeout(f"no lock on {self.path} within the timeout")
            if self._cancelled:  # cancel() came before self._wake was this round's signal
                raise errors.CancelledError(f"acquire of {self.path} cancelled")
            if not (yield Wait(signal, remaining)):
                raise errors.LockTimeout(f"no lock on {self.path} within the timeout")

    def _predecessor(self, children):
        """The conflicting child just before ours, or None (kazoo's ``_get_predecessor``)."""
        our_sequence = self.node[len(self.prefix):]
        before = []
        for child in children:
            match = self._blocking_re.search(child)
            if match is not None and match.group(1) < our_sequence:
                before.append(match)
        if not before:
            return None
        return max(before, key=lambda m: m.groups()).string

    @staticmethod
    def _sorted(children, pattern):
        matches = [m for m in map(pattern.search, children) if m is not None]
        return [m.string for m in sorted(matches, key=lambda m: m.groups())]

    def _cleanup(self):
        """Best effort: remove our node after a failed or abandoned acquire."""
        node, self.node = self.node, None
        if node is None:
            return
        try:
            yield self.client._ops.delete(self.path + "/" + node)
        except errors.CoordClientError:
            pass  # ephemeral: it goes with the session at worst

    def _forget_node(self) -> None:
        self.node = None


class WriteLock(Lock):
    """Exclusive against readers and writers (kazoo's WriteLock)."""

    NODE_NAME = "__lock__"
    EXCLUDE_NAMES = ("__lock__", "__rlock__")


class ReadLock(Lock):
    """Shared among readers, exclusive against writers (kazoo's ReadLock)."""

    NODE_NAME = "__rlock__"
    EXCLUDE_NAMES = ("__lock__",)
