"""The client library a run drives the servers through, behind the one interface workloads use.

Theory of operation
-------------------
``--client kazoo`` (the default) drives coord and ZooKeeper alike through kazoo, an independent
third-party client, so comparing the two systems never rests on coord's own client.
``--client coord`` drives them through coord's blocking client (``clients/blocking.py``): that
tests our client and our server together, and our client against ZooKeeper. Everything that
differs between the two libraries is in this module; ``workloads.py`` sees only :class:`Client`:

* :func:`connect` opens a session; :meth:`Client.close` says whether the server acknowledged the
  closeSession (only then are the session and its ephemerals certainly gone);
* the operations the workloads need, each bounded by ``op_timeout_s``, with kazoo's values
  (``get`` -> ``(data, stat)``, ``stat.version``, ``stat.mzxid``);
* errors classified (:class:`ClientError`): :class:`Rejected` (the server said no, so the
  operation did not take effect: :class:`NodeExists`, :class:`NoNode`, :class:`BadVersion`),
  :class:`Unknown` (connection loss, timeout: it may have) and :class:`SessionExpired`; each keeps
  the library's own exception name (``name``) for the history;
* watch callbacks get a :class:`WatchEvent`: ``changed`` when the node changed, or not when the
  client dropped its watches;
* ``on_state(StateChange)`` at SUSPENDED and LOST, always called before the callbacks of the
  watches that change dropped get their events; the session id; the member connected to;
* the Lock recipe: kazoo's, or ``clients/recipes/lock.py`` (the same znode protocol).

When watches are dropped is the one difference the workloads must know about (the ``watches``
workload re-arms after a drop, and must not re-arm a watch that is still set, see
``WatchesWorkload._armed``). kazoo forgets every watch whenever a connection drops (SUSPENDED or
LOST) and fires each with a NONE event after telling its listeners. coord's client keeps them:
on the next connection it registers them again (SetWatches with the last zxid it saw, as the Java
client does, so the server fires at once for a change the client missed), so a disconnection
drops nothing and is not a reason to re-arm. It forgets them only when the session expires, and
then, as kazoo does, fires each with a NONE event after telling its listeners.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, NamedTuple

__all__ = [
    "CLIENTS", "LOST", "SUSPENDED", "BadVersion", "Client", "ClientError", "Lock", "LockTimeout", "NoNode",
    "NodeExists", "Rejected", "SessionExpired", "StateChange", "Unknown", "WatchEvent", "connect",
]

SUSPENDED = "SUSPENDED"  # kazoo's and coord's state names
LOST = "LOST"


# -- errors -------------------------------------------------------------------------------------


class ClientError(Exception):
    """An operation's error, from either library; ``name`` is that library's exception name."""

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(f"{name}: {detail}" if detail else name)
        self.name = name


class Rejected(ClientError):
    """The server answered with an error: the operation did not take effect."""


class NodeExists(Rejected):
    pass


class NoNode(Rejected):
    pass


class BadVersion(Rejected):
    pass


class LockTimeout(ClientError):
    """The lock was not acquired within the timeout."""


class Unknown(ClientError):
    """Connection loss or timeout: the operation may or may not have taken effect."""


class SessionExpired(ClientError):
    """The session is gone (expired, or the client was closed)."""


@contextmanager
def _translated(table: tuple[tuple[type, type[ClientError]], ...]) -> Iterator[None]:
    """Re-raise a library's exception as the first :class:`ClientError` the table maps it to."""
    try:
        yield
    except ClientError:
        raise
    except Exception as problem:
        for theirs, ours in table:
            if isinstance(problem, theirs):
                raise ours(type(problem).__name__, str(problem)) from problem
        raise


# -- what workloads receive -----------------------------------------------------------------------


class WatchEvent(NamedTuple):
    """``changed``: the node changed (a notification); otherwise the client dropped its watches
    and the watch must be set again to hear of later changes."""

    changed: bool
    path: str | None = None


class StateChange(NamedTuple):
    """``state`` is SUSPENDED or LOST; ``watches_dropped``: the client forgot its watches with it."""

    state: str
    watches_dropped: bool


class Lock:
    """One contender of a lock recipe: ``acquire(timeout_s)`` True once held (raises
    :class:`LockTimeout`), ``release()``; ``path`` and ``prefix`` name its contender node as
    ``<path>/<prefix><sequence>``."""

    def __init__(self, recipe: Any, errors: tuple) -> None:
        self._recipe = recipe
        self._errors = errors
        self.path: str = recipe.path
        self.prefix: str = recipe.prefix

    def acquire(self, timeout_s: float) -> bool:
        with _translated(self._errors):
            return self._recipe.acquire(timeout=timeout_s)

    def release(self) -> bool:
        with _translated(self._errors):
            return self._recipe.release()


