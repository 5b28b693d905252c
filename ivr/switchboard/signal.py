"""Wakes the console's event streams the moment something new is stored for them."""

from __future__ import annotations

import threading


class Signal:
    """A version number that waiters watch: ``notify`` bumps it, ``wait`` returns once it moved.

    Streams in this process wake at once; the database stays the source of
    truth, so a stream that wakes for nothing (or another process's change,
    seen at its next timeout) only reads and finds what is new.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._version = 0

    @property
    def version(self) -> int:
        return self._version

    def notify(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """The version once it differs from ``seen``, or after ``timeout`` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != seen, timeout)
            return self._version


class Signals:
    """One ``Signal`` per key (a console user): a pop wakes only the desks of the agent it is for,
    so its cost does not grow with the number of desks open (docs/benchmarks.md)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signals: dict[int, Signal] = {}

    def of(self, key: int) -> Signal:
        with self._lock:
            return self._signals.setdefault(key, Signal())

    def notify(self, key: int) -> None:
        self.of(key).notify()
