"""Steps: how multi-round-trip operations and recipes are written once for both clients.

Theory of operation.  A recipe (or ``ensure_path``) is a generator.  It yields steps and receives
their results, or has their exception thrown into it at the ``yield``:

    ``Call``  (clients.ops)   one request; the value, or its typed exception
    ``Wait(signal, timeout_s)``  until the signal fires (True) or the timeout passes (False);
                              a session state change also wakes it (True), so the recipe re-checks;
                              so does one since the signal was passed as a watch (an expiry
                              drops that watch, and the Wait may come after the change)
    ``Sleep(seconds)``        pause (retry back-off)
    ``Now()``                 the current monotonic time in seconds
    ``Invoke(func, args)``    call user code (for Twisted, a Deferred it returns is awaited)

The blocking client runs the generator in the caller's thread, one blocking step at a time
(``run_sync``); the Twisted client awaits each step on the reactor (``clients.tx``).  Recipes thus
never touch threads, sockets, clocks or Deferreds, and the same code drives both clients.

A ``Signal`` is the framework-neutral thing a step waits for: it is callable, so it can be passed
as a watch function; calling it records the event and tells the runner waiting on it.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from . import errors

__all__ = ["Signal", "Wait", "Sleep", "Now", "Invoke", "run_sync", "retrying"]


class Signal:
    """A one-shot flag that watches and state changes set; runners subscribe to it."""

    def __init__(self) -> None:
        self.fired = False
        self.event = None
        self._listeners: list[Callable[[], None]] = []

    def __call__(self, event=None) -> None:
        self.event = event
        self.fired = True  # before reading the listeners: see add_listener
        for listener in list(self._listeners):
            listener()

    def reset(self) -> None:
        """Re-arm for the next wait.  Keeping one signal per loop (instead of a new one per round)
        keeps the client's watch table from collecting stale watchers."""
        self.fired = False
        self.event = None

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` when fired (at once if already fired)."""
        self._listeners.append(listener)
        if self.fired:
            listener()

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)


class Wait(NamedTuple):
    signal: Signal
    timeout_s: float | None = None


class Sleep(NamedTuple):
    seconds: float


class Now(NamedTuple):
    pass


class Invoke(NamedTuple):
    func: Callable
    args: tuple = ()


def run_sync(steps, perform: Callable[[Any], Any]):
    """Drive a step generator to its return value, performing each step with ``perform``."""
    value = error = None
    while True:
        try:
            step = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            return stop.value
        value = error = None
        try:
            value = perform(step)
        except Exception as exc:  # delivered into the generator at its yield
            error = exc


# SessionExpired too (kazoo's KazooRetry does the same): the client opens a new session by itself,
# and a step that is safe to repeat is as safe on the new session; recipes that owned ephemeral
# nodes notice they are gone (and tell their user) rather than relying on this error.
RETRYABLE = (errors.ConnectionLoss, errors.OperationTimeoutError, errors.ClientTimeoutError,
             errors.SessionExpiredError)


def retrying(make_steps: Callable[[], Any], *, max_tries: int = 20, delay_s: float = 0.1,
             max_delay_s: float = 2.0, deadline: float | None = None):
    """Steps that run ``make_steps()`` again after connection loss (or expiry), with doubling
    back-off.

    Only for idempotent steps (reads, deletes of our own node, ensure_path): a create may have
    happened before the connection dropped, and recipes handle that themselves.
    """
    for attempt in range(max_tries):
        try:
            steps = make_steps()
            if hasattr(steps, "send"):
                return (yield from steps)
            return (yield steps)
        except RETRYABLE:
            if attempt == max_tries - 1:
                raise
            if deadline is not None and (yield Now()) >= deadline:
                raise
            yield Sleep(min(max_delay_s, delay_s * 2 ** attempt))
    raise AssertionError("unreachable")