class Client:
    """One session of either library; made and started by :func:`connect`."""

    name = "client"
    errors: tuple[tuple[type, type[ClientError]], ...] = ()

    def __init__(self, on_state: Callable[[StateChange], None], op_timeout_s: float) -> None:
        self._on_state = on_state
        self.op_timeout_s = op_timeout_s
        # One wrapper per callback: both libraries keep one registration per (path, callback), so
        # setting a watch again with the same callback must pass the same object.
        self._wrappers: dict[Callable[[WatchEvent], None], Callable[[Any], None]] = {}
        self._wrappers_lock = threading.Lock()

    def _wrapper(self, callback: Callable[[WatchEvent], None] | None) -> Callable[[Any], None] | None:
        if callback is None:
            return None
        with self._wrappers_lock:
            wrapper = self._wrappers.get(callback)
            if wrapper is None:
                wrapper = self._wrappers[callback] = self._wrap(callback)
            return wrapper

    @staticmethod
    def _wrap(callback: Callable[[WatchEvent], None]) -> Callable[[Any], None]:
        # Both libraries call a watch with an event whose type is the string "NONE" when they
        # dropped it (kazoo's EventType.NONE == "NONE"), else with the change's type.
        return lambda event: callback(WatchEvent(event.type != "NONE", event.path))

    # Implemented per library.
    def start(self, timeout_s: float) -> None:
        raise NotImplementedError

    def close(self) -> bool:
        """Close the session; True only if the server acknowledged the closeSession."""
        raise NotImplementedError

    @property
    def session_id(self) -> int | None:
        raise NotImplementedError

    @property
    def member(self) -> str | None:
        """``host:port`` of the member this session is connected to now, if known."""
        raise NotImplementedError

    def create(self, path: str, value: bytes = b"", *, ephemeral: bool = False, sequence: bool = False) -> str:
        raise NotImplementedError

    def get(self, path: str, watch: Callable[[WatchEvent], None] | None = None) -> tuple[bytes, Any]:
        raise NotImplementedError

    def set(self, path: str, value: bytes, version: int = -1) -> Any:
        raise NotImplementedError

    def get_children(self, path: str) -> list[str]:
        raise NotImplementedError

    def sync(self, path: str) -> Any:
        raise NotImplementedError

    def ensure_path(self, path: str) -> Any:
        raise NotImplementedError

    def lock(self, path: str, identifier: str) -> Lock:
        raise NotImplementedError


# -- kazoo --------------------------------------------------------------------------------------

_BLATHER = 5  # kazoo's most verbose log level; "Read close response" is logged there


class _CloseResponseSeen(logging.Handler):
    """kazoo reads the server's answer to closeSession but tells nobody; its log line says so."""

    def __init__(self) -> None:
        super().__init__(level=_BLATHER)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        # The raw format string, not getMessage(): formatting every request kazoo logs would cost.
        if "close response" in str(record.msg):
            self.seen.set()


def _kazoo_errors() -> tuple:
    from kazoo import exceptions as kz
    from kazoo.handlers.threading import KazooTimeoutError

    return ((kz.NodeExistsError, NodeExists), (kz.NoNodeError, NoNode), (kz.BadVersionError, BadVersion),
            (kz.SessionExpiredError, SessionExpired), (kz.LockTimeout, LockTimeout),
            (kz.ConnectionLoss, Unknown), (kz.OperationTimeoutError, Unknown), (kz.ZookeeperError, Rejected),
            (kz.KazooException, Unknown), (KazooTimeoutError, Unknown))


class KazooAdapter(Client):
    name = "kazoo"

    def __init__(self, hosts: str, *, session_timeout_s: float, op_timeout_s: float,
                 on_state: Callable[[StateChange], None], log_name: str) -> None:
        from kazoo.client import KazooClient

        super().__init__(on_state, op_timeout_s)
        self.errors = _kazoo_errors()
        # A logger of its own, outside logging's registry (so reconnects do not accumulate loggers)
        # and with no parent (so kazoo's chatter goes nowhere else).
        logger = logging.Logger(log_name, level=_BLATHER)
        self._close_seen = _CloseResponseSeen()
        logger.addHandler(self._close_seen)
        self._kazoo = KazooClient(hosts=hosts, timeout=session_timeout_s, randomize_hosts=False, logger=logger,
                                  connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0})
        self._kazoo.add_listener(self._state_listener)

    def _state_listener(self, state: str) -> None:
        # kazoo calls listeners on its connection thread as the state changes, before it fires
        # the watches it forgets with a NONE event: on_state comes first, as promised.
        if state in (SUSPENDED, LOST):
            self._on_state(StateChange(str(state), watches_dropped=True))

    def _wait(self, async_result: Any) -> Any:
        with _translated(self.errors):
            return async_result.get(timeout=self.op_timeout_s)

    def start(self, timeout_s):
        self._kazoo.start(timeout=timeout_s)

    def close(self):
        try:
            self._kazoo.stop()
            self._kazoo.close()
        except Exception:  # noqa: BLE001 - a broken client is closed as far as it goes
            return False
        return self._close_seen.seen.is_set()

    @property
    def session_id(self):
        client_id = self._kazoo.client_id
        return None if client_id is None else client_id[0]

    @property
    def member(self):
        # kazoo does not expose its socket publicly; without it the member is simply unknown.
        sock = getattr(getattr(self._kazoo, "_connection", None), "_socket", None)
        try:
            return "%s:%d" % sock.getpeername()[:2]
        except (AttributeError, OSError, TypeError):
            return None

    def create(self, path, value=b"", *, ephemeral=False, sequence=False):
        return self._wait(self._kazoo.create_async(path, value, ephemeral=ephemeral, sequence=sequence))

    def get(self, path, watch=None):
        return self._wait(self._kazoo.get_async(path, watch=self._wrapper(watch)))

    def set(self, path, value, version=-1):
        return self._wait(self._kazoo.set_async(path, value, version=version))

    def get_children(self, path):
        return self._wait(self._kazoo.get_children_async(path))

    def sync(self, path):
        return self._wait(self._kazoo.sync_async(path))

    def ensure_path(self, path):
        return self._wait(self._kazoo.ensure_path_async(path))

    def lock(self, path, identifier):
        from kazoo.recipe.lock import Lock as KazooLock

        return Lock(KazooLock(self._kazoo, path, identifier=identifier), self.errors)


