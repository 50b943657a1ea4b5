"""Backpack orders, positions, balances and history over real HTTP on 127.0.0.1, shapes per
docs/venues/backpack.md#endpoints-used and docs/venues/backpack.md#orders."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from test_wire_backpack_kit import ASK, BID, START_BALANCE, SYMBOL, serve

D = Decimal
TAKER_FEE, MAKER_FEE = D("0.0005"), D("0.0002")
ORDER_KEYS = {
    "id",
    "clientId",
    "symbol",
    "side",
    "orderType",
    "quantity",
    "executedQuantity",
    "executedQuoteQuantity",
    "status",
    "timeInForce",
    "selfTradePrevention",
    "reduceOnly",
    "createdAt",
    "relatedOrderId",
    "strategyId",
    "triggerPrice",
    "triggerQuantity",
    "triggerBy",
    "triggeredAt",
}
FILL_KEYS = {
    "tradeId",
    "orderId",
    "clientId",
    "symbol",
    "side",
    "price",
    "quantity",
    "fee",
    "feeSymbol",
    "isMaker",
    "timestamp",
}
POSITION_KEYS = {
    "symbol",
    "positionId",
    "userId",
    "subaccountId",
    "netQuantity",
    "netCost",
    "netExposureQuantity",
    "netExposureNotional",
    "entryPrice",
    "breakEvenPrice",
    "estLiquidationPrice",
    "markPrice",
    "imf",
    "mmf",
    "imfFunction",
    "mmfFunction",
    "pnlRealized",
    "pnlUnrealized",
    "cumulativeFundingPayment",
}
COLLATERAL_KEYS = {
    "assetsValue",
    "borrowLiability",
    "collateral",
    "imf",
    "mmf",
    "marginFraction",
    "netEquity",
    "netEquityAvailable",
    "netEquityLocked",
    "netExposureFutures",
    "pnlUnrealized",
    "unsettledEquity",
    "liabilitiesValue",
}
NOT_FOUND = ("RESOURCE_NOT_FOUND", "Not Found")


def check_order(order: dict[str, Any]) -> None:
    assert set(order) >= ORDER_KEYS
    assert isinstance(order["id"], str) and order["id"].isdigit()
    assert isinstance(order["createdAt"], int)
    if order["orderType"] == "Limit":
        assert {"price", "postOnly"} <= set(order)
    else:
        assert "quoteQuantity" in order


async def test_a_market_buy_fills_at_the_ask_with_the_taker_fee() -> None:
    async with serve() as server:
        alice = server.alice
        reply = await alice.market("Bid", "2", clientId=11)
        assert reply.status == 200
        order = reply.body
        check_order(order)
        assert (order["status"], order["side"], order["orderType"]) == ("Filled", "Bid", "Market")
        assert (order["quantity"], order["executedQuantity"]) == ("2", "2")
        assert D(order["executedQuoteQuantity"]) == 2 * ASK
        assert (order["clientId"], order["reduceOnly"], order["timeInForce"]) == (11, None, "GTC")
        assert order["selfTradePrevention"] == "RejectTaker"
        assert order["triggerPrice"] is None

        # Off the book: GET /order 404s, the history has it.
        gone = await alice.query(clientId=11)
        assert (gone.status, gone.error) == (404, NOT_FOUND)
        fills = await alice.fills(symbol=SYMBOL, orderId=order["id"])
        [fill] = fills.body
        assert set(fill) >= FILL_KEYS
        assert (fill["clientId"], fill["orderId"], fill["side"]) == ("11", order["id"], "Bid")
        assert (D(fill["price"]), D(fill["quantity"]), fill["isMaker"]) == (ASK, D(2), False)
        assert D(fill["fee"]) == 2 * ASK * TAKER_FEE
        assert (fill["feeSymbol"], isinstance(fill["tradeId"], int)) == ("USDC", True)
        assert "T" in fill["timestamp"] and "Z" not in fill["timestamp"]  # naive UTC

        history = await alice.signed(
            "GET", "/wapi/v1/history/orders", "orderHistoryQueryAll", {"orderId": order["id"]}
        )
        [past] = history.body
        assert ORDER_KEYS | {"expiryReason"} <= set(past)
        assert isinstance(past["createdAt"], str)
        assert (past["status"], past["expiryReason"]) == ("Filled", None)

        capital = await alice.signed("GET", "/api/v1/capital", "balanceQuery")
        usdc = capital.body["USDC"]
        assert (usdc["locked"], usdc["staked"]) == ("0", "0")
        assert D(usdc["available"]) == START_BALANCE - 2 * ASK * TAKER_FEE
        position = await alice.position()
        [held] = position.body
        assert set(held) >= POSITION_KEYS
        assert (held["symbol"], held["netQuantity"], D(held["entryPrice"])) == (SYMBOL, "2", ASK)
        assert D(held["markPrice"]) == (BID + ASK) / 2
        assert D(held["pnlUnrealized"]) == ((BID + ASK) / 2 - ASK) * 2
        assert isinstance(held["positionId"], str) and isinstance(held["userId"], int)


async def test_a_quote_quantity_buys_what_it_pays_for() -> None:
    async with serve() as server:
        reply = await server.alice.place(
            symbol=SYMBOL, side="Bid", orderType="Market", quoteQuantity="30.01"
        )
    assert reply.status == 200
    assert (reply.body["quantity"], reply.body["executedQuantity"]) == ("0.2", "0.2")
    assert reply.body["quoteQuantity"] == "30.01"
    assert reply.body["clientId"] is None


async def test_a_market_sell_hits_the_bid_and_closing_empties_the_position() -> None:
    async with serve() as server:
        await server.alice.market("Ask", "1")
        short = await server.alice.position()
        assert short.body[0]["netQuantity"] == "-1"
        close = await server.alice.market("Bid", "3", reduceOnly=True)
        assert close.status == 200
        # Reduce-only is trimmed to the position.
        assert (close.body["executedQuantity"], close.body["reduceOnly"]) == ("1", True)
        flat = await server.alice.position()
    assert flat.body == []


async def test_a_limit_order_rests_is_queried_and_cancelled() -> None:
    async with serve() as server:
        alice = server.alice
        placed = await alice.limit("Bid", "1", "140", clientId=21)
        assert placed.status == 200
        check_order(placed.body)
        assert (placed.body["status"], placed.body["price"], placed.body["postOnly"]) == (
            "New",
            "140",
            False,
        )
        by_client = await alice.query(clientId=21)
        by_id = await alice.query(orderId=placed.body["id"])
        assert by_client.body == by_id.body == placed.body
        listed = await alice.signed("GET", "/api/v1/orders", "orderQueryAll", {"symbol": SYMBOL})
        assert listed.body == [placed.body]
        # Another account sees none of it.
        assert (await server.bob.signed("GET", "/api/v1/orders", "orderQueryAll")).body == []
        assert (await server.bob.cancel(clientId=21)).status == 404

        cancelled = await alice.cancel(clientId=21)
        assert (cancelled.status, cancelled.body["status"]) == (200, "Cancelled")
        assert (await alice.query(clientId=21)).error == NOT_FOUND
        again = await alice.cancel(orderId=placed.body["id"])
        assert (again.status, again.error) == (404, NOT_FOUND)


async def test_cancel_all_returns_the_cancelled_orders() -> None:
    async with serve() as server:
        alice = server.alice
        await alice.limit("Bid", "1", "140", clientId=1)
        await alice.limit("Bid", "1", "141", clientId=2)
        params = {"symbol": SYMBOL}
        first = await alice.signed("DELETE", "/api/v1/orders", "orderCancelAll", params)
        second = await alice.signed("DELETE", "/api/v1/orders", "orderCancelAll", params)
    assert [(o["clientId"], o["status"]) for o in first.body] == [
        (1, "Cancelled"),
        (2, "Cancelled"),
    ]
    assert (second.status, second.body) == (200, [])


async def test_time_in_force() -> None:
    async with serve(depth_qty=D(5)) as server:
        alice = server.alice
        ioc = await alice.limit("Bid", "1", "140", clientId=1, timeInForce="IOC")
        assert (ioc.body["status"], ioc.body["executedQuantity"]) == ("Expired", "0")
        fok = await alice.limit("Bid", "1", str(ASK), clientId=2, timeInForce="FOK")
        assert (fok.body["status"], fok.body["executedQuantity"]) == ("Filled", "1")
        killed = await alice.limit("Bid", "6", str(ASK), clientId=3, timeInForce="FOK")
        assert (killed.body["status"], killed.body["executedQuantity"]) == ("Expired", "0")
        partial_ioc = await alice.limit("Bid", "6", str(ASK), clientId=4, timeInForce="IOC")
        assert (partial_ioc.body["status"], partial_ioc.body["executedQuantity"]) == (
            "Expired",
            "5",
        )
        history = await alice.signed("GET", "/wapi/v1/history/orders", "orderHistoryQueryAll")
        reasons = {o["clientId"]: o["expiryReason"] for o in history.body}
    assert reasons == {1: "ImmediateOrCancel", 2: None, 3: "FillOrKill", 4: "ImmediateOrCancel"}


async def test_client_ids_are_uint32_and_unique_among_open_orders() -> None:
    async with serve() as server:
        alice = server.alice
        for bad in (2**32, -1, "7"):
            reply = await alice.limit("Bid", "1", "140", clientId=bad)
            assert (reply.status, reply.body["code"]) == (400, "INVALID_CLIENT_REQUEST"), bad
        top = await alice.limit("Bid", "1", "140", clientId=2**32 - 1)
        assert (top.status, top.body["clientId"]) == (200, 2**32 - 1)
        duplicate = await alice.limit("Bid", "1", "141", clientId=2**32 - 1)
        assert (duplicate.status, duplicate.error) == (
            400,
            ("INVALID_ORDER", "Order with client ID already exists: 4294967295"),
        )
        # Another account may use the same id; so may alice once the first is off the book.
        assert (await server.bob.limit("Bid", "1", "140", clientId=2**32 - 1)).status == 200
        await alice.cancel(clientId=2**32 - 1)
        reused = await alice.limit("Bid", "1", "139", clientId=2**32 - 1)
        assert (reused.status, reused.body["price"]) == (200, "139")
        assert (await alice.query(clientId=2**32 - 1)).body["id"] == reused.body["id"]
        history = await alice.signed(
            "GET",
            "/wapi/v1/history/orders",
            "orderHistoryQueryAll",
            {"clientId": 2**32 - 1, "sortDirection": "Asc"},
        )
        submissions = await server.admin("GET", "/_admin/submissions")
    assert [o["status"] for o in history.body] == ["Cancelled", "New"]
    assert submissions.body == {str(2**32 - 1): 4}


async def test_refusals_map_to_backpack_errors() -> None:
    async with serve() as server:
        alice = server.alice
        refusals = {
            "post-only cross": await alice.limit("Bid", "1", str(ASK), postOnly=True),
            "reduce-only flat": await alice.limit("Ask", "1", "160", reduceOnly=True),
            "step": await alice.market("Bid", "0.005"),
            "minimum": await alice.market("Bid", "0"),
            "tick": await alice.limit("Bid", "1", "140.005"),
            "no quantity": await alice.place(symbol=SYMBOL, side="Bid", orderType="Market"),
            "no price": await alice.place(
                symbol=SYMBOL, side="Bid", orderType="Limit", quantity="1"
            ),
            "bad side": await alice.place(
                symbol=SYMBOL, side="Buy", orderType="Market", quantity="1"
            ),
            "unknown symbol": await alice.place(
                symbol="BTC_USDC_PERP", side="Bid", orderType="Market", quantity="1"
            ),
        }
        open_orders = await alice.signed("GET", "/api/v1/orders", "orderQueryAll")
    assert {name: (r.status, *r.error) for name, r in refusals.items()} == {
        "post-only cross": (400, "INVALID_ORDER", "Order would immediately match and take"),
        "reduce-only flat": (400, "INVALID_ORDER", "Reduce only order not reduced"),
        "step": (400, "INVALID_CLIENT_REQUEST", "Quantity decimal too long"),
        "minimum": (400, "INVALID_CLIENT_REQUEST", "Quantity is below the minimum allowed value"),
        "tick": (400, "INVALID_CLIENT_REQUEST", "Price decimal too long"),
        "no quantity": (
            400,
            "INVALID_CLIENT_REQUEST",
            "Market orders must specify a `quantity` or `quoteQuantity`",
        ),
        "no price": (
            400,
            "INVALID_CLIENT_REQUEST",
            "Limit orders must specify a `quantity` and a `price`",
        ),
        "bad side": (400, "INVALID_CLIENT_REQUEST", "Invalid value for `side`"),
        "unknown symbol": (400, "INVALID_CLIENT_REQUEST", "Invalid market symbol"),
    }
    assert open_orders.body == []


async def test_order_lookups_need_exactly_one_id() -> None:
    either = ("INVALID_CLIENT_REQUEST", "Must specify either `clientId` or `orderId`")
    async with serve() as server:
        neither = await server.alice.query()
        both = await server.alice.cancel(clientId=1, orderId="1")
    assert (neither.status, neither.error) == (400, either)
    assert (both.status, both.error) == (400, either)


async def test_collateral_sums_the_open_positions() -> None:
    async with serve() as server:
        flat = await server.alice.signed("GET", "/api/v1/capital/collateral", "collateralQuery")
        await server.alice.market("Bid", "10")
        held = await server.alice.signed("GET", "/api/v1/capital/collateral", "collateralQuery")
    assert set(flat.body) >= COLLATERAL_KEYS
    assert (flat.body["marginFraction"], flat.body["netExposureFutures"]) == (None, "0")
    mark = (BID + ASK) / 2
    balance = START_BALANCE - 10 * ASK * TAKER_FEE
    assert D(held.body["netExposureFutures"]) == 10 * mark
    assert D(held.body["netEquity"]) == balance + (mark - ASK) * 10
    assert D(held.body["netEquityLocked"]) == 10 * mark * D("0.02")
    assert held.body["collateral"][0]["symbol"] == "USDC"


async def test_history_pages_newest_first() -> None:
    async with serve() as server:
        for client_id in range(3):
            await server.alice.market("Bid", "0.1", clientId=client_id)
        page = await server.alice.fills(limit="2")
        rest = await server.alice.fills(limit="2", offset="2")
        oldest_first = await server.alice.fills(sortDirection="Asc")
        one = await server.alice.fills(clientId="1")
    assert [f["clientId"] for f in page.body] == ["2", "1"]
    assert [f["clientId"] for f in rest.body] == ["0"]
    assert [f["clientId"] for f in oldest_first.body] == ["0", "1", "2"]
    assert [f["clientId"] for f in one.body] == ["1"]


async def test_a_maker_fill_pays_the_maker_fee() -> None:
    async with serve() as server:
        await server.alice.market("Bid", "1")
        await server.alice.limit("Ask", "1", "151", clientId=9, reduceOnly=True)
        server.world.set_price(D(152))
        fills = await server.alice.fills(clientId="9")
    [fill] = fills.body
    assert (fill["isMaker"], D(fill["price"])) == (True, D(151))
    assert D(fill["fee"]) == D(151) * MAKER_FEE
