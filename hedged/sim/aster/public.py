"""Aster's market data endpoints (no signature)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedged.sim.aster.call import Call, Reply
from hedged.sim.aster.errors import bad_value
from hedged.sim.aster.orders import SERVED_TYPES, TIME_IN_FORCE
from hedged.sim.aster.params import check_symbol, int_param
from hedged.sim.aster.shapes import ASSET, ms, num

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
FUNDING_SECONDS = 8 * 3600


def ping(call: Call) -> Reply:
    return Reply({})


def server_time(call: Call) -> Reply:
    return Reply({"serverTime": ms(call.state.clock())})


def exchange_info(call: Call) -> Reply:
    state = call.state
    symbol, tick, step = state.symbol, state.filters.tick, state.filters.step
    quote = ASSET if symbol.endswith(ASSET) else ""
    return Reply(
        {
            "timezone": "UTC",
            "serverTime": ms(state.clock()),
            "futuresType": "U_MARGINED",
            "rateLimits": call.limits.rate_limits_json(),
            "exchangeFilters": [],
            "assets": [{"asset": ASSET, "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [
                {
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
            ],
        }
    )


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
    now = state.clock()
    return _one_or_all(
        call,
        {
            "symbol": state.symbol,
            "markPrice": num(state.mark()),
            "indexPrice": num(state.index()),
            "estimatedSettlePrice": num(state.index()),
            "lastFundingRate": "0",
            "interestRate": "0",
            "nextFundingTime": ms(next_funding(now)),
            "time": ms(now),
        },
    )


def next_funding(now: float) -> float:
    return (now // FUNDING_SECONDS + 1) * FUNDING_SECONDS


def _one_or_all(call: Call, row: dict[str, Any]) -> Reply:
    if "symbol" in call.params:
        check_symbol(call.params, call.state.symbol)
        return Reply(row)
    return Reply([row])


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
