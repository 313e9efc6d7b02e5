"""Retry with exponential back-off, jitter and a deadline (kazoo's ``KazooRetry`` shape).

Theory of operation: ``RetryPolicy`` only decides.  ``delays()`` yields the pause before each
retry: ``delay_s * backoff ** n`` capped at ``max_delay_s``, plus a uniform jitter in
``[0, max_jitter_s]`` drawn from the injected ``rng`` (so a fleet that lost its server together
does not come back together).  ``Retry`` runs a function through a policy with an injected
``sleep`` and ``now`` (the blocking client passes ``time.sleep`` and ``time.monotonic``; tests pass
fakes), retrying only on the given exceptions (by default connection loss and timeouts, whose
outcome is unknown, so retry only what is idempotent) and giving up with ``RetryFailedError``
when tries or the deadline run out.
"""

from __future__ import annotations

from typing import Callable

from . import errors

__all__ = ["RetryPolicy", "Retry", "RetryFailedError", "RETRYABLE_ERRORS"]

RETRYABLE_ERRORS = (errors.ConnectionLoss, errors.OperationTimeoutError, errors.ClientTimeoutError)


class RetryFailedError(errors.CoordClientError):
    """Tries or deadline exhausted; ``__cause__`` is the last error."""


class RetryPolicy:
    def __init__(self, max_tries: int | None = 1, delay_s: float = 0.1, backoff: float = 2.0,
                 max_jitter_s: float = 0.4, max_delay_s: float = 60.0,
                 deadline_s: float | None = None) -> None:
        if max_tries is not None and max_tries < 0:
            raise ValueError("max_tries must be >= 0 (or None: unlimited, needs a deadline)")
        if max_tries is None and deadline_s is None:
            raise ValueError("unlimited tries need a deadline_s")
        self.max_tries = max_tries
        self.delay_s = delay_s
        self.backoff = backoff
        self.max_jitter_s = max_jitter_s
        self.max_delay_s = max_delay_s
        self.deadline_s = deadline_s

    def delays(self, rng):
        """The pause before retry 1, 2, ... (as many as ``max_tries`` allows)."""
        retry = 0
        while self.max_tries is None or retry < self.max_tries:
            base = min(self.max_delay_s, self.delay_s * self.backoff ** retry)
            yield base + rng.random() * self.max_jitter_s
            retry += 1


class Retry:
    """``Retry(policy, sleep=time.sleep, now=time.monotonic, rng=random.Random())(func, *args)``."""

    def __init__(self, policy: RetryPolicy, *, sleep: Callable[[float], None],
                 now: Callable[[], float], rng,
                 retry_on: tuple = RETRYABLE_ERRORS) -> None:
        self.policy = policy
        self.sleep = sleep
        self.now = now
        self.rng = rng
        self.retry_on = retry_on

    def __call__(self, func, *args, **kwargs):
        start = self.now()
        deadline = None if self.policy.deadline_s is None else start + self.policy.deadline_s
        delays = self.policy.delays(self.rng)
        while True:
            try:
                return func(*args, **kwargs)
            except self.retry_on as exc:
                pause = next(delays, None)
                if pause is None:
                    raise RetryFailedError(f"gave up after {self.policy.max_tries} retries") from exc
                if deadline is not None and self.now() + pause >= deadline:
                    raise RetryFailedError(
                        f"gave up: the next retry would pass the {self.policy.deadline_s} s deadline"
                    ) from exc
                self.sleep(pause)
