"""Waiting for a server to reach a state, without fixed sleeps: poll until it is there."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def settle(measure: Callable[[], T], want: T | None = None, timeout: float = 5.0) -> T:
    """Poll `measure()` until it equals `want` (or stops changing), then return it."""
    deadline = time.monotonic() + timeout
    last, stable_since = measure(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        value = measure()
        if want is not None and value == want:
            return value
        if value != last:
            last, stable_since = value, time.monotonic()
        elif want is None and time.monotonic() - stable_since > 0.5:
            return value
    return measure()
