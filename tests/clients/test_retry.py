"""The retry helper's schedule, with a fake clock and sleep (pure: no server needed)."""

import random

import pytest

from clients import errors
from clients.retry import Retry, RetryFailedError, RetryPolicy


class FakeTime:
    def __init__(self):
        self.now_s = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now_s += seconds

    def now(self):
        return self.now_s


def failing(times, error=errors.ConnectionLoss):
    calls = []

    def func(value):
        calls.append(value)
        if len(calls) <= times:
            raise error()
        return value * 2

    return func, calls


def test_backoff_doubles_with_jitter_and_a_cap():
    clock = FakeTime()
    policy = RetryPolicy(max_tries=6, delay_s=0.1, backoff=2, max_jitter_s=0.4, max_delay_s=1.0)
    func, calls = failing(5)
    assert Retry(policy, sleep=clock.sleep, now=clock.now, rng=random.Random(1))(func, 21) == 42
    assert len(calls) == 6
    bases = [0.1, 0.2, 0.4, 0.8, 1.0]
    assert all(b <= s <= b + 0.4 for b, s in zip(bases, clock.sleeps))
    assert len(set(round(s - b, 6) for b, s in zip(bases, clock.sleeps))) > 1  # jittered


def test_gives_up_after_max_tries_with_the_last_error_as_cause():
    clock = FakeTime()
    func, calls = failing(10)
    with pytest.raises(RetryFailedError) as caught:
        Retry(RetryPolicy(max_tries=2, max_jitter_s=0), sleep=clock.sleep, now=clock.now,
              rng=random.Random(0))(func, 1)
    assert len(calls) == 3 and isinstance(caught.value.__cause__, errors.ConnectionLoss)


def test_deadline_bounds_unlimited_tries():
    clock = FakeTime()
    func, calls = failing(10**6)
    with pytest.raises(RetryFailedError, match="deadline"):
        Retry(RetryPolicy(max_tries=None, deadline_s=5.0, max_delay_s=1.0), sleep=clock.sleep,
              now=clock.now, rng=random.Random(0))(func, 1)
    assert clock.now_s <= 5.0 and len(calls) < 20


def test_only_connection_loss_and_timeouts_are_retried():
    clock = FakeTime()
    func, calls = failing(1, errors.NoNodeError)
    with pytest.raises(errors.NoNodeError):
        Retry(RetryPolicy(max_tries=5), sleep=clock.sleep, now=clock.now,
              rng=random.Random(0))(func, 1)
    assert len(calls) == 1 and clock.sleeps == []
    with pytest.raises(ValueError):
        RetryPolicy(max_tries=None)  # unlimited needs a deadline
