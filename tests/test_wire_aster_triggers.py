"""Aster's conditional orders over real HTTP and WebSocket on 127.0.0.1: STOP_MARKET and
TAKE_PROFIT_MARKET placed, listed, queried, cancelled, fired by a price move into a market
fill under the same ids, refused when already triggered, closePosition, both workingTypes,
and the fault injection on the fired order."""

from __future__ import annotations

from typing import Any

from test_wire_aster_kit import (
    SYMBOL,
    D,
    Sim,
    events_until,
    next_json,
    open_sim,
    order_updates,
)

STOP = {"workingType": "MARK_PRICE", "reduceOnly": "true"}


async def send(sim: Sim, method: str, path: str, **params: str) -> Any:
    answer = await sim.v1(method, path, [("symbol", SYMBOL), *params.items()])
    assert answer.status == 200, answer.body
    return answer.body


async def place(sim: Sim, **params: str) -> Any:
    return await send(sim, "POST", "/order", **params)


async def refused(sim: Sim, **params: str) -> tuple[int, str]:
    answer = await sim.v1("POST", "/order", [("symbol", SYMBOL), *params.items()])
    assert answer.status == 400, answer.body
    return answer.body["code"], answer.body["msg"]


async def short(sim: Sim, qty: str = "1") -> None:
    """Sell `qty` at the bid (149.98 at the start)."""
    await place(sim, side="SELL", type="MARKET", quantity=qty)


async def move(sim: Sim, price: str) -> None:
    await sim.admin("POST", "/price", {"price": price})


async def test_stop_market_is_placed_listed_queried_and_cancelled() -> None:
    async with open_sim() as sim:
        await short(sim)
        placed = await place(
            sim, side="BUY", type="STOP_MARKET", quantity="1",
            stopPrice="153", priceProtect="TRUE", newClientOrderId="stop-1", **STOP,
        )  # fmt: skip
        listed = await send(sim, "GET", "/openOrders")
        queried = await send(sim, "GET", "/order", origClientOrderId="stop-1")
        resting = await send(sim, "GET", "/openOrder", origClientOrderId="stop-1")
        cancelled = await send(sim, "DELETE", "/order", origClientOrderId="stop-1")
        after = await send(sim, "GET", "/openOrders")
    expected = {
        "status": "NEW",
        "clientOrderId": "stop-1",
        "type": "STOP_MARKET",
        "origType": "STOP_MARKET",
        "stopPrice": "153",
        "workingType": "MARK_PRICE",
        "closePosition": False,
        "reduceOnly": True,
        "priceProtect": True,
        "price": "0",
        "origQty": "1",
        "executedQty": "0",
    }
    for body in (placed, listed[0], queried, resting):
        assert {name: body[name] for name in expected} == expected
    assert len(listed) == 1
    assert (cancelled["status"], cancelled["type"]) == ("CANCELED", "STOP_MARKET")
    assert after == []


async def test_a_stop_fires_on_the_mark_into_a_market_fill_under_its_own_ids() -> None:
    async with open_sim() as sim:
        key = await sim.listen_key()
        ws = await sim.ws(f"/ws/{key}")
        await short(sim)
        await events_until(ws, "ACCOUNT_UPDATE")
        placed = await place(
            sim, side="BUY", type="STOP_MARKET", quantity="1",
            stopPrice="153", newClientOrderId="stop-1", **STOP,
        )  # fmt: skip
        [accepted] = order_updates([await next_json(ws)])
        await move(sim, "152.9")  # the mark is below the stop: nothing happens
        assert sim.exchange.open_orders("alice")[0].client_id == "stop-1"
        await move(sim, "153.5")  # book 153.48 / 153.52
        events = await events_until(ws, "ACCOUNT_UPDATE")
        queried = await send(sim, "GET", "/order", origClientOrderId="stop-1")
        positions = await sim.v1("GET", "/positionRisk", [("symbol", SYMBOL)], version="v2")
    assert (accepted["x"], accepted["X"], accepted["o"], accepted["ot"]) == (
        "NEW", "NEW", "STOP_MARKET", "STOP_MARKET",
    )  # fmt: skip
    assert (accepted["sp"], accepted["wt"], accepted["cp"], accepted["R"]) == (
        "153", "MARK_PRICE", False, True,
    )  # fmt: skip
    triggered, filled = order_updates(events)
    for event in (triggered, filled):
        assert (event["c"], event["i"], event["o"], event["ot"], event["sp"]) == (
            "stop-1", placed["orderId"], "MARKET", "STOP_MARKET", "153",
        )  # fmt: skip
    assert (triggered["x"], triggered["X"], triggered["z"]) == ("NEW", "NEW", "0")
    assert (filled["x"], filled["X"], filled["l"]) == ("TRADE", "FILLED", "1")
    assert filled["L"] == "153.52"
    assert (filled["m"], filled["rp"]) == (False, "-3.54")
    assert events[-1]["a"]["P"][0]["pa"] == "0"
    assert (queried["status"], queried["type"], queried["origType"]) == (
        "FILLED", "STOP_MARKET", "STOP_MARKET",
    )  # fmt: skip
    assert (queried["executedQty"], queried["avgPrice"], queried["stopPrice"]) == (
        "1", "153.52", "153",
    )  # fmt: skip
    assert positions.body[0]["positionAmt"] == "0"


