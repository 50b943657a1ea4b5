"""The simulator's own control surface beside each venue's API (`/_admin/...`): faults, the
price, the funding rate, WebSocket drops, and what order requests arrived."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from aiohttp import web

from hedged.sim.arrivals import Arrivals
from hedged.sim.faults import WireFaults
from hedged.sim.funding import FundingSchedule
from hedged.sim.hub import Hub
from hedged.sim.venue import DEFAULT_PLANS
from hedged.sim.world import World

PREFIX = "/_admin"


@dataclass(frozen=True, slots=True)
class Controls:
    """What the admin API of one venue server reaches."""

    world: World
    venue: str  # the venue this server is
    faults: WireFaults
    hub: Hub
    submissions: Counter[str]  # client id -> order requests with it that reached placement
    arrivals: Arrivals


CONTROLS = web.AppKey("admin_controls", Controls)


def add_admin_routes(app: web.Application, controls: Controls) -> None:
    app[CONTROLS] = controls
    router = app.router
    for method in ("GET", "POST", "DELETE"):
        router.add_route(method, f"{PREFIX}/faults", faults)
    router.add_post(f"{PREFIX}/ws/disconnect", ws_disconnect)
    router.add_post(f"{PREFIX}/price", set_price)
    router.add_post(f"{PREFIX}/funding", set_funding)
    router.add_get(f"{PREFIX}/submissions", submissions)
    router.add_get(f"{PREFIX}/arrivals", arrivals)


async def faults(request: web.Request) -> web.Response:
    """POST: arm {"kind", "path", "method", "times", "seconds", "fraction"}; DELETE: clear;
    GET: how many faults are armed and how many late requests are still held."""
    armed = request.app[CONTROLS].faults
    if request.method == "GET":
        return web.json_response({"armed": len(armed.armed), "held": len(armed.held)})
    if request.method == "DELETE":
        armed.clear()
        return web.json_response({"armed": 0})
    spec = await request.json()
    try:
        armed.arm(
            spec["kind"],
            spec.get("path", "*"),
            method=spec.get("method"),
            times=spec.get("times", 1),
            seconds=float(spec.get("seconds", 0)),
            fraction=str(spec.get("fraction", "0")),
        )
    except (KeyError, ValueError) as e:
        return web.json_response({"error": f"bad fault spec: {e}"}, status=400)
    return web.json_response({"armed": len(armed.armed)})


async def ws_disconnect(request: web.Request) -> web.Response:
    """Close every WebSocket of this venue (clients must reconnect and resubscribe)."""
    closed = await request.app[CONTROLS].hub.close_all()
    return web.json_response({"closed": closed})


async def set_price(request: web.Request) -> web.Response:
    """`{"price": "151.2"}` moves the world's underlying, every pair's; every venue's book
    follows. `{"price": "151.2", "symbol": "X"}` moves only the pair quoting symbol X."""
    world = request.app[CONTROLS].world
    try:
        body = await request.json()
        price = Decimal(str(body["price"]))
        symbol = body.get("symbol")
        if not price.is_finite() or price <= 0 or not isinstance(symbol, str | None):
            raise InvalidOperation
    except (KeyError, ValueError, TypeError, AttributeError, InvalidOperation):
        return web.json_response(
            {"error": 'expected {"price": "<positive decimal>", "symbol": "<optional>"}'},
            status=400,
        )
    try:
        world.set_price(price, symbol)
    except KeyError:
        return web.json_response({"error": f"no pair quotes {symbol}"}, status=404)
    return web.json_response({"price": str(price)})


async def set_funding(request: web.Request) -> web.Response:
    """`{"rate": "0.0003"}`: every settlement of this venue's symbol from now on applies
    that rate per interval (shown as the predicted rate at once); `{"rate": null}` goes back
    to the seeded plan. A venue started without funding gets its own schedule."""
    controls = request.app[CONTROLS]
    try:
        raw = (await request.json())["rate"]
        rate = None if raw is None else Decimal(str(raw))
        if rate is not None and not rate.is_finite():
            raise InvalidOperation
    except (KeyError, ValueError, TypeError, InvalidOperation):
        return web.json_response({"error": 'expected {"rate": "<decimal>" or null}'}, status=400)
    world, venue = controls.world, controls.venue
    schedule = world.funding.get(venue)
    if schedule is None:
        schedule = FundingSchedule(DEFAULT_PLANS[venue], world.venues[venue].now)
        world.funding[venue] = schedule
    symbol = world.symbols[venue]
    schedule.fix(symbol, rate)
    return web.json_response({"symbol": symbol, "rate": str(schedule.rate(symbol))})


async def submissions(request: web.Request) -> web.Response:
    """{client id: how many order requests with it reached placement}."""
    return web.json_response(dict(request.app[CONTROLS].submissions))


async def arrivals(request: web.Request) -> web.Response:
    """Every order request (place, cancel): when, which key, which client id."""
    return web.json_response(request.app[CONTROLS].arrivals.entries)
