"""The Backpack client against the wire-compatible simulator on 127.0.0.1 (real signatures,
error shapes, faults): the whole Venue port, then the faults a hedge bot must survive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from test_client_backpack_kit import WAIT, PinnedClock, eventually

from hedged.adapters.backpack.client import BackpackVenue
from hedged.adapters.backpack.signing import new_keypair
from hedged.adapters.base import EXPIRED, Accepted, Ambiguous, Rejected
from hedged.adapters.http import HttpPolicy
from hedged.adapters.ws import StreamPolicy
from hedged.config import BackpackConfig
from hedged.model import OrderRequest, OrderStatus, OrderType, Side
from hedged.secrets import BackpackCredentials, Secret
from hedged.sim.accounts import Accounts, BackpackKey
from hedged.sim.backpack.app import backpack_app
from hedged.sim.backpack.limits import BackpackLimits
from hedged.sim.backpack.state import STATE
from hedged.sim.faults import FaultKind, WireFaults
from hedged.sim.world import BACKPACK_SYMBOL, World, default_world

D = Decimal
SYMBOL = BACKPACK_SYMBOL
ORDER = "/api/v1/order"
TAKER_FEE = D("0.0005")  # the default world's Backpack taker fee
POLICY = HttpPolicy(
    timeout=2.0,
    connect_timeout=2.0,
    read_attempts=6,
    backoff=0.01,
    backoff_max=0.05,
    rate_limited_pause=0.2,
    requests_per_second=1000.0,
)
STREAMS = StreamPolicy(heartbeat=5.0, connect_timeout=1.0, backoff=0.02, backoff_max=0.1)


@dataclass
class Sim:
    world: World
    faults: WireFaults
    server: TestServer
    venue: BackpackVenue
    clock: PinnedClock

    def submissions(self, client_id: str) -> int:
        return self.server.app[STATE].submissions[client_id]

    async def admin(self, path: str) -> None:
        async with ClientSession() as session:
            await session.post(str(self.server.make_url(path)))


@asynccontextmanager
async def simulated(
    *, limits: BackpackLimits | None = None, server_offset: float = 0.0
) -> AsyncIterator[Sim]:
    secret, key = new_keypair()
    world = default_world(start_price=D(150))
    faults = WireFaults()
    accounts = Accounts(backpack={key: BackpackKey(key, "alice")}, balances={"alice": D(10_000)})
    server_clock = PinnedClock(offset=server_offset)
    app = backpack_app(world, "backpack", accounts, faults, clock=server_clock, limits=limits)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    config = BackpackConfig(base_url=url, ws_url=url + "/", window_ms=5000)
    venue = BackpackVenue(
        config,
        BackpackCredentials(Secret(key), Secret(secret)),
        SYMBOL,
        http_policy=POLICY,
        stream_policy=STREAMS,
    )
    try:
        await venue.start()
        yield Sim(world, faults, server, venue, server_clock)
    finally:
        await venue.close()
        await server.close()


def market(client_id: str, side: Side, qty: str) -> OrderRequest:
    return OrderRequest(client_id, SYMBOL, side, OrderType.MARKET, D(qty))


def take_profit(client_id: str, qty: str, price: str) -> OrderRequest:
    return OrderRequest(
        client_id, SYMBOL, Side.SELL, OrderType.LIMIT, D(qty), D(price), reduce_only=True
    )


# -- the port ------------------------------------------------------------------------------


async def test_start_rules_and_quote() -> None:
    async with simulated(server_offset=12.0) as sim:
        venue = sim.venue
        assert abs(venue.clock_offset_ms - 12_000) < 500
        rules = await venue.rules(SYMBOL)
        assert (rules.tick, rules.step, rules.min_qty) == (D("0.01"), D("0.01"), D("0.01"))
        quote = await venue.quote(SYMBOL)
        assert (quote.bid, quote.ask) == (D("149.98"), D("150.02"))


async def test_quotes_stream_follows_the_price() -> None:
    async with simulated() as sim:
        quotes = sim.venue.quotes(SYMBOL)
        first = await asyncio.wait_for(anext(quotes), WAIT)
        assert (first.bid, first.ask) == (D("149.98"), D("150.02"))
        sim.world.set_price(D(151))
        moved = await asyncio.wait_for(anext(quotes), WAIT)
        assert (moved.bid, moved.ask) == (D("150.98"), D("151.02"))


async def test_a_round_trip_market_long_take_profit_and_cancel() -> None:
    async with simulated() as sim:
        venue = sim.venue
        opened = await venue.place(market("42", Side.BUY, "0.5"))
        assert isinstance(opened, Accepted)
        assert (opened.order.status, opened.order.filled_qty) == (OrderStatus.FILLED, D("0.5"))
        assert opened.order.avg_price == D("150.02")

        position = await venue.position(SYMBOL)
        assert (position.qty, position.entry_price) == (D("0.5"), D("150.02"))

        [fill] = await venue.fills(SYMBOL, "42")
        assert (fill.client_id, fill.side, fill.qty, fill.price) == (
            "42",
            Side.BUY,
            D("0.5"),
            D("150.02"),
        )
        assert fill.fee == fill.qty * fill.price * TAKER_FEE and not fill.maker

        tp = await venue.place(take_profit("43", "0.5", "151.82"))
        assert isinstance(tp, Accepted)
        assert (tp.order.status, tp.order.reduce_only, tp.order.price) == (
            OrderStatus.NEW,
            True,
            D("151.82"),
        )
        [resting] = await venue.open_orders(SYMBOL)
        assert resting.client_id == "43"
        queried = await venue.query(SYMBOL, "43")
        assert queried is not None and queried.status is OrderStatus.NEW

        cancelled = await venue.cancel(SYMBOL, "43")
        assert isinstance(cancelled, Accepted)
        assert cancelled.order.status is OrderStatus.CANCELED
        assert await venue.open_orders(SYMBOL) == []
        again = await venue.cancel(SYMBOL, "43")
        assert isinstance(again, Rejected) and again.code == "RESOURCE_NOT_FOUND"

        # Off the book now: both come from the order history.
        finished = await venue.query(SYMBOL, "43")
        assert finished is not None and finished.status is OrderStatus.CANCELED
        filled = await venue.query(SYMBOL, "42")
        assert filled is not None and filled.status is OrderStatus.FILLED
        assert await venue.query(SYMBOL, "44") is None

        closed = await venue.place(
            OrderRequest("45", SYMBOL, Side.SELL, OrderType.MARKET, D("0.5"), reduce_only=True)
        )
        assert isinstance(closed, Accepted) and closed.order.status is OrderStatus.FILLED
        assert (await venue.position(SYMBOL)).qty == 0


async def test_a_take_profit_fills_when_the_price_crosses() -> None:
    async with simulated() as sim:
        venue = sim.venue
        await venue.place(market("1", Side.BUY, "0.3"))
        await venue.place(take_profit("2", "0.3", "151.00"))
        sim.world.set_price(D(152))
        state = await venue.query(SYMBOL, "2")
        assert state is not None and state.status is OrderStatus.FILLED
        [fill] = await venue.fills(SYMBOL, "2")
        assert (fill.side, fill.qty, fill.price, fill.maker) == (
            Side.SELL,
            D("0.3"),
            D("151.00"),
            True,
        )
        assert (await venue.position(SYMBOL)).qty == 0


async def test_order_updates_stream_our_orders() -> None:
    async with simulated() as sim:
        venue = sim.venue
        updates = venue.order_updates()
        first = asyncio.ensure_future(asyncio.wait_for(anext(updates), WAIT))
        await venue.stream.connected.wait()
        await asyncio.sleep(0.2)  # Backpack acknowledges no subscription
        await venue.place(market("42", Side.BUY, "0.5"))
        accepted = await first
        filled = await asyncio.wait_for(anext(updates), WAIT)
        assert (accepted.client_id, accepted.status) == ("42", OrderStatus.NEW)
        assert (filled.status, filled.filled_qty, filled.avg_price) == (
            OrderStatus.FILLED,
            D("0.5"),
            D("150.02"),
        )


async def test_refusals_are_rejected() -> None:
    async with simulated() as sim:
        venue = sim.venue
        await venue.place(take_profit("7", "0.5", "160"))  # no position: it is not reducing
        await venue.place(OrderRequest("8", SYMBOL, Side.BUY, OrderType.LIMIT, D(1), D(100)))
        duplicate = await venue.place(
            OrderRequest("8", SYMBOL, Side.BUY, OrderType.LIMIT, D(1), D(100))
        )
        assert isinstance(duplicate, Rejected) and duplicate.code == "INVALID_ORDER"
        too_fine = await venue.place(market("9", Side.BUY, "0.001"))
        assert isinstance(too_fine, Rejected) and too_fine.code == "INVALID_CLIENT_REQUEST"
        crossing = await venue.place(
            OrderRequest("10", SYMBOL, Side.BUY, OrderType.LIMIT, D(1), D(151), post_only=True)
        )
        assert isinstance(crossing, Rejected) and crossing.code == "INVALID_ORDER"


# -- faults --------------------------------------------------------------------------------


async def test_accept_then_timeout_is_ambiguous_and_the_query_finds_the_order() -> None:
    async with simulated() as sim:
        sim.faults.arm(FaultKind.ACCEPT_THEN_TIMEOUT, ORDER, method="POST")
        outcome = await sim.venue.place(market("42", Side.BUY, "0.5"))
        assert isinstance(outcome, Ambiguous)
        found = await sim.venue.query(SYMBOL, "42")
        assert found is not None and found.status is OrderStatus.FILLED
        assert sim.submissions("42") == 1


async def test_a_5xx_on_an_order_never_placed_is_ambiguous_and_unknown() -> None:
    async with simulated() as sim:
        sim.faults.arm(FaultKind.ERROR_5XX, ORDER, method="POST")
        outcome = await sim.venue.place(market("42", Side.BUY, "0.5"))
        assert isinstance(outcome, Ambiguous)
        assert await sim.venue.query(SYMBOL, "42") is None
        assert sim.submissions("42") == 0
        assert (await sim.venue.position(SYMBOL)).qty == 0


async def test_a_dropped_order_request_is_ambiguous_and_never_resent() -> None:
    async with simulated() as sim:
        sim.faults.arm(FaultKind.DROP, ORDER, method="POST")
        assert isinstance(await sim.venue.place(market("42", Side.BUY, "0.5")), Ambiguous)
        assert await sim.venue.query(SYMBOL, "42") is None
        sim.faults.arm(FaultKind.DROP, ORDER, method="DELETE")
        await sim.venue.place(take_profit("43", "0.5", "160"))
        assert isinstance(await sim.venue.cancel(SYMBOL, "43"), Ambiguous)


async def test_a_partial_fill_is_accepted_with_what_filled() -> None:
    async with simulated() as sim:
        sim.faults.arm(FaultKind.PARTIAL, ORDER, method="POST", fraction="0.4")
        outcome = await sim.venue.place(market("42", Side.BUY, "1"))
        assert isinstance(outcome, Accepted)
        assert (outcome.order.status, outcome.order.filled_qty) == (
            OrderStatus.EXPIRED,
            D("0.4"),
        )
        assert sum(f.qty for f in await sim.venue.fills(SYMBOL, "42")) == D("0.4")


async def test_an_injected_reject_is_rejected() -> None:
    async with simulated() as sim:
        sim.faults.arm(FaultKind.REJECT, ORDER, method="POST")
        outcome = await sim.venue.place(market("42", Side.BUY, "0.5"))
        assert outcome == Rejected("INVALID_ORDER", "Invalid order")


async def test_a_429_on_an_order_is_ambiguous_and_not_placed() -> None:
    async with simulated() as sim:
        sim.faults.arm(FaultKind.RATE_LIMIT, ORDER, method="POST")
        assert isinstance(await sim.venue.place(market("42", Side.BUY, "0.5")), Ambiguous)
        assert await sim.venue.query(SYMBOL, "42") is None


async def test_429_on_reads_backs_off() -> None:
    async with simulated() as sim:
        sim.faults.arm(FaultKind.RATE_LIMIT, "/api/v1/depth", times=2)
        started = time.monotonic()
        quote = await sim.venue.quote(SYMBOL)
        assert quote.bid == D("149.98")
        assert time.monotonic() - started >= 0.2 + 0.4


async def test_the_venue_rate_limit_is_survived() -> None:
    """A venue allowing 15 requests a second and a client told it may send 1000."""
    async with simulated(limits=BackpackLimits(requests=15, per_seconds=1.0)) as sim:
        await asyncio.sleep(1.0)  # a fresh window
        quotes = [await sim.venue.quote(SYMBOL) for _ in range(25)]
        assert len(quotes) == 25


async def test_ws_disconnect_reconnects_quotes_and_runs_the_hook() -> None:
    async with simulated() as sim:
        hooked: list[int] = []

        async def reconciled(label: str) -> None:
            assert label == f"backpack bookTicker.{SYMBOL}"
            hooked.append(sim.venue.stream.connections)

        sim.venue.on_reconnect(reconciled)
        quotes = sim.venue.quotes(SYMBOL)
        await asyncio.wait_for(anext(quotes), WAIT)
        await sim.admin("/_admin/ws/disconnect")
        await eventually(lambda: hooked == [2])
        sim.world.set_price(D(151))
        while (await asyncio.wait_for(anext(quotes), WAIT)).bid != D("150.98"):
            pass


async def test_the_servers_pings_are_answered() -> None:
    limits = BackpackLimits(ws_ping_seconds=0.1, ws_pong_timeout=0.4)
    async with simulated(limits=limits) as sim:
        quotes = sim.venue.quotes(SYMBOL)
        await asyncio.wait_for(anext(quotes), WAIT)
        await asyncio.sleep(1.2)
        assert sim.venue.stream.connections == 1
        sim.world.set_price(D(151))
        assert (await asyncio.wait_for(anext(quotes), WAIT)).bid == D("150.98")


async def test_a_clock_jump_is_rejected_as_expired_then_resynced() -> None:
    async with simulated(server_offset=0.0) as sim:
        sim.clock.offset = 20.0  # the venue's clock jumps past our window
        outcome = await sim.venue.place(market("42", Side.BUY, "0.5"))
        assert outcome == Rejected(EXPIRED, "Request has expired")
        assert abs(sim.venue.clock_offset_ms - 20_000) < 500
        assert isinstance(await sim.venue.place(market("43", Side.BUY, "0.5")), Accepted)
        assert await sim.venue.query(SYMBOL, "42") is None  # the refused order never existed
