"""Backpack's trigger orders over real HTTP and WebSocket on 127.0.0.1: `triggerPrice`,
`triggerQuantity` and `triggerBy` on market orders, TriggerPending while they wait, listed,
queried and cancelled, fired by a price move (`triggerPlaced`, then the fill), refused when
already triggered, a percentage of the position, each `triggerBy`, and the fault injection on
the fired order (`triggerFailed`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from test_wire_backpack_kit import SYMBOL, Client, Server, push, serve

D = Decimal
ORDERS = "account.orderUpdate"


async def stop(client: Client, price: str, qty: str = "1", **fields: object) -> Any:
    """A reduce-only sell stop (closing a long) at `price`."""
    return await client.place(
        symbol=SYMBOL, side="Ask", orderType="Market", triggerPrice=price,
        triggerQuantity=qty, reduceOnly=True, **fields,
    )  # fmt: skip


async def move(server: Server, price: str) -> None:
    answer = await server.admin("POST", "/_admin/price", {"price": price})
    assert answer.status == 200, answer.body


async def history(client: Client, order_id: str) -> Any:
    path, instruction = "/wapi/v1/history/orders", "orderHistoryQueryAll"
    answer = await client.signed("GET", path, instruction, {"orderId": order_id})
    assert answer.status == 200, answer.body
    return answer.body[0]


async def open_orders(client: Client) -> list[Any]:
    answer = await client.signed("GET", "/api/v1/orders", "orderQueryAll", {"symbol": SYMBOL})
    assert answer.status == 200, answer.body
    return list(answer.body)


async def test_a_trigger_order_waits_is_listed_queried_and_cancelled() -> None:
    async with serve() as server:
        alice = server.alice
        await alice.market("Bid", "1")
        placed = await stop(alice, "147", clientId=7)
        listed = await open_orders(alice)
        queried = await alice.query(clientId=7)
        cancelled = await alice.cancel(clientId=7)
        after = await open_orders(alice)
        gone = await alice.query(clientId=7)
    expected = {
        "clientId": 7,
        "orderType": "Market",
        "side": "Ask",
        "status": "TriggerPending",
        "quantity": "1",
        "executedQuantity": "0",
        "reduceOnly": True,
        "triggerPrice": "147",
        "triggerQuantity": "1",
        "triggerBy": "MarkPrice",
        "triggeredAt": None,
    }
    for body in (placed.body, listed[0], queried.body):
        assert {name: body[name] for name in expected} == expected
    assert len(listed) == 1
    assert (cancelled.status, cancelled.body["status"]) == (200, "Cancelled")
    assert (after, gone.status) == ([], 404)


async def test_a_trigger_fires_on_the_mark_into_a_market_fill() -> None:
    async with serve() as server:
        alice = server.alice
        await alice.market("Bid", "1")  # long 1 at 150.02
        ws = await server.ws()
        await server.subscribe(ws, ORDERS, signed=True)
        placed = await stop(alice, "147", clientId=7)
        accepted = await push(ws, ORDERS)
        await move(server, "147.1")  # not yet
        assert (await alice.query(clientId=7)).body["status"] == "TriggerPending"
        await move(server, "146.9")  # book 146.88 / 146.92
        triggered = await push(ws, ORDERS)
        filled = await push(ws, ORDERS)
        item = await history(alice, placed.body["id"])
        position = await alice.position()
        query = await alice.query(clientId=7)
        await ws.close()
    assert (accepted["e"], accepted["X"], accepted["o"], accepted["c"]) == (
        "orderAccepted", "TriggerPending", "MARKET", 7,
    )  # fmt: skip
    assert (accepted["P"], accepted["B"], accepted["Y"], accepted["r"]) == (
        "147", "MarkPrice", "1", True,
    )  # fmt: skip
    assert (triggered["e"], triggered["X"], triggered["i"], triggered["z"]) == (
        "triggerPlaced", "New", placed.body["id"], "0",
    )  # fmt: skip
    assert (filled["e"], filled["X"], filled["l"], filled["L"], filled["m"]) == (
        "orderFill", "Filled", "1", "146.88", False,
    )  # fmt: skip
    assert (item["status"], item["executedQuantity"], item["triggerPrice"]) == (
        "Filled", "1", "147",
    )  # fmt: skip
    assert isinstance(item["triggeredAt"], str) and item["expiryReason"] is None
    assert (position.body, query.status) == ([], 404)


async def test_trigger_parameters_are_checked() -> None:
    async with serve() as server:
        alice = server.alice
        await alice.market("Bid", "1")
        market = {"symbol": SYMBOL, "side": "Ask", "orderType": "Market", "reduceOnly": True}
        price_only = await alice.place(**market, quantity="1", triggerPrice="140")
        qty_only = await alice.place(**market, quantity="1", triggerQuantity="1")
        by_only = await alice.place(**market, quantity="1", triggerBy="MarkPrice")
        bad_by = await stop(alice, "140", triggerBy="Mark")
        on_limit = await alice.limit(
            "Ask", "1", "160", triggerPrice="140", triggerQuantity="1", reduceOnly=True
        )
        differ = await stop(alice, "140", quantity="2")
        percent_opens = await alice.place(
            symbol=SYMBOL, side="Ask", orderType="Market", triggerPrice="140",
            triggerQuantity="50%",
        )  # fmt: skip
        past = await stop(alice, "150.5")  # a sell stop above the mark: it would fire at once
        remaining = await open_orders(alice)
    both = "Must specify both `triggerPrice` and `triggerQuantity` or neither"
    assert price_only.error == qty_only.error == ("INVALID_CLIENT_REQUEST", both)
    assert by_only.error == ("INVALID_CLIENT_REQUEST", "`triggerBy` needs a `triggerPrice`")
    assert bad_by.error == ("INVALID_CLIENT_REQUEST", "Invalid value for `triggerBy`")
    assert on_limit.error == (
        "INVALID_CLIENT_REQUEST", "this simulator serves `triggerPrice` on Market orders only",
    )  # fmt: skip
    assert differ.error == ("INVALID_CLIENT_REQUEST", "`quantity` and `triggerQuantity` differ")
    assert percent_opens.error == (
        "INVALID_CLIENT_REQUEST", "A percentage `triggerQuantity` needs `reduceOnly`",
    )  # fmt: skip
    assert past.error == ("INVALID_ORDER", "Trigger price would trigger immediately")
    assert remaining == []


async def test_each_trigger_by_watches_its_own_price() -> None:
    async with serve() as server:
        alice = server.alice
        await alice.market("Bid", "3")  # the last trade: 150.02, the mark 150
        on_mark = await stop(alice, "150.01")
        on_last = await stop(alice, "150.01", triggerBy="LastPrice", clientId=1)
        server.world.basis_bps = D(100)  # Backpack's mark 1 % above the index
        await move(server, "150")  # mark 151.5, index 150
        on_index = await stop(alice, "149.5", triggerBy="IndexPrice")
        await stop(alice, "149.5", triggerBy="MarkPrice", clientId=2)
        await move(server, "149.2")  # index 149.2; mark 150.692; the last trade in the book
        fired = await history(alice, on_index.body["id"])
        waiting = [(await alice.query(clientId=n)).body for n in (1, 2)]
    assert on_mark.error == ("INVALID_ORDER", "Trigger price would trigger immediately")
    assert (on_last.body["status"], on_last.body["triggerBy"]) == ("TriggerPending", "LastPrice")
    assert (fired["status"], fired["executedQuantity"], fired["triggerBy"]) == (
        "Filled", "1", "IndexPrice",
    )  # fmt: skip
    assert [(o["status"], o["triggerBy"]) for o in waiting] == [
        ("TriggerPending", "LastPrice"),
        ("TriggerPending", "MarkPrice"),
    ]


async def test_a_percentage_trigger_quantity_closes_that_share_of_the_position() -> None:
    async with serve() as server:
        alice = server.alice
        await alice.market("Bid", "1")
        placed = await stop(alice, "147", "100%", clientId=9)
        await alice.market("Bid", "2")  # the position grows to 3 after the stop was placed
        await move(server, "146.9")
        item = await history(alice, placed.body["id"])
        position = await alice.position()
    assert (placed.body["quantity"], placed.body["triggerQuantity"]) == ("0", "100%")
    assert (item["status"], item["quantity"], item["executedQuantity"]) == ("Filled", "3", "3")
    assert position.body == []


async def test_cancel_all_selects_conditional_or_resting_orders() -> None:
    async with serve() as server:
        alice = server.alice
        await alice.market("Bid", "1")
        await stop(alice, "147", clientId=1)
        await alice.limit("Bid", "1", "140", clientId=2)
        params = {"symbol": SYMBOL, "orderType": "ConditionalOrder"}
        cancelled = await alice.signed("DELETE", "/api/v1/orders", "orderCancelAll", params)
        left = await open_orders(alice)
    assert [(o["clientId"], o["status"]) for o in cancelled.body] == [(1, "Cancelled")]
    assert [(o["clientId"], o["status"]) for o in left] == [(2, "New")]


async def fire_with_fault(server: Server, fault: dict[str, str], qty: str) -> tuple[Any, Any]:
    """Long `qty`, a stop (client id 3) for all of it, `fault` armed on `triggered`, the price
    through the stop: the stop's Order and the order stream, its acceptance already read."""
    await server.alice.market("Bid", qty)
    ws = await server.ws()
    await server.subscribe(ws, ORDERS, signed=True)
    placed = await stop(server.alice, "147", qty, clientId=3)
    await push(ws, ORDERS)
    armed = await server.admin("POST", "/_admin/faults", {"path": "triggered", **fault})
    assert armed.status == 200
    await move(server, "146.9")
    return placed.body, ws


