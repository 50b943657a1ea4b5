"""Aster's market data endpoints (no signature)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from hedged.model import ZERO
from hedged.sim.aster.call import Call, Reply
from hedged.sim.aster.errors import AsterError, bad_value, mandatory
from hedged.sim.aster.orders import SERVED_TYPES, TIME_IN_FORCE
from hedged.sim.aster.params import check_symbol, int_param
from hedged.sim.aster.shapes import ASSET, ms, num
from hedged.sim.aster.state import AsterState
from hedged.sim.candles import DAY, INTERVALS, Candle
from hedged.sim.trades import TradeLayout

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
KLINE_INTERVALS = tuple(name for name in INTERVALS if name not in ("1s", "1month"))
FUNDING_FEE_CAP = Decimal("0.03")  # fundingInfo's cap and floor (±3 %)
TRADES = TradeLayout(qty="qty", quote_qty="quoteQty", time="time", amount=num)  # /trades rows


def ping(call: Call) -> Reply:
    return Reply({})


def server_time(call: Call) -> Reply:
    return Reply({"serverTime": ms(call.state.clock())})


def exchange_info(call: Call) -> Reply:
    state = call.state
    return Reply(
        {
            "timezone": "UTC",
            "serverTime": ms(state.clock()),
            "futuresType": "U_MARGINED",
            "rateLimits": call.limits.rate_limits_json(),
            "exchangeFilters": [],
            "assets": [{"asset": ASSET, "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [_symbol_info(desk) for desk in state.desks.values()],
        }
    )


def _symbol_info(state: AsterState) -> dict[str, object]:
    symbol, tick, step = state.symbol, state.filters.tick, state.filters.step
    quote = ASSET if symbol.endswith(ASSET) else ""
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": symbol.removesuffix(quote) if quote else symbol,
        "quoteAsset": ASSET,
        "marginAsset": ASSET,
        "pricePrecision": _places(tick),
        "quantityPrecision": _places(step),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.015000",
        "marketTakeBound": "0.05",
        "filters": state.filters.to_json(),
        "orderTypes": list(SERVED_TYPES),
        "timeInForce": list(TIME_IN_FORCE),
    }


def depth(call: Call) -> Reply:
    state = call.state
    check_symbol(call.params, state.symbol)
    if int_param(call.params, "limit", 500) not in DEPTH_LIMITS:
        raise bad_value("limit")
    book, qty, now = state.book(), num(state.top_qty()), ms(state.clock())
    return Reply(
        {
            "lastUpdateId": state.update_id,
            "E": now,
            "T": now,
            "bids": [[num(book.bid), qty]],
            "asks": [[num(book.ask), qty]],
        }
    )


def ticker_price(call: Call) -> Reply:
    state = call.state
    return _one_or_all(
        call, {"symbol": state.symbol, "price": num(state.mark()), "time": ms(state.clock())}
    )


def book_ticker(call: Call) -> Reply:
    state = call.state
    book, qty = state.book(), num(state.top_qty())
    return _one_or_all(
        call,
        {
            "symbol": state.symbol,
            "bidPrice": num(book.bid),
            "bidQty": qty,
            "askPrice": num(book.ask),
            "askQty": qty,
            "time": ms(state.clock()),
            "lastUpdateId": state.update_id,
        },
    )


def premium_index(call: Call) -> Reply:
    state = call.state
    now, funding = state.clock(), state.funding()
    return _one_or_all(
        call,
        {
            "symbol": state.symbol,
            "markPrice": num(state.mark()),
            "indexPrice": num(state.index()),
            "estimatedSettlePrice": num(state.index()),
            "lastFundingRate": num(funding.rate),
            "interestRate": "0",
            "nextFundingTime": ms(funding.next_at),
            "time": ms(now),
        },
    )


def spot_exchange_info(call: Call) -> Reply:
    """Aster's spot venue (`/api/v3`): not simulated, so it lists no symbols."""
    now = ms(call.state.clock())
    body = {"timezone": "UTC", "serverTime": now, "rateLimits": [], "exchangeFilters": []}
    return Reply(body | {"assets": [], "symbols": []})


def ticker_24hr(call: Call) -> Reply:
    """The rolling 24 h from the minute candles (the ones klines serve)."""
    state = call.state
    now = state.clock()
    day = state.tape.last.window(now - DAY)
    mark = state.mark()
    fills = [f for f in state.exchange.fills_of(state.symbol) if f.at > now - DAY]
    first, last = (day.open, day.close) if day else (mark, mark)
    volume, quote = (day.volume, day.quote_volume) if day else (ZERO, ZERO)
    return _one_or_all(
        call,
        {
            "symbol": state.symbol,
            "priceChange": num(last - first),
            "priceChangePercent": num(((last - first) / first * 100).quantize(Decimal("0.001"))),
            "weightedAvgPrice": num(quote / volume if volume else last),
            "lastPrice": num(last),
            "lastQty": num(fills[-1].qty if fills else ZERO),
            "openPrice": num(first),
            "highPrice": num(day.high if day else mark),
            "lowPrice": num(day.low if day else mark),
            "volume": num(volume),
            "quoteVolume": num(quote),
            "openTime": ms(day.start if day else now),
            "closeTime": ms(now),
            "firstId": int(fills[0].trade_id) if fills else -1,
            "lastId": int(fills[-1].trade_id) if fills else -1,
            "count": len(fills),
        },
    )


def klines(call: Call) -> Reply:
    return _klines(call, "last")


def mark_price_klines(call: Call) -> Reply:
    return _klines(call, "mark")


def index_price_klines(call: Call) -> Reply:
    """Keyed by `pair`, as on Binance; `symbol` is accepted too."""
    return _klines(call, "index", "pair")


