"""Backpack's public market-data endpoints (docs/venues/backpack.md#endpoints-used); no
signature."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from hedged.sim.backpack.errors import bad_request
from hedged.sim.backpack.params import Params, choice, integer, required_text, text
from hedged.sim.backpack.shapes import (
    Json,
    dec,
    depth_json,
    mark_price_json,
    market_json,
    naive_utc,
    symbol_parts,
    ticker_json,
    touch_qty,
)
from hedged.sim.backpack.state import STATE, BackpackState
from hedged.sim.candles import INTERVALS, KEEP, Candle
from hedged.sim.records import SimFill
from hedged.sim.trades import TradeLayout

TICKER_INTERVALS = {"1d": 86_400.0, "1w": 7 * 86_400.0}
DEPTH_LIMITS = ("5", "10", "20", "50", "100", "500", "1000")
MARKET_TYPES = ("SPOT", "PERP", "IPERP", "DATED", "PREDICTION", "RFQ")
KLINE_INTERVALS = tuple(name for name in INTERVALS if name != "1M")
PRICE_TYPES = {"Last": "last", "Mark": "mark", "Index": "index"}
FUNDING_RATES_MAX = 10_000
TRADES_MAX = 1000
TRADES = TradeLayout(qty="quantity", quote_qty="quoteQuantity", time="timestamp", amount=dec)


async def markets(request: web.Request) -> web.Response:
    venue = request.app[STATE]
    market_type = choice(request.query, "marketType", MARKET_TYPES, None)
    listed = [
        market_json(market, _funding_interval_ms(venue, market.symbol))
        for market in venue.exchange.markets.values()
        if market_type in (None, symbol_parts(market.symbol)[2])
    ]
    return web.json_response(listed)


async def market(request: web.Request) -> web.Response:
    venue = request.app[STATE]
    symbol = venue.market(required_text(request.query, "symbol")).symbol
    return web.json_response(market_json(venue.market(symbol), _funding_interval_ms(venue, symbol)))


def _funding_interval_ms(venue: BackpackState, symbol: str) -> int:
    return int(venue.funding(symbol).hours * 3_600_000)


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
            mark_price_json(s, venue.mark(s), venue.index(s), venue.funding(s))
            for s in symbols
            if venue.exchange.book(s) is not None
        ]
    )


async def tickers(request: web.Request) -> web.Response:
    venue = request.app[STATE]
    interval = choice(request.query, "interval", tuple(TICKER_INTERVALS), "1d") or "1d"
    since = venue.clock() - TICKER_INTERVALS[interval]
    return web.json_response(
        [
            ticker_json(
                symbol,
                [f for f in venue.ids.fills if f.symbol == symbol and f.at >= since],
                venue.mark(symbol),
            )
            for symbol in venue.exchange.markets
            if venue.exchange.book(symbol) is not None
        ]
    )


async def assets(request: web.Request) -> web.Response:
    """Every asset the markets trade; deposits and withdrawals are not simulated, so no
    token (blockchain) is listed."""
    venue = request.app[STATE]
    names = dict.fromkeys(
        name for symbol in venue.exchange.markets for name in symbol_parts(symbol)[:2]
    )
    return web.json_response(
        [{"symbol": n, "displayName": n, "coingeckoId": None, "tokens": []} for n in names]
    )


async def securities(request: web.Request) -> web.Response:
    """Tokenized securities (RFQ stock markets): none are simulated."""
    return web.json_response([])


async def klines(request: web.Request) -> web.Response:
    """Times in seconds; `startTime` is required, as on the venue."""
    venue, params = request.app[STATE], request.query
    symbol = venue.market(required_text(params, "symbol")).symbol
    interval = choice(params, "interval", KLINE_INTERVALS, None)
    if interval is None:
        raise bad_request("Missing required parameter `interval`")
    start = integer(params, "startTime")
    if start is None:
        raise bad_request("Missing required parameter `startTime`")
    end = integer(params, "endTime")
    kind = PRICE_TYPES[choice(params, "priceType", tuple(PRICE_TYPES), "Last") or "Last"]
    if symbol != venue.symbol:
        return web.json_response([])
    candles = venue.tape.series(kind).select(interval, start, end, KEEP)
    return web.json_response([_kline(c, with_volume=kind == "last") for c in candles])


def _kline(c: Candle, *, with_volume: bool) -> Json:
    return {
        "start": _kline_time(c.start),
        "end": _kline_time(c.end),
        "open": dec(c.open),
        "high": dec(c.high),
        "low": dec(c.low),
        "close": dec(c.close),
        "volume": dec(c.volume) if with_volume else "0",
        "quoteVolume": dec(c.quote_volume) if with_volume else "0",
        "trades": str(c.trades) if with_volume else "0",
    }


def _kline_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


async def funding_rates(request: web.Request) -> web.Response:
    """Settled rates, newest first."""
    venue, params = request.app[STATE], request.query
    symbol = venue.market(required_text(params, "symbol")).symbol
    limit = integer(params, "limit", 1, FUNDING_RATES_MAX) or 100
    offset = integer(params, "offset") or 0
    rates = venue.exchange.funding_rates(symbol)[::-1][offset : offset + limit]
    return web.json_response(
        [
            {
                "symbol": r.symbol,
                "intervalEndTimestamp": naive_utc(r.at),
                "fundingRate": dec(r.rate),
            }
            for r in rates
        ]
    )


async def open_interest(request: web.Request) -> web.Response:
    """An array, even for one symbol."""
    venue = request.app[STATE]
    symbol = text(request.query, "symbol")
    symbols = [venue.market(symbol).symbol] if symbol is not None else list(venue.exchange.markets)
    now = venue.now_ms()
    return web.json_response(
        [
            {"symbol": s, "openInterest": dec(venue.exchange.open_interest(s)), "timestamp": now}
            for s in symbols
        ]
    )


async def trades(request: web.Request) -> web.Response:
    """The most recent `limit` trades, oldest first."""
    venue, params = request.app[STATE], request.query
    fills = _fills(venue, params)
    limit = integer(params, "limit", 1, TRADES_MAX) or 100
    return web.json_response([TRADES.row(f) for f in fills[-limit:]])


async def trades_history(request: web.Request) -> web.Response:
    """Older trades: `offset` back from the newest."""
    venue, params = request.app[STATE], request.query
    fills = _fills(venue, params)
    limit = integer(params, "limit", 1, TRADES_MAX) or 100
    offset = integer(params, "offset") or 0
    end = len(fills) - offset
    return web.json_response([TRADES.row(f) for f in fills[max(0, end - limit) : max(0, end)]])


def _fills(venue: BackpackState, params: Params) -> list[SimFill]:
    return venue.exchange.fills_of(venue.market(required_text(params, "symbol")).symbol)


async def server_time(request: web.Request) -> web.Response:
    return web.Response(text=str(request.app[STATE].now_ms()))


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="pong")


async def status(request: web.Request) -> web.Response:
    return web.json_response({"status": "Ok", "message": None})