async def test_a_partial_fault_fills_the_fired_order_partly_and_the_rest_expires() -> None:
    async with serve() as server:
        _, ws = await fire_with_fault(server, {"kind": "partial", "fraction": "0.5"}, "2")
        events = [await push(ws, ORDERS) for _ in range(3)]
        await ws.close()
    assert [(e["e"], e["X"], e["z"]) for e in events] == [
        ("triggerPlaced", "New", "0"),
        ("orderFill", "PartiallyFilled", "1"),
        ("orderExpired", "Expired", "1"),
    ]
    assert events[-1]["R"] == "InsufficientLiquidity"
    assert server.world.venues["backpack"].position("alice", SYMBOL).qty == D(1)


async def test_a_reject_fault_fails_the_trigger() -> None:
    async with serve() as server:
        placed, ws = await fire_with_fault(server, {"kind": "reject"}, "1")
        failed = await push(ws, ORDERS)
        item = await history(server.alice, placed["id"])
        left = await open_orders(server.alice)
        await ws.close()
    assert (failed["e"], failed["X"], failed["c"], failed["z"]) == (
        "triggerFailed", "TriggerFailed", 3, "0",
    )  # fmt: skip
    assert (item["status"], item["executedQuantity"]) == ("TriggerFailed", "0")
    assert isinstance(item["triggeredAt"], str)
    assert left == []
    assert server.world.venues["backpack"].position("alice", SYMBOL).qty == D(1)
