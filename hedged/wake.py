"""What wakes the daemon's loop, at no cost per price event: one event that whatever gives
the loop work sets (a price, an order change, a failed step, a lost lease, a stop), and an
idle alarm that sets it when the loop has slept a full period. The alarm keeps one timer
per period, not one per pass: a pass only moves its due time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

EARLY = 0.001  # a timer may fire this much before its time (the loop's clock resolution)


class Alarm:
    """Calls `ring` once `seconds` have passed since the last `reset()` without another."""

    def __init__(self, ring: Callable[[], None], seconds: float) -> None:
        self._ring = ring
        self.seconds = seconds
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def reset(self) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._due = loop.time() + self.seconds
        if self._handle is None:
            self._handle = loop.call_at(self._due, self._fire)

    def _fire(self) -> None:
        assert self._loop is not None
        if self._due - self._loop.time() > EARLY:  # reset meanwhile: sleep on to the new time
            self._handle = self._loop.call_at(self._due, self._fire)
            return
        self._handle = None
        self._ring()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._loop = None


class WakingEvent(asyncio.Event):
    """An event that also wakes the loop when set (the loop sleeps on one event only)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__()
        self._wake = wake

    def set(self) -> None:
        super().set()
        self._wake()