async def test_take_profit_market_fires_the_other_way_on_the_last_price() -> None:
    async with open_sim() as sim:
        await short(sim)
        placed = await place(
            sim, side="BUY", type="TAKE_PROFIT_MARKET", quantity="1",
            stopPrice="148", reduceOnly="true", newClientOrderId="tp-1",
        )  # fmt: skip
        await move(sim, "152")  # a loss: a take-profit does not fire
        waiting = await send(sim, "GET", "/openOrder", origClientOrderId="tp-1")
        await move(sim, "147.9")  # book 147.88 / 147.92: the last trade is kept in it
        queried = await send(sim, "GET", "/order", origClientOrderId="tp-1")
    assert (placed["type"], placed["workingType"]) == ("TAKE_PROFIT_MARKET", "CONTRACT_PRICE")
    assert waiting["status"] == "NEW"
    assert (queried["status"], queried["avgPrice"], queried["origType"]) == (
        "FILLED", "147.92", "TAKE_PROFIT_MARKET",
    )  # fmt: skip


async def test_a_trigger_already_reached_is_refused_with_2021() -> None:
    would_trigger = (-2021, "Order would immediately trigger.")
    async with open_sim() as sim:
        await short(sim)  # mark 150, last 149.98
        stop_below = await refused(
            sim, side="BUY", type="STOP_MARKET", quantity="1", stopPrice="149.5", **STOP
        )
        tp_above = await refused(
            sim, side="BUY", type="TAKE_PROFIT_MARKET", quantity="1", stopPrice="150.5", **STOP
        )
        # Between the last trade (149.98) and the mark (150): each working type decides.
        on_mark = await refused(
            sim, side="BUY", type="STOP_MARKET", quantity="1", stopPrice="149.99", **STOP
        )
        on_last = await place(
            sim, side="BUY", type="STOP_MARKET", quantity="1",
            stopPrice="149.99", reduceOnly="true", workingType="CONTRACT_PRICE",
        )  # fmt: skip
        open_orders = await send(sim, "GET", "/openOrders")
    assert stop_below == tp_above == on_mark == would_trigger
    assert (on_last["status"], on_last["workingType"]) == ("NEW", "CONTRACT_PRICE")
    assert [o["orderId"] for o in open_orders] == [on_last["orderId"]]


async def test_close_position_takes_no_quantity_and_closes_the_whole_position() -> None:
    async with open_sim() as sim:
        await short(sim)
        placed = await place(
            sim, side="BUY", type="STOP_MARKET", stopPrice="153",
            closePosition="true", workingType="MARK_PRICE", newClientOrderId="close-1",
        )  # fmt: skip
        await short(sim, "2")  # the position grows to -3 after the stop was placed
        await move(sim, "153.5")
        queried = await send(sim, "GET", "/order", origClientOrderId="close-1")
        positions = await sim.v1("GET", "/positionRisk", [("symbol", SYMBOL)], version="v2")
        with_qty = await refused(
            sim, side="BUY", type="STOP_MARKET", stopPrice="160", closePosition="true",
            quantity="1",
        )  # fmt: skip
        with_reduce = await refused(
            sim, side="BUY", type="STOP_MARKET", stopPrice="160", closePosition="true",
            reduceOnly="true",
        )  # fmt: skip
        on_limit = await refused(
            sim, side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="140",
            closePosition="true",
        )  # fmt: skip
        flat = await refused(
            sim, side="BUY", type="STOP_MARKET", stopPrice="160", closePosition="true"
        )
    assert (placed["closePosition"], placed["origQty"], placed["status"]) == (True, "0", "NEW")
    assert (queried["status"], queried["executedQty"], queried["closePosition"]) == (
        "FILLED", "3", True,
    )  # fmt: skip
    assert positions.body[0]["positionAmt"] == "0"
    assert with_qty == (-1106, "Parameter 'quantity' sent when not required.")
    assert with_reduce == (-1106, "Parameter 'reduceOnly' sent when not required.")
    assert on_limit == (-1106, "Parameter 'closePosition' sent when not required.")
    assert flat == (-2022, "ReduceOnly Order is rejected.")


