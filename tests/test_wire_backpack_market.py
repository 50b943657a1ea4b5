"""Backpack's trader-tool endpoints on 127.0.0.1: assets, securities, tickers, klines (last
and mark), funding rates, open interest, trades, the account (leverageLimit), funding and
position history, funding in markPrices and positions, and JSON errors for routes the venue
(or the simulator) does not serve."""

from __future__ import annotations

import time
from decimal import Decimal

from test_wire_backpack_kit import ASK, BID, SYMBOL, VENUE, push, serve

from hedged.sim.funding import FundingPlan, FundingSchedule

D = Decimal
RATE = D("0.0000125")


async def test_assets_securities_and_tickers() -> None:
    async with serve() as server:
        assets = (await server.alice.public("/api/v1/assets")).body
        assert [(a["symbol"], a["tokens"]) for a in assets] == [("SOL", []), ("USDC", [])]
        assert (await server.alice.public("/api/v1/securities")).body == []
        await server.alice.market("Bid", "2")
        tickers = (await server.alice.public("/api/v1/tickers")).body
        [ticker] = tickers
        assert {k: ticker[k] for k in ("symbol", "lastPrice", "volume", "trades")} == {
            "symbol": SYMBOL,
            "lastPrice": str(ASK),
            "volume": "2",
            "trades": "1",
        }
        one = (await server.alice.public("/api/v1/ticker", symbol=SYMBOL)).body
        assert one == ticker


async def test_klines_need_a_start_and_serve_last_and_mark_prices() -> None:
    async with serve() as server:
        await server.alice.market("Bid", "1")  # at the ask, 150.02
        start = str(int(time.time()) - 120)
        last = await server.alice.public(
            "/api/v1/klines", symbol=SYMBOL, interval="1m", startTime=start
        )
        assert last.status == 200
        candle = last.body[-1]
        assert (candle["open"], candle["high"], candle["close"]) == ("150", str(ASK), str(ASK))
        assert (candle["volume"], candle["quoteVolume"], candle["trades"]) == ("1", str(ASK), "1")
        assert len(candle["start"]) == len("2026-01-01 00:00:00")
        mark = await server.alice.public(
            "/api/v1/klines", symbol=SYMBOL, interval="1m", startTime=start, priceType="Mark"
        )
        assert (mark.body[-1]["high"], mark.body[-1]["volume"]) == ("150", "0")
        no_start = await server.alice.public("/api/v1/klines", symbol=SYMBOL, interval="1m")
        assert no_start.status == 400
        assert no_start.error == (
            "INVALID_CLIENT_REQUEST",
            "Missing required parameter `startTime`",
        )
        bad = await server.alice.public(
            "/api/v1/klines", symbol=SYMBOL, interval="7m", startTime=start
        )
        assert bad.error == ("INVALID_CLIENT_REQUEST", "Invalid value for `interval`")


async def test_trades_and_open_interest_follow_the_fills() -> None:
    async with serve() as server:
        await server.alice.market("Bid", "2")
        await server.bob.market("Ask", "0.5")
        trades = (await server.alice.public("/api/v1/trades", symbol=SYMBOL)).body
        assert [(t["id"], t["price"], t["quantity"], t["isBuyerMaker"]) for t in trades] == [
            (1, str(ASK), "2", False),
            (2, str(BID), "0.5", True),
        ]
        older = await server.alice.public(
            "/api/v1/trades/history", symbol=SYMBOL, limit="1", offset="1"
        )
        assert [t["id"] for t in older.body] == [1]
        [interest] = (await server.alice.public("/api/v1/openInterest", symbol=SYMBOL)).body
        assert (interest["symbol"], interest["openInterest"]) == (SYMBOL, "2.5")


