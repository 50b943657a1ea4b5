"""Aster REST over real HTTP on 127.0.0.1: every endpoint's shape, order semantics, filters
with their codes, account settings, position modes, request weight and listen keys."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from test_wire_aster_kit import (
    ALICE,
    BOB_KEY,
    BOB_SECRET,
    PRICE,
    SYMBOL,
    Answer,
    Clock,
    D,
    Sim,
    make_world,
    open_sim,
)

from hedged.sim.aster.app import AsterFilters
from hedged.sim.aster.auth import Security
from hedged.sim.aster.routes import ROUTES, Route
from hedged.sim.exchange import SimExchange
from hedged.sim.pricepath import ScriptedPath
from hedged.sim.world import World

ORDER_FIELDS = {
    "orderId": int,
    "symbol": str,
    "status": str,
    "clientOrderId": str,
    "price": str,
    "avgPrice": str,
    "origQty": str,
    "executedQty": str,
    "cumQty": str,
    "cumQuote": str,
    "timeInForce": str,
    "type": str,
    "reduceOnly": bool,
    "closePosition": bool,
    "side": str,
    "positionSide": str,
    "stopPrice": str,
    "workingType": str,
    "priceProtect": bool,
    "origType": str,
    "updateTime": int,
}
POSITION_FIELDS = frozenset(
    [
        "symbol",
        "positionAmt",
        "entryPrice",
        "markPrice",
        "unRealizedProfit",
        "liquidationPrice",
        "leverage",
        "maxNotionalValue",
        "marginType",
        "isolatedMargin",
        "isAutoAddMargin",
        "positionSide",
        "notional",
        "isolatedWallet",
        "updateTime",
    ]
)
BALANCE_FIELDS = frozenset(
    [
        "accountAlias",
        "asset",
        "balance",
        "crossWalletBalance",
        "crossUnPnl",
        "availableBalance",
        "maxWithdrawAmount",
        "marginAvailable",
        "updateTime",
    ]
)
TRADE_FIELDS = frozenset(
    [
        "buyer",
        "commission",
        "commissionAsset",
        "id",
        "maker",
        "orderId",
        "price",
        "qty",
        "quoteQty",
        "realizedPnl",
        "side",
        "positionSide",
        "symbol",
        "time",
    ]
)


async def place(sim: Sim, version: str = "v1", **params: str) -> Answer:
    """POST /order with `symbol` SOLUSDT unless given; V1 by default, `version="v3"` signs V3."""
    pairs = [("symbol", params.pop("symbol", SYMBOL)), *params.items()]
    if version == "v3":
        return await sim.v3("POST", "/order", pairs)
    return await sim.v1("POST", "/order", pairs)


async def ok(answer: Answer) -> Any:
    assert answer.status == 200, answer.body
    return answer.body


def check_order_shape(body: dict[str, Any]) -> None:
    for name, kind in ORDER_FIELDS.items():
        assert isinstance(body[name], kind), (name, body)


# Market data


@pytest.mark.parametrize("version", ["v1", "v3"])
async def test_market_data_shapes(version: str) -> None:
    async with open_sim() as sim:
        sym = [("symbol", SYMBOL)]
        assert await ok(await sim.public("/ping", version=version)) == {}
        assert await ok(await sim.public("/time", version=version)) == {
            "serverTime": int(sim.clock() * 1000)
        }
        info = await ok(await sim.public("/exchangeInfo", version=version))
        ticker = await ok(await sim.public("/ticker/bookTicker", sym, version))
        tickers = await ok(await sim.public("/ticker/bookTicker", version=version))
        price = await ok(await sim.public("/ticker/price", sym, version))
        premium = await ok(await sim.public("/premiumIndex", sym, version))
        depth = await ok(await sim.public("/depth", [*sym, ("limit", "5")], version))

    limits = {
        (r["rateLimitType"], r["interval"], r["intervalNum"]): r["limit"]
        for r in info["rateLimits"]
    }
    assert limits == {
        ("REQUEST_WEIGHT", "MINUTE", 1): 2400,
        ("ORDERS", "MINUTE", 1): 1200,
        ("ORDERS", "SECOND", 10): 300,
    }
    [symbol] = info["symbols"]
    assert (symbol["symbol"], symbol["contractType"], symbol["status"]) == (
        SYMBOL,
        "PERPETUAL",
        "TRADING",
    )
    assert (symbol["baseAsset"], symbol["quoteAsset"], symbol["marginAsset"]) == (
        "SOL",
        "USDT",
        "USDT",
    )
    filters = {f["filterType"]: f for f in symbol["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01"
    assert filters["LOT_SIZE"]["stepSize"] == filters["MARKET_LOT_SIZE"]["stepSize"] == "0.01"
    assert filters["LOT_SIZE"]["minQty"] == "0.01"
    assert filters["MIN_NOTIONAL"]["notional"] == "5"
    assert filters["PERCENT_PRICE"]["multiplierUp"] == "1.0500"
    assert filters["PERCENT_PRICE"]["multiplierDown"] == "0.9500"
    assert {"LIMIT", "MARKET"} <= set(symbol["orderTypes"])
    assert {"GTC", "IOC", "FOK", "GTX"} <= set(symbol["timeInForce"])

    assert ticker["symbol"] == SYMBOL
    assert (ticker["bidPrice"], ticker["askPrice"]) == ("149.98", "150.02")
    assert all(isinstance(ticker[k], str) for k in ("bidQty", "askQty"))
    assert isinstance(ticker["time"], int) and isinstance(ticker["lastUpdateId"], int)
    assert tickers == [ticker]
    assert price == {"symbol": SYMBOL, "price": "150", "time": price["time"]}
    assert premium["markPrice"] == premium["indexPrice"] == "150"
    assert isinstance(premium["lastFundingRate"], str)
    assert premium["nextFundingTime"] > premium["time"]
    assert set(premium) >= {"estimatedSettlePrice", "interestRate"}
    assert depth["bids"][0][0] == "149.98" and depth["asks"][0][0] == "150.02"
    assert {"lastUpdateId", "E", "T"} <= set(depth)


async def test_market_data_refusals() -> None:
    async with open_sim() as sim:
        no_symbol = await sim.public("/depth")
        bad_limit = await sim.public("/depth", [("symbol", SYMBOL), ("limit", "7")])
        unknown = await sim.public("/ticker/price", [("symbol", "BTCUSDT")])
    assert (no_symbol.status, no_symbol.code) == (400, -1102)
    assert bad_limit.code == -1130
    assert unknown.code == -1121


# Orders


async def test_market_sell_fills_at_the_bid_and_shows_in_trades_positions_and_balance() -> None:
    async with open_sim() as sim:
        sold = await ok(
            await place(
                sim,
                side="SELL",
                type="MARKET",
                quantity="1",
                newOrderRespType="RESULT",
                newClientOrderId="open-1",
            )
        )
        trades = await ok(await sim.v1("GET", "/userTrades", [("symbol", SYMBOL)]))
        positions = await ok(await sim.v1("GET", "/positionRisk", version="v2"))
        balances = await ok(await sim.v1("GET", "/balance", version="v2"))
        v3_positions = await ok(await sim.v3("GET", "/positionRisk", [("symbol", SYMBOL)]))
        v3_balances = await ok(await sim.v3("GET", "/balance"))
    check_order_shape(sold)
    assert (sold["status"], sold["avgPrice"], sold["executedQty"]) == ("FILLED", "149.98", "1")
    assert (sold["cumQuote"], sold["clientOrderId"]) == ("149.98", "open-1")
    [trade] = trades
    assert set(trade) >= TRADE_FIELDS
    assert (trade["price"], trade["qty"], trade["quoteQty"]) == ("149.98", "1", "149.98")
    assert trade["commission"] == "0.052493"  # 149.98 x 0.035 % taker
    assert (trade["maker"], trade["buyer"], trade["realizedPnl"]) == (False, False, "0")
    assert trade["orderId"] == sold["orderId"] and isinstance(trade["id"], int)
    [position] = positions
    assert set(position) >= POSITION_FIELDS
    assert (position["positionAmt"], position["entryPrice"], position["markPrice"]) == (
        "-1",
        "149.98",
        "150",
    )
    assert (position["unRealizedProfit"], position["notional"]) == ("-0.02", "-150")
    assert (position["positionSide"], position["marginType"], position["leverage"]) == (
        "BOTH",
        "cross",
        "20",
    )
    [balance] = balances
    assert set(balance) >= BALANCE_FIELDS
    assert (balance["asset"], balance["balance"], balance["crossUnPnl"]) == (
        "USDT",
        "99999.947507",
        "-0.02",
    )
    assert v3_positions == positions and v3_balances[0]["balance"] == balance["balance"]


async def test_ack_is_the_default_and_shows_the_order_as_accepted() -> None:
    async with open_sim() as sim:
        acked = await ok(await place(sim, side="BUY", type="MARKET", quantity="1"))
        queried = await ok(
            await sim.v1("GET", "/order", [("symbol", SYMBOL), ("orderId", str(acked["orderId"]))])
        )
        count = (await place(sim, side="BUY", type="MARKET", quantity="1")).headers
    check_order_shape(acked)
    assert (acked["status"], acked["executedQty"], acked["avgPrice"]) == ("NEW", "0", "0")
    assert len(acked["clientOrderId"]) == 22  # generated, like the venue's
    check_order_shape(queried)
    assert (queried["status"], queried["avgPrice"]) == ("FILLED", "150.02")  # at the ask
    assert isinstance(queried["time"], int)
    assert count["X-MBX-ORDER-COUNT-1M"] == "2"


async def test_limit_order_query_and_cancel_by_client_id() -> None:
    async with open_sim() as sim:
        sym = ("symbol", SYMBOL)
        by_client = [sym, ("origClientOrderId", "tp-1")]
        placed = await ok(
            await place(
                sim,
                side="BUY",
                type="LIMIT",
                timeInForce="GTC",
                quantity="1",
                price="149.00",
                newClientOrderId="tp-1",
            )
        )
        listed = await ok(await sim.v1("GET", "/openOrders", [sym]))
        listed_v3 = await ok(await sim.v3("GET", "/openOrders"))
        one = await ok(await sim.v1("GET", "/openOrder", by_client))
        canceled = await ok(await sim.v1("DELETE", "/order", by_client))
        again = await sim.v1("DELETE", "/order", by_client)
        after = await ok(await sim.v1("GET", "/order", by_client))
        not_open = await sim.v1("GET", "/openOrder", by_client)
        unknown = await sim.v1("GET", "/order", [sym, ("origClientOrderId", "nope")])
        unknown_cancel = await sim.v1("DELETE", "/order", [sym, ("orderId", "999")])
        neither = await sim.v1("GET", "/order", [sym])
    assert (placed["status"], placed["price"], placed["timeInForce"]) == ("NEW", "149", "GTC")
    assert (
        [o["clientOrderId"] for o in listed] == ["tp-1"] == [o["clientOrderId"] for o in listed_v3]
    )
    assert one["orderId"] == placed["orderId"]
    check_order_shape(canceled)
    assert canceled["status"] == after["status"] == "CANCELED"
    assert (again.code, unknown_cancel.code) == (-2011, -2011)
    assert (not_open.code, unknown.code) == (-2013, -2013)
    assert neither.code == -1102


async def test_cancel_all_and_all_orders() -> None:
    async with open_sim() as sim:
        sym = ("symbol", SYMBOL)
        for i, price in enumerate(("149.00", "148.00")):
            await ok(
                await place(
                    sim,
                    side="BUY",
                    type="LIMIT",
                    timeInForce="GTC",
                    quantity="1",
                    price=price,
                    newClientOrderId=f"b{i}",
                )
            )
        await ok(await place(sim, side="BUY", type="MARKET", quantity="1", newClientOrderId="m"))
        done = await ok(await sim.v1("DELETE", "/allOpenOrders", [sym]))
        still_open = await ok(await sim.v1("GET", "/openOrders"))
        everything = await ok(await sim.v1("GET", "/allOrders", [sym]))
        last = await ok(await sim.v1("GET", "/allOrders", [sym, ("limit", "1")]))
        first_id = everything[0]["orderId"]
        from_second = await ok(
            await sim.v1("GET", "/allOrders", [sym, ("orderId", str(first_id + 1))])
        )
        v3 = await ok(await sim.v3("GET", "/allOrders", [sym]))
    assert done == {"code": "200", "msg": "The operation of cancel all open order is done."}
    assert still_open == []
    assert [(o["clientOrderId"], o["status"]) for o in everything] == [
        ("b0", "CANCELED"),
        ("b1", "CANCELED"),
        ("m", "FILLED"),
    ]
    assert [o["clientOrderId"] for o in last] == ["m"]
    assert [o["clientOrderId"] for o in from_second] == ["b1", "m"]
    assert v3 == everything


async def test_time_in_force_ioc_fok_gtx() -> None:
    clock = Clock()
    async with open_sim(world=make_world(clock, depth_qty=D("0.5")), clock=clock) as sim:
        limit = {"type": "LIMIT", "quantity": "1", "newOrderRespType": "RESULT"}
        ioc_rest = await ok(
            await place(sim, side="BUY", price="149.00", timeInForce="IOC", **limit)
        )
        ioc_take = await ok(
            await place(sim, side="BUY", price="150.10", timeInForce="IOC", **limit)
        )
        fok = await ok(await place(sim, side="BUY", price="150.10", timeInForce="FOK", **limit))
        gtx_cross = await place(sim, side="BUY", price="150.10", timeInForce="GTX", **limit)
        gtx_rest = await ok(
            await place(sim, side="BUY", price="149.00", timeInForce="GTX", **limit)
        )
        small_fok = await ok(
            await place(
                sim,
                side="SELL",
                price="149.90",
                timeInForce="FOK",
                type="LIMIT",
                quantity="0.5",
                newOrderRespType="RESULT",
            )
        )
    assert (ioc_rest["status"], ioc_rest["executedQty"]) == ("EXPIRED", "0")
    assert (ioc_take["status"], ioc_take["executedQty"], ioc_take["avgPrice"]) == (
        "EXPIRED",
        "0.5",
        "150.02",
    )
    assert (fok["status"], fok["executedQty"], fok["timeInForce"]) == ("EXPIRED", "0", "FOK")
    assert gtx_cross.code == -5022
    assert (gtx_rest["status"], gtx_rest["timeInForce"]) == ("NEW", "GTX")
    assert (small_fok["status"], small_fok["avgPrice"]) == ("FILLED", "149.98")


# Filters, in the venue's order of checks


def tight_filters() -> AsterFilters:
    """Minimum quantity 0.1 (step 0.01), so that -4004 is reachable before -4023."""
    market = make_world(Clock()).venues["aster"].markets[SYMBOL]
    return dataclasses.replace(
        AsterFilters.for_market(market), min_qty=D("0.1"), market_min_qty=D("0.1")
    )


LIMIT = {"type": "LIMIT", "timeInForce": "GTC"}
FILTER_CASES = [
    (
        "unknown symbol",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"},
        -1121,
    ),
    ("bad side", {"side": "HOLD", "type": "MARKET", "quantity": "1"}, -1117),
    ("bad type", {"side": "BUY", "type": "STOP", "quantity": "1"}, -1116),
    (
        "bad tif",
        {"side": "BUY", "type": "LIMIT", "timeInForce": "GTD", "quantity": "1", "price": "149"},
        -1115,
    ),
    ("no price", {"side": "BUY", **LIMIT, "quantity": "1"}, -1102),
    ("no tif", {"side": "BUY", "type": "LIMIT", "quantity": "1", "price": "149"}, -1102),
    ("no quantity", {"side": "BUY", "type": "MARKET"}, -1102),
    (
        "client id charset",
        {"side": "BUY", "type": "MARKET", "quantity": "1", "newClientOrderId": "bad id!"},
        -4015,
    ),
    (
        "client id length",
        {"side": "BUY", "type": "MARKET", "quantity": "1", "newClientOrderId": "x" * 37},
        -4015,
    ),
    ("tick before step", {"side": "BUY", **LIMIT, "quantity": "1.005", "price": "149.005"}, -4014),
    ("step", {"side": "BUY", "type": "MARKET", "quantity": "0.105"}, -4023),
    ("min qty", {"side": "BUY", "type": "MARKET", "quantity": "0.05"}, -4004),
    ("max qty", {"side": "BUY", "type": "MARKET", "quantity": "20000"}, -4005),
    ("min notional", {"side": "BUY", **LIMIT, "quantity": "0.1", "price": "40"}, -4164),
    ("percent price up", {"side": "BUY", **LIMIT, "quantity": "1", "price": "157.51"}, -4016),
    ("percent price down", {"side": "SELL", **LIMIT, "quantity": "1", "price": "142.49"}, -4024),
    (
        "reduce-only without a position",
        {"side": "BUY", "type": "MARKET", "quantity": "1", "reduceOnly": "true"},
        -2022,
    ),
]


@pytest.mark.parametrize(
    ("params", "code"), [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES]
)
async def test_order_filters_answer_the_venue_codes(params: dict[str, str], code: int) -> None:
    async with open_sim(filters=tight_filters()) as sim:
        answer = await place(sim, **params)
        assert not sim.exchange.open_orders(ALICE)
    assert (answer.status, answer.code) == (400, code), answer.body


async def test_min_notional_uses_the_mark_for_market_orders_and_spares_reduce_only() -> None:
    async with open_sim() as sim:
        too_small = await place(sim, side="SELL", type="MARKET", quantity="0.03")  # 4.50 at mark
        await ok(await place(sim, side="SELL", type="MARKET", quantity="1"))
        reduce = await place(sim, side="BUY", type="MARKET", quantity="0.03", reduceOnly="true")
        grow = await place(sim, side="SELL", type="MARKET", quantity="0.1", reduceOnly="true")
    assert too_small.code == -4164
    assert reduce.status == 200, reduce.body
    assert grow.code == -2022


async def test_duplicate_client_id_and_margin() -> None:
    async with open_sim() as sim:
        first = await place(sim, side="BUY", type="MARKET", quantity="1", newClientOrderId="c-1")
        second = await place(sim, side="BUY", type="MARKET", quantity="1", newClientOrderId="c-1")
        await ok(await sim.v1("POST", "/leverage", [("symbol", SYMBOL), ("leverage", "1")]))
        too_big = await place(sim, side="SELL", type="MARKET", quantity="1000")  # 150k > 100k
        submissions = await sim.admin("GET", "/submissions")
    assert first.status == 200
    assert second.code == -4116
    assert (too_big.code, too_big.body["msg"]) == (-2019, "Margin is insufficient.")
    assert submissions == {"c-1": 2}


# Account settings and position modes


async def test_leverage_margin_type_and_position_mode() -> None:
    async with open_sim() as sim:
        sym = ("symbol", SYMBOL)
        lev = await ok(await sim.v1("POST", "/leverage", [sym, ("leverage", "5")]))
        bad_lev = await sim.v1("POST", "/leverage", [sym, ("leverage", "200")])
        isolated = await ok(await sim.v1("POST", "/marginType", [sym, ("marginType", "ISOLATED")]))
        same = await sim.v1("POST", "/marginType", [sym, ("marginType", "ISOLATED")])
        [position] = await ok(await sim.v1("GET", "/positionRisk", version="v2"))
        mode = await ok(await sim.v1("GET", "/positionSide/dual"))
        dual = await ok(await sim.v1("POST", "/positionSide/dual", [("dualSidePosition", "true")]))
        mode_after = await ok(await sim.v3("GET", "/positionSide/dual"))
        unchanged = await sim.v1("POST", "/positionSide/dual", [("dualSidePosition", "true")])
    assert lev == {"leverage": 5, "maxNotionalValue": lev["maxNotionalValue"], "symbol": SYMBOL}
    assert isinstance(lev["maxNotionalValue"], str)
    assert bad_lev.code == -4028
    assert isolated == {"code": 200, "msg": "success"}
    assert same.code == -4046
    assert (position["marginType"], position["leverage"]) == ("isolated", "5")
    assert mode == {"dualSidePosition": False}
    assert dual == {"code": 200, "msg": "success"}
    assert mode_after == {"dualSidePosition": True}
    assert unchanged.code == -4059


async def test_hedge_mode_needs_position_side_refuses_reduce_only_and_holds_both_sides() -> None:
    async with open_sim() as sim:
        one_way_side = await place(
            sim, side="SELL", type="MARKET", quantity="1", positionSide="SHORT"
        )
        await ok(await sim.v1("POST", "/positionSide/dual", [("dualSidePosition", "true")]))
        no_side = await place(sim, side="SELL", type="MARKET", quantity="1")
        reduce_flag = await place(
            sim, side="BUY", type="MARKET", quantity="1", positionSide="SHORT", reduceOnly="true"
        )
        close_nothing = await place(
            sim, side="BUY", type="MARKET", quantity="1", positionSide="SHORT"
        )
        await ok(await place(sim, side="SELL", type="MARKET", quantity="1", positionSide="SHORT"))
        await ok(await place(sim, side="BUY", type="MARKET", quantity="0.5", positionSide="LONG"))
        tp = await ok(
            await place(
                sim,
                side="BUY",
                type="LIMIT",
                timeInForce="GTC",
                quantity="1",
                price="148.00",
                positionSide="SHORT",
            )
        )
        rows = await ok(await sim.v1("GET", "/positionRisk", version="v2"))
        back_with_orders = await sim.v1(
            "POST", "/positionSide/dual", [("dualSidePosition", "false")]
        )
        await ok(await sim.v1("DELETE", "/allOpenOrders", [("symbol", SYMBOL)]))
        back_with_positions = await sim.v1(
            "POST", "/positionSide/dual", [("dualSidePosition", "false")]
        )
    assert one_way_side.code == -4061
    assert no_side.code == -4061
    assert reduce_flag.code == -1106
    assert close_nothing.code == -2022
    assert (tp["positionSide"], tp["reduceOnly"], tp["status"]) == ("SHORT", False, "NEW")
    amounts = {row["positionSide"]: row["positionAmt"] for row in rows}
    assert amounts == {"LONG": "0.5", "SHORT": "-1"}
    assert back_with_orders.code == -4067
    assert back_with_positions.code == -4068


# Limits


async def test_every_answer_reports_the_used_weight_and_the_budget_ends_in_429() -> None:
    async with open_sim(weight_limit=30) as sim:
        first = await sim.public("/time")
        depth = await sim.public("/depth", [("symbol", SYMBOL), ("limit", "1000")])
        refused = await sim.v1("GET", "/openOrders", [("symbol", SYMBOL)])
        over = await sim.v1("GET", "/openOrders")  # 40 without a symbol
        order = await place(sim, side="BUY", type="MARKET", quantity="1")
        sim.clock.now += 60
        later = await sim.public("/time")
    assert first.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    assert depth.headers["X-MBX-USED-WEIGHT-1M"] == "21"
    assert refused.headers["X-MBX-USED-WEIGHT-1M"] == "22"
    assert (over.status, over.code) == (429, -1003)
    assert int(over.headers["Retry-After"]) > 0
    assert over.headers["X-MBX-USED-WEIGHT-1M"] == "62"
    assert order.status == 429
    assert sim.exchange.position(ALICE, SYMBOL).qty == 0
    assert later.status == 200 and later.headers["X-MBX-USED-WEIGHT-1M"] == "1"


async def test_error_answers_carry_the_weight_header_too() -> None:
    async with open_sim() as sim:
        refused = await sim.v1("GET", "/order", [("symbol", SYMBOL), ("orderId", "1")])
    assert refused.code == -2013
    assert refused.headers["X-MBX-USED-WEIGHT-1M"] == "1"


async def test_order_count_limit_answers_1015() -> None:
    async with open_sim(order_limit=1) as sim:
        first = await place(sim, side="BUY", type="MARKET", quantity="1")
        second = await place(sim, side="BUY", type="MARKET", quantity="1")
        bob = await sim.v1(
            "POST",
            "/order",
            [("symbol", SYMBOL), ("side", "BUY"), ("type", "MARKET"), ("quantity", "1")],
            key=BOB_KEY,
            secret=BOB_SECRET,
        )
    assert first.headers["X-MBX-ORDER-COUNT-1M"] == "1"
    assert (second.status, second.code) == (429, -1015)
    assert bob.status == 200  # counted per account


# Listen keys


async def test_listen_key_lifecycle() -> None:
    async with open_sim() as sim:
        key = await sim.listen_key()
        same = await sim.listen_key()
        kept = await sim.key_only("PUT", "/listenKey")
        closed = await sim.key_only("DELETE", "/listenKey")
        gone = await sim.key_only("PUT", "/listenKey")
        again = await sim.key_only("DELETE", "/listenKey")
        fresh = await sim.listen_key()
        sim.clock.now += 3599
        await ok(await sim.key_only("PUT", "/listenKey"))  # extends by 60 minutes
        sim.clock.now += 3599
        alive = await sim.key_only("PUT", "/listenKey")
        sim.clock.now += 3601
        lapsed = await sim.key_only("PUT", "/listenKey")
        renewed = await sim.listen_key()
    assert key == same and len(key) == 64
    assert kept.body == closed.body == {}
    assert (gone.status, gone.code) == (400, -1125)
    assert again.code == -1125
    assert fresh != key
    assert alive.status == 200
    assert lapsed.code == -1125
    assert renewed != fresh


# Every route under /fapi/v3, and a restart on a restored exchange


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
async def test_every_route_is_mirrored_under_v3(route: Route) -> None:
    async with open_sim() as sim:
        params = [("symbol", SYMBOL)] if route.security is not Security.USER_STREAM else []
        if route.security is Security.NONE:
            answer = await sim.public(route.path, params, version="v3")
        else:
            answer = await sim.v3(route.method, route.path, params)
    assert answer.status in (200, 400), (answer.status, answer.body)
    assert answer.status == 200 or answer.code not in (None, -1022, -2014, -2015), answer.body


async def test_a_server_on_a_restored_exchange_knows_its_orders() -> None:
    clock = Clock()
    async with open_sim(clock=clock) as sim:
        await ok(await place(sim, side="SELL", type="MARKET", quantity="1", newClientOrderId="o"))
        await ok(
            await place(
                sim,
                side="BUY",
                type="LIMIT",
                timeInForce="GTC",
                quantity="1",
                price="148.00",
                reduceOnly="true",
                newClientOrderId="tp",
            )
        )
        saved = sim.exchange.to_dict()
    restored = SimExchange.from_dict(saved, clock)
    world = World(ScriptedPath([PRICE]), {"aster": restored}, {"aster": SYMBOL})
    async with open_sim(world=world, clock=clock) as sim:
        everything = await ok(await sim.v1("GET", "/allOrders", [("symbol", SYMBOL)]))
        trades = await ok(await sim.v1("GET", "/userTrades", [("symbol", SYMBOL)]))
        sim.world.set_price(D("147.90"))  # the take-profit fills
        tp = await ok(
            await sim.v1("GET", "/order", [("symbol", SYMBOL), ("origClientOrderId", "tp")])
        )
        duplicate = await place(sim, side="BUY", type="MARKET", quantity="1", newClientOrderId="o")
    assert [(o["clientOrderId"], o["status"]) for o in everything] == [
        ("o", "FILLED"),
        ("tp", "NEW"),
    ]
    assert len(trades) == 1
    assert (tp["status"], tp["avgPrice"]) == ("FILLED", "148")
    assert duplicate.code == -4116