async def test_parameters_of_conditional_orders_are_checked() -> None:
    async with open_sim() as sim:
        no_stop = await refused(sim, side="SELL", type="STOP_MARKET", quantity="1")
        bad_working = await refused(
            sim, side="SELL", type="STOP_MARKET", quantity="1", stopPrice="140",
            workingType="INDEX_PRICE",
        )  # fmt: skip
        off_tick = await refused(
            sim, side="SELL", type="STOP_MARKET", quantity="1", stopPrice="140.001"
        )
        stop_limit = await refused(
            sim, side="SELL", type="STOP", quantity="1", price="140", stopPrice="140"
        )
        info = await sim.public("/exchangeInfo")
    assert no_stop == (
        -1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.",
    )  # fmt: skip
    assert bad_working == (-1130, "Data sent for parameter 'workingType' is not valid.")
    assert off_tick == (-4014, "Price not increased by tick size.")
    assert stop_limit[0] == -1116
    order_types = info.body["symbols"][0]["orderTypes"]
    assert order_types == ["LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET"]


async def fire_with_fault(sim: Sim, fault: dict[str, str], qty: str) -> Any:
    """Short `qty`, a stop ("stop-f") for all of it, `fault` armed on `triggered`, the price
    through the stop: the user stream, the stop's acceptance already read."""
    key = await sim.listen_key()
    ws = await sim.ws(f"/ws/{key}")
    await short(sim, qty)
    await events_until(ws, "ACCOUNT_UPDATE")
    await place(sim, side="BUY", type="STOP_MARKET", quantity=qty, stopPrice="153",
                newClientOrderId="stop-f", **STOP)  # fmt: skip
    await next_json(ws)
    await sim.admin("POST", "/faults", {"path": "triggered", **fault})
    await move(sim, "153.5")
    return ws


async def test_a_partial_fault_fills_the_fired_order_partly_and_the_rest_expires() -> None:
    async with open_sim() as sim:
        ws = await fire_with_fault(sim, {"kind": "partial", "fraction": "0.5"}, "2")
        events = await events_until(ws, "ACCOUNT_UPDATE")
        events += [await next_json(ws)]
        queried = await send(sim, "GET", "/order", origClientOrderId="stop-f")
        armed = await sim.admin("GET", "/faults")
    triggered, filled, expired = order_updates(events)
    assert (triggered["x"], filled["x"], filled["X"], filled["l"]) == (
        "NEW", "TRADE", "PARTIALLY_FILLED", "1",
    )  # fmt: skip
    assert (expired["x"], expired["X"], expired["z"]) == ("EXPIRED", "EXPIRED", "1")
    assert (queried["status"], queried["executedQty"]) == ("EXPIRED", "1")
    assert sim.exchange.position("alice", SYMBOL).qty == D(-1)
    assert armed["armed"] == 0


async def test_a_reject_fault_expires_the_fired_order_without_a_fill() -> None:
    async with open_sim() as sim:
        ws = await fire_with_fault(sim, {"kind": "reject"}, "1")
        [expired] = order_updates([await next_json(ws)])
        queried = await send(sim, "GET", "/order", origClientOrderId="stop-f")
        open_orders = await send(sim, "GET", "/openOrders")
    assert (expired["x"], expired["X"], expired["o"], expired["z"]) == (
        "EXPIRED", "EXPIRED", "MARKET", "0",
    )  # fmt: skip
    assert (queried["status"], queried["executedQty"]) == ("EXPIRED", "0")
    assert open_orders == []
    assert sim.exchange.position("alice", SYMBOL).qty == D(-1)


async def test_at_most_max_num_algo_orders_conditional_orders_wait() -> None:
    async with open_sim() as sim:
        await short(sim)
        for n in range(10):
            await place(sim, side="BUY", type="STOP_MARKET", quantity="1",
                        stopPrice=str(160 + n), **STOP)  # fmt: skip
        eleventh = await refused(
            sim, side="BUY", type="STOP_MARKET", quantity="1", stopPrice="171", **STOP
        )
        plain = await place(sim, side="BUY", type="LIMIT", timeInForce="GTC", quantity="1",
                            price="140", reduceOnly="true")  # fmt: skip
    assert eleventh == (-4045, "Reach max stop order limit.")
    assert plain["status"] == "NEW"
