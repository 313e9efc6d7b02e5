"""The blocking client: kazoo's names and shapes over the sans-I/O ``ClientSession``.

Theory of operation.  Three kinds of thread meet here, and one lock (``_lock``) guards the session:

* the I/O thread owns the socket: it ``select``s on it and on a wake-up pipe, feeds bytes and
  timer ticks to the session, and carries out its outputs (connect, write, close);
* caller threads submit requests (under the lock; the bytes go to the I/O thread's write buffer)
  and wait on a per-request future, at most ``command_timeout`` seconds;
* the callback thread runs watch functions and state listeners one at a time, in the order the
  session produced them.  Don't block it waiting for a watch (that watch would need the same
  thread); blocking calls such as ``get`` are fine there, their replies come via the I/O thread.

Multi-step operations and recipes are step generators (``clients.steps``) run in the caller's
thread by ``_run``.
"""

from __future__ import annotations

import errno
import logging
import queue
import random
import select
import socket
import threading
import time
import weakref

from . import errors
from .ops import Call, Operations, TransactionRequest
from .recipes import RecipeFactories
from .retry import Retry, RetryPolicy
from .session import (
    ClientSession,
    Completed,
    ConnectTo,
    Disconnect,
    ProbeServer,
    RW_PROBE_TIMEOUT_S,
    State,
    StateChanged,
    WatchedEvent,
    WatchFired,
    WatchKind,
    Write,
)
from .steps import Invoke, Now, Signal, Sleep, Wait, run_sync

__all__ = ["Client", "State"]

log = logging.getLogger(__name__)

MAX_IDLE_SELECT_S = 1.0  # the I/O loop wakes at least this often (bounds every wait)
RECV_BYTES = 65536


class _Future:
    __slots__ = ("done", "err", "response")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.err = 0
        self.response = None


