"""Backpack's REST and WebSocket API, wire-compatible, served on one venue of a simulated
World (docs/architecture.md#the-simulator; docs/venues/backpack.md).

REST lives under `/api/v1` and `/wapi/v1`; the WebSocket on the root path `/`, as on
wss://ws.backpack.exchange (no REST route uses `/`, so there is no `/ws` alias).
`/_admin/...` is the simulator's own control surface: faults, price, WebSocket drops and
the submission counter.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from hedged.sim import admin
from hedged.sim.accounts import FAULTS_KEY, Accounts, WireFaults, admin_faults, fault_middleware
from hedged.sim.backpack import private, public, ws
from hedged.sim.backpack.auth import ACCOUNT, PARAMS, authenticate, request_params
from hedged.sim.backpack.errors import ANSWERS, BackpackError, answer_response
from hedged.sim.backpack.feeds import start
from hedged.sim.backpack.state import STATE, BackpackLimits, BackpackState, Clock, RateLimiter
from hedged.sim.world import World

__all__ = ["ROUTES", "BackpackLimits", "Route", "backpack_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN_PREFIX = "/_admin"


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
    Route("GET", "/wapi/v1/history/orders", private.order_history, "orderHistoryQueryAll"),
    Route("GET", "/wapi/v1/history/fills", private.fill_history, "fillHistoryQueryAll"),
    Route("GET", "/", ws.websocket),
    Route("POST", f"{ADMIN_PREFIX}/ws/disconnect", admin.ws_disconnect),
    Route("GET", f"{ADMIN_PREFIX}/faults", admin_faults),
    Route("POST", f"{ADMIN_PREFIX}/faults", admin_faults),
    Route("DELETE", f"{ADMIN_PREFIX}/faults", admin_faults),
    Route("POST", f"{ADMIN_PREFIX}/price", admin.set_price),
    Route("GET", f"{ADMIN_PREFIX}/submissions", admin.submissions),
    Route("GET", f"{ADMIN_PREFIX}/arrivals", admin.arrivals),
)


def backpack_app(
    world: World,
    venue: str,
    accounts: Accounts,
    faults: WireFaults,
    *,
    clock: Clock = time.time,
    limits: BackpackLimits | None = None,
) -> web.Application:
    """The Backpack server of `world.venues[venue]`, trading `world.symbols[venue]`.
    `clock` (seconds) is the server's: signature windows, `E` stamps, `/time`."""
    state = BackpackState.create(world, venue, accounts, faults, clock, limits or BackpackLimits())
    limiter = RateLimiter(state.limits.requests, state.limits.per_seconds, clock)
    app = web.Application(
        middlewares=[fault_middleware(faults, ANSWERS), _rate_limit(limiter), _api_errors]
    )
    app[STATE] = state
    app[FAULTS_KEY] = faults
    for route in ROUTES:
        handler = route.handler if route.instruction is None else _signed(route)
        app.router.add_route(route.method, route.path, handler)
    stop_feeds = start(state)

    async def close_websockets(_: web.Application) -> None:
        await state.hub.close_all()

    async def stop(_: web.Application) -> None:
        stop_feeds()

    app.on_shutdown.append(close_websockets)
    app.on_cleanup.append(stop)
    return app


ARRIVALS = {"orderExecute": "place", "orderCancel": "cancel", "orderCancelAll": "cancel_all"}


def _signed(route: Route) -> Handler:
    """The route's handler behind Backpack's signature check."""
    instruction = route.instruction
    assert instruction is not None

    async def signed(request: web.Request) -> web.StreamResponse:
        venue = request.app[STATE]
        params = await request_params(request)
        if instruction not in ARRIVALS:
            return await _authenticated(request, params)
        client_id = params.get("clientId")  # before the signature check: whatever arrived
        entry = venue.arrivals.note(
            request.headers.get("X-API-Key"),
            ARRIVALS[instruction],
            None if client_id is None else str(client_id),
        )
        return await venue.arrivals.answered(entry, _authenticated(request, params))

    async def _authenticated(request: web.Request, params: dict[str, object]) -> web.StreamResponse:
        venue = request.app[STATE]
        request[ACCOUNT] = authenticate(
            venue.accounts, instruction, params, request.headers, venue.now_ms()
        )
        request[PARAMS] = params
        return await route.handler(request)

    return signed


def _rate_limit(limiter: RateLimiter) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        key = request.headers.get("X-API-Key") or request.remote or "?"
        if not limiter.allow(key):
            return answer_response(ANSWERS.rate_limited())
        return await handler(request)

    return middleware


@web.middleware
async def _api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BackpackError as error:
        return error.response()
