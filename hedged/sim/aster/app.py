"""The Aster wire-compatible server: REST (V1 HMAC and V3 EIP-712), WebSocket, fault
injection and admin endpoints, on one venue of a simulated World.

    app = aster_app(world, "aster", accounts, WireFaults())

serves `world.venues["aster"]` for every symbol the world quotes there (`world.quoted`). The
caller funds the accounts (`SimExchange.deposit`) and persists the exchange
(`SimExchange.to_dict`); listen keys, V3 nonces and account settings (position mode,
leverage, margin type) live in memory.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from hedged.sim.accounts import Accounts
from hedged.sim.admin import Controls, add_admin_routes
from hedged.sim.aster import feeds
from hedged.sim.aster.auth import Authenticator
from hedged.sim.aster.errors import (
    AsterError,
    execution_unknown,
    margin_insufficient,
    unknown_path,
)
from hedged.sim.aster.filters import AsterFilters
from hedged.sim.aster.limits import Limits, weight_budget
from hedged.sim.aster.routes import add_routes
from hedged.sim.aster.signing import CHAIN_ID_MAINNET, NonceGuard
from hedged.sim.aster.state import AsterState
from hedged.sim.aster.ws import websocket
from hedged.sim.faults import WireFaults
from hedged.sim.hub import Hub
from hedged.sim.limits import rate_limit_middleware
from hedged.sim.middleware import Answer, VenueAnswers, fault_middleware
from hedged.sim.world import World

__all__ = ["ASTER_STATE", "AsterFilters", "aster_app"]

ASTER_STATE = web.AppKey("aster_state", AsterState)
LISTEN_KEY_SWEEP_SECONDS = 1.0


def aster_app(
    world: World,
    venue: str,
    accounts: Accounts,
    faults: WireFaults,
    *,
    clock: Callable[[], float] = time.time,
    filters: AsterFilters | None = None,
    chain_id: int = CHAIN_ID_MAINNET,
    nonce_window_s: float = 60.0,
    weight_limit: int = 2400,
    order_limit: int = 1200,
    ws_heartbeat: float = 300.0,
) -> web.Application:
    """Aster's API for `world.venues[venue]`. `filters` defaults to the core market's with
    PERCENT_PRICE ±5 %; `chain_id` 714 serves the testnet's V3 domain."""
    markets = world.venues[venue].markets
    state = AsterState(
        world, venue, filters or AsterFilters.for_market(markets[world.symbols[venue]]), clock
    )
    for symbol in world.quoted[venue][1:]:  # a desk per further symbol, on the same accounts
        AsterState(
            world,
            venue,
            AsterFilters.for_market(markets[symbol]),
            clock,
            symbol=symbol,
            shared=state,
        )
    limits = Limits(clock, weight_limit, order_limit)
    auth = Authenticator(accounts, clock, chain_id=chain_id, nonces=NonceGuard(nonce_window_s))
    state.exchange.firing_gate = faults.firing
    hub = Hub()
    stops = [feeds.start(d, hub, faults, listen_keys=d is state) for d in state.desks.values()]

    app = web.Application()
    app[ASTER_STATE] = state
    weights = add_routes(app, state, limits, auth)
    app.middlewares.extend(
        [
            _unknown_path,
            _submissions_middleware(state),
            rate_limit_middleware(weight_budget(limits, weights)),
            fault_middleware(faults, _answers(limits)),
        ]
    )
    serve = functools.partial(websocket, hub, ws_heartbeat)
    for path in ("/ws", "/ws/{stream}", "/stream"):
        app.router.add_get(path, serve)
    add_admin_routes(
        app, Controls(state.world, state.venue, faults, hub, state.submissions, state.arrivals)
    )

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        """Sweep lapsed listen keys (their streams get listenKeyExpired) while the app runs."""

        async def sweep() -> None:
            while True:
                await asyncio.sleep(LISTEN_KEY_SWEEP_SECONDS)
                state.expire_listen_keys()

        task = asyncio.create_task(sweep())
        yield
        task.cancel()
        for desk, stop_feeds in zip(state.desks.values(), stops, strict=True):
            stop_feeds()
            desk.close()

    async def close_sockets(_: web.Application) -> None:
        await hub.close_all()

    app.cleanup_ctx.append(lifetime)
    app.on_shutdown.append(close_sockets)
    return app


def _answers(limits: Limits) -> VenueAnswers:
    """Aster's own bodies for the faults that answer."""
    return VenueAnswers(
        rate_limited=lambda: _as_answer(limits.rate_limited()),
        unavailable=lambda: _as_answer(execution_unknown()),
        rejected=lambda: _as_answer(margin_insufficient()),
    )


def _as_answer(error: AsterError) -> Answer:
    return error.status, error.body, error.headers


@web.middleware
async def _unknown_path(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A path or method Aster does not serve (or the simulator does not simulate,
    README#not-simulated): the venue's -5000 answer."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return unknown_path(request.method, request.path).response()


def _submissions_middleware(state: AsterState) -> Middleware:
    """Count every newClientOrderId that arrives at an order placement endpoint, before
    faults and checks: a client that resends after an ambiguous answer shows up as 2."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if (
            request.method in ("POST", "DELETE")
            and path.startswith("/fapi/")
            and path.endswith("/order")
        ):
            raw = request.raw_path.partition("?")[2] + "&" + (await request.text())
            params = dict(parse_qsl(raw))
            client_id = params.get("newClientOrderId")
            if request.method == "POST" and client_id:
                state.submissions[client_id] += 1
            key = request.headers.get("X-MBX-APIKEY") or params.get("signer")
            action = "place" if request.method == "POST" else "cancel"
            client_id = client_id or params.get("origClientOrderId")
            entry = state.arrivals.note(key, action, client_id, params.get("symbol"))
            return await state.arrivals.answered(entry, handler(request))
        return await handler(request)

    return middleware