class Client(RecipeFactories):
    """``Client(hosts="h1:2181,h2:2181/chroot", timeout=10.0)``; ``start()``; calls; ``stop()``."""

    def __init__(self, hosts: str = "127.0.0.1:2181", timeout: float = 10.0, *,
                 command_timeout: float | None = None, read_only: bool = False,
                 auth_data=None, rng=None, randomize_hosts: bool = True) -> None:
        self._rng = rng or random.Random()
        self._session = ClientSession(hosts, rng=self._rng, session_timeout_s=timeout,
                                      read_only=read_only, randomize_hosts=randomize_hosts)
        self._ops = Operations(self._session.chroot)
        self.command_timeout = command_timeout if command_timeout is not None else timeout
        self._lock = threading.RLock()
        self._state_changed = threading.Condition(self._lock)
        self._futures: dict[int, _Future] = {}
        self._listeners: list = []
        self._state_signals: list[Signal] = []
        # Signals a recipe passed as watches: a state change fires them even before the recipe
        # reaches its Wait, since an expiry drops the watch itself (else a wake-up is lost).
        self._armed_signals: weakref.WeakSet = weakref.WeakSet()
        self._callbacks: queue.Queue = queue.Queue()
        self._sock: socket.socket | None = None
        self._sock_id = 0
        self._sock_connecting = False
        self._out = bytearray()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._io_thread: threading.Thread | None = None
        self._callback_thread: threading.Thread | None = None
        self._stopping = False
        for scheme, credential in auth_data or ():
            self._session.add_auth(0.0, scheme, _credential_bytes(credential))

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._session.state

    @property
    def connected(self) -> bool:
        return self._session.connected

    @property
    def client_id(self) -> tuple[int, bytes] | None:
        """``(session_id, password)`` of the current session (kazoo's name)."""
        session = self._session
        return (session.session_id, session.passwd) if session.session_id else None

    @property
    def chroot(self) -> str:
        return self._session.chroot

    @property
    def connected_host(self) -> tuple[str, int] | None:
        """``(host, port)`` of the server this client is connected to now, else None."""
        return self._session.connected_host

    def start_async(self) -> None:
        """Start connecting and return at once (kazoo's name); calls wait for the session."""
        if self._io_thread is not None:
            raise RuntimeError("Client.start() called twice")
        self._io_thread = threading.Thread(target=self._io_loop, name="coord-client-io",
                                           daemon=True)
        self._callback_thread = threading.Thread(target=self._callback_loop,
                                                 name="coord-client-callbacks", daemon=True)
        self._callback_thread.start()
        with self._lock:
            self._session.start(time.monotonic())
        self._io_thread.start()
        self._wake()

    def start(self, timeout: float = 15.0) -> None:
        """Connect and wait (at most ``timeout`` s) for a session; raises ClientTimeoutError."""
        self.start_async()
        deadline = time.monotonic() + timeout
        with self._state_changed:
            while not self._session.connected:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._session.state is State.CLOSED:
                    break
                self._state_changed.wait(min(remaining, MAX_IDLE_SELECT_S))
            connected = self._session.connected
        if not connected:
            self.stop()
            raise errors.ClientTimeoutError(f"no session with {self._hosts_text()} in {timeout} s")

    def stop(self, timeout: float = 5.0) -> bool:
        """Close the session (CLOSE_SESSION, bounded by ``timeout``) and stop both threads.

        Returns whether the server acknowledged the close: only then are the session and its
        ephemerals certainly gone (otherwise they may live on until the session expires)."""
        if self._stopping:
            return self._session.close_acknowledged
        with self._lock:
            self._session.close(time.monotonic(), timeout)
            self._drain()
        deadline = time.monotonic() + timeout
        with self._state_changed:
            while self._session.state is not State.CLOSED:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._state_changed.wait(min(remaining, 0.2))
        self._stopping = True
        self._wake()
        if self._io_thread is not None and self._io_thread is not threading.current_thread():
            self._io_thread.join(timeout)
        self._callbacks.put(None)
        if self._callback_thread is not None and \
                self._callback_thread is not threading.current_thread():
            self._callback_thread.join(timeout)
        self._close_socket()
        self._wake_r.close()
        self._wake_w.close()
        return self._session.close_acknowledged

    def close(self) -> None:
        """kazoo has stop() then close(); everything is released by stop() here."""

    def add_listener(self, listener) -> None:
        """``listener(state)`` on the callback thread at every state change."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def wait_for_callbacks(self, timeout: float = 5.0) -> bool:
        """Wait (at most ``timeout`` s) until every watch and listener call queued so far has
        run: after a write returns, the watches it fired are queued, so this orders their effects
        before the caller's next step. False on timeout, or when called on the callback thread."""
        if self._callback_thread is None or self._stopping or \
                self._callback_thread is threading.current_thread():
            return False
        done = threading.Event()
        self._callbacks.put((lambda _argument: done.set(), None))
        return done.wait(timeout)

    def add_auth(self, scheme: str, credential) -> None:
        with self._lock:
            self._session.add_auth(time.monotonic(), scheme, _credential_bytes(credential))
            self._drain()

    # -- operations (kazoo's names and shapes) ----------------------------------------------------

    def create(self, path, value=b"", acl=None, ephemeral=False, sequence=False, makepath=False,
               include_data=False):
        if makepath:
            return self._run(self._ops.create_makepath(path, value, acl, ephemeral, sequence,
                                                       include_data))
        return self._execute(self._ops.create(path, value, acl, ephemeral, sequence,
                                              include_data))

    def get(self, path, watch=None):
        return self._execute(self._ops.get(path, watch))

    def set(self, path, value, version=-1):
        return self._execute(self._ops.set(path, value, version))

    def delete(self, path, version=-1, recursive=False):
        if recursive:
            return self._run(self._ops.delete_recursive(path, version))
        return self._execute(self._ops.delete(path, version))

    def exists(self, path, watch=None):
        return self._execute(self._ops.exists(path, watch))

    def get_children(self, path, watch=None, include_data=False):
        return self._execute(self._ops.get_children(path, watch, include_data))

    def ensure_path(self, path, acl=None):
        return self._run(self._ops.ensure_path(path, acl))

    def sync(self, path):
        return self._execute(self._ops.sync(path))

    def get_acls(self, path):
        return self._execute(self._ops.get_acls(path))

    def set_acls(self, path, acls, version=-1):
        return self._execute(self._ops.set_acls(path, acls, version))

    def add_watch(self, path, watch, recursive=False):
        """A persistent watch (recursive: on the whole subtree); ``watch(event)`` every change."""
        return self._execute(self._ops.add_watch(path, watch, recursive))

    def forget_watch(self, path, watch, recursive=False) -> None:
        """Stop calling a persistent watch (client side; the server drops its registration when
        the session ends)."""
        kind = WatchKind.PERSISTENT_RECURSIVE if recursive else WatchKind.PERSISTENT
        with self._lock:
            self._session.remove_watcher(kind, path, watch)

    def transaction(self) -> TransactionRequest:
        return TransactionRequest(self)

    def retry(self, func, *args, max_tries=None, deadline_s=None, **kwargs):
        """Run ``func`` again after connection loss or timeout, with back-off and jitter.

        Default: retry for at most one session timeout.
        """
        if max_tries is None and deadline_s is None:
            deadline_s = self._session.requested_timeout_ms / 1000
        policy = RetryPolicy(max_tries=max_tries, deadline_s=deadline_s)
        return Retry(policy, sleep=time.sleep, now=time.monotonic, rng=self._rng)(
            func, *args, **kwargs)

    def DataWatch(self, path, func=None):
        from .watchers import DataWatch
        return DataWatch(self, path, func)

    def ChildrenWatch(self, path, func=None):
        from .watchers import ChildrenWatch
        return ChildrenWatch(self, path, func)

    @property
    def ops(self) -> Operations:
        """Builds the ``Call`` steps recipes yield (paths under this client's chroot)."""
        return self._ops

    def run_steps(self, steps):
        """Run a step generator (``clients.steps``), e.g. a recipe of your own."""
        return self._run(steps)

    # -- calls and steps --------------------------------------------------------------------------

    def _execute(self, call: Call, timeout: float | None = None):
        """Submit one request and wait for its value (or typed exception)."""
        future = _Future()
        with self._lock:
            request_id = self._session.submit(time.monotonic(), call.opcode, call.record,
                                              call.watch, call.watch_path,
                                              call.wait_for_connection)
            self._futures[request_id] = future
            self._drain()
        timeout = self.command_timeout if timeout is None else timeout
        if not future.done.wait(timeout):
            with self._lock:
                self._futures.pop(request_id, None)
                unsent = self._session.cancel(request_id)
            if not future.done.is_set():
                state = "never sent" if unsent else "outcome unknown"
                raise errors.ClientTimeoutError(
                    f"{type(call.record).__name__} got no reply within {timeout} s ({state})")
        return call.result(future.err, future.response)

    def _run(self, steps):
        return run_sync(steps, self._perform)

    def _perform(self, step):
        if isinstance(step, Call):
            if step.watch is not None and isinstance(step.watch.watcher, Signal):
                with self._lock:
                    self._armed_signals.add(step.watch.watcher)
            return self._execute(step)
        if isinstance(step, Wait):
            return self._wait(step.signal, step.timeout_s)
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            return None
        if isinstance(step, Now):
            return time.monotonic()
        if isinstance(step, Invoke):
            return step.func(*step.args)
        raise TypeError(f"not a step: {step!r}")

    def _wait(self, signal: Signal, timeout_s: float | None) -> bool:
        woken = threading.Event()
        signal.add_listener(woken.set)
        with self._lock:
            self._state_signals.append(signal)
        try:
            # Bounded even without a timeout: a stopped client wakes every waiter.
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            while not woken.is_set():
                if self._stopping:
                    raise errors.ConnectionClosedError("the client was stopped")
                remaining = MAX_IDLE_SELECT_S if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    return False
                woken.wait(min(remaining, MAX_IDLE_SELECT_S))
            return True
        finally:
            signal.remove_listener(woken.set)
            with self._lock:
                if signal in self._state_signals:
                    self._state_signals.remove(signal)

    # -- session outputs --------------------------------------------------------------------------

    def _drain(self) -> None:
        """Carry out everything the session asked for (caller holds ``_lock``)."""
        while True:
            outputs = self._session.pop_outputs()
            if not outputs:
                return
            for output in outputs:
                self._carry_out(output)

    def _carry_out(self, output) -> None:
        if isinstance(output, Write):
            if output.conn_id == self._sock_id and self._sock is not None:
                self._out += output.data
                self._wake()
        elif isinstance(output, Completed):
            future = self._futures.pop(output.request_id, None)
            if future is not None:
                future.err, future.response = output.err, output.response
                future.done.set()
        elif isinstance(output, WatchFired):
            for watcher in output.watchers:
                self._callbacks.put((watcher, output.event))
        elif isinstance(output, StateChanged):
            self._state_changed.notify_all()
            for listener in self._listeners:
                self._callbacks.put((listener, output.new))
            event = WatchedEvent("NONE", output.new.value, None)
            for signal in set(self._state_signals) | set(self._armed_signals):
                self._callbacks.put((signal, event))
        elif isinstance(output, ConnectTo):
            self._open_socket(output)
        elif isinstance(output, Disconnect):
            if output.conn_id == self._sock_id:
                self._close_socket()
        elif isinstance(output, ProbeServer):
            threading.Thread(target=self._probe, args=(output,), daemon=True,
                             name="coord-client-isro-probe").start()

    def _probe(self, output: ProbeServer) -> None:
        """Ask a server ``isro`` on a separate socket (its own short-lived thread)."""
        answer = None
        try:
            with socket.create_connection((output.host, output.port),
                                          timeout=RW_PROBE_TIMEOUT_S) as sock:
                sock.sendall(b"isro")
                received = b""
                while len(received) < 16:
                    chunk = sock.recv(16)
                    if not chunk:
                        break
                    received += chunk
                answer = received
        except OSError:
            pass
        with self._lock:
            self._session.probe_result(time.monotonic(), output.probe_id, answer)
            self._drain()
        self._wake()

    def _open_socket(self, output: ConnectTo) -> None:
        self._close_socket()
        self._sock_id = output.conn_id
        try:
            infos = socket.getaddrinfo(output.host, output.port, type=socket.SOCK_STREAM)
            family, kind, proto, _name, address = infos[0]
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            code = sock.connect_ex(address)
        except OSError as exc:
            log.debug("cannot connect to %s:%s: %s", output.host, output.port, exc)
            self._session.connection_lost(time.monotonic(), output.conn_id)
            return
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            sock.close()
            self._session.connection_lost(time.monotonic(), output.conn_id)
            return
        self._sock = sock
        self._sock_connecting = True
        self._wake()

    def _close_socket(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._sock_connecting = False
        self._out.clear()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # closed (stopping) or full (a wake-up is already pending)

    # -- threads ----------------------------------------------------------------------------------

    def _io_loop(self) -> None:
        try:
            while not self._stopping:
                self._io_step()
        except Exception:  # pragma: no cover - a bug; keep the process informed
            log.exception("coord client I/O loop crashed")
            with self._lock:
                self._session.close(time.monotonic(), 0)
                self._drain()

    def _io_step(self) -> None:
        with self._lock:
            deadline = self._session.next_deadline()
            sock, sock_id = self._sock, self._sock_id
            want_write = sock is not None and (self._sock_connecting or bool(self._out))
        now = time.monotonic()
        wait_s = MAX_IDLE_SELECT_S if deadline is None else min(MAX_IDLE_SELECT_S,
                                                                max(0.0, deadline - now))
        readers = [self._wake_r] + ([sock] if sock is not None else [])
        writers = [sock] if want_write else []
        try:
            readable, writable, _ = select.select(readers, writers, [], wait_s)
        except (OSError, ValueError):
            readable, writable = [], []  # the socket was closed under us: re-read the state
        if self._wake_r in readable:
            try:
                while self._wake_r.recv(4096):
                    pass
            except (BlockingIOError, OSError):
                pass
        with self._lock:
            now = time.monotonic()
            if sock is not None and sock is self._sock and sock_id == self._sock_id:
                if sock in writable:
                    self._on_writable(now, sock, sock_id)
                if sock in readable and sock is self._sock:
                    self._on_readable(now, sock, sock_id)
            self._session.tick(now)
            self._drain()

    def _on_writable(self, now: float, sock: socket.socket, sock_id: int) -> None:
        if self._sock_connecting:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code != 0:
                self._close_socket()
                self._session.connection_lost(now, sock_id)
                return
            self._sock_connecting = False
            self._session.connection_made(now, sock_id)
            self._drain()
        if self._out and sock is self._sock:
            try:
                sent = sock.send(self._out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._close_socket()
                self._session.connection_lost(now, sock_id)
                return
            del self._out[:sent]

    def _on_readable(self, now: float, sock: socket.socket, sock_id: int) -> None:
        if self._sock_connecting:
            return
        try:
            data = sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_socket()
            self._session.connection_lost(now, sock_id)
            return
        self._session.data_received(now, sock_id, data)

    def _callback_loop(self) -> None:
        while True:
            item = self._callbacks.get()
            if item is None:
                return
            func, argument = item
            try:
                func(argument)
            except Exception:
                log.exception("a watch or listener callback raised")

    def _hosts_text(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self._session.hosts) + self._session.chroot

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()


def _credential_bytes(credential) -> bytes:
    return credential.encode("utf-8") if isinstance(credential, str) else bytes(credential)


# Re-exported so `from clients.blocking import NoNodeError` reads like kazoo's imports.
globals().update({name: getattr(errors, name) for name in errors.__all__})
__all__ += list(errors.__all__)
