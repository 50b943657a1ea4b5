"""Aster WebSocket on 127.0.0.1: market streams (raw and combined, live subscriptions), the
user-data stream with ORDER_TRADE_UPDATE / ACCOUNT_UPDATE / listenKeyExpired, pings."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from test_wire_aster_kit import (
    STREAM,
    SYMBOL,
    D,
    Sim,
    events_until,
    next_json,
    open_sim,
    order_updates,
)


async def order(sim: Sim, **params: str) -> dict[str, Any]:
    answer = await sim.v1("POST", "/order", [("symbol", SYMBOL), *params.items()])
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.body
    return body


async def test_book_ticker_on_a_raw_stream() -> None:
    async with open_sim() as sim:
        ws = await sim.ws(f"/ws/{STREAM}@bookTicker")
        sim.world.set_price(D(151))
        event = await next_json(ws)
    assert event["e"] == "bookTicker" and event["s"] == SYMBOL
    assert (event["b"], event["a"]) == ("150.98", "151.02")
    assert isinstance(event["B"], str) and isinstance(event["A"], str)
    assert all(isinstance(event[k], int) for k in ("u", "E", "T"))


async def test_combined_stream_with_live_subscriptions() -> None:
    async with open_sim() as sim:
        ws = await sim.ws(f"/stream?streams={STREAM}@bookTicker")
        await ws.send_json({"method": "SUBSCRIBE", "params": [f"{STREAM}@markPrice@1s"], "id": 1})
        subscribed = await next_json(ws)
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
        listed = await next_json(ws)
        await sim.admin("POST", "/price", {"price": "151.2"})
        first, second = await next_json(ws), await next_json(ws)
        await ws.send_json({"method": "UNSUBSCRIBE", "params": [f"{STREAM}@bookTicker"], "id": 3})
        unsubscribed = await next_json(ws)
        await sim.admin("POST", "/price", {"price": "151.3"})
        only = await next_json(ws)
        await ws.send_str("not json")
        bad_json = await next_json(ws)
        await ws.send_json({"method": "FLY", "id": 4})
        bad_method = await next_json(ws)
    assert subscribed == {"result": None, "id": 1}
    assert listed == {"result": [f"{STREAM}@bookTicker", f"{STREAM}@markPrice@1s"], "id": 2}
    by_stream = {e["stream"]: e["data"] for e in (first, second)}
    assert by_stream[f"{STREAM}@bookTicker"]["e"] == "bookTicker"
    mark = by_stream[f"{STREAM}@markPrice@1s"]
    assert (mark["e"], mark["s"], mark["p"], mark["i"]) == (
        "markPriceUpdate",
        SYMBOL,
        "151.2",
        "151.2",
    )
    assert {"P", "r", "T", "E"} <= set(mark)
    assert unsubscribed == {"result": None, "id": 3}
    assert only["stream"] == f"{STREAM}@markPrice@1s" and only["data"]["p"] == "151.3"
    assert bad_json["code"] == 3
    assert (bad_method["code"], bad_method["id"]) == (2, 4)


async def test_mark_price_3s_name_and_agg_trade_after_a_fill() -> None:
    async with open_sim() as sim:
        ws = await sim.ws(f"/stream?streams={STREAM}@aggTrade/{STREAM}@markPrice")
        await order(sim, side="BUY", type="MARKET", quantity="1")
        trade = await next_json(ws)
        sim.world.set_price(D(150))
        mark = await next_json(ws)
    assert trade["stream"] == f"{STREAM}@aggTrade"
    data = trade["data"]
    assert (data["e"], data["p"], data["q"], data["m"]) == ("aggTrade", "150.02", "1", False)
    assert all(isinstance(data[k], int) for k in ("a", "f", "l", "T", "E"))
    assert mark["data"]["e"] == "markPriceUpdate"


async def test_user_stream_shows_a_market_short_from_new_to_account_update() -> None:
    async with open_sim() as sim:
        key = await sim.listen_key()
        ws = await sim.ws(f"/ws/{key}")
        await order(sim, side="SELL", type="MARKET", quantity="1", newClientOrderId="open-1")
        events = await events_until(ws, "ACCOUNT_UPDATE")
    new, trade = order_updates(events)
    assert (new["x"], new["X"], new["c"], new["S"], new["o"]) == (
        "NEW",
        "NEW",
        "open-1",
        "SELL",
        "MARKET",
    )
    assert (trade["x"], trade["X"], trade["c"]) == ("TRADE", "FILLED", "open-1")
    assert (trade["l"], trade["z"], trade["L"], trade["ap"]) == ("1", "1", "149.98", "149.98")
    assert (trade["N"], trade["n"], trade["m"], trade["rp"]) == ("USDT", "0.052493", False, "0")
    assert (trade["R"], trade["ps"], trade["q"]) == (False, "BOTH", "1")
    assert isinstance(trade["i"], int) and isinstance(trade["t"], int)
    update = events[-1]
    assert update["a"]["m"] == "ORDER"
    [balance] = update["a"]["B"]
    assert (balance["a"], balance["wb"], balance["bc"]) == ("USDT", "99999.947507", "0")
    [position] = update["a"]["P"]
    assert (position["s"], position["pa"], position["ep"], position["ps"]) == (
        SYMBOL,
        "-1",
        "149.98",
        "BOTH",
    )
    assert (position["mt"], position["iw"]) == ("cross", "0")


async def test_reduce_only_take_profit_rests_then_fills_when_the_price_crosses() -> None:
    async with open_sim() as sim:
        key = await sim.listen_key()
        ws = await sim.ws(f"/ws/{key}")
        await order(sim, side="SELL", type="MARKET", quantity="1")
        await events_until(ws, "ACCOUNT_UPDATE")
        placed = await order(
            sim,
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="1",
            price="148.50",
            reduceOnly="true",
            newClientOrderId="tp-1",
        )
        [rested] = order_updates([await next_json(ws)])
        sim.world.set_price(D("148.40"))  # ask 148.41: crosses the 148.50 bid
        events = await events_until(ws, "ACCOUNT_UPDATE")
        queried = await sim.v1("GET", "/order", [("symbol", SYMBOL), ("origClientOrderId", "tp-1")])
    assert (placed["status"], placed["reduceOnly"]) == ("NEW", True)
    assert (rested["x"], rested["X"], rested["c"], rested["R"], rested["f"]) == (
        "NEW",
        "NEW",
        "tp-1",
        True,
        "GTC",
    )
    [filled] = order_updates(events)
    assert (filled["x"], filled["X"], filled["c"], filled["m"]) == ("TRADE", "FILLED", "tp-1", True)
    assert (filled["L"], filled["rp"], filled["n"]) == ("148.5", "1.48", "0.01485")
    assert events[-1]["a"]["P"][0]["pa"] == "0"
    assert queried.body["status"] == "FILLED"


async def test_cancel_and_reduce_only_expiry_events() -> None:
    async with open_sim() as sim:
        key = await sim.listen_key()
        ws = await sim.ws(f"/stream?streams={key}")
        await order(
            sim,
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="1",
            price="140",
            newClientOrderId="rest",
        )
        await sim.v1("DELETE", "/order", [("symbol", SYMBOL), ("origClientOrderId", "rest")])
        canceled = order_updates([e["data"] for e in await events_until_stream(ws, "CANCELED")])
        await order(sim, side="SELL", type="MARKET", quantity="1")
        await order(
            sim,
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="1",
            price="148.00",
            reduceOnly="true",
            newClientOrderId="tp",
        )
        await order(sim, side="BUY", type="MARKET", quantity="1")  # closes the short first
        expired = order_updates([e["data"] for e in await events_until_stream(ws, "EXPIRED")])
        queried = await sim.v1("GET", "/order", [("symbol", SYMBOL), ("origClientOrderId", "tp")])
    assert (canceled[-1]["x"], canceled[-1]["X"], canceled[-1]["c"]) == (
        "CANCELED",
        "CANCELED",
        "rest",
    )
    assert (expired[-1]["x"], expired[-1]["X"], expired[-1]["c"]) == ("EXPIRED", "EXPIRED", "tp")
    assert queried.body["status"] == "EXPIRED"


async def events_until_stream(
    ws: aiohttp.ClientWebSocketResponse, status: str
) -> list[dict[str, Any]]:
    """Combined-stream frames up to the first order update whose X is `status`."""
    frames: list[dict[str, Any]] = []
    while True:
        frames.append(await next_json(ws))
        data = frames[-1]["data"]
        if data.get("e") == "ORDER_TRADE_UPDATE" and data["o"]["X"] == status:
            return frames


async def test_listen_key_expiry_is_announced_and_ends_the_events() -> None:
    async with open_sim() as sim:
        key = await sim.listen_key()
        ws = await sim.ws(f"/ws/{key}")
        sim.clock.now += 3601
        lapsed = await sim.key_only("PUT", "/listenKey")
        expired = await next_json(ws)
        await order(sim, side="BUY", type="MARKET", quantity="1")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.receive_json(), 0.1)
    assert lapsed.code == -1125
    assert expired["e"] == "listenKeyExpired" and isinstance(expired["E"], int)


async def test_server_pings_and_admin_disconnect_closes_every_socket() -> None:
    async with open_sim(ws_heartbeat=0.05) as sim:
        pinged = await sim.ws(f"/ws/{STREAM}@bookTicker", autoping=False)
        ping = await asyncio.wait_for(pinged.receive(), 1)
        other = await sim.ws(f"/stream?streams={STREAM}@aggTrade")
        closed = await sim.admin("POST", "/ws/disconnect")
        message = await asyncio.wait_for(other.receive(), 1)
    assert ping.type is aiohttp.WSMsgType.PING
    assert closed == {"closed": 2}
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert other.closed
