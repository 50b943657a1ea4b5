"""Backpack's REST and WebSocket endpoints as a table: method, path, handler, and the
instruction a private endpoint is signed with. A new endpoint is a handler in `public` or
`private` and a row here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from hedged.sim.backpack import private, public, ws

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    instruction: str | None = None  # signed with this instruction


ROUTES = (
    Route("GET", "/api/v1/markets", public.markets),
    Route("GET", "/api/v1/market", public.market),
    Route("GET", "/api/v1/ticker", public.ticker),
    Route("GET", "/api/v1/depth", public.depth),
    Route("GET", "/api/v1/markPrices", public.mark_prices),
    Route("GET", "/api/v1/tickers", public.tickers),
    Route("GET", "/api/v1/assets", public.assets),
    Route("GET", "/api/v1/securities", public.securities),
    Route("GET", "/api/v1/klines", public.klines),
    Route("GET", "/api/v1/fundingRates", public.funding_rates),
    Route("GET", "/api/v1/openInterest", public.open_interest),
    Route("GET", "/api/v1/trades", public.trades),
    Route("GET", "/api/v1/trades/history", public.trades_history),
    Route("GET", "/api/v1/time", public.server_time),
    Route("GET", "/api/v1/ping", public.ping),
    Route("GET", "/api/v1/status", public.status),
    Route("POST", "/api/v1/order", private.order_execute, "orderExecute"),
    Route("GET", "/api/v1/order", private.order_query, "orderQuery"),
    Route("DELETE", "/api/v1/order", private.order_cancel, "orderCancel"),
    Route("GET", "/api/v1/orders", private.orders_query, "orderQueryAll"),
    Route("DELETE", "/api/v1/orders", private.orders_cancel, "orderCancelAll"),
    Route("GET", "/api/v1/position", private.position_query, "positionQuery"),
    Route("GET", "/api/v1/capital", private.balance_query, "balanceQuery"),
    Route("GET", "/api/v1/capital/collateral", private.collateral_query, "collateralQuery"),
    Route("GET", "/api/v1/account", private.account_query, "accountQuery"),
    Route("PATCH", "/api/v1/account", private.account_update, "accountUpdate"),
    Route("GET", "/wapi/v1/history/funding", private.funding_history, "fundingHistoryQueryAll"),
    Route("GET", "/wapi/v1/history/position", private.position_history, "positionHistoryQueryAll"),
    Route("GET", "/wapi/v1/history/orders", private.order_history, "orderHistoryQueryAll"),
    Route("GET", "/wapi/v1/history/fills", private.fill_history, "fillHistoryQueryAll"),
    Route("GET", "/", ws.websocket),
)
