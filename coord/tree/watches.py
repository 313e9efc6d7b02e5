"""Watch registrations and what a change triggers.

Theory of operation
-------------------
Two registries, as in ZooKeeper's WatchManager pair: *data* (exists/getData watches, persistent and
persistent-recursive watches) and *child* (getChildren watches, persistent watches). Each maps
path -> {watcher: mode bits}; a watcher is whatever hashable the server uses for a connection.

A trigger ``(event_type, path)`` from ``DataTree.apply`` fires:
- NodeCreated / NodeDataChanged: data entries on ``path``, plus recursive entries on its ancestors;
- NodeDeleted: the same, then child entries on ``path`` for watchers not already notified;
- NodeChildrenChanged: child entries on ``path`` (recursive entries never see this event).
Standard entries are one-shot (cleared when they fire); persistent and recursive entries stay, even
when the node is deleted. Each trigger notifies a watcher at most once, however many entries it has.
"""

from coord.protocol.codes import EventType, WatcherType

STANDARD, PERSISTENT, RECURSIVE = 1, 2, 4

_DELETED = EventType.NODE_DELETED
_CHILDREN_CHANGED = EventType.NODE_CHILDREN_CHANGED


class WatchManager:
    def __init__(self):
        self.data = {}        # path -> {watcher: bits}
        self.child = {}       # path -> {watcher: bits}
        self._recursive_count = 0
        self._by_watcher = {}  # watcher -> set of (registry is data?, path)

    # -- registration ----------------------------------------------------------------------------

    def _add(self, registry, path, watcher, bits):
        entries = registry.get(path)
        if entries is None:
            entries = registry[path] = {}
        old = entries.get(watcher, 0)
        if bits & RECURSIVE and not old & RECURSIVE:
            self._recursive_count += 1
        entries[watcher] = old | bits
        self._by_watcher.setdefault(watcher, set()).add((registry is self.data, path))

    def add_data_watch(self, path, watcher):
        self._add(self.data, path, watcher, STANDARD)

    def add_child_watch(self, path, watcher):
        self._add(self.child, path, watcher, STANDARD)

    def add_persistent_watch(self, path, watcher, recursive):
        if recursive:
            self._add(self.data, path, watcher, RECURSIVE)
        else:
            self._add(self.data, path, watcher, PERSISTENT)
            self._add(self.child, path, watcher, PERSISTENT)

    def _clear_bits(self, registry, path, watcher, bits):
        """Clear ``bits`` of one entry; True if any of them were set."""
        entries = registry.get(path)
        if not entries:
            return False
        old = entries.get(watcher, 0)
        if not old & bits:
            return False
        if old & bits & RECURSIVE:
            self._recursive_count -= 1
        new = old & ~bits
        if new:
            entries[watcher] = new
        else:
            del entries[watcher]
            if not entries:
                del registry[path]
            keys = self._by_watcher.get(watcher)
            if keys is not None:
                keys.discard((registry is self.data, path))
                if not keys:
                    del self._by_watcher[watcher]
        return True

    # -- check / remove (checkWatches, removeWatches) --------------------------------------------

    def _selection(self, watcher_type):
        """(data bits, child bits) a WatcherType refers to."""
        if watcher_type == WatcherType.CHILDREN:
            return 0, STANDARD
        if watcher_type == WatcherType.DATA:
            return STANDARD, 0
        if watcher_type == WatcherType.ANY:
            return STANDARD | PERSISTENT | RECURSIVE, STANDARD | PERSISTENT
        if watcher_type == WatcherType.PERSISTENT:
            return PERSISTENT, PERSISTENT
        if watcher_type == WatcherType.PERSISTENT_RECURSIVE:
            return RECURSIVE, 0
        raise ValueError("unknown watcher type %r" % watcher_type)

    def has(self, path, watcher, watcher_type):
        data_bits, child_bits = self._selection(watcher_type)
        return bool(self.data.get(path, {}).get(watcher, 0) & data_bits
                    or self.child.get(path, {}).get(watcher, 0) & child_bits)

    def remove(self, path, watcher, watcher_type):
        """Remove this watcher's entries of a type on ``path``; True if anything was removed."""
        data_bits, child_bits = self._selection(watcher_type)
        removed = self._clear_bits(self.data, path, watcher, data_bits) if data_bits else False
        if child_bits and self._clear_bits(self.child, path, watcher, child_bits):
            removed = True
        return removed

    def remove_watcher(self, watcher):
        """Forget every entry of a watcher (its connection went away)."""
        for is_data, path in list(self._by_watcher.get(watcher, ())):
            registry = self.data if is_data else self.child
            self._clear_bits(registry, path, watcher, STANDARD | PERSISTENT | RECURSIVE)
        self._by_watcher.pop(watcher, None)

    # -- triggering ------------------------------------------------------------------------------

    def _fire(self, registry, path, notified):
        entries = registry.get(path)
        if not entries:
            return
        spent = None
        for watcher, bits in entries.items():
            if watcher not in notified:
                notified[watcher] = None
            if bits & STANDARD:
                if spent is None:
                    spent = []
                spent.append(watcher)
        if spent:
            for watcher in spent:
                self._clear_bits(registry, path, watcher, STANDARD)

    def _fire_recursive_ancestors(self, path, notified):
        data = self.data
        while path != "/":
            cut = path.rfind("/")
            path = "/" if cut <= 0 else path[:cut]
            entries = data.get(path)
            if entries:
                for watcher, bits in entries.items():
                    if bits & RECURSIVE and watcher not in notified:
                        notified[watcher] = None

    def trigger(self, event_type, path):
        """Watchers to notify of one change, in registration order; one-shot entries are spent."""
        notified = {}
        if event_type == _CHILDREN_CHANGED:
            entries = self.child.get(path)
            if entries:
                self._fire(self.child, path, notified)
            return list(notified)
        self._fire(self.data, path, notified)
        if self._recursive_count:
            self._fire_recursive_ancestors(path, notified)
        if event_type == _DELETED:
            entries = self.child.get(path)
            if entries:
                already = dict(notified)
                child_notified = {}
                self._fire(self.child, path, child_notified)
                for watcher in child_notified:
                    if watcher not in already:
                        notified[watcher] = None
        return list(notified)

    # -- statistics (wchs / mntr) ----------------------------------------------------------------

    def summary(self):
        """(connections watching, watched paths, total watches) over the data registry, as wchs."""
        watchers = set()
        total = 0
        for entries in self.data.values():
            watchers.update(entries)
            total += len(entries)
        return len(watchers), len(self.data), total

    def total_count(self):
        return sum(len(e) for e in self.data.values()) + sum(len(e) for e in self.child.values())

    def paths_of(self, watcher):
        return sorted({path for _, path in self._by_watcher.get(watcher, ())})
