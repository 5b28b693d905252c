"""Waiting in tests for something another thread, process or Asterisk does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout: float = 15.0, what: str = "condition",
               interval: float = 0.1) -> T:
    """``check()``'s first truthy value, polled every ``interval`` until ``timeout``; AssertionError after."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(interval)
    return value
