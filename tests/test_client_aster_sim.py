"""The Aster client against the wire-compatible simulator (`hedged.sim.aster.app`) on
127.0.0.1: real HTTP and WebSockets, real signatures (V1 HMAC and V3 EIP-712), real faults."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeVar

import pytest
from aiohttp.test_utils import TestServer
from aiohttp.web import Application

from hedged.adapters.aster.client import AsterVenue
from hedged.adapters.aster.signing import new_agent_key
from hedged.adapters.base import Accepted, Ambiguous, Rejected
from hedged.adapters.http import HttpPolicy
from hedged.adapters.ws import StreamPolicy
from hedged.config import AsterConfig
from hedged.model import (
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    SymbolRules,
)
from hedged.secrets import AsterCredentials, Secret
from hedged.sim.accounts import Accounts, AsterAgent, AsterV1Key
from hedged.sim.admin import CONTROLS
from hedged.sim.aster.app import ASTER_STATE, aster_app
from hedged.sim.aster.state import AsterState
from hedged.sim.faults import FaultKind, WireFaults
from hedged.sim.world import World, default_world

D = Decimal
T = TypeVar("T")
Auth = Literal["v1", "v3"]
VENUE = "aster"
SYMBOL = "SOLUSDT"
ACCOUNT = "alice"
API_KEY, API_SECRET = "aliceKey0123456789", "alice-secret-0123456789"
START = 1_750_000_019.0  # 59 s into the venue's minute: a 429 says Retry-After: 1
BID, ASK = D("149.98"), D("150.02")  # default_world: 150, 2 bps wide
NAMESPACE = 0x2A
WAIT = 5.0


class SimClock:
    """The simulator's and the client's wall clock, moved by the test."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Sim:
    world: World
    faults: WireFaults
    app: Application
    clock: SimClock
    venue: AsterVenue
    auth: Auth

    @property
    def state(self) -> AsterState:
        return self.app[ASTER_STATE]

    @property
    def order_path(self) -> str:
        return f"/fapi/{self.auth}/order"

    def submissions(self, client_id: str) -> int:
        return self.state.submissions[client_id]

    def user_stream_open(self) -> bool:
        key = self.state.listen_key(ACCOUNT)
        return key is not None and any(
            key in c.subscriptions for c in self.app[CONTROLS].hub.connections
        )


@contextlib.asynccontextmanager
async def open_sim(
    auth: Auth = "v3",
    *,
    dual: bool = False,
    client_clock: Callable[[], float] | None = None,
    stream_policy: StreamPolicy | None = None,
) -> AsyncIterator[Sim]:
    clock = SimClock()
    world = default_world(clock=clock)
    world.venues[VENUE].deposit(ACCOUNT, D(100_000))
    signer_key, signer = new_agent_key()
    _, user = new_agent_key()
    accounts = Accounts(
        aster_v1={API_KEY: AsterV1Key(API_KEY, API_SECRET, ACCOUNT)},
        aster_agents={signer.lower(): AsterAgent(user, signer, ACCOUNT)},
    )
    faults = WireFaults()
    app = aster_app(world, VENUE, accounts, faults, clock=clock)
    app[ASTER_STATE].settings(ACCOUNT).dual = dual
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    config = AsterConfig(
        base_url=base, ws_url=base.replace("http://", "ws://"), auth=auth, leverage=2
    )
    credentials = AsterCredentials(
        user=user,
        signer=signer,
        signer_key=Secret(signer_key),
        api_key=Secret(API_KEY),
        api_secret=Secret(API_SECRET),
    )
    venue = AsterVenue(
        config,
        credentials,
        SYMBOL,
        clock=client_clock or clock,
        http_policy=HttpPolicy(timeout=2.0, backoff=0.02, backoff_max=0.1, max_wait=5.0),
        stream_policy=stream_policy
        or StreamPolicy(connect_timeout=2.0, heartbeat=5.0, backoff=0.02, backoff_max=0.2),
    )
    try:
        await venue.start()
        yield Sim(world, faults, app, clock, venue, auth)
    finally:
        await venue.close()
        await server.close()


