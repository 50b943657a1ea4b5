"""Aster's request-weight budget per IP and new-order count per account, per minute."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hedged.sim.aster.errors import AsterError, too_many_orders, too_many_requests
from hedged.sim.limits import RateLimit, WindowCounter

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


@dataclass
class Limits:
    clock: Callable[[], float]
    weight_limit: int = 2400
    order_limit: int = 1200
    weights: WindowCounter = field(init=False)  # per IP
    orders: WindowCounter = field(init=False)  # per account

    def __post_init__(self) -> None:
        self.weights = WindowCounter(self.clock, WINDOW_SECONDS)
        self.orders = WindowCounter(self.clock, WINDOW_SECONDS)

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


def weight_budget(limits: Limits, weights: Mapping[object, Weight]) -> RateLimit:
    """Each venue call charged its weight (`weights` by aiohttp route) per IP, 429 -1003 past
    the budget, the IP's usage reported on every REST answer."""

    def cost(request: web.Request) -> int | None:
        route_weight = weights.get(request.match_info.route)  # None: WebSocket, admin, unknown
        return None if route_weight is None else route_weight(request.query)

    return RateLimit(
        limits.weights,
        limits.weight_limit,
        cost,
        key=lambda request: request.remote or "?",
        refused=lambda: limits.rate_limited().response(),
        usage_header=WEIGHT_HEADER,
    )
