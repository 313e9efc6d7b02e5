"""The Twisted client: the blocking client's operations, returning Deferreds.

Theory of operation.  Everything runs on the reactor: a ``Protocol`` passes bytes and connection
events to the sans-I/O ``ClientSession``; one ``DelayedCall`` is kept at the session's
``next_deadline()`` for pings, liveness and reconnect timers; the session's outputs are carried out
right after each input (connect through an endpoint, write, abort).  Every operation returns a
Deferred that fires with the value or fails with the typed exception (``clients.errors``), and
times out after ``command_timeout`` seconds.  Watch functions and state listeners are called on the
reactor in the order the session produced them.  Multi-step operations and recipes are step
generators awaited in a coroutine (``_run``).  ``stop()`` closes the session and fires once the
socket is closed and no timer is left, so trial/pytest-twisted find a clean reactor.
"""

from __future__ import annotations

import inspect
import random
import weakref

from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from . import errors
from .ops import Call, Operations, TransactionRequest
from .recipes import RecipeFactories
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
from .steps import Invoke, Now, Signal, Sleep, Wait

__all__ = ["Client", "State"]


class _SessionProtocol(Protocol):
    """Moves bytes and connection events between one socket and the client; no logic."""

    def __init__(self, client: "Client", conn_id: int) -> None:
        self.client = client
        self.conn_id = conn_id

    def connectionMade(self) -> None:
        self.client._on_connection_made(self)

    def dataReceived(self, data: bytes) -> None:
        self.client._input(lambda now: self.client._session.data_received(now, self.conn_id, data))

    def connectionLost(self, reason) -> None:
        self.client._on_connection_lost(self)


class _ProbeProtocol(Protocol):
    """One ``isro`` question on its own socket; ``answer`` fires with the reply (or b"")."""

    def __init__(self) -> None:
        self.answer = defer.Deferred()
        self.received = b""

    def connectionMade(self) -> None:
        self.transport.write(b"isro")

    def dataReceived(self, data: bytes) -> None:
        self.received += data[:16]

    def connectionLost(self, reason) -> None:
        self.answer.callback(self.received)


