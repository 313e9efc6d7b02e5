"""kazoo's ``DataWatch`` and ``ChildrenWatch`` for the blocking client.

Theory of operation: the function is called once at creation and again after every change of
the node (or its children), from the client's callback thread; it keeps being called across
reconnects (the session re-registers the watch) and, after a session expiry, the node is read
again with a fresh watch once the new session is up.  Returning ``False`` stops the watch.  Each
read sets the next watch, so no change between two reads is missed (changes may be coalesced).
"""

from __future__ import annotations

import logging
import threading

from . import errors
from .session import State

__all__ = ["DataWatch", "ChildrenWatch"]

log = logging.getLogger(__name__)
_SESSION_GONE = (errors.ConnectionLoss, errors.SessionExpiredError, errors.ClientTimeoutError)


class _Watch:
    def __init__(self, client, path, func=None) -> None:
        self._client = client
        self._path = path
        self._func = None
        self._stopped = False
        self._last = object()
        self._lock = threading.Lock()  # the first read (caller's thread) vs the callback thread
        if func is not None:
            self(func)

    def __call__(self, func):
        self._func = func
        self._client.add_listener(self._on_state)
        self._refresh()
        return func

    def _on_state(self, state) -> None:
        if state == State.CONNECTED and not self._stopped:
            self._refresh()  # after an expiry the watch is gone: read again with a new one

    def _on_event(self, event) -> None:
        # NONE: the session expired and took the watch; _on_state reads again once a new
        # session is CONNECTED (reading now would only wait for it on the callback thread).
        if event.type != "NONE" and not self._stopped:
            self._refresh()

    def _refresh(self) -> None:
        with self._lock:
            if self._stopped:
                return
            try:
                value = self._read()
            except _SESSION_GONE:
                return  # the listener reads again once a session is back
            if value == self._last:
                return
            self._last = value
            try:
                keep = self._func(*value)
            except Exception:
                log.exception("%s function for %s raised", type(self).__name__, self._path)
                keep = None
            if keep is False:
                self._stopped = True
                self._client.remove_listener(self._on_state)


class DataWatch(_Watch):
    """``@client.DataWatch(path)`` -> ``func(data, stat)``; ``(None, None)`` while absent."""

    def _read(self):
        while True:
            try:
                data, stat = self._client.get(self._path, watch=self._on_event)
                return data, stat
            except errors.NoNodeError:
                stat = self._client.exists(self._path, watch=self._on_event)
                if stat is None:
                    return None, None
                # created in between: read it (the exists watch will fire as well)


class ChildrenWatch(_Watch):
    """``@client.ChildrenWatch(path)`` -> ``func(children)``; stops if the node is deleted."""

    def _read(self):
        try:
            return (sorted(self._client.get_children(self._path, watch=self._on_event)),)
        except errors.NoNodeError:
            self._stopped = True
            self._client.remove_listener(self._on_state)
            raise errors.ConnectionLoss("node gone") from None
