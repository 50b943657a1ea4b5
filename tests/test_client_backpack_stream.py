"""The Backpack client's WebSocket: one connection, SUBSCRIBE frames (private ones signed as
in docs/venues/backpack.md#test-vectors), pings answered, quotes and order updates parsed,
reconnection with resubscription and the reconnect hook, and clean shutdown."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from test_client_backpack_kit import (
    API_KEY,
    SYMBOL,
    T0_MS,
    WAIT,
    Canned,
    PinnedClock,
    canned_server,
    eventually,
    venue_on,
)

from hedged.adapters.base import VenueError
from hedged.adapters.ws import StreamPolicy
from hedged.model import OrderStatus, OrderType, Quote, Side

D = Decimal
BOOK = f"bookTicker.{SYMBOL}"
ORDERS = f"account.orderUpdate.{SYMBOL}"
SUBSCRIBE_SIG = (
    "WHLEmbhQg3PY3VWb1GoJKNBmKXDrZHeSs5pD1Q7X1owt+40k5jNqGKl1aQDpkG9K+czQBxg+8X3kyE4lj9fHDw=="
)


def book_ticker(bid: str, ask: str, symbol: str = SYMBOL) -> dict[str, Any]:
    return {
        "e": "bookTicker",
        "E": 1_750_000_000_000_000,
        "s": symbol,
        "a": ask,
        "A": "10",
        "b": bid,
        "B": "12",
        "u": 1,
        "T": 1_750_000_000_000_000,
    }


def order_update(
    event: str, status: str, client_id: int | None = 42, **more: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "e": event,
        "E": 1_750_000_000_000_000,
        "s": SYMBOL,
        "i": "111",
        "S": "Ask",
        "o": "LIMIT",
        "f": "GTC",
        "q": "1.5",
        "p": "160",
        "X": status,
        "z": "0",
        "Z": "0",
        "r": True,
        "y": False,
        "O": "USER",
        "t": None,
        "T": 1_750_000_000_000_000,
        **more,
    }
    if client_id is not None:
        data["c"] = client_id
    return data


async def next_of(iterator: AsyncIterator[Any], timeout: float = WAIT) -> Any:
    return await asyncio.wait_for(anext(iterator), timeout)


async def subscribed(canned: Canned, stream: str, times: int = 1) -> None:
    await eventually(lambda: len(canned.subscribed(stream)) >= times)


async def test_quotes_come_from_book_ticker() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        quotes = venue.quotes(SYMBOL)
        first = asyncio.ensure_future(next_of(quotes))
        await subscribed(canned, BOOK)
        await canned.send_raw("not json")
        await canned.push(BOOK, {"e": "bookTicker", "s": SYMBOL, "b": "oops"})
        await canned.push(BOOK, book_ticker("149.98", "150.02"))
        quote = await first
        assert isinstance(quote, Quote)
        assert (quote.venue, quote.symbol, quote.bid, quote.ask) == (
            "backpack",
            SYMBOL,
            D("149.98"),
            D("150.02"),
        )
        assert abs(quote.at - time.monotonic()) < WAIT
        await canned.push(BOOK, book_ticker("150.00", "150.04"))
        assert (await next_of(quotes)).bid == D("150.00")
        await quotes.aclose()
        await eventually(lambda: any(f.get("method") == "UNSUBSCRIBE" for f in canned.frames))
    [frame] = canned.subscribed(BOOK)
    assert frame == {"method": "SUBSCRIBE", "params": [BOOK]}  # public: not signed


async def test_a_slow_quote_reader_gets_the_newest_prices() -> None:
    policy = StreamPolicy(latest_only_size=2, backoff=0.02, backoff_max=0.1)
    async with canned_server() as canned, venue_on(canned, stream_policy=policy) as venue:
        quotes = venue.quotes(SYMBOL)
        first = asyncio.ensure_future(next_of(quotes))
        await subscribed(canned, BOOK)
        await canned.push(BOOK, book_ticker("1", "2"))
        await first
        for i in range(10, 20):
            await canned.push(BOOK, book_ticker(str(i), str(i + 1)))
        await asyncio.sleep(0.2)
        assert [(await next_of(quotes)).bid for _ in range(2)] == [D(18), D(19)]


async def test_order_updates_subscribe_signed_as_the_reference_vector() -> None:
    async with (
        canned_server(server_ms=lambda: T0_MS) as canned,
        venue_on(canned, clock=PinnedClock(T0_MS / 1000)) as venue,
    ):
        updates = venue.order_updates()
        first = asyncio.ensure_future(next_of(updates))
        await subscribed(canned, ORDERS)
        await canned.push(ORDERS, order_update("orderAccepted", "New", client_id=None))
        await canned.push(ORDERS, {"e": "orderAccepted", "c": 42})  # unreadable: skipped
        await canned.push(ORDERS, order_update("orderAccepted", "New"))
        accepted = await first
        await canned.push(
            ORDERS,
            order_update("orderFill", "PartiallyFilled", z="0.5", Z="80.00", l="0.5", L="160", t=9),
        )
        partial = await next_of(updates)
        await canned.push(ORDERS, order_update("orderCancelled", "Cancelled", z="0.5", Z="80"))
        cancelled = await next_of(updates)
    [frame] = canned.subscribed(ORDERS)
    assert frame == {
        "method": "SUBSCRIBE",
        "params": [ORDERS],
        "signature": [API_KEY, SUBSCRIBE_SIG, str(T0_MS), "5000"],
    }
    assert (accepted.client_id, accepted.venue_order_id, accepted.status) == (
        "42",
        "111",
        OrderStatus.NEW,
    )
    assert (accepted.side, accepted.type, accepted.price, accepted.reduce_only) == (
        Side.SELL,
        OrderType.LIMIT,
        D("160"),
        True,
    )
    assert (partial.status, partial.filled_qty, partial.avg_price) == (
        OrderStatus.PARTIALLY_FILLED,
        D("0.5"),
        D("160"),
    )
    assert cancelled.status is OrderStatus.CANCELED


async def test_one_connection_carries_every_stream() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        quotes, updates = venue.quotes(SYMBOL), venue.order_updates()
        pending = [asyncio.ensure_future(next_of(quotes)), asyncio.ensure_future(next_of(updates))]
        await subscribed(canned, BOOK)
        await subscribed(canned, ORDERS)
        await canned.push(BOOK, book_ticker("1", "2"))
        await canned.push(ORDERS, order_update("orderAccepted", "New"))
        await asyncio.gather(*pending)
        assert canned.ws_connections == 1


async def test_reconnects_resubscribes_and_runs_the_hooks() -> None:
    reconnects: list[str] = []
    seen_sync: list[str] = []

    async def hook(label: str) -> None:
        reconnects.append(label)

    def broken(label: str) -> None:
        raise RuntimeError("a failing hook must not stop the others")

    async with canned_server() as canned, venue_on(canned) as venue:
        venue.on_reconnect(broken)
        venue.on_reconnect(hook)
        venue.on_reconnect(seen_sync.append)
        quotes, updates = venue.quotes(SYMBOL), venue.order_updates()
        waiting = asyncio.ensure_future(next_of(updates))
        first = asyncio.ensure_future(next_of(quotes))
        await subscribed(canned, BOOK)
        await subscribed(canned, ORDERS)
        await canned.push(BOOK, book_ticker("1", "2"))
        await first
        assert reconnects == []
        await canned.close_sockets()
        await subscribed(canned, BOOK, times=2)
        await subscribed(canned, ORDERS, times=2)
        await eventually(lambda: len(reconnects) == 1)
        assert reconnects == seen_sync == [f"backpack {ORDERS}+{BOOK}"]
        await canned.push(BOOK, book_ticker("3", "4"))
        assert (await next_of(quotes)).bid == D(3)
        await canned.push(ORDERS, order_update("orderAccepted", "New"))
        assert (await waiting).client_id == "42"
        assert canned.ws_connections == 2


async def test_keeps_trying_while_the_venue_is_unreachable() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        venue.stream.url = "ws://127.0.0.1:1/ws"
        quotes = venue.quotes(SYMBOL)
        pending = asyncio.ensure_future(next_of(quotes, timeout=10))
        await asyncio.sleep(0.3)
        assert canned.ws_connections == 0
        venue.stream.url = canned.url + "/ws"
        await subscribed(canned, BOOK)
        await canned.push(BOOK, book_ticker("1", "2"))
        assert (await pending).ask == D(2)


async def test_a_socket_without_market_data_is_reopened() -> None:
    """Pings answered, but no bookTicker: the feed died quietly (docs/architecture.md#streams)."""
    policy = StreamPolicy(silence=0.3, backoff=0.02, backoff_max=0.1)
    hooked: list[str] = []
    async with canned_server() as canned, venue_on(canned, stream_policy=policy) as venue:
        venue.on_reconnect(hooked.append)
        quotes = venue.quotes(SYMBOL)
        pending = asyncio.ensure_future(next_of(quotes, timeout=10))
        await subscribed(canned, BOOK)
        await eventually(lambda: canned.ws_connections >= 2)
        await subscribed(canned, BOOK, times=2)
        await canned.push(BOOK, book_ticker("1", "2"))
        assert (await pending).bid == D(1)
        assert hooked


async def test_quiet_private_streams_are_left_alone() -> None:
    policy = StreamPolicy(silence=0.2, backoff=0.02, backoff_max=0.1)
    async with canned_server() as canned, venue_on(canned, stream_policy=policy) as venue:
        updates = venue.order_updates()
        pending = asyncio.ensure_future(next_of(updates))
        await subscribed(canned, ORDERS)
        await asyncio.sleep(0.6)
        assert canned.ws_connections == 1
        await canned.push(ORDERS, order_update("orderAccepted", "New"))
        assert (await pending).client_id == "42"


async def test_pings_are_answered() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        quotes = venue.quotes(SYMBOL)
        pending = asyncio.ensure_future(next_of(quotes))
        await subscribed(canned, BOOK)
        for ws in canned.sockets:
            await ws.ping(b"keepalive")
        await eventually(lambda: canned.pongs >= 1)
        pending.cancel()


async def test_our_own_heartbeat_drops_a_dead_socket() -> None:
    """A server that stops answering pings: the client notices and reconnects."""
    policy = StreamPolicy(heartbeat=0.2, backoff=0.02, backoff_max=0.1)
    async with canned_server() as canned, venue_on(canned, stream_policy=policy) as venue:
        quotes = venue.quotes(SYMBOL)
        pending = asyncio.ensure_future(next_of(quotes, timeout=10))
        await subscribed(canned, BOOK)
        canned.answer_pings = False
        await eventually(lambda: canned.ws_connections >= 2)
        canned.answer_pings = True
        pending.cancel()


async def test_a_refused_signature_resyncs_the_clock_and_signs_again_once() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        updates = venue.order_updates()
        pending = asyncio.ensure_future(next_of(updates))
        await subscribed(canned, ORDERS)
        times = len(canned.requests("GET", "/api/v1/time"))
        refusal = {"id": None, "error": {"code": 4003, "message": "Request has expired"}}
        await canned.send_raw(json.dumps(refusal))
        await subscribed(canned, ORDERS, times=2)
        await canned.send_raw(json.dumps(refusal))
        await asyncio.sleep(0.2)
        assert len(canned.subscribed(ORDERS)) == 2  # once per socket: a wrong key cannot loop
        assert len(canned.requests("GET", "/api/v1/time")) == times + 1
        await canned.push(ORDERS, order_update("orderAccepted", "New"))
        assert (await pending).status is OrderStatus.NEW


async def test_close_ends_the_streams() -> None:
    async with canned_server() as canned:
        async with venue_on(canned) as venue:
            quotes, updates = venue.quotes(SYMBOL), venue.order_updates()
            pending = [
                asyncio.ensure_future(anext(quotes, None)),
                asyncio.ensure_future(anext(updates, None)),
            ]
            await subscribed(canned, BOOK)
        assert await asyncio.wait_for(asyncio.gather(*pending), WAIT) == [None, None]
        await eventually(lambda: canned.sockets == [])


async def test_no_connection_until_something_is_wanted() -> None:
    async with canned_server() as canned, venue_on(canned):
        await asyncio.sleep(0.1)
    assert canned.ws_connections == 0


async def test_subscribing_after_close_is_a_venue_error() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        pass
    with pytest.raises(VenueError):
        await anext(venue.quotes(SYMBOL))
