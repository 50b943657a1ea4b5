"""Backpack public market data over real HTTP on 127.0.0.1, shapes per
docs/venues/backpack.md#endpoints-used."""

from __future__ import annotations

from decimal import Decimal

from test_wire_backpack_kit import ASK, BID, SYMBOL, Clock, serve

MARKET_KEYS = {
    "symbol",
    "baseSymbol",
    "quoteSymbol",
    "marketType",
    "filters",
    "imfFunction",
    "mmfFunction",
    "fundingInterval",
    "fundingRateUpperBound",
    "fundingRateLowerBound",
    "openInterestLimit",
    "orderBookState",
    "createdAt",
    "visible",
}
TICKER_KEYS = {
    "symbol",
    "firstPrice",
    "lastPrice",
    "priceChange",
    "priceChangePercent",
    "high",
    "low",
    "volume",
    "quoteVolume",
    "trades",
}
MARK_KEYS = {"symbol", "markPrice", "indexPrice", "fundingRate", "nextFundingTimestamp"}


def check_market(market: dict[str, object]) -> None:
    assert set(market) >= MARKET_KEYS
    assert (market["symbol"], market["baseSymbol"], market["quoteSymbol"]) == (
        SYMBOL,
        "SOL",
        "USDC",
    )
    assert (market["marketType"], market["orderBookState"], market["visible"]) == (
        "PERP",
        "Open",
        True,
    )
    assert market["fundingInterval"] == 3_600_000
    filters = market["filters"]
    assert isinstance(filters, dict)
    assert {"minPrice", "tickSize"} <= set(filters["price"])
    assert filters["price"]["tickSize"] == "0.01"
    assert filters["quantity"] == {"minQuantity": "0.01", "maxQuantity": None, "stepSize": "0.01"}


async def test_markets_and_market() -> None:
    async with serve() as server:
        listed = await server.alice.public("/api/v1/markets")
        one = await server.alice.public("/api/v1/market", symbol=SYMBOL)
        spot = await server.alice.public("/api/v1/markets", marketType="SPOT")
        unknown = await server.alice.public("/api/v1/market", symbol="BTC_USDC")
    assert listed.status == 200 and len(listed.body) == 1
    check_market(listed.body[0])
    assert (one.status, one.body) == (200, listed.body[0])
    assert (spot.status, spot.body) == (200, [])
    assert (unknown.status, unknown.error) == (
        400,
        ("INVALID_CLIENT_REQUEST", "Invalid market symbol"),
    )


async def test_depth_is_the_book_with_a_string_update_id_and_microseconds() -> None:
    clock = Clock(1_750_000_000.5)
    async with serve(clock=clock, depth_qty=Decimal(25)) as server:
        before = await server.alice.public("/api/v1/depth", symbol=SYMBOL)
        server.world.set_price(Decimal(151))
        after = await server.alice.public("/api/v1/depth", symbol=SYMBOL, limit="5")
    assert before.status == 200
    assert before.body == {
        "asks": [[str(ASK), "25"]],
        "bids": [[str(BID), "25"]],
        "lastUpdateId": "0",
        "timestamp": 1_750_000_000_500_000,
    }
    assert after.body["asks"] == [["151.02", "25"]]
    assert after.body["lastUpdateId"] == "1"


async def test_ticker_follows_the_trades() -> None:
    async with serve() as server:
        quiet = await server.alice.public("/api/v1/ticker", symbol=SYMBOL)
        await server.alice.market("Bid", "1")
        await server.alice.market("Ask", "2")
        traded = await server.alice.public("/api/v1/ticker", symbol=SYMBOL, interval="1w")
    assert quiet.status == 200 and set(quiet.body) >= TICKER_KEYS
    assert (quiet.body["lastPrice"], quiet.body["volume"], quiet.body["trades"]) == (
        "150",
        "0",
        "0",
    )
    assert traded.body["firstPrice"] == str(ASK)
    assert traded.body["lastPrice"] == str(BID)
    assert (traded.body["high"], traded.body["low"]) == (str(ASK), str(BID))
    assert (traded.body["volume"], traded.body["trades"]) == ("3", "2")
    assert traded.body["quoteVolume"] == str(ASK + 2 * BID)


async def test_mark_prices_is_an_array_even_for_one_symbol() -> None:
    clock = Clock(1_750_000_000.5)
    async with serve(clock=clock) as server:
        one = await server.alice.public("/api/v1/markPrices", symbol=SYMBOL)
        every = await server.alice.public("/api/v1/markPrices")
    assert one.status == 200 and one.body == every.body
    [mark] = one.body
    assert set(mark) == MARK_KEYS
    assert (mark["markPrice"], mark["indexPrice"], mark["fundingRate"]) == ("150", "150", "0")
    assert mark["nextFundingTimestamp"] == 1_750_003_200_000  # the next whole hour


async def test_time_ping_and_status() -> None:
    async with serve(clock=Clock(1_750_000_000.25)) as server:
        time_reply = await server.alice.public("/api/v1/time")
        ping = await server.alice.public("/api/v1/ping")
        status = await server.alice.public("/api/v1/status")
    assert (time_reply.status, time_reply.body) == (200, 1_750_000_000_250)  # text ms
    assert (ping.status, ping.body) == (200, "pong")
    assert (status.status, status.body) == (200, {"status": "Ok", "message": None})


async def test_a_missing_symbol_is_a_client_error() -> None:
    async with serve() as server:
        reply = await server.alice.public("/api/v1/depth")
    assert (reply.status, reply.body["code"]) == (400, "INVALID_CLIENT_REQUEST")
