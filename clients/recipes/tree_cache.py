"""TreeCache: a local mirror of a subtree, with an event per change (Curator's TreeCache idea).

Theory of operation.  One persistent recursive watch on the root (ZooKeeper 3.6+) reports every
created, changed and deleted node below it.  The cache registers the watch *before* reading the
tree, so nothing that changes during the initial walk is missed (at worst it is read twice).
Each notification is resolved by reading the node again (CREATED/CHANGED -> getData; a NoNode
answer or DELETED -> the node and everything below it are removed), so the cache always holds
what the server returned, never a guess.  A persistent watch is re-registered after a reconnect
but ZooKeeper replays no missed events for it, so after every reconnection (and after a new
session, when the watch is added again) the whole tree is walked and compared with the cache:
the differences become events as if they had just happened.

Events go to ``listener(TreeEvent)``: NODE_ADDED, NODE_UPDATED, NODE_REMOVED, then INITIALIZED
once after the first full walk.  ``get_data(path)`` / ``get_children(path)`` read the mirror.
"""

from __future__ import annotations

from typing import NamedTuple

from .. import errors
from ..steps import RETRYABLE, Invoke, Signal, Sleep, Wait

__all__ = ["TreeCache", "TreeEvent"]

_OUTAGE = RETRYABLE + (errors.SessionExpiredError,)
_OUTAGE_PAUSE_S = 0.2
MAX_EVENTS_PER_ROUND = 10000  # bounds one round's work; the rest waits for the next round


class TreeEvent(NamedTuple):
    type: str  # NODE_ADDED NODE_UPDATED NODE_REMOVED INITIALIZED
    path: str | None
    data: bytes | None
    stat: object


class TreeCache:
    def __init__(self, client, path: str, listener=None) -> None:
        self.client = client
        self.path = path.rstrip("/") or "/"
        self.listener = listener
        self.nodes: dict[str, tuple[bytes, object]] = {}  # path -> (data, stat)
        self.initialized = False
        self._stopped = False
        self._signal = Signal()
        self._pending: list = []  # watch events not yet resolved

    # -- the mirror -------------------------------------------------------------------------------

    def get_data(self, path: str):
        """``(data, stat)`` of a cached node, or None."""
        return self.nodes.get(path)

    def get_children(self, path: str):
        """Names of the cached children of ``path`` (None if ``path`` is not cached)."""
        if path not in self.nodes:
            return None
        prefix = path.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.nodes
                      if p.startswith(prefix) and "/" not in p[len(prefix):])

    # -- running ----------------------------------------------------------------------------------

    def run(self):
        """Keep the mirror up to date until ``stop()`` (blocks; a Deferred on Twisted)."""
        return self.client._run(self.run_steps())

    def stop(self) -> None:
        self._stopped = True
        self._signal()

    def _on_watch(self, event) -> None:
        self._pending.append(event)
        self._signal(event)

    def run_steps(self):
        ops = self.client._ops
        signal = self._signal
        synced_connection = None  # the session's connection count at the last full walk
        try:
            while not self._stopped:
                signal.reset()
                if not self.client.connected:
                    yield Wait(signal, 1.0)
                    continue
                try:
                    if synced_connection != self.client._session.connections:
                        # First run, or a reconnection: events may have been missed.
                        synced_connection = self.client._session.connections
                        yield ops.add_watch(self.path, self._on_watch, recursive=True)
                        yield from self._sync()
                        if not self.initialized:
                            self.initialized = True
                            yield from self._emit("INITIALIZED", None, None, None)
                    yield from self._resolve_pending()
                except _OUTAGE:
                    synced_connection = None
                    yield Sleep(_OUTAGE_PAUSE_S)
                    continue
                if not self._pending and not self._stopped:
                    yield Wait(signal, None)
        finally:
            self.client.forget_watch(self.path, self._on_watch, recursive=True)

    def _sync(self):
        """Walk the subtree and turn the differences with the cache into events."""
        ops = self.client._ops
        self._pending.clear()  # the walk reads everything anyway
        seen = {}
        stack = [self.path]
        while stack:
            path = stack.pop()
            try:
                data, stat = yield ops.get(path)
                children = yield ops.get_children(path)
            except errors.NoNodeError:
                continue
            seen[path] = (data, stat)
            stack.extend(f"{path.rstrip('/')}/{child}" for child in children)
        for path in sorted(set(self.nodes) - set(seen), reverse=True):
            data, stat = self.nodes.pop(path)
            yield from self._emit("NODE_REMOVED", path, data, stat)
        for path in sorted(seen):
            data, stat = seen[path]
            old = self.nodes.get(path)
            self.nodes[path] = (data, stat)
            if old is None:
                yield from self._emit("NODE_ADDED", path, data, stat)
            elif old[1].mzxid != stat.mzxid:
                yield from self._emit("NODE_UPDATED", path, data, stat)

    def _resolve_pending(self):
        ops = self.client._ops
        for _ in range(MAX_EVENTS_PER_ROUND):
            if not self._pending:
                return
            event = self._pending.pop(0)
            path = event.path
            if path is None:
                continue
            if event.type == "DELETED":
                yield from self._remove_subtree(path)
                continue
            try:
                data, stat = yield ops.get(path)
            except errors.NoNodeError:
                yield from self._remove_subtree(path)
                continue
            old = self.nodes.get(path)
            if old is not None and old[1].mzxid == stat.mzxid:
                continue  # already seen (e.g. read by the initial walk)
            self.nodes[path] = (data, stat)
            yield from self._emit("NODE_ADDED" if old is None else "NODE_UPDATED", path, data,
                                  stat)

    def _remove_subtree(self, path):
        prefix = path.rstrip("/") + "/"
        for cached in sorted((p for p in self.nodes if p == path or p.startswith(prefix)),
                             reverse=True):
            data, stat = self.nodes.pop(cached)
            yield from self._emit("NODE_REMOVED", cached, data, stat)

    def _emit(self, kind, path, data, stat):
        if self.listener is not None:
            yield Invoke(self.listener, (TreeEvent(kind, path, data, stat),))