def market(seq: int, side: Side = Side.SELL, qty: str = "1") -> OrderRequest:
    client_id = f"hd{NAMESPACE:08x}-{seq}"  # what venue.client_id(NAMESPACE, seq) makes
    return OrderRequest(client_id, SYMBOL, side, OrderType.MARKET, D(qty))


def take_profit(seq: int, price: str = "148.00", qty: str = "1") -> OrderRequest:
    client_id = f"hd{NAMESPACE:08x}-{seq}"
    return OrderRequest(
        client_id, SYMBOL, Side.BUY, OrderType.LIMIT, D(qty), price=D(price), reduce_only=True
    )


async def until(check: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def next_quote(quotes: AsyncIterator[Quote], world: World) -> Quote:
    """The next quote, nudging the price until the stream delivers one."""
    task = asyncio.ensure_future(anext(quotes))
    deadline = time.monotonic() + WAIT
    price = world.price
    while not task.done():
        assert time.monotonic() < deadline, "no quote arrived"
        price += D("0.05")
        world.set_price(price)
        await asyncio.wait({task}, timeout=0.05)
    return task.result()


async def drain(items: AsyncIterator[T], into: list[T]) -> None:
    async for item in items:
        into.append(item)


@contextlib.asynccontextmanager
async def moving(world: World) -> AsyncIterator[None]:
    """Move the price a cent every 20 ms, so that the book streams keep pushing."""

    async def nudge() -> None:
        while True:
            world.set_price(world.price + D("0.01"))
            await asyncio.sleep(0.02)

    task = asyncio.create_task(nudge())
    try:
        yield
    finally:
        task.cancel()


BOTH_AUTH = pytest.mark.parametrize("auth", ["v1", "v3"])


# --- start, market data ------------------------------------------------------------------------


@BOTH_AUTH
async def test_start_rules_leverage_and_position_mode(auth: Auth) -> None:
    async with open_sim(auth) as sim:
        assert await sim.venue.rules(SYMBOL) == SymbolRules(
            SYMBOL, D("0.01"), D("0.01"), D("0.01"), D(5), D(1_000_000)
        )
        assert sim.venue.hedge_mode is False
        assert sim.state.settings(ACCOUNT).leverage == 2
        assert sim.state.settings(ACCOUNT).margin_type == "CROSSED"  # -4046 taken as success


async def test_start_measures_the_offset_and_resyncs_on_minus_1021() -> None:
    local = SimClock(START - 7200)  # our clock is two hours behind the venue's
    async with open_sim("v1", client_clock=local) as sim:
        assert sim.venue.clock.offset_us == 7200 * 1_000_000
        sim.clock.now += 30  # the venue's clock jumps: the next V1 timestamp is stale
        assert await sim.venue.position(SYMBOL) == Position(VENUE, SYMBOL, D(0))
        assert sim.venue.clock.offset_us == 7230 * 1_000_000


async def test_quote_and_the_quote_stream() -> None:
    async with open_sim() as sim:
        quote = await sim.venue.quote(SYMBOL)
        assert (quote.venue, quote.symbol, quote.bid, quote.ask) == (VENUE, SYMBOL, BID, ASK)
        quotes = sim.venue.quotes(SYMBOL)
        try:
            streamed = await next_quote(quotes, sim.world)
        finally:
            await quotes.aclose()
        book = sim.world.book(VENUE)
        assert streamed.symbol == SYMBOL and streamed.bid <= book.bid < book.ask
        assert streamed.at <= time.monotonic()


# --- orders --------------------------------------------------------------------------------


@BOTH_AUTH
async def test_market_short_query_position_and_fills_with_commission(auth: Auth) -> None:
    async with open_sim(auth) as sim:
        venue = sim.venue
        order = market(1)
        assert order.client_id == venue.client_id(NAMESPACE, 1)
        placed = await venue.place(order)
        assert isinstance(placed, Accepted)
        assert placed.order.client_id == order.client_id
        assert (placed.order.status, placed.order.filled_qty) == (OrderStatus.FILLED, D(1))
        assert placed.order.avg_price == BID
        assert await venue.query(SYMBOL, order.client_id) == placed.order
        assert await venue.position(SYMBOL) == Position(VENUE, SYMBOL, D(-1), BID)
        (fill,) = await venue.fills(SYMBOL, order.client_id)
        assert (fill.client_id, fill.side, fill.qty, fill.price) == (
            order.client_id, Side.SELL, D(1), BID
        )  # fmt: skip
        assert fill.fee == BID * D("0.00035")
        assert not fill.maker
        assert await venue.open_orders(SYMBOL) == []
        assert sim.submissions(order.client_id) == 1


@BOTH_AUTH
async def test_reduce_only_take_profit_rests_then_cancel_by_client_id(auth: Auth) -> None:
    async with open_sim(auth) as sim:
        venue = sim.venue
        assert isinstance(await venue.place(market(1)), Accepted)
        tp = take_profit(2)
        placed = await venue.place(tp)
        assert isinstance(placed, Accepted)
        assert (placed.order.status, placed.order.reduce_only) == (OrderStatus.NEW, True)
        assert placed.order.price == D("148.00")
        (resting,) = await venue.open_orders(SYMBOL)
        assert resting.client_id == tp.client_id
        cancelled = await venue.cancel(SYMBOL, tp.client_id)
        assert isinstance(cancelled, Accepted)
        assert cancelled.order.status is OrderStatus.CANCELED
        assert await venue.cancel(SYMBOL, tp.client_id) == Rejected("-2011", "Unknown order sent.")
        state = await venue.query(SYMBOL, tp.client_id)
        assert state is not None and state.status is OrderStatus.CANCELED
        assert await venue.open_orders(SYMBOL) == []


async def test_a_reduce_only_order_without_a_position_is_rejected() -> None:
    async with open_sim() as sim:
        outcome = await sim.venue.place(take_profit(1))
    assert outcome == Rejected("-2022", "ReduceOnly Order is rejected.")


async def test_hedge_mode_trades_the_short_side() -> None:
    async with open_sim(dual=True) as sim:
        venue = sim.venue
        assert venue.hedge_mode is True
        assert isinstance(await venue.place(market(1)), Accepted)
        tp = take_profit(2)
        placed = await venue.place(tp)
        assert isinstance(placed, Accepted) and placed.order.status is OrderStatus.NEW
        order = sim.state.find(ACCOUNT, client_id=tp.client_id)
        assert order is not None and sim.state.view(order).position_side == "SHORT"
        assert await venue.position(SYMBOL) == Position(VENUE, SYMBOL, D(-1), BID)
        close = OrderRequest(
            venue.client_id(NAMESPACE, 3),
            SYMBOL,
            Side.BUY,
            OrderType.MARKET,
            D(1),
            reduce_only=True,
        )
        assert isinstance(await venue.place(close), Accepted)
        assert (await venue.position(SYMBOL)).qty == 0


# --- faults ----------------------------------------------------------------------------------


@BOTH_AUTH
async def test_accept_then_timeout_is_ambiguous_and_query_finds_the_order(auth: Auth) -> None:
    async with open_sim(auth) as sim:
        sim.faults.arm(FaultKind.ACCEPT_THEN_TIMEOUT, sim.order_path, method="POST")
        order = market(1)
        assert isinstance(await sim.venue.place(order), Ambiguous)
        found = await sim.venue.query(SYMBOL, order.client_id)
        assert found is not None and found.status is OrderStatus.FILLED
        assert sim.submissions(order.client_id) == 1  # never resent
        assert (await sim.venue.position(SYMBOL)).qty == D(-1)


@BOTH_AUTH
async def test_503_on_an_order_never_placed_is_ambiguous_and_query_finds_nothing(
    auth: Auth,
) -> None:
    async with open_sim(auth) as sim:
        sim.faults.arm(FaultKind.ERROR_5XX, sim.order_path, method="POST")
        order = market(1)
        assert isinstance(await sim.venue.place(order), Ambiguous)
        assert await sim.venue.query(SYMBOL, order.client_id) is None
        assert sim.submissions(order.client_id) == 1
        assert (await sim.venue.position(SYMBOL)).qty == 0


async def test_a_dropped_cancel_is_ambiguous_and_not_resent() -> None:
    async with open_sim() as sim:
        assert isinstance(await sim.venue.place(market(1)), Accepted)
        tp = take_profit(2)
        assert isinstance(await sim.venue.place(tp), Accepted)
        sim.faults.arm(FaultKind.ACCEPT_THEN_TIMEOUT, sim.order_path, method="DELETE")
        assert isinstance(await sim.venue.cancel(SYMBOL, tp.client_id), Ambiguous)
        state = await sim.venue.query(SYMBOL, tp.client_id)
        assert state is not None and state.status is OrderStatus.CANCELED


async def test_429_backs_off_reads_and_refuses_orders() -> None:
    async with open_sim() as sim:
        sim.faults.arm(FaultKind.RATE_LIMIT, "/fapi/v3/positionRisk", method="GET")
        began = time.monotonic()
        assert await sim.venue.position(SYMBOL) == Position(VENUE, SYMBOL, D(0))
        assert time.monotonic() - began >= 1.0  # the venue's Retry-After: 1

        sim.faults.arm(FaultKind.RATE_LIMIT, sim.order_path, method="POST")
        refused = await sim.venue.place(market(1))
        assert isinstance(refused, Rejected) and refused.code == "-1003"
        began = time.monotonic()
        assert isinstance(await sim.venue.place(market(2)), Accepted)  # after the back-off
        assert time.monotonic() - began >= 0.5
        assert await sim.venue.query(SYMBOL, market(1).client_id) is None


async def test_an_injected_rejection_is_rejected() -> None:
    async with open_sim() as sim:
        sim.faults.arm(FaultKind.REJECT, sim.order_path, method="POST")
        assert await sim.venue.place(market(1)) == Rejected("-2019", "Margin is insufficient.")


# --- streams -------------------------------------------------------------------------------


async def test_order_updates_follow_our_order_by_client_id() -> None:
    async with open_sim() as sim:
        seen: list[OrderState] = []
        consumer = asyncio.create_task(drain(sim.venue.order_updates(), seen))
        try:
            await until(sim.user_stream_open)
            order = market(1)
            assert isinstance(await sim.venue.place(order), Accepted)
            await until(lambda: any(s.status is OrderStatus.FILLED for s in seen))
        finally:
            consumer.cancel()
    assert {s.client_id for s in seen} == {order.client_id}
    assert seen[-1].filled_qty == D(1) and seen[-1].avg_price == BID


async def test_ws_disconnect_reconnects_quotes_and_user_stream_and_calls_the_hook() -> None:
    async with open_sim() as sim:
        reconnected: list[str] = []
        sim.venue.on_reconnect(reconnected.append)
        quotes: list[Quote] = []
        seen: list[OrderState] = []
        consumers = [
            asyncio.create_task(drain(sim.venue.quotes(SYMBOL), quotes)),
            asyncio.create_task(drain(sim.venue.order_updates(), seen)),
        ]
        try:
            async with moving(sim.world):
                await until(lambda: len(quotes) > 0 and sim.user_stream_open())
                assert await sim.app[CONTROLS].hub.close_all() == 2
                await until(lambda: {"user", f"quotes:{SYMBOL}"} <= set(reconnected))
                before = len(quotes)
                await until(lambda: len(quotes) > before)
            await until(sim.user_stream_open)
            assert isinstance(await sim.venue.place(market(1)), Accepted)
            await until(lambda: any(s.status is OrderStatus.FILLED for s in seen))
        finally:
            for consumer in consumers:
                consumer.cancel()


async def test_a_price_change_while_the_stream_is_down_is_not_missed() -> None:
    """The book pushes only changes; the first quote of every connection is a REST snapshot."""
    async with open_sim() as sim:
        quotes = sim.venue.quotes(SYMBOL)
        try:
            first = await anext(quotes)  # the snapshot, with the price standing still
            assert (first.bid, first.ask) == (BID, ASK)
            await sim.app[CONTROLS].hub.close_all()
            sim.world.set_price(D(151))  # once, then never again
            book = sim.world.book(VENUE)
            deadline = time.monotonic() + WAIT
            quote = await anext(quotes)
            while (quote.bid, quote.ask) != (book.bid, book.ask):
                assert time.monotonic() < deadline
                quote = await asyncio.wait_for(anext(quotes), WAIT)
        finally:
            await quotes.aclose()


async def test_a_silent_quote_stream_is_reconnected() -> None:
    tuning = StreamPolicy(connect_timeout=2.0, backoff=0.02, backoff_max=0.2, silence=0.3)
    async with open_sim(stream_policy=tuning) as sim:
        reconnected: list[str] = []

        async def hook(stream: str) -> None:
            reconnected.append(stream)

        sim.venue.on_reconnect(hook)
        got: list[Quote] = []
        consumer = asyncio.create_task(drain(sim.venue.quotes(SYMBOL), got))
        try:
            async with moving(sim.world):
                await until(lambda: len(got) > 0)
                sim.faults.arm(FaultKind.STALE, "*", times=None)
                await until(lambda: f"quotes:{SYMBOL}" in reconnected)
                sim.faults.clear()
                before = len(got)
                await until(lambda: len(got) > before)
        finally:
            consumer.cancel()


async def test_listen_key_is_kept_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    tuning = StreamPolicy(connect_timeout=2.0, backoff=0.02, backoff_max=0.2, keepalive=0.05)
    async with open_sim(stream_policy=tuning) as sim:
        kept: list[str | None] = []
        keep_alive = sim.state.keep_alive

        def counted(account: str, key: str | None) -> None:
            keep_alive(account, key)
            kept.append(key)

        monkeypatch.setattr(sim.state, "keep_alive", counted)
        reconnected: list[str] = []
        sim.venue.on_reconnect(reconnected.append)
        consumer = asyncio.create_task(drain(sim.venue.order_updates(), []))
        try:
            await until(sim.user_stream_open)
            key = sim.state.listen_key(ACCOUNT)
            for _ in range(3):  # 3 x 50 min: the key lives 60 min past its last keep-alive
                sim.clock.now += 3000
                done = len(kept)
                await until(lambda: len(kept) > done)  # noqa: B023 -- awaited right here
            await asyncio.sleep(1.2)  # the simulator sweeps lapsed keys every second
            assert sim.state.listen_key(ACCOUNT) == key
            assert reconnected == [] and sim.user_stream_open()
        finally:
            consumer.cancel()


async def test_a_lapsed_listen_key_is_replaced_and_the_hook_called() -> None:
    async with open_sim() as sim:
        reconnected: list[str] = []
        sim.venue.on_reconnect(reconnected.append)
        seen: list[OrderState] = []
        consumer = asyncio.create_task(drain(sim.venue.order_updates(), seen))
        try:
            await until(sim.user_stream_open)
            key = sim.state.listen_key(ACCOUNT)
            sim.clock.now += 3601  # no keep-alive due yet: the key lapses
            await until(lambda: reconnected == ["user"])
            await until(sim.user_stream_open)
            assert sim.state.listen_key(ACCOUNT) != key
            assert isinstance(await sim.venue.place(market(1)), Accepted)
            await until(lambda: any(s.status is OrderStatus.FILLED for s in seen))
        finally:
            consumer.cancel()
