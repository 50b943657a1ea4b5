"""Aster's request-weight budget per IP and new-order count per account, per minute."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from hedged.sim.aster.errors import AsterError, too_many_orders, too_many_requests

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
ORDER_COUNT_HEADER = "X-MBX-ORDER-COUNT-1M"
WINDOW_SECONDS = 60

# The weight of one call, from its query parameters.
Weight = Callable[[Mapping[str, str]], int]


def weight(value: int) -> Weight:
    return lambda _params: value


def weight_unless(param: str, with_it: int, without_it: int) -> Weight:
    """E.g. openOrders: 1 for one symbol, 40 for all of them."""
    return lambda params: with_it if params.get(param) else without_it


def depth_weight(params: Mapping[str, str]) -> int:
    """2 up to limit 50, 5 for 100, 10 for 500 (the default), 20 for 1000."""
    raw = params.get("limit", "")
    limit = int(raw) if raw.isdigit() else 500
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


class MinuteCounter:
    """Counts per key in fixed one-minute windows of `clock`, as the venue's intervals do."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}

    def add(self, key: str, amount: int) -> int:
        self._roll()
        self._counts[key] = self._counts.get(key, 0) + amount
        return self._counts[key]

    def used(self, key: str) -> int:
        self._roll()
        return self._counts.get(key, 0)

    def retry_after(self) -> int:
        """Whole seconds until the current window ends."""
        return max(1, math.ceil(WINDOW_SECONDS - self._clock() % WINDOW_SECONDS))

    def _roll(self) -> None:
        window = int(self._clock() // WINDOW_SECONDS)
        if window != self._window:
            self._window = window
            self._counts.clear()


@dataclass
class Limits:
    clock: Callable[[], float]
    weight_limit: int = 2400
    order_limit: int = 1200
    weights: MinuteCounter = field(init=False)
    orders: MinuteCounter = field(init=False)

    def __post_init__(self) -> None:
        self.weights = MinuteCounter(self.clock)
        self.orders = MinuteCounter(self.clock)

    def rate_limited(self) -> AsterError:
        return too_many_requests(self.weight_limit, self.weights.retry_after())

    def admit_order(self, account: str) -> None:
        """Refuse a new order (-1015) when the account's order budget is spent."""
        if self.orders.used(account) >= self.order_limit:
            raise too_many_orders(self.order_limit, self.orders.retry_after())

    def count_order(self, account: str) -> int:
        """Count an accepted order; the account's orders this minute."""
        return self.orders.add(account, 1)

    def rate_limits_json(self) -> list[dict[str, Any]]:
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": self.weight_limit},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
             "limit": self.order_limit},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ]  # fmt: skip


def weight_middleware(limits: Limits, weights: Mapping[object, Weight]) -> Middleware:
    """Charge each venue call its weight (`weights` by aiohttp route), answer 429 -1003 past the
    budget without acting, and report the IP's usage on every REST answer."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route_weight = weights.get(request.match_info.route)
        if route_weight is None:  # WebSocket, admin, unknown paths
            return await handler(request)
        used = limits.weights.add(request.remote or "?", route_weight(request.query))
        headers = {WEIGHT_HEADER: str(used)}
        if used > limits.weight_limit:
            refusal = limits.rate_limited()
            refusal.headers.update(headers)
            return refusal.response()
        response = await handler(request)
        if not response.prepared:
            response.headers.update(headers)
        return response

    return middleware
