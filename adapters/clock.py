"""The venue's clock as a client sees it: ours plus an offset measured from one round trip.
Both venues refuse a signed request whose timestamp strays from their clock."""

from __future__ import annotations

import time
from collections.abc import Callable


class ServerClock:
    """The local wall clock plus the measured offset to the venue's clock, in microseconds."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.offset_us = 0

    def local(self) -> float:
        return self._clock()

    def now_us(self) -> int:
        return round(self._clock() * 1_000_000) + self.offset_us

    def now_ms(self) -> int:
        return self.now_us() // 1000

    def now(self) -> float:
        return self.now_us() / 1_000_000

    def measure(self, sent: float, received: float, server_ms: int) -> None:
        """Set the offset from one round trip: the server read its clock mid-way."""
        midpoint_us = round((sent + received) / 2 * 1_000_000)
        self.offset_us = server_ms * 1000 - midpoint_us


def write_window_ms(configured_ms: int, seconds: float) -> int:
    """The signature window for orders and cancels: the configured one, cut to `seconds`
    (the lease's margin, `Venue.fence`), at least 1 ms."""
    return max(1, min(configured_ms, int(seconds * 1000)))