class Client(RecipeFactories):
    """``Client(hosts, timeout=10.0, reactor=None)``; ``await client.start()``; ``await stop()``."""

    log = Logger()

    def __init__(self, hosts: str = "127.0.0.1:2181", timeout: float = 10.0, *,
                 command_timeout: float | None = None, read_only: bool = False,
                 auth_data=None, reactor=None, rng=None) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor
            reactor = default_reactor
        self.reactor = reactor
        self._rng = rng or random.Random()
        self._session = ClientSession(hosts, rng=self._rng, session_timeout_s=timeout,
                                      read_only=read_only)
        self._ops = Operations(self._session.chroot)
        self.command_timeout = command_timeout if command_timeout is not None else timeout
        self._deferreds: dict[int, tuple[defer.Deferred, Call]] = {}
        self._listeners: list = []
        self._state_signals: list[Signal] = []
        # Signals a recipe passed as watches: a state change fires them even before the recipe
        # reaches its Wait, since an expiry drops the watch itself (else a wake-up is lost).
        self._armed_signals: weakref.WeakSet = weakref.WeakSet()
        self._state_waiters: list[tuple[set, defer.Deferred]] = []
        self._timer = None
        self._connecting: tuple[int, defer.Deferred] | None = None
        self._protocol: _SessionProtocol | None = None
        self._closed_sockets: list[defer.Deferred] = []
        self._probes: dict = {}   # isro probes under way -> {"protocol": ...}; stop() ends them
        self._started = False
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
    def client_id(self):
        session = self._session
        return (session.session_id, session.passwd) if session.session_id else None

    def start(self, timeout: float = 15.0) -> defer.Deferred:
        """Connect; fires when a session is up, or fails with ClientTimeoutError (then stopped)."""
        if self._started:
            raise RuntimeError("Client.start() called twice")
        self._started = True
        waiting = self._wait_for_state({State.CONNECTED, State.CONNECTED_READ_ONLY, State.CLOSED})
        self._input(self._session.start)

        async def started():
            try:
                state = await _with_timeout(self.reactor, waiting, timeout)
            except errors.ClientTimeoutError:
                await self.stop()
                raise errors.ClientTimeoutError(f"no session within {timeout} s") from None
            if state is State.CLOSED:
                raise errors.ConnectionClosedError("the client was stopped while starting")

        return defer.Deferred.fromCoroutine(started())

    def stop(self, timeout: float = 5.0) -> defer.Deferred:
        """Close the session; fires once the socket is closed and no timer is pending, with
        whether the server acknowledged the close (as the blocking client's ``stop``)."""
        closed = self._wait_for_state({State.CLOSED})
        self._input(lambda now: self._session.close(now, timeout))

        async def stopped():
            await closed
            if self._connecting is not None:
                self._connecting[1].cancel()
            await self._end_probes()
            while self._closed_sockets:
                await self._closed_sockets.pop()
            self._cancel_timer()
            return self._session.close_acknowledged

        return defer.Deferred.fromCoroutine(stopped())

    def add_listener(self, listener) -> None:
        """``listener(state)`` on the reactor at every state change."""
        self._listeners.append(listener)

    def remove_listener(self, listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def add_auth(self, scheme: str, credential) -> None:
        self._input(lambda now: self._session.add_auth(now, scheme, _credential_bytes(credential)))

    # -- operations -------------------------------------------------------------------------------

    def create(self, path, value=b"", acl=None, ephemeral=False, sequence=False, makepath=False,
               include_data=False) -> defer.Deferred:
        if makepath:
            return self._run(self._ops.create_makepath(path, value, acl, ephemeral, sequence,
                                                       include_data))
        return self._execute(self._ops.create(path, value, acl, ephemeral, sequence,
                                              include_data))

    def get(self, path, watch=None) -> defer.Deferred:
        return self._execute(self._ops.get(path, watch))

    def set(self, path, value, version=-1) -> defer.Deferred:
        return self._execute(self._ops.set(path, value, version))

    def delete(self, path, version=-1, recursive=False) -> defer.Deferred:
        if recursive:
            return self._run(self._ops.delete_recursive(path, version))
        return self._execute(self._ops.delete(path, version))

    def exists(self, path, watch=None) -> defer.Deferred:
        return self._execute(self._ops.exists(path, watch))

    def get_children(self, path, watch=None, include_data=False) -> defer.Deferred:
        return self._execute(self._ops.get_children(path, watch, include_data))

    def ensure_path(self, path, acl=None) -> defer.Deferred:
        return self._run(self._ops.ensure_path(path, acl))

    def sync(self, path) -> defer.Deferred:
        return self._execute(self._ops.sync(path))

    def get_acls(self, path) -> defer.Deferred:
        return self._execute(self._ops.get_acls(path))

    def set_acls(self, path, acls, version=-1) -> defer.Deferred:
        return self._execute(self._ops.set_acls(path, acls, version))

    def add_watch(self, path, watch, recursive=False) -> defer.Deferred:
        return self._execute(self._ops.add_watch(path, watch, recursive))

    def forget_watch(self, path, watch, recursive=False) -> None:
        """Stop calling a persistent watch (client side; the server drops its registration when
        the session ends)."""
        kind = WatchKind.PERSISTENT_RECURSIVE if recursive else WatchKind.PERSISTENT
        self._session.remove_watcher(kind, path, watch)

    def transaction(self) -> TransactionRequest:
        return TransactionRequest(self)

    @property
    def ops(self) -> Operations:
        """Builds the ``Call`` steps recipes yield (paths under this client's chroot)."""
        return self._ops

    def run_steps(self, steps):
        """Run a step generator (``clients.steps``), e.g. a recipe of your own."""
        return self._run(steps)

    # -- calls and steps --------------------------------------------------------------------------

    def _execute(self, call: Call, timeout: float | None = None) -> defer.Deferred:
        result = defer.Deferred()
        request_ids = []

        def submit(now):
            request_ids.append(self._session.submit(now, call.opcode, call.record, call.watch,
                                                    call.watch_path, call.wait_for_connection))
            self._deferreds[request_ids[0]] = (result, call)

        self._input(submit)
        if not result.called:
            timeout = self.command_timeout if timeout is None else timeout

            def expire():
                entry = self._deferreds.pop(request_ids[0], None)
                if entry is not None:
                    unsent = self._session.cancel(request_ids[0])
                    state = "never sent" if unsent else "outcome unknown"
                    entry[0].errback(errors.ClientTimeoutError(
                        f"{type(call.record).__name__} got no reply within {timeout} s ({state})"))

            timer = self.reactor.callLater(timeout, expire)
            result.addBoth(_cancel_then_pass, timer)
        return result

    def _run(self, steps) -> defer.Deferred:
        async def drive():
            value = error = None
            while True:
                try:
                    step = steps.throw(error) if error is not None else steps.send(value)
                except StopIteration as stop:
                    return stop.value
                value = error = None
                try:
                    value = await self._perform(step)
                except Exception as exc:
                    error = exc

        return defer.Deferred.fromCoroutine(drive())

    def _perform(self, step) -> defer.Deferred:
        if isinstance(step, Call):
            if step.watch is not None and isinstance(step.watch.watcher, Signal):
                self._armed_signals.add(step.watch.watcher)
            return self._execute(step)
        if isinstance(step, Wait):
            return self._wait(step.signal, step.timeout_s)
        if isinstance(step, Sleep):
            from twisted.internet.task import deferLater
            return deferLater(self.reactor, step.seconds, lambda: None)
        if isinstance(step, Now):
            return defer.succeed(self.reactor.seconds())
        if isinstance(step, Invoke):
            return defer.maybeDeferred(_call_maybe_async, step.func, step.args)
        return defer.fail(TypeError(f"not a step: {step!r}"))

    def _wait(self, signal: Signal, timeout_s: float | None) -> defer.Deferred:
        woken = defer.Deferred()
        timer = None

        def wake():
            if not woken.called:
                woken.callback(True)

        def timed_out():
            if not woken.called:
                woken.callback(False)

        def cleanup(result):
            signal.remove_listener(wake)
            if signal in self._state_signals:
                self._state_signals.remove(signal)
            if timer is not None and timer.active():
                timer.cancel()
            return result

        self._state_signals.append(signal)
        if timeout_s is not None:
            timer = self.reactor.callLater(max(0.0, timeout_s), timed_out)
        woken.addBoth(cleanup)
        signal.add_listener(wake)
        return woken

    def _wait_for_state(self, states: set) -> defer.Deferred:
        waiting = defer.Deferred()
        self._state_waiters.append((states, waiting))
        return waiting

    # -- the session loop -------------------------------------------------------------------------

    def _input(self, feed) -> None:
        """Feed the session one input (``feed(now)``), then carry out its outputs and re-arm."""
        feed(self.reactor.seconds())
        while True:
            outputs = self._session.pop_outputs()
            if not outputs:
                break
            for output in outputs:
                self._carry_out(output)
        self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self._session.next_deadline()
        if deadline is None or self._session.state is State.CLOSED:
            self._cancel_timer()
            return
        delay = max(0.0, deadline - self.reactor.seconds())
        if self._timer is not None and self._timer.active():
            self._timer.reset(delay)
        else:
            self._timer = self.reactor.callLater(delay, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        self._input(self._session.tick)

    def _carry_out(self, output) -> None:
        if isinstance(output, Write):
            protocol = self._protocol
            if protocol is not None and protocol.conn_id == output.conn_id:
                protocol.transport.write(output.data)
        elif isinstance(output, Completed):
            entry = self._deferreds.pop(output.request_id, None)
            if entry is not None:
                result, call = entry
                try:
                    value = call.result(output.err, output.response)
                except Exception as exc:
                    result.errback(exc)
                else:
                    result.callback(value)
        elif isinstance(output, WatchFired):
            for watcher in output.watchers:
                self._call_user(watcher, output.event)
        elif isinstance(output, StateChanged):
            for listener in list(self._listeners):
                self._call_user(listener, output.new)
            event = WatchedEvent("NONE", output.new.value, None)
            for signal in set(self._state_signals) | set(self._armed_signals):
                signal(event)
            waiters, self._state_waiters = self._state_waiters, []
            for states, waiting in waiters:
                if waiting.called:  # cancelled (start() timed out)
                    continue
                if output.new in states:
                    waiting.callback(output.new)
                else:
                    self._state_waiters.append((states, waiting))
        elif isinstance(output, ConnectTo):
            self._connect(output)
        elif isinstance(output, Disconnect):
            self._disconnect(output.conn_id)
        elif isinstance(output, ProbeServer):
            self._probe(output)

    def _probe(self, output: ProbeServer) -> None:
        """Ask a server ``isro`` on a separate socket, bounded by RW_PROBE_TIMEOUT_S."""
        state = {"protocol": None}

        async def ask():
            endpoint = HostnameEndpoint(self.reactor, output.host, output.port,
                                        timeout=RW_PROBE_TIMEOUT_S)
            protocol = state["protocol"] = await endpoint.connect(
                Factory.forProtocol(_ProbeProtocol))
            timer = self.reactor.callLater(RW_PROBE_TIMEOUT_S, protocol.transport.abortConnection)
            try:
                return await protocol.answer   # fires when the socket closes, whoever closed it
            finally:
                if timer.active():
                    timer.cancel()

        probe = defer.Deferred.fromCoroutine(ask())
        self._probes[probe] = state

        def done(result):
            del self._probes[probe]
            answer = result if isinstance(result, bytes) else None
            self._input(lambda now: self._session.probe_result(now, output.probe_id, answer))

        probe.addBoth(done)

    async def _end_probes(self) -> None:
        """Close every probe socket and wait until each is closed (a clean reactor)."""
        probes = list(self._probes.items())
        for probe, state in probes:
            if state["protocol"] is None:
                probe.cancel()        # still connecting
            else:
                state["protocol"].transport.abortConnection()
        for probe, _state in probes:
            if not probe.called:
                await defer.DeferredList([probe], consumeErrors=True)

    def _call_user(self, func, argument) -> None:
        try:
            func(argument)
        except Exception:
            self.log.failure("a watch or listener callback raised")

    def _connect(self, output: ConnectTo) -> None:
        conn_id = output.conn_id
        endpoint = HostnameEndpoint(self.reactor, output.host, output.port)
        factory = Factory.forProtocol(lambda: _SessionProtocol(self, conn_id))
        attempt = endpoint.connect(factory)
        self._connecting = (conn_id, attempt)

        def failed(failure):
            if self._connecting is not None and self._connecting[0] == conn_id:
                self._connecting = None
            if not failure.check(defer.CancelledError):
                self._input(lambda now: self._session.connection_lost(now, conn_id))

        attempt.addErrback(failed)

    def _on_connection_made(self, protocol: _SessionProtocol) -> None:
        if self._connecting is not None and self._connecting[0] == protocol.conn_id:
            self._connecting = None
        closed = defer.Deferred()
        protocol.closed = closed
        self._closed_sockets.append(closed)
        if protocol.conn_id != self._session._conn_id or self._session.state is State.CLOSED:
            protocol.transport.abortConnection()  # a socket the session no longer wants
            return
        self._protocol = protocol
        self._input(lambda now: self._session.connection_made(now, protocol.conn_id))

    def _on_connection_lost(self, protocol: _SessionProtocol) -> None:
        if self._protocol is protocol:
            self._protocol = None
        closed = getattr(protocol, "closed", None)
        if closed is not None:
            if closed in self._closed_sockets:
                self._closed_sockets.remove(closed)
            closed.callback(None)
        self._input(lambda now: self._session.connection_lost(now, protocol.conn_id))

    def _disconnect(self, conn_id: int) -> None:
        if self._connecting is not None and self._connecting[0] == conn_id:
            attempt = self._connecting[1]
            self._connecting = None
            attempt.cancel()
        protocol = self._protocol
        if protocol is not None and protocol.conn_id == conn_id:
            protocol.transport.abortConnection()


def _call_maybe_async(func, args):
    """Call user code; an ``async def`` function's coroutine becomes a Deferred to await."""
    result = func(*args)
    if inspect.iscoroutine(result):
        return defer.Deferred.fromCoroutine(result)
    return result


def _cancel_then_pass(result, timer):
    if timer.active():
        timer.cancel()
    return result


async def _with_timeout(reactor, waiting: defer.Deferred, timeout_s: float):
    timed_out = []

    def expire():
        timed_out.append(True)
        waiting.cancel()

    timer = reactor.callLater(timeout_s, expire)
    try:
        return await waiting
    except defer.CancelledError:
        if timed_out:
            raise errors.ClientTimeoutError(f"timed out after {timeout_s} s") from None
        raise
    finally:
        if timer.active():
            timer.cancel()


def _credential_bytes(credential) -> bytes:
    return credential.encode("utf-8") if isinstance(credential, str) else bytes(credential)

