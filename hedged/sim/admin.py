"""Test and operator controls of a Backpack server, outside the venue's API (`/_admin/...`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from aiohttp import web

from hedged.sim.backpack.state import STATE


async def ws_disconnect(request: web.Request) -> web.Response:
    """Close every WebSocket of this venue (clients must reconnect and resubscribe)."""
    closed = await request.app[STATE].hub.close_all()
    return web.json_response({"closed": closed})


async def set_price(request: web.Request) -> web.Response:
    """`{"price": "151.2"}` moves the world's underlying; every venue's book follows."""
    venue = request.app[STATE]
    try:
        body = await request.json()
        price = Decimal(str(body["price"]))
    except (ValueError, KeyError, TypeError, InvalidOperation):
        return web.json_response({"error": 'expected {"price": "<decimal>"}'}, status=400)
    if not price.is_finite() or price <= 0:
        return web.json_response({"error": "price must be positive"}, status=400)
    venue.world.set_price(price)
    return web.json_response({"price": str(venue.world.price)})


async def arrivals(request: web.Request) -> web.Response:
    """Every order request (place, cancel): when, which key, which client id."""
    return web.json_response(request.app[STATE].arrivals.entries)


async def submissions(request: web.Request) -> web.Response:
    """{clientId: how many order requests with it reached placement}."""
    return web.json_response(dict(request.app[STATE].submissions))
