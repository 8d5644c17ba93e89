"""Waiting for something that another process or thread brings about."""

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], *, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
