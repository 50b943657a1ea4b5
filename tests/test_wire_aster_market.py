"""Aster's trader-tool endpoints on 127.0.0.1: 24 h ticker, klines (last, mark, index),
trades, aggregated trades, open interest, funding (premiumIndex, fundingRate, fundingInfo,
income, the FUNDING_FEE account update), account in each version, leverage brackets,
commission rate, and the venue's answer to a path it does not serve."""

from __future__ import annotations

from decimal import Decimal

from test_wire_aster_kit import (
    NOW,
    STREAM,
    SYMBOL,
    VENUE,
    Clock,
    events_until,
    make_world,
    next_json,
    open_sim,
)
from test_wire_aster_ws import order

from hedged.sim.funding import FundingPlan, FundingSchedule
from hedged.sim.world import World

D = Decimal
BOUNDARY = 1_750_003_200.0  # the first 8 h boundary after NOW
RATE = D("0.0001")


def funded_world(clock: Clock) -> World:
    """The kit's world, funded every 8 h at 0.01 %."""
    world = make_world(clock)
    schedule = FundingSchedule(FundingPlan(D(8), RATE), clock)
    return World(world.path, world.venues, world.symbols, funding={VENUE: schedule})


async def test_klines_are_built_from_the_price_path_and_the_fills() -> None:
    clock = Clock()
    async with open_sim(clock=clock) as sim:
        clock.now = NOW + 10
        sim.world.set_price(D(152))
        await order(sim, side="BUY", type="MARKET", quantity="2")  # at the ask, 152.02
        clock.now = NOW + 70
        sim.world.set_price(D(149))
        answer = await sim.public("/klines", [("symbol", SYMBOL), ("interval", "1m")])
        assert answer.status == 200
        first, second = answer.body
        start = int(NOW // 60 * 60) * 1000
        assert first == [
            start,
            "150",
            "152.02",
            "150",
            "152.02",
            "2",
            start + 59_999,
            "304.04",
            1,
            "0",
            "0",
            "0",
        ]
        assert second[:6] == [start + 60_000, "149", "149", "149", "149", "0"]
        marks = await sim.public("/markPriceKlines", [("symbol", SYMBOL), ("interval", "1m")])
        assert [row[1:6] for row in marks.body] == [
            ["150", "152", "150", "152", "0"],
            ["149", "149", "149", "149", "0"],
        ]
        index = await sim.public("/indexPriceKlines", [("pair", SYMBOL), ("interval", "1h")])
        assert [row[1:5] for row in index.body] == [["150", "152", "149", "149"]]
        later = await sim.public(
            "/klines",
            [("symbol", SYMBOL), ("interval", "1m"), ("startTime", str(start + 60_000))],
            version="v3",
        )
        assert [row[0] for row in later.body] == [start + 60_000]


async def test_kline_parameters_are_checked_like_the_venue() -> None:
    async with open_sim() as sim:
        bad_interval = await sim.public("/klines", [("symbol", SYMBOL), ("interval", "7m")])
        assert (bad_interval.status, bad_interval.code) == (400, -1120)
        no_interval = await sim.public("/klines", [("symbol", SYMBOL)])
        assert no_interval.code == -1102
        too_many = await sim.public(
            "/klines", [("symbol", SYMBOL), ("interval", "1m"), ("limit", "1501")]
        )
        assert too_many.code == -1130
        unknown = await sim.public("/klines", [("symbol", "BTCUSDT"), ("interval", "1m")])
        assert unknown.code == -1121


async def test_ticker_trades_and_open_interest_agree_with_the_fills() -> None:
    clock = Clock()
    async with open_sim(clock=clock) as sim:
        bought = await order(sim, side="BUY", type="MARKET", quantity="2")
        clock.now = NOW + 5
        await order(sim, side="SELL", type="MARKET", quantity="0.5")
        ticker = (await sim.public("/ticker/24hr", [("symbol", SYMBOL)], version="v3")).body
        assert {k: ticker[k] for k in ("openPrice", "highPrice", "lowPrice", "lastPrice")} == {
            "openPrice": "150",
            "highPrice": "150.02",
            "lowPrice": "149.98",
            "lastPrice": "149.98",
        }
        assert (ticker["volume"], ticker["quoteVolume"], ticker["count"]) == ("2.5", "375.03", 2)
        assert (ticker["lastQty"], ticker["firstId"], ticker["lastId"]) == ("0.5", 1, 2)
        assert (ticker["priceChange"], ticker["priceChangePercent"]) == ("-0.02", "-0.013")
        every = await sim.public("/ticker/24hr")
        assert every.body == [ticker | {"closeTime": every.body[0]["closeTime"]}]

        trades = (await sim.public("/trades", [("symbol", SYMBOL)])).body
        assert [(t["id"], t["price"], t["qty"], t["isBuyerMaker"]) for t in trades] == [
            (1, "150.02", "2", False),
            (2, "149.98", "0.5", True),
        ]
        history = await sim.public("/historicalTrades", [("symbol", SYMBOL), ("fromId", "2")])
        assert [t["id"] for t in history.body] == [2]
        aggs = (await sim.public("/aggTrades", [("symbol", SYMBOL), ("limit", "1")])).body
        assert aggs == [
            {
                "a": 2,
                "p": "149.98",
                "q": "0.5",
                "f": 2,
                "l": 2,
                "T": int(NOW * 1000) + 5000,
                "m": True,
            }
        ]
        interest = (await sim.public("/openInterest", [("symbol", SYMBOL)])).body
        assert (interest["openInterest"], interest["symbol"]) == ("1.5", SYMBOL)
        assert bought["orderId"] == 1


async def test_funding_shows_where_aster_shows_it_and_is_paid_at_the_boundary() -> None:
    clock = Clock()
    async with open_sim(clock=clock, world=funded_world(clock)) as sim:
        premium = (await sim.public("/premiumIndex", [("symbol", SYMBOL)])).body
        assert (premium["lastFundingRate"], premium["nextFundingTime"]) == (
            "0.0001",
            int(BOUNDARY * 1000),
        )
        info = (await sim.public("/fundingInfo")).body
        assert [(i["symbol"], i["fundingIntervalHours"], i["fundingFeeCap"]) for i in info] == [
            (SYMBOL, 8, "0.03")
        ]
        marks = await sim.ws(f"/ws/{STREAM}@markPrice")
        sim.world.set_price(D(150))
        mark = await next_json(marks)
        assert (mark["r"], mark["T"]) == ("0.0001", int(BOUNDARY * 1000))
        key = await sim.listen_key()
        ws = await sim.ws(f"/ws/{key}")
        await order(sim, side="SELL", type="MARKET", quantity="2")  # short 2 at 149.98
        await events_until(ws, "ACCOUNT_UPDATE")
        before = (await sim.v1("GET", "/balance", version="v2")).body[0]["balance"]

        clock.now = BOUNDARY
        sim.world.set_price(D(151))
        update = (await events_until(ws, "ACCOUNT_UPDATE"))[-1]["a"]
        # a short receives 2 x 151 x 0.0001 = 0.0302 when the rate is positive
        assert (update["m"], update["B"][0]["bc"]) == ("FUNDING_FEE", "0.0302")
        assert D(update["B"][0]["wb"]) == D(before) + D("0.0302")

        rates = (await sim.public("/fundingRate", [("symbol", SYMBOL)])).body
        assert rates == [
            {
                "symbol": SYMBOL,
                "fundingRate": "0.0001",
                "fundingTime": int(BOUNDARY * 1000),
                "markPrice": "151",
            }
        ]
        income = (await sim.v1("GET", "/income", [("incomeType", "FUNDING_FEE")])).body
        assert [(i["incomeType"], i["income"], i["time"]) for i in income] == [
            ("FUNDING_FEE", "0.0302", int(BOUNDARY * 1000))
        ]
        everything = (await sim.v1("GET", "/income")).body
        assert [(i["incomeType"], i["income"]) for i in everything] == [
            ("COMMISSION", "-0.104986"),  # 2 x 149.98 x 0.00035
            ("FUNDING_FEE", "0.0302"),
        ]
        after = (await sim.v1("GET", "/balance", version="v2")).body[0]["balance"]
        assert D(after) == D(before) + D("0.0302")


async def test_account_in_every_version_brackets_and_commission() -> None:
    async with open_sim() as sim:
        await order(sim, side="BUY", type="MARKET", quantity="1")  # long 1 at 150.02
        v2 = (await sim.v1("GET", "/account", version="v2")).body
        v4 = (await sim.v1("GET", "/account", version="v4")).body
        v3 = (await sim.v3("GET", "/account")).body
        assert {k: v for k, v in v2.items() if k != "updateTime"} == {
            k: v for k, v in v4.items() if k != "updateTime"
        }
        joined = (await sim.v3("GET", "/accountWithJoinMargin")).body
        assert v3["totalWalletBalance"] == joined["totalWalletBalance"] == v2["totalWalletBalance"]
        fee = D("150.02") * D("0.00035")
        assert D(v2["totalWalletBalance"]) == D(100_000) - fee.quantize(D("1e-8"))
        assert (v2["totalUnrealizedProfit"], v2["totalInitialMargin"]) == ("-0.02", "7.5")
        [asset] = v2["assets"]
        assert (asset["asset"], asset["walletBalance"]) == ("USDT", v2["totalWalletBalance"])
        [position] = v2["positions"]
        assert (position["positionAmt"], position["initialMargin"]) == ("1", "7.5")

        await sim.v1("POST", "/leverage", [("symbol", SYMBOL), ("leverage", "10")])
        bracket = (await sim.v1("GET", "/leverageBracket", [("symbol", SYMBOL)])).body
        assert bracket["symbol"] == SYMBOL
        assert bracket["brackets"][0]["notionalCap"] == 50_000_000
        listed = (await sim.v1("GET", "/leverageBracket")).body
        assert listed == [bracket]
        rate = (await sim.v1("GET", "/commissionRate", [("symbol", SYMBOL)])).body
        assert rate == {
            "symbol": SYMBOL,
            "makerCommissionRate": "0.0001",
            "takerCommissionRate": "0.00035",
        }


async def test_a_path_aster_does_not_serve_answers_minus_5000() -> None:
    async with open_sim() as sim:
        answer = await sim.send("GET", "/fapi/v1/batchOrders")
        assert (answer.status, answer.body) == (
            404,
            {"code": -5000, "msg": "Path /fapi/v1/batchOrders, Method GET is invalid"},
        )
        spot = await sim.send("GET", "/api/v3/exchangeInfo")
        assert (spot.status, spot.body["symbols"]) == (200, [])


async def test_funding_in_hedge_mode_is_paid_per_position_side() -> None:
    clock = Clock()
    async with open_sim(clock=clock, world=funded_world(clock)) as sim:
        dual = await sim.v1("POST", "/positionSide/dual", [("dualSidePosition", "true")])
        assert dual.status == 200, dual.body
        await order(sim, side="BUY", type="MARKET", quantity="1", positionSide="LONG")
        await order(sim, side="SELL", type="MARKET", quantity="3", positionSide="SHORT")
        clock.now = BOUNDARY
        sim.world.set_price(D(150))
        income = (await sim.v1("GET", "/income", [("incomeType", "FUNDING_FEE")])).body
        # LONG 1 pays 1 x 150 x 0.0001, SHORT 3 receives 3 x 150 x 0.0001
        assert sorted(i["income"] for i in income) == ["-0.015", "0.045"]
