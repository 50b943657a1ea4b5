"""Backpack WebSocket streams over a real socket on 127.0.0.1 (docs/venues/backpack.md#streams)."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
from test_wire_backpack_kit import (
    ASK,
    BID,
    SYMBOL,
    Clock,
    by_stream,
    frames,
    push,
    received,
    serve,
    settle,
)

from hedged.sim.backpack.app import BackpackLimits

D = Decimal
NOW_US = 1_750_000_000_500_000
ORDERS = "account.orderUpdate"
POSITIONS = "account.positionUpdate"
ORDER_EVENT_KEYS = {"e", "E", "s", "i", "S", "o", "f", "q", "X", "z", "Z", "V", "r", "y", "O", "T"}
POSITION_KEYS = {"E", "s", "b", "B", "f", "M", "m", "q", "Q", "n", "i", "p", "P", "l", "T"}


async def test_book_ticker_and_mark_price_push_on_every_book_change() -> None:
    async with serve(clock=Clock(NOW_US / 1e6)) as server:
        ws = await server.ws()
        # The current book comes on subscribe.
        first = by_stream(await server.subscribe(ws, f"bookTicker.{SYMBOL}", f"markPrice.{SYMBOL}"))
        [ticker], [mark] = first[f"bookTicker.{SYMBOL}"], first[f"markPrice.{SYMBOL}"]
        assert (ticker["a"], ticker["b"], mark["p"]) == (str(ASK), str(BID), "150")
        server.world.set_price(D("151.2"))
        ticker = await push(ws, f"bookTicker.{SYMBOL}")
        mark = await push(ws, f"markPrice.{SYMBOL}")
        await ws.close()
    assert ticker == {
        "e": "bookTicker",
        "E": NOW_US,
        "s": SYMBOL,
        "a": "151.22",
        "A": "1000",
        "b": "151.18",
        "B": "1000",
        "u": 1,
        "T": NOW_US,
    }
    assert mark == {
        "e": "markPrice",
        "E": NOW_US,
        "s": SYMBOL,
        "p": "151.2",
        "f": "0",
        "i": "151.2",
        "n": 1_750_003_200_000,  # ms, the next whole hour
        "T": NOW_US,
    }


async def test_admin_price_moves_the_book() -> None:
    async with serve() as server:
        ws = await server.ws()
        await server.subscribe(ws, f"bookTicker.{SYMBOL}")
        moved = await server.admin("POST", "/_admin/price", {"price": "151.2"})
        ticker = await push(ws, f"bookTicker.{SYMBOL}")
        refused = await server.admin("POST", "/_admin/price", {"price": "-1"})
        await ws.close()
    assert (moved.status, ticker["b"], ticker["a"]) == (200, "151.18", "151.22")
    assert refused.status == 400


async def test_a_market_order_streams_accept_fill_trade_and_position() -> None:
    async with serve() as server:
        ws = await server.ws()
        assert await server.subscribe(ws, f"{ORDERS}.{SYMBOL}", POSITIONS, signed=True) == []
        assert await server.subscribe(ws, f"trade.{SYMBOL}") == []
        placed = await server.alice.market("Bid", "2", clientId=31)
        pushed = by_stream(await received(ws, 4))
        assert await frames(ws) == []
        await ws.close()
    accepted, fill = pushed[f"{ORDERS}.{SYMBOL}"]
    [opened] = pushed[POSITIONS]
    [trade] = pushed[f"trade.{SYMBOL}"]
    assert set(accepted) >= ORDER_EVENT_KEYS
    assert (accepted["e"], accepted["X"], accepted["z"], accepted["Z"], accepted["t"]) == (
        "orderAccepted",
        "New",
        "0",
        "0",
        None,
    )
    assert (accepted["c"], accepted["i"], accepted["o"], accepted["S"]) == (
        31,
        placed.body["id"],
        "MARKET",
        "Bid",
    )
    assert (fill["e"], fill["X"], fill["c"], fill["m"], fill["N"]) == (
        "orderFill",
        "Filled",
        31,
        False,
        "USDC",
    )
    assert (D(fill["l"]), D(fill["L"]), D(fill["z"]), D(fill["Z"])) == (D(2), ASK, D(2), 2 * ASK)
    assert D(fill["n"]) == 2 * ASK * D("0.0005")
    assert isinstance(fill["t"], int) and isinstance(fill["E"], int) and fill["E"] > 10**15
    assert set(opened) >= POSITION_KEYS
    assert (opened["e"], opened["q"], D(opened["B"]), opened["l"]) == (
        "positionOpened",
        "2",
        ASK,
        "0",
    )
    assert (trade["e"], D(trade["p"]), trade["q"], trade["b"], trade["m"]) == (
        "trade",
        ASK,
        "2",
        placed.body["id"],
        False,
    )


async def test_a_reduce_only_take_profit_fills_when_the_price_crosses() -> None:
    async with serve() as server:
        alice = server.alice
        await alice.market("Bid", "1", clientId=1)
        ws = await server.ws()
        [snapshot] = await server.subscribe(ws, ORDERS, POSITIONS, signed=True)
        assert snapshot["stream"] == POSITIONS
        assert "e" not in snapshot["data"] and snapshot["data"]["q"] == "1"  # the open position

        resting = await alice.limit("Ask", "1", "151.5", clientId=2, reduceOnly=True)
        assert (resting.body["status"], resting.body["reduceOnly"]) == ("New", True)
        accepted = await push(ws, ORDERS)
        assert (accepted["e"], accepted["c"], accepted["p"], accepted["r"]) == (
            "orderAccepted",
            2,
            "151.5",
            True,
        )
        server.world.set_price(D("151.6"))  # the bid (151.58) crosses the ask limit
        fill = await push(ws, ORDERS)
        closed = await push(ws, POSITIONS)
        assert (fill["e"], fill["c"], fill["X"], fill["L"], fill["m"], fill["o"]) == (
            "orderFill",
            2,
            "Filled",
            "151.5",
            True,
            "LIMIT",
        )
        assert (closed["e"], closed["q"]) == ("positionClosed", "0")
        assert (await alice.query(clientId=2)).status == 404
        assert (await alice.position()).body == []
        await ws.close()


async def test_cancel_and_expiry_events() -> None:
    async with serve() as server:
        ws = await server.ws()
        assert await server.subscribe(ws, ORDERS, signed=True) == []
        await server.alice.limit("Bid", "1", "140", clientId=5)
        await server.alice.cancel(clientId=5)
        await server.alice.limit("Bid", "1", "140", timeInForce="IOC")
        events = [frame["data"] for frame in await received(ws, 4)]
        assert await frames(ws) == []
        await ws.close()
    assert [(e["e"], e["X"], e.get("c"), e.get("R")) for e in events] == [
        ("orderAccepted", "New", 5, None),
        ("orderCancelled", "Cancelled", 5, None),
        ("orderAccepted", "New", None, None),
        ("orderExpired", "Expired", None, "ImmediateOrCancel"),
    ]


async def test_private_streams_carry_only_the_signing_account() -> None:
    async with serve() as server:
        ws = await server.ws()
        assert await server.subscribe(ws, ORDERS, POSITIONS, signed=True) == []
        await server.bob.market("Bid", "1", clientId=1)
        assert await frames(ws) == []
        await ws.close()


async def test_unsubscribe_stops_the_pushes() -> None:
    async with serve() as server:
        ws = await server.ws()
        await server.subscribe(ws, f"bookTicker.{SYMBOL}", ORDERS, signed=True)
        await ws.send_json({"method": "UNSUBSCRIBE", "params": [f"bookTicker.{SYMBOL}", ORDERS]})
        assert await settle(ws) == []
        server.world.set_price(D(151))
        await server.alice.market("Bid", "1")
        assert await frames(ws) == []
        await ws.close()


async def test_the_server_pings_and_drops_a_silent_client() -> None:
    limits = BackpackLimits(ws_ping_seconds=0.05, ws_pong_timeout=0.4)
    async with serve(limits=limits) as server:
        ws = await server.ws(autoping=False)  # never answers pings
        ping = await ws.receive(timeout=1.0)
        assert ping.type is aiohttp.WSMsgType.PING
        while (message := await ws.receive(timeout=1.0)).type is aiohttp.WSMsgType.PING:
            pass
        assert message.type is aiohttp.WSMsgType.CLOSE
        answering = await server.ws()  # aiohttp answers pings: stays open
        assert await frames(answering, quiet=0.8) == []  # twice the pong timeout
        assert not answering.closed
        await answering.close()


async def test_admin_disconnect_closes_every_socket() -> None:
    async with serve() as server:
        sockets = [await server.ws() for _ in range(2)]
        for ws in sockets:
            await server.subscribe(ws, f"bookTicker.{SYMBOL}")
        reply = await server.admin("POST", "/_admin/ws/disconnect")
        assert reply.body == {"closed": 2}
        for ws in sockets:
            message = await ws.receive(timeout=1.0)
            assert message.type is aiohttp.WSMsgType.CLOSE
            await ws.close()
            assert ws.closed
        # A new connection works as before.
        fresh = await server.ws()
        [snapshot] = await server.subscribe(fresh, f"bookTicker.{SYMBOL}")
        assert snapshot["data"]["s"] == SYMBOL
        await fresh.close()
