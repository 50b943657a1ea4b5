"""Backpack's public market-data endpoints (docs/venues/backpack.md#endpoints-used); no
signature."""

from __future__ import annotations

from aiohttp import web

from hedged.sim.backpack.params import choice, required_text, text
from hedged.sim.backpack.shapes import (
    depth_json,
    mark_price_json,
    market_json,
    symbol_parts,
    ticker_json,
    touch_qty,
)
from hedged.sim.backpack.state import STATE

TICKER_INTERVALS = {"1d": 86_400.0, "1w": 7 * 86_400.0}
DEPTH_LIMITS = ("5", "10", "20", "50", "100", "500", "1000")
MARKET_TYPES = ("SPOT", "PERP", "IPERP", "DATED", "PREDICTION", "RFQ")


async def markets(request: web.Request) -> web.Response:
    venue = request.app[STATE]
    market_type = choice(request.query, "marketType", MARKET_TYPES, None)
    listed = [
        market_json(market)
        for market in venue.exchange.markets.values()
        if market_type in (None, symbol_parts(market.symbol)[2])
    ]
    return web.json_response(listed)


async def market(request: web.Request) -> web.Response:
    venue = request.app[STATE]
    return web.json_response(market_json(venue.market(required_text(request.query, "symbol"))))


async def ticker(request: web.Request) -> web.Response:
    venue = request.app[STATE]
    symbol = venue.market(required_text(request.query, "symbol")).symbol
    interval = choice(request.query, "interval", tuple(TICKER_INTERVALS), "1d") or "1d"
    since = venue.clock() - TICKER_INTERVALS[interval]
    fills = [f for f in venue.ids.fills if f.symbol == symbol and f.at >= since]
    return web.json_response(ticker_json(symbol, fills, venue.mark(symbol)))


async def depth(request: web.Request) -> web.Response:
    venue = request.app[STATE]
    market = venue.market(required_text(request.query, "symbol"))
    choice(request.query, "limit", DEPTH_LIMITS, None)  # validated; there is one level a side
    body = depth_json(
        venue.book(market.symbol), touch_qty(market), venue.book_updates, venue.now_us()
    )
    return web.json_response(body)


async def mark_prices(request: web.Request) -> web.Response:
    """An array even for one symbol."""
    venue = request.app[STATE]
    symbol = text(request.query, "symbol")
    symbols = [venue.market(symbol).symbol] if symbol is not None else list(venue.exchange.markets)
    return web.json_response(
        [
            mark_price_json(s, venue.mark(s), venue.index(s), venue.next_funding_ms())
            for s in symbols
            if venue.exchange.book(s) is not None
        ]
    )


async def server_time(request: web.Request) -> web.Response:
    return web.Response(text=str(request.app[STATE].now_ms()))


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="pong")


async def status(request: web.Request) -> web.Response:
    return web.json_response({"status": "Ok", "message": None})
