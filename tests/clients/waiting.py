"""Bounded waiting for the client tests: poll a condition until it holds or a deadline passes."""

import time


def wait_until(condition, timeout_s: float = 20.0, interval_s: float = 0.02, what: str = ""):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout_s} s: {what or condition}")
        time.sleep(interval_s)