def kline_weight(params: Mapping[str, str]) -> int:
    """1 below 100 candles, 2 below 500, 5 up to 1000, 10 beyond."""
    raw = params.get("limit", "500")
    limit = int(raw) if raw.isdigit() else 500
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def _klines(call: Call, kind: str, key: str = "symbol") -> Reply:
    state, params = call.state, call.params
    if key != "symbol" and key in params:
        params = params | {"symbol": params[key]}
    check_symbol(params, state.symbol)
    interval = params.get("interval")
    if not interval:
        raise mandatory("interval")
    if interval not in KLINE_INTERVALS:
        raise AsterError(-1120, "Invalid interval.")
    limit = int_param(params, "limit", 500)
    if not 1 <= limit <= 1500:
        raise bad_value("limit")
    start, end = _time_param(params, "startTime"), _time_param(params, "endTime")
    candles = state.tape.series(kind).select(interval, start, end, limit)
    return Reply([_kline_row(c, with_volume=kind == "last") for c in candles])


def _kline_row(c: Candle, *, with_volume: bool) -> list[object]:
    volume, quote = (c.volume, c.quote_volume) if with_volume else (ZERO, ZERO)
    return [
        ms(c.start),
        num(c.open),
        num(c.high),
        num(c.low),
        num(c.close),
        num(volume),
        ms(c.end) - 1,
        num(quote),
        c.trades if with_volume else 0,
        "0",  # taker buy volume: the simulated book has no other side to tell apart
        "0",
        "0",
    ]


def _time_param(params: dict[str, str], name: str) -> float | None:
    return int_param(params, name) / 1000 if name in params else None


def trades(call: Call) -> Reply:
    """Recent trades: every fill on the simulated book (the book itself is the other side)."""
    check_symbol(call.params, call.state.symbol)
    limit = _limit(call.params, 500, 1000)
    fills = call.state.exchange.fills_of(call.state.symbol)
    return Reply([TRADES.row(f) for f in fills[-limit:]])


def historical_trades(call: Call) -> Reply:
    check_symbol(call.params, call.state.symbol)
    limit = _limit(call.params, 500, 1000)
    fills = call.state.exchange.fills_of(call.state.symbol)
    if "fromId" in call.params:
        first = int_param(call.params, "fromId")
        return Reply([TRADES.row(f) for f in fills if int(f.trade_id) >= first][:limit])
    return Reply([TRADES.row(f) for f in fills[-limit:]])


def agg_trades(call: Call) -> Reply:
    """Each simulated fill is its own aggregate (one taker order, one price)."""
    check_symbol(call.params, call.state.symbol)
    params = call.params
    limit = _limit(params, 500, 1000)
    fills = call.state.exchange.fills_of(call.state.symbol)
    start, end = _time_param(params, "startTime"), _time_param(params, "endTime")
    if "fromId" in params:
        first = int_param(params, "fromId")
        fills = [f for f in fills if int(f.trade_id) >= first][:limit]
    elif start is not None or end is not None:
        fills = [f for f in fills if (start or 0) <= f.at <= (end or float("inf"))][:limit]
    else:
        fills = fills[-limit:]
    return Reply(
        [
            {
                "a": int(f.trade_id),
                "p": num(f.price),
                "q": num(f.qty),
                "f": int(f.trade_id),
                "l": int(f.trade_id),
                "T": ms(f.at),
                "m": f.buyer_is_maker,
            }
            for f in fills
        ]
    )


def open_interest(call: Call) -> Reply:
    state = call.state
    check_symbol(call.params, state.symbol)
    body = {
        "openInterest": num(state.exchange.open_interest(state.symbol)),
        "symbol": state.symbol,
        "time": ms(state.clock()),
    }
    return Reply(body)


def funding_rate(call: Call) -> Reply:
    """Settled rates, oldest first: from `startTime` the first `limit`, else the last."""
    state, params = call.state, call.params
    symbol = params.get("symbol")
    if symbol:
        check_symbol(params, state.symbol)
    limit = _limit(params, 100, 1000)
    start, end = _time_param(params, "startTime"), _time_param(params, "endTime")
    rates = [
        r
        for r in state.exchange.funding_rates(state.symbol)
        if (start is None or r.at >= start) and (end is None or r.at <= end)
    ]
    chosen = rates[:limit] if start is not None else rates[-limit:]
    return Reply(
        [
            {
                "symbol": r.symbol,
                "fundingRate": num(r.rate),
                "fundingTime": ms(r.at),
                "markPrice": num(r.mark),
            }
            for r in chosen
        ]
    )


def funding_info(call: Call) -> Reply:
    state = call.state
    funding = state.funding()
    row = {
        "symbol": state.symbol,
        "interestRate": "0",
        "time": ms(state.clock()),
        # a whole number on the venue; the tests' short intervals (0.01 h) as a decimal string
        "fundingIntervalHours": num(h) if (h := funding.hours) != int(h) else int(h),
        "fundingFeeCap": num(FUNDING_FEE_CAP),
        "fundingFeeFloor": num(-FUNDING_FEE_CAP),
    }
    if "symbol" in call.params:
        check_symbol(call.params, state.symbol)
    return Reply([row])


def _limit(params: dict[str, str], default: int, most: int) -> int:
    limit = int_param(params, "limit", default)
    if not 1 <= limit <= most:
        raise bad_value("limit")
    return limit


def _one_or_all(call: Call, row: dict[str, Any]) -> Reply:
    if "symbol" in call.params:
        check_symbol(call.params, call.state.symbol)
        return Reply(row)
    return Reply([row])


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
