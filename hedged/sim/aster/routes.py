"""Aster's REST endpoints as a table: each served at its V1-family path and under /fapi/v3."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from hedged.sim.aster.auth import Authenticator, Security
from hedged.sim.aster.errors import AsterError, bad_value, mandatory, no_such_order
from hedged.sim.aster.filters import TIME_IN_FORCE, check_symbol, int_param, parse_new_order
from hedged.sim.aster.limits import (
    ORDER_COUNT_HEADER,
    Limits,
    Weight,
    depth_weight,
    weight,
    weight_unless,
)
from hedged.sim.aster.shapes import (
    ASSET,
    balance_json,
    chain_data,
    ms,
    num,
    order_json,
    position_json,
    trade_json,
)
from hedged.sim.aster.state import AsterState, split_core
from hedged.sim.middleware import PARTIAL_KEY
from hedged.sim.records import SimOrder

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
FUNDING_SECONDS = 8 * 3600
SUCCESS = {"code": 200, "msg": "success"}
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    state: AsterState
    limits: Limits
    params: dict[str, str]
    caller: str | None
    v3: bool
    partial: Decimal | None  # the fill fraction a PARTIAL fault set

    @property
    def account(self) -> str:
        assert self.caller is not None, "a private endpoint without a caller"
        return self.caller


@dataclass(frozen=True, slots=True)
class Reply:
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Endpoint = Callable[[Call], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # after the version segment
    handler: Endpoint
    security: Security
    weight: Weight
    legacy: str = "v1"  # the V1-family version; every route is also under v3


# Market data


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
                    "orderTypes": ["LIMIT", "MARKET"],
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


# Orders


def new_order(call: Call) -> Reply:
    state, account = call.state, call.account
    order = parse_new_order(call.params, state.symbol, dual=state.settings(account).dual)
    call.limits.admit_order(account)
    placed = state.place(account, order, call.partial)
    count = call.limits.count_order(account)
    body = order_json(state.view(placed), ack=order.response_type == "ACK")
    if call.v3:
        body["newChainData"] = chain_data(placed)
    return Reply(body, {ORDER_COUNT_HEADER: str(count)})


def query_order(call: Call) -> Reply:
    order = _find(call)
    if order is None:
        raise no_such_order()
    return Reply(order_json(call.state.view(order), with_time=True))


def cancel_order(call: Call) -> Reply:
    check_symbol(call.params, call.state.symbol)
    order = call.state.cancel(call.account, **_order_ref(call.params))
    return Reply(order_json(call.state.view(order)))


def open_order(call: Call) -> Reply:
    order = _find(call)
    if order is None or not order.is_open:
        raise no_such_order()
    return Reply(order_json(call.state.view(order), with_time=True))


def open_orders(call: Call) -> Reply:
    if "symbol" in call.params:
        check_symbol(call.params, call.state.symbol)
    orders = call.state.open_orders(call.account)
    return Reply([order_json(call.state.view(o), with_time=True) for o in orders])


def cancel_all(call: Call) -> Reply:
    check_symbol(call.params, call.state.symbol)
    call.state.cancel_all(call.account)
    return Reply({"code": "200", "msg": "The operation of cancel all open order is done."})


def all_orders(call: Call) -> Reply:
    check_symbol(call.params, call.state.symbol)
    orders = _in_time(call.params, call.state.orders(call.account), lambda o: o.created_at)
    views = [order_json(call.state.view(o), with_time=True) for o in orders]
    return Reply(_page(call.params, views, "orderId", "orderId"))


def user_trades(call: Call) -> Reply:
    check_symbol(call.params, call.state.symbol)
    fills = _in_time(call.params, call.state.fills(call.account), lambda f: f.at)
    rows = [trade_json(f, split_core(f.account)[1]) for f in fills]
    return Reply(_page(call.params, rows, "fromId", "id"))


# Account


def position_risk(call: Call) -> Reply:
    state = call.state
    if "symbol" in call.params:
        check_symbol(call.params, state.symbol)
    cap = state.max_notional(call.account)
    return Reply([position_json(row, cap) for row in state.position_rows(call.account)])


def balance(call: Call) -> Reply:
    alias = hashlib.sha256(call.account.encode()).hexdigest()[:8]
    return Reply([balance_json(alias, call.state.wallet(call.account), call.state.clock())])


def leverage(call: Call) -> Reply:
    state = call.state
    symbol = check_symbol(call.params, state.symbol)
    state.set_leverage(call.account, int_param(call.params, "leverage"))
    settings = state.settings(call.account)
    max_notional = num(state.max_notional(call.account))
    return Reply(
        {"leverage": settings.leverage, "maxNotionalValue": max_notional, "symbol": symbol}
    )


def margin_type(call: Call) -> Reply:
    check_symbol(call.params, call.state.symbol)
    kind = call.params.get("marginType")
    if not kind:
        raise mandatory("marginType")
    call.state.set_margin_type(call.account, kind.upper())
    return Reply(SUCCESS)


def get_position_mode(call: Call) -> Reply:
    return Reply({"dualSidePosition": call.state.settings(call.account).dual})


def set_position_mode(call: Call) -> Reply:
    value = call.params.get("dualSidePosition", "").lower()
    if value not in ("true", "false"):
        raise mandatory("dualSidePosition")
    call.state.set_dual(call.account, value == "true")
    return Reply(SUCCESS)


def new_listen_key(call: Call) -> Reply:
    return Reply({"listenKey": call.state.open_listen_key(call.account)})


def keep_listen_key(call: Call) -> Reply:
    call.state.keep_alive(call.account, call.params.get("listenKey"))
    return Reply({})


def close_listen_key(call: Call) -> Reply:
    call.state.close_listen_key(call.account, call.params.get("listenKey"))
    return Reply({})


NONE, STREAM, SIGNED = Security.NONE, Security.USER_STREAM, Security.SIGNED
ROUTES = (
    Route("GET", "/ping", ping, NONE, weight(1)),
    Route("GET", "/time", server_time, NONE, weight(1)),
    Route("GET", "/exchangeInfo", exchange_info, NONE, weight(1)),
    Route("GET", "/depth", depth, NONE, depth_weight),
    Route("GET", "/ticker/price", ticker_price, NONE, weight_unless("symbol", 1, 2)),
    Route("GET", "/ticker/bookTicker", book_ticker, NONE, weight_unless("symbol", 1, 2)),
    Route("GET", "/premiumIndex", premium_index, NONE, weight(1)),
    Route("POST", "/order", new_order, SIGNED, weight(1)),
    Route("GET", "/order", query_order, SIGNED, weight(1)),
    Route("DELETE", "/order", cancel_order, SIGNED, weight(1)),
    Route("GET", "/openOrder", open_order, SIGNED, weight(1)),
    Route("GET", "/openOrders", open_orders, SIGNED, weight_unless("symbol", 1, 40)),
    Route("DELETE", "/allOpenOrders", cancel_all, SIGNED, weight(1)),
    Route("GET", "/allOrders", all_orders, SIGNED, weight(5)),
    Route("GET", "/userTrades", user_trades, SIGNED, weight(5)),
    Route("GET", "/positionRisk", position_risk, SIGNED, weight(5), legacy="v2"),
    Route("GET", "/balance", balance, SIGNED, weight(5), legacy="v2"),
    Route("POST", "/leverage", leverage, SIGNED, weight(1)),
    Route("POST", "/marginType", margin_type, SIGNED, weight(1)),
    Route("GET", "/positionSide/dual", get_position_mode, SIGNED, weight(30)),
    Route("POST", "/positionSide/dual", set_position_mode, SIGNED, weight(1)),
    Route("POST", "/listenKey", new_listen_key, STREAM, weight(1)),
    Route("PUT", "/listenKey", keep_listen_key, STREAM, weight(1)),
    Route("DELETE", "/listenKey", close_listen_key, STREAM, weight(1)),
)


def add_routes(
    app: web.Application, state: AsterState, limits: Limits, auth: Authenticator
) -> dict[object, Weight]:
    """Register every route under its versions; the weight of each aiohttp route."""
    weights: dict[object, Weight] = {}
    for route in ROUTES:
        for version in (route.legacy, "v3"):
            handler = _endpoint(route, state, limits, auth, v3=version == "v3")
            added = app.router.add_route(route.method, f"/fapi/{version}{route.path}", handler)
            weights[added] = route.weight
    return weights


def _endpoint(
    route: Route, state: AsterState, limits: Limits, auth: Authenticator, *, v3: bool
) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        raw_body = (await request.read()).decode("utf-8", "replace")
        raw_query = request.raw_path.partition("?")[2]
        state.expire_listen_keys()
        try:
            caller = auth.authenticate(
                route.security,
                v3=v3,
                raw_query=raw_query,
                raw_body=raw_body,
                api_key=request.headers.get("X-MBX-APIKEY"),
            )
            partial = request.get(PARTIAL_KEY)
            reply = route.handler(Call(state, limits, caller.params, caller.account, v3, partial))
        except AsterError as error:
            return error.response()
        return web.json_response(reply.body, headers=reply.headers)

    return handle


def _find(call: Call) -> SimOrder | None:
    check_symbol(call.params, call.state.symbol)
    return call.state.find(call.account, **_order_ref(call.params))


def _order_ref(params: Mapping[str, str]) -> dict[str, str]:
    """orderId wins over origClientOrderId when both are sent."""
    if params.get("orderId"):
        if not params["orderId"].isdigit():
            raise mandatory("orderId")
        return {"order_id": params["orderId"]}
    if params.get("origClientOrderId"):
        return {"client_id": params["origClientOrderId"]}
    raise AsterError(
        -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
    )


def _one_or_all(call: Call, row: dict[str, Any]) -> Reply:
    if "symbol" in call.params:
        check_symbol(call.params, call.state.symbol)
        return Reply(row)
    return Reply([row])


def _in_time(params: Mapping[str, str], items: list[T], at: Callable[[T], float]) -> list[T]:
    start = int_param(params, "startTime", 0)
    end = int_param(params, "endTime", 2**62)
    return [item for item in items if start <= ms(at(item)) <= end]


def _page(
    params: Mapping[str, str], rows: list[dict[str, Any]], from_param: str, id_field: str
) -> list[dict[str, Any]]:
    """From `from_param` on, the first `limit` rows; without it, the last `limit` rows."""
    limit = int_param(params, "limit", 500)
    if not 1 <= limit <= 1000:
        raise bad_value("limit")
    if from_param in params:
        first = int_param(params, from_param)
        return [row for row in rows if row[id_field] >= first][:limit]
    return rows[-limit:]


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