# -- coord's blocking client ----------------------------------------------------------------------


def _coord_errors() -> tuple:
    from clients import errors as ce

    return ((ce.NodeExistsError, NodeExists), (ce.NoNodeError, NoNode), (ce.BadVersionError, BadVersion),
            (ce.SessionExpiredError, SessionExpired), (ce.LockTimeout, LockTimeout),
            (ce.ConnectionLoss, Unknown), (ce.OperationTimeoutError, Unknown), (ce.ClientTimeoutError, Unknown),
            (ce.ZookeeperError, Rejected), (ce.CoordClientError, Unknown))


class CoordAdapter(Client):
    name = "coord"

    def __init__(self, hosts: str, *, session_timeout_s: float, op_timeout_s: float,
                 on_state: Callable[[StateChange], None], log_name: str) -> None:  # noqa: ARG002
        from clients.blocking import Client as BlockingClient

        super().__init__(on_state, op_timeout_s)
        self.errors = _coord_errors()
        # Hosts in the order given (as kazoo's randomize_hosts=False), so workers start at the
        # members in rotation; every call bounded by op_timeout_s.
        self._client = BlockingClient(hosts, timeout=session_timeout_s, command_timeout=op_timeout_s,
                                      randomize_hosts=False)
        self._client.add_listener(self._state_listener)

    def _state_listener(self, state: str) -> None:
        # On the client's callback thread, before the watch callbacks of the same change. A
        # disconnection drops no watch (re-registered on the next connection); an expiry drops all
        # of them, and the client then fires each with a NONE event (see the module docstring).
        if state == SUSPENDED:
            self._on_state(StateChange(SUSPENDED, watches_dropped=False))
        elif state == LOST:
            self._on_state(StateChange(LOST, watches_dropped=True))

    def start(self, timeout_s):
        self._client.start(timeout=timeout_s)

    def close(self):
        try:
            return self._client.stop()
        except Exception:  # noqa: BLE001 - a broken client is closed as far as it goes
            return False

    @property
    def session_id(self):
        client_id = self._client.client_id
        return None if client_id is None else client_id[0]

    @property
    def member(self):
        host = self._client.connected_host
        return None if host is None else "%s:%d" % host

    def create(self, path, value=b"", *, ephemeral=False, sequence=False):
        with _translated(self.errors):
            return self._client.create(path, value, ephemeral=ephemeral, sequence=sequence)

    def get(self, path, watch=None):
        with _translated(self.errors):
            return self._client.get(path, watch=self._wrapper(watch))

    def set(self, path, value, version=-1):
        with _translated(self.errors):
            return self._client.set(path, value, version=version)

    def get_children(self, path):
        with _translated(self.errors):
            return self._client.get_children(path)

    def sync(self, path):
        with _translated(self.errors):
            return self._client.sync(path)

    def ensure_path(self, path):
        with _translated(self.errors):
            return self._client.ensure_path(path)

    def lock(self, path, identifier):
        return Lock(self._client.Lock(path, identifier), self.errors)


CLIENTS: dict[str, type[Client]] = {"kazoo": KazooAdapter, "coord": CoordAdapter}


def connect(kind: str, hosts: str, *, session_timeout_s: float, op_timeout_s: float,
            on_state: Callable[[StateChange], None], timeout_s: float = 30.0, log_name: str = "jepsen_like") -> Client:
    """A started session of client ``kind`` (a :data:`CLIENTS` key) on ``hosts`` (tried in order)."""
    try:
        factory = CLIENTS[kind]
    except KeyError:
        raise ValueError(f"unknown client {kind!r}; known: {', '.join(CLIENTS)}") from None
    client = factory(hosts, session_timeout_s=session_timeout_s, op_timeout_s=op_timeout_s, on_state=on_state,
                     log_name=log_name)
    client.start(timeout_s)
    return client