async def test_the_account_keeps_its_leverage_limit_and_shows_fees_in_bps() -> None:
    async with serve() as server:
        account = (await server.alice.signed("GET", "/api/v1/account", "accountQuery")).body
        assert (account["leverageLimit"], account["futuresTakerFee"]) == ("10", "5")
        assert account["futuresMakerFee"] == "2"
        patched = await server.alice.signed(
            "PATCH", "/api/v1/account", "accountUpdate", {"leverageLimit": "3"}
        )
        assert (patched.status, patched.body) == (200, "")
        account = (await server.alice.signed("GET", "/api/v1/account", "accountQuery")).body
        assert account["leverageLimit"] == "3"
        refused = await server.alice.signed(
            "PATCH", "/api/v1/account", "accountUpdate", {"leverageLimit": "500"}
        )
        assert refused.error == ("INVALID_CLIENT_REQUEST", "Invalid value for `leverageLimit`")


async def test_funding_shows_in_mark_prices_history_and_positions() -> None:
    async with serve() as server:
        world = server.world
        schedule = FundingSchedule(FundingPlan(D(1), RATE), world.venues[VENUE].now)
        world.funding[VENUE] = schedule
        [mark] = (await server.alice.public("/api/v1/markPrices", symbol=SYMBOL)).body
        assert mark["fundingRate"] == "0.0000125"
        assert mark["nextFundingTimestamp"] == int(schedule.next_time(SYMBOL) * 1000)
        ws = await server.ws()
        await server.subscribe(ws, f"markPrice.{SYMBOL}")
        world.set_price(D(150))
        pushed = await push(ws, f"markPrice.{SYMBOL}")
        assert (pushed["f"], pushed["n"]) == ("0.0000125", mark["nextFundingTimestamp"])

        await server.alice.market("Bid", "2")  # long 2
        exchange = world.venues[VENUE]
        exchange.settle_funding(SYMBOL, RATE)  # what the schedule does at the hour
        paid = D("-0.00375")  # -2 x 150 (the book's middle) x 0.0000125

        history = await server.alice.signed(
            "GET", "/wapi/v1/history/funding", "fundingHistoryQueryAll", {"symbol": SYMBOL}
        )
        [payment] = history.body
        assert (payment["symbol"], payment["quantity"], payment["fundingRate"]) == (
            SYMBOL,
            str(paid),
            "0.0000125",
        )
        rates = (await server.alice.public("/api/v1/fundingRates", symbol=SYMBOL)).body
        assert [(r["symbol"], r["fundingRate"]) for r in rates] == [(SYMBOL, "0.0000125")]
        [position] = (await server.alice.position()).body
        assert position["cumulativeFundingPayment"] == str(paid)
        capital = (await server.alice.signed("GET", "/api/v1/capital", "balanceQuery")).body
        fee = 2 * ASK * D("0.0005")
        assert D(capital["USDC"]["available"]) == D(10_000) - fee + paid


async def test_position_history_has_each_position_from_open_to_flat() -> None:
    async with serve() as server:
        await server.alice.market("Bid", "2")
        await server.alice.market("Ask", "2")  # flat: the first position closes
        await server.alice.market("Ask", "1")  # a short opens
        history = await server.alice.signed(
            "GET", "/wapi/v1/history/position", "positionHistoryQueryAll", {"sortDirection": "Asc"}
        )
        closed, opened = history.body
        assert (closed["state"], closed["netQuantity"], closed["entryPrice"]) == (
            "Closed",
            "0",
            str(ASK),
        )
        assert (closed["exitPrice"], closed["pnlRealized"]) == (str(BID), str(2 * (BID - ASK)))
        assert (opened["state"], opened["netQuantity"], opened["closedAt"]) == ("Open", "-1", None)
        only_open = await server.alice.signed(
            "GET", "/wapi/v1/history/position", "positionHistoryQueryAll", {"state": "Open"}
        )
        assert [p["netQuantity"] for p in only_open.body] == ["-1"]


async def test_unknown_routes_answer_backpack_json_errors() -> None:
    async with serve() as server:
        missing = await server.alice.public("/api/v1/borrowLend/markets")
        assert (missing.status, missing.error) == (404, ("RESOURCE_NOT_FOUND", "Not Found"))
        async with server.session.put(server.url + "/api/v1/markets") as response:
            assert response.status == 405
            assert (await response.json())["code"] == "METHOD_NOT_ALLOWED"
