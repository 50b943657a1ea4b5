"""Backpack's REST and WebSocket API, wire-compatible, served on one venue of a simulated
World (docs/architecture.md#the-simulator; docs/venues/backpack.md).

REST lives under `/api/v1` and `/wapi/v1`; the WebSocket on the root path `/`, as on
wss://ws.backpack.exchange (no REST route uses `/`, so there is no `/ws` alias).
`/_admin/...` is the simulator's own control surface: faults, price, WebSocket drops and
the submission counter.
"""

from __future__ import annotations

import time

from aiohttp import web

from hedged.sim.accounts import Accounts
from hedged.sim.admin import Controls, add_admin_routes
from hedged.sim.backpack.auth import ACCOUNT, PARAMS, authenticate, request_params
from hedged.sim.backpack.errors import ANSWERS, BackpackError, not_found
from hedged.sim.backpack.feeds import start
from hedged.sim.backpack.limits import BackpackLimits, request_limit
from hedged.sim.backpack.routes import ROUTES, Handler, Route
from hedged.sim.backpack.state import STATE, BackpackState
from hedged.sim.faults import WireFaults
from hedged.sim.limits import Clock, rate_limit_middleware
from hedged.sim.middleware import fault_middleware
from hedged.sim.world import World

__all__ = ["BackpackLimits", "backpack_app"]


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
    state.exchange.firing_gate = faults.firing
    app = web.Application(
        middlewares=[
            fault_middleware(faults, ANSWERS),
            rate_limit_middleware(request_limit(state.limits, clock)),
            _api_errors,
        ]
    )
    app[STATE] = state
    for route in ROUTES:
        handler = route.handler if route.instruction is None else _signed(route)
        app.router.add_route(route.method, route.path, handler)
    add_admin_routes(
        app, Controls(world, venue, faults, state.hub, state.submissions, state.arrivals)
    )
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
            params.get("symbol"),
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


@web.middleware
async def _api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Backpack's JSON errors, also for a route it does not have (or the simulator does not
    simulate, README#not-simulated) and a method a route does not take."""
    try:
        return await handler(request)
    except BackpackError as error:
        return error.response()
    except web.HTTPMethodNotAllowed:
        return BackpackError(405, "METHOD_NOT_ALLOWED", "Method Not Allowed").response()
    except web.HTTPNotFound:
        return not_found().response()
