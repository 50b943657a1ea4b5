"""The simulators' one rate limiter: a budget per key in fixed windows, charged per request."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

Clock = Callable[[], float]


class WindowCounter:
    """Counts per key in fixed windows of `seconds` of `clock` (aligned to its multiples, as
    the venues' intervals are)."""

    def __init__(self, clock: Clock, seconds: float = 60.0) -> None:
        self._clock = clock
        self._seconds = seconds
        self._window = -1
        self._counts: dict[str, int] = {}

    def add(self, key: str, amount: int = 1) -> int:
        """Count `amount` for `key`; its total in this window."""
        self._roll()
        self._counts[key] = self._counts.get(key, 0) + amount
        return self._counts[key]

    def used(self, key: str) -> int:
        self._roll()
        return self._counts.get(key, 0)

    def retry_after(self) -> int:
        """Whole seconds until the current window ends."""
        return max(1, math.ceil(self._seconds - self._clock() % self._seconds))

    def _roll(self) -> None:
        window = int(self._clock() // self._seconds)
        if window != self._window:
            self._window = window
            self._counts.clear()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A venue's request budget: `limit` per key and window, each request charged its `cost`
    (None: not counted, e.g. the admin API)."""

    counter: WindowCounter
    limit: int
    cost: Callable[[web.Request], int | None]
    key: Callable[[web.Request], str]
    refused: Callable[[], web.Response]  # the venue's answer past the budget, without acting
    usage_header: str | None = None  # reports the key's usage on every answer


def rate_limit_middleware(limit: RateLimit) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        cost = limit.cost(request)
        if cost is None:
            return await handler(request)
        used = limit.counter.add(limit.key(request), cost)
        headers = {limit.usage_header: str(used)} if limit.usage_header else {}
        if used > limit.limit:
            refusal = limit.refused()
            refusal.headers.update(headers)
            return refusal
        response = await handler(request)
        if not response.prepared:
            response.headers.update(headers)
        return response

    return middleware
