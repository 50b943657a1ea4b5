"""Aster's REST endpoints as a table: each served at its V1-family path and under /fapi/v3.
A new endpoint is a handler in `public` or `private` and a row here."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from hedged.sim.aster import private, public
from hedged.sim.aster.auth import Authenticator, Security
from hedged.sim.aster.call import Call, Endpoint
from hedged.sim.aster.errors import AsterError
from hedged.sim.aster.limits import Limits, Weight, depth_weight, weight, weight_unless
from hedged.sim.aster.public import kline_weight
from hedged.sim.aster.state import AsterState
from hedged.sim.middleware import PARTIAL_KEY


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # after the version segment
    handler: Endpoint
    security: Security
    weight: Weight
    legacy: str = "v1"  # the V1-family version; every route is also under v3
    also: tuple[str, ...] = ()  # further V1-family versions it is served under
    prefix: str = "/fapi"  # "/api": Aster's spot API


NONE, STREAM, SIGNED = Security.NONE, Security.USER_STREAM, Security.SIGNED
ROUTES = (
    Route("GET", "/ping", public.ping, NONE, weight(1)),
    Route("GET", "/time", public.server_time, NONE, weight(1)),
    Route("GET", "/exchangeInfo", public.exchange_info, NONE, weight(1)),
    Route("GET", "/depth", public.depth, NONE, depth_weight),
    Route("GET", "/ticker/price", public.ticker_price, NONE, weight_unless("symbol", 1, 2)),
    Route("GET", "/ticker/bookTicker", public.book_ticker, NONE, weight_unless("symbol", 1, 2)),
    Route("GET", "/premiumIndex", public.premium_index, NONE, weight(1)),
    Route("GET", "/ticker/24hr", public.ticker_24hr, NONE, weight_unless("symbol", 1, 40)),
    Route("GET", "/klines", public.klines, NONE, kline_weight),
    Route("GET", "/markPriceKlines", public.mark_price_klines, NONE, kline_weight),
    Route("GET", "/indexPriceKlines", public.index_price_klines, NONE, kline_weight),
    Route("GET", "/trades", public.trades, NONE, weight(1)),
    Route("GET", "/historicalTrades", public.historical_trades, NONE, weight(20)),
    Route("GET", "/aggTrades", public.agg_trades, NONE, weight(20)),
    Route("GET", "/openInterest", public.open_interest, NONE, weight(1)),
    Route("GET", "/fundingRate", public.funding_rate, NONE, weight(1)),
    Route("GET", "/fundingInfo", public.funding_info, NONE, weight(1)),
    Route("GET", "/exchangeInfo", public.spot_exchange_info, NONE, weight(1), "v3", prefix="/api"),
    Route("POST", "/order", private.new_order, SIGNED, weight(1)),
    Route("GET", "/order", private.query_order, SIGNED, weight(1)),
    Route("DELETE", "/order", private.cancel_order, SIGNED, weight(1)),
    Route("GET", "/openOrder", private.open_order, SIGNED, weight(1)),
    Route("GET", "/openOrders", private.open_orders, SIGNED, weight_unless("symbol", 1, 40)),
    Route("DELETE", "/allOpenOrders", private.cancel_all, SIGNED, weight(1)),
    Route("GET", "/allOrders", private.all_orders, SIGNED, weight(5)),
    Route("GET", "/userTrades", private.user_trades, SIGNED, weight(5)),
    Route("GET", "/positionRisk", private.position_risk, SIGNED, weight(5), legacy="v2"),
    Route("GET", "/balance", private.balance, SIGNED, weight(5), legacy="v2"),
    Route("GET", "/account", private.account, SIGNED, weight(5), legacy="v2", also=("v4",)),
    Route("GET", "/accountWithJoinMargin", private.account, SIGNED, weight(5), legacy="v3"),
    Route("GET", "/leverageBracket", private.leverage_bracket, SIGNED, weight(1)),
    Route("GET", "/commissionRate", private.commission_rate, SIGNED, weight(20)),
    Route("GET", "/income", private.income, SIGNED, weight(30)),
    Route("POST", "/leverage", private.leverage, SIGNED, weight(1)),
    Route("POST", "/marginType", private.margin_type, SIGNED, weight(1)),
    Route("GET", "/positionSide/dual", private.get_position_mode, SIGNED, weight(30)),
    Route("POST", "/positionSide/dual", private.set_position_mode, SIGNED, weight(1)),
    Route("POST", "/listenKey", private.new_listen_key, STREAM, weight(1)),
    Route("PUT", "/listenKey", private.keep_listen_key, STREAM, weight(1)),
    Route("DELETE", "/listenKey", private.close_listen_key, STREAM, weight(1)),
)


def add_routes(
    app: web.Application, state: AsterState, limits: Limits, auth: Authenticator
) -> dict[object, Weight]:
    """Register every route under its versions; the weight of each aiohttp route."""
    weights: dict[object, Weight] = {}
    for route in ROUTES:
        for version in dict.fromkeys((route.legacy, *route.also, "v3")):
            handler = _endpoint(route, state, limits, auth, v3=version == "v3")
            path = f"{route.prefix}/{version}{route.path}"
            added = app.router.add_route(route.method, path, handler)
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
            desk = state.desks.get(caller.params.get("symbol", ""), state)  # by symbol
            reply = route.handler(Call(desk, limits, caller.params, caller.account, v3, partial))
        except AsterError as error:
            return error.response()
        return web.json_response(reply.body, headers=reply.headers)

    return handle
